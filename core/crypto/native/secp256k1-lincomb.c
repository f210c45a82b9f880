/*
 * a·A + b·B on secp256k1 for verifying ring signatures (public data only, so variable time is fine).
 *
 * libsecp256k1's public API has no such call: through it a ring member costs two constant-time
 * multiplications and an addition, or an ECDSA public-key recovery that also pays a square root and
 * a scalar inversion. This file compiles the libsecp256k1 sources that the `secp256k1` npm package
 * ships (the same code its prebuilt binary runs, the exact version package.json names) as one translation
 * unit and uses its internal group arithmetic directly. node-gyp builds it (binding.gyp); when it
 * is not built, core/crypto/ring/backend-native.ts uses the public API instead, with identical
 * results.
 *
 * JS API (every function returns null on bad input instead of throwing):
 *   lincomb(a, A, b, B) → Buffer(33) compressed a·A + b·B, one Strauss–wNAF double multiplication.
 *     a, b: Uint8Array(32) big-endian scalars below the group order; A, B: Uint8Array(65)
 *     uncompressed points; A null means the generator G (libsecp256k1's precomputed G tables).
 *   table(P) → ArrayBuffer of the 32 × 255 multiples d·256^j·P (j < 32, 1 ≤ d ≤ 255) in
 *     libsecp256k1's 64-byte storage form (522,240 bytes).
 *   tableAsync(P) → Promise of the same table (or null), built on libuv's thread pool: a table takes
 *     milliseconds, which the caller's event loop does not wait.
 *   lincombFixed(a, TA, b, TB) → the same sum from two tables: at most 64 additions and no
 *     doublings, for points that recur relay after relay.
 *   lincombFixedPair(a, TA, b, TB, c, TC, d, TD) → [a·A + b·B, c·C + d·D] from four tables, with one
 *     field inversion for both (a ring member's two sums); null elements at infinity; null on bad input.
 *   null also stands for the point at infinity; the caller computes that case the general way.
 */
#include "secp256k1.c"
#include <node_api.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

/* Compressed encoding of an affine point, or null at infinity. */
static napi_value encode_affine(napi_env env, secp256k1_ge *point) {
  napi_value result;
  unsigned char out[33];
  size_t out_len = sizeof(out);
  void *copy;
  napi_get_null(env, &result);
  if (!secp256k1_eckey_pubkey_serialize(point, out, &out_len, 1)) return result;
  if (napi_create_buffer_copy(env, out_len, out, &copy, &result) != napi_ok) napi_get_null(env, &result);
  return result;
}

/* Compressed encoding of a sum, or null at infinity. */
static napi_value encode_sum(napi_env env, secp256k1_gej *sum) {
  secp256k1_ge affine;
  napi_value result;
  if (secp256k1_gej_is_infinity(sum)) {
    napi_get_null(env, &result);
    return result;
  }
  secp256k1_ge_set_gej_var(&affine, sum);
  return encode_affine(env, &affine);
}

static napi_value lincomb(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_value result;
  napi_valuetype type_a;
  secp256k1_scalar scalars[2];
  secp256k1_gej points[2];
  secp256k1_gej sum;

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
  return encode_sum(env, &sum);
}

#define TABLE_ROWS 32
#define TABLE_COLS 255
#define TABLE_ENTRIES (TABLE_ROWS * TABLE_COLS)
#define TABLE_BYTES (sizeof(secp256k1_ge_storage) * TABLE_ENTRIES)

/* Entry j·255 + d − 1 is d·256^j·P, in malloc'd storage (NULL when out of memory). No entry is at
 * infinity: d·256^j < n for every d ≤ 255, j < 32. Pure computation on public data: safe on any thread. */
