/*
 * a·A + b·B on secp256k1 in one variable-time Strauss–wNAF double multiplication, for verifying
 * ring signatures (public data only, so constant time buys nothing).
 *
 * libsecp256k1's public API has no such call: through it a ring member costs two constant-time
 * multiplications and an addition, or an ECDSA public-key recovery that also pays a square root and
 * a scalar inversion. This file compiles the libsecp256k1 sources that the `secp256k1` npm package
 * ships (the same code its prebuilt binary runs, pinned by package-lock.json) as one translation
 * unit and calls its internal multi-multiplication directly. scripts/build-native.mjs builds it; when
 * it is not built, core/crypto/ring/backend-native.ts uses the public API instead, with identical
 * results.
 *
 * JS signature: lincomb(a: Uint8Array(32), A: Uint8Array(65) | null, b: Uint8Array(32),
 * B: Uint8Array(65)) → Buffer(33) compressed, or null when a scalar is not below the group order, a
 * point does not parse, or the sum is the point at infinity. A null A means the generator G.
 */
#include "secp256k1.c"
#include <node_api.h>
#include <pthread.h>

static secp256k1_context *verify_ctx;
static pthread_once_t verify_ctx_once = PTHREAD_ONCE_INIT;

/* One verification context (the G tables) per process, shared by every thread that loads the addon:
 * it is read-only once built. */
static void create_verify_ctx(void) { verify_ctx = secp256k1_context_create(SECP256K1_CONTEXT_VERIFY); }

static int bytes_arg(napi_env env, napi_value v, size_t want, unsigned char **data) {
  napi_typedarray_type type;
  size_t len;
  napi_value arraybuffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &len, (void **)data, &arraybuffer, &offset) != napi_ok) return 0;
  return type == napi_uint8_array && len == want;
}

static int point_arg(napi_env env, napi_value v, secp256k1_gej *out) {
  unsigned char *data;
  secp256k1_ge ge;
  if (!bytes_arg(env, v, 65, &data) || !secp256k1_eckey_pubkey_parse(&ge, data, 65)) return 0;
  secp256k1_gej_set_ge(out, &ge);
  return 1;
}

static int scalar_arg(napi_env env, napi_value v, secp256k1_scalar *out) {
  unsigned char *data;
  int overflow = 0;
  if (!bytes_arg(env, v, 32, &data)) return 0;
  secp256k1_scalar_set_b32(out, data, &overflow);
  return !overflow;
}

static napi_value lincomb(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_value result;
  napi_valuetype type_a;
  secp256k1_scalar scalars[2];
  secp256k1_gej points[2];
  secp256k1_gej sum;
  secp256k1_ge affine;
  unsigned char out[33];
  size_t out_len = sizeof(out);
  void *copy;

  napi_get_null(env, &result);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) return result;
  if (napi_typeof(env, argv[1], &type_a) != napi_ok) return result;
  if (!scalar_arg(env, argv[0], &scalars[0]) || !scalar_arg(env, argv[2], &scalars[1]) || !point_arg(env, argv[3], &points[1])) return result;

  if (type_a == napi_null) {
    /* b·B + a·G: the generator part uses libsecp256k1's precomputed G tables. */
    secp256k1_ecmult(&verify_ctx->ecmult_ctx, &sum, &points[1], &scalars[1], &scalars[0]);
  } else {
    /* Scratch sized for two points, on the stack as secp256k1_ecmult does for one. */
    secp256k1_gej prej[2 * ECMULT_TABLE_SIZE(WINDOW_A)];
    secp256k1_fe zr[2 * ECMULT_TABLE_SIZE(WINDOW_A)];
    secp256k1_ge pre_a[2 * ECMULT_TABLE_SIZE(WINDOW_A)];
#ifdef USE_ENDOMORPHISM
    secp256k1_ge pre_a_lam[2 * ECMULT_TABLE_SIZE(WINDOW_A)];
#endif
    struct secp256k1_strauss_point_state point_state[2];
    struct secp256k1_strauss_state state;
    if (!point_arg(env, argv[1], &points[0])) return result;
    state.prej = prej;
    state.zr = zr;
    state.pre_a = pre_a;
#ifdef USE_ENDOMORPHISM
    state.pre_a_lam = pre_a_lam;
#endif
    state.ps = point_state;
    secp256k1_ecmult_strauss_wnaf(&verify_ctx->ecmult_ctx, &state, &sum, 2, points, scalars, NULL);
  }

  if (secp256k1_gej_is_infinity(&sum)) return result;
  secp256k1_ge_set_gej_var(&affine, &sum);
  if (!secp256k1_eckey_pubkey_serialize(&affine, out, &out_len, 1)) return result;
  if (napi_create_buffer_copy(env, out_len, out, &copy, &result) != napi_ok) napi_get_null(env, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  pthread_once(&verify_ctx_once, create_verify_ctx);
  if (verify_ctx == NULL) return NULL;
  if (napi_create_function(env, "lincomb", NAPI_AUTO_LENGTH, lincomb, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "lincomb", fn) != napi_ok) return NULL;
  return exports;
}