static secp256k1_ge_storage *build_table(const secp256k1_ge *base) {
  secp256k1_ge row_base = *base;
  secp256k1_gej next_base;
  secp256k1_gej *jacobian = malloc(sizeof(secp256k1_gej) * TABLE_ENTRIES);
  secp256k1_ge *affine = malloc(sizeof(secp256k1_ge) * TABLE_ENTRIES);
  secp256k1_ge_storage *storage = malloc(TABLE_BYTES);
  size_t j, d;
  if (jacobian != NULL && affine != NULL && storage != NULL) {
    for (j = 0; j < TABLE_ROWS; j++) {
      secp256k1_gej *row = jacobian + j * TABLE_COLS;
      secp256k1_gej_set_ge(&row[0], &row_base);
      for (d = 1; d < TABLE_COLS; d++) secp256k1_gej_add_ge_var(&row[d], &row[d - 1], &row_base, NULL);
      secp256k1_gej_add_ge_var(&next_base, &row[TABLE_COLS - 1], &row_base, NULL); /* 256·row_base */
      secp256k1_ge_set_gej_var(&row_base, &next_base);
    }
    secp256k1_ge_set_all_gej_var(affine, jacobian, TABLE_ENTRIES); /* one inversion for all */
    for (j = 0; j < TABLE_ENTRIES; j++) secp256k1_ge_to_storage(storage + j, &affine[j]);
  } else {
    free(storage);
    storage = NULL;
  }
  free(jacobian);
  free(affine);
  return storage;
}

/* An ArrayBuffer holding a copy of the table, or null. */
static napi_value table_buffer(napi_env env, const secp256k1_ge_storage *storage) {
  napi_value result;
  napi_value arraybuffer;
  void *data;
  napi_get_null(env, &result);
  if (storage != NULL && napi_create_arraybuffer(env, TABLE_BYTES, &data, &arraybuffer) == napi_ok) {
    memcpy(data, storage, TABLE_BYTES);
    result = arraybuffer;
  }
  return result;
}

static napi_value table(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  unsigned char *data;
  secp256k1_ge base;
  secp256k1_ge_storage *storage;

  napi_get_null(env, &result);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) return result;
  if (!bytes_arg(env, argv[0], 65, &data) || !secp256k1_eckey_pubkey_parse(&base, data, 65)) return result;
  storage = build_table(&base);
  result = table_buffer(env, storage);
  free(storage);
  return result;
}

/* tableAsync: the same table built on libuv's thread pool, so the calling thread's event loop never waits
 * the milliseconds a table takes. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  secp256k1_ge base;
  secp256k1_ge_storage *storage;
} table_job;

static void table_execute(napi_env env, void *data) {
  table_job *job = data;
  (void)env;
  job->storage = build_table(&job->base);
}

static void table_complete(napi_env env, napi_status status, void *data) {
  table_job *job = data;
  napi_value result;
  if (status == napi_ok) {
    result = table_buffer(env, job->storage);
  } else {
    napi_get_null(env, &result);
  }
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  free(job->storage);
  free(job);
}

static napi_value table_async(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value promise;
  napi_value name;
  napi_value null_value;
  unsigned char *data;
  table_job *job = calloc(1, sizeof(table_job));

  if (job == NULL) return NULL; /* out of memory: the call returns undefined */
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    free(job);
    return NULL;
  }
  napi_get_null(env, &null_value);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !bytes_arg(env, argv[0], 65, &data) ||
      !secp256k1_eckey_pubkey_parse(&job->base, data, 65) ||
      napi_create_string_utf8(env, "relayminer.ringTable", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, table_execute, table_complete, job, &job->work) != napi_ok) {
    napi_resolve_deferred(env, job->deferred, null_value);
    free(job);
    return promise;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_resolve_deferred(env, job->deferred, null_value);
    napi_delete_async_work(env, job->work);
    free(job);
  }
  return promise;
}

static int table_arg(napi_env env, napi_value v, const secp256k1_ge_storage **out) {
  void *data;
  size_t len;
  bool is_arraybuffer = false;
  if (napi_is_arraybuffer(env, v, &is_arraybuffer) != napi_ok || !is_arraybuffer) return 0;
  if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok || len != TABLE_BYTES) return 0;
  *out = data;
  return 1;
}

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* Asks the cache for the entries add_multiple will read for k: they are known before the first addition,
 * so their loads overlap instead of each addition waiting on its own (an entry may span two lines). */
static void prefetch_multiple(const unsigned char *k32, const secp256k1_ge_storage *t) {
  size_t j;
  for (j = 0; j < TABLE_ROWS; j++) {
    unsigned int d = k32[31 - j];
    if (d == 0) continue;
    PREFETCH(&t[j * TABLE_COLS + d - 1]);
    PREFETCH((const unsigned char *)&t[j * TABLE_COLS + d - 1] + sizeof(secp256k1_ge_storage) - 1);
  }
}

/* r += k·P, k big-endian, one table entry per non-zero byte. */
static void add_multiple(secp256k1_gej *r, const unsigned char *k32, const secp256k1_ge_storage *t) {
  size_t j;
  secp256k1_ge entry;
  for (j = 0; j < TABLE_ROWS; j++) {
    unsigned int d = k32[31 - j];
    if (d == 0) continue;
    secp256k1_ge_from_storage(&entry, &t[j * TABLE_COLS + d - 1]);
    secp256k1_gej_add_ge_var(r, r, &entry, NULL);
  }
}

/* The scalars and tables of a·A + b·B from argv[0..3] = a, TA, b, TB (scalars below the order, tables),
 * their entries prefetched; 0 on bad input. */
struct fixed_sum {
  unsigned char *a32, *b32;
  const secp256k1_ge_storage *ta, *tb;
};

static int fixed_sum_args(napi_env env, const napi_value *argv, struct fixed_sum *out) {
  secp256k1_scalar unused;
  if (!scalar_arg(env, argv[0], &unused) || !scalar_arg(env, argv[2], &unused)) return 0;
  if (!bytes_arg(env, argv[0], 32, &out->a32) || !bytes_arg(env, argv[2], 32, &out->b32)) return 0;
  if (!table_arg(env, argv[1], &out->ta) || !table_arg(env, argv[3], &out->tb)) return 0;
  prefetch_multiple(out->a32, out->ta);
  prefetch_multiple(out->b32, out->tb);
  return 1;
}

static void fixed_sum(secp256k1_gej *sum, const struct fixed_sum *args) {
  secp256k1_gej_set_infinity(sum);
  add_multiple(sum, args->a32, args->ta);
  add_multiple(sum, args->b32, args->tb);
}

static napi_value lincomb_fixed(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_value result;
  struct fixed_sum args;
  secp256k1_gej sum;

  napi_get_null(env, &result);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) return result;
  if (!fixed_sum_args(env, argv, &args)) return result;
  fixed_sum(&sum, &args);
  return encode_sum(env, &sum);
}

/* lincombFixedPair(a, TA, b, TB, c, TC, d, TD) → [a·A + b·B, c·C + d·D]: the two sums a ring member
 * needs, made affine with one field inversion between them instead of one each. */
static napi_value lincomb_fixed_pair(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_value result;
  struct fixed_sum args[2];
  secp256k1_gej sums[2];
  secp256k1_ge affine[2];
  uint32_t i;

  napi_get_null(env, &result);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 8) return result;
  if (!fixed_sum_args(env, argv, &args[0]) || !fixed_sum_args(env, argv + 4, &args[1])) return result;
  fixed_sum(&sums[0], &args[0]);
  fixed_sum(&sums[1], &args[1]);
  secp256k1_ge_set_all_gej_var(affine, sums, 2);
  if (napi_create_array_with_length(env, 2, &result) != napi_ok) {
    napi_get_null(env, &result);
    return result;
  }
  for (i = 0; i < 2; i++) napi_set_element(env, result, i, encode_affine(env, &affine[i]));
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  pthread_once(&verify_ctx_once, create_verify_ctx);
  if (verify_ctx == NULL) return NULL;
  if (napi_create_function(env, "lincomb", NAPI_AUTO_LENGTH, lincomb, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "lincomb", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "table", NAPI_AUTO_LENGTH, table, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "table", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "lincombFixed", NAPI_AUTO_LENGTH, lincomb_fixed, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "lincombFixed", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "lincombFixedPair", NAPI_AUTO_LENGTH, lincomb_fixed_pair, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "lincombFixedPair", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "tableAsync", NAPI_AUTO_LENGTH, table_async, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "tableAsync", fn) != napi_ok) return NULL;
  return exports;
}
