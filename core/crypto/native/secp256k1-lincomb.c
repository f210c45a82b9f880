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
 *   table(P, wide = false) → ArrayBuffer of the multiples d·2^(8j)·P (j < 17, 1 ≤ d ≤ 128; 139,264 bytes),
 *     or wide d·2^(12j)·P (j < 11, 1 ≤ d ≤ 2048; 1,441,792 bytes), in libsecp256k1's 64-byte storage form:
 *     with the endomorphism and signed digits, enough for any scalar.
 *   tableAsync(P, wide = false) → Promise of the same table (or null), built on libuv's thread pool: a table
 *     takes milliseconds, which the caller's event loop does not wait.
 *   lincombFixed(a, TA, b, TB) → the same sum from two tables of either width: about 66 additions (narrow)
 *     or 44 (wide) and no doublings, for points that recur relay after relay.
 *   lincombFixedPair(a, TA, b, TB, c, TC, d, TD) → [a·A + b·B, c·C + d·D] from four tables, with one
 *     field inversion for both (a ring member's two sums); null elements at infinity; null on bad input.
 *   ringChainFixed(m, sig, tables) → a whole ring signature verified from tables, as ring-go's Verify
 *     (docs/spec/protocol.md §4.1): sig is the serialized signature, tables [G, I, P_0, H_0, P_1, H_1, …]
 *     (I the key image, H_i = hash-to-curve of P_i), m the 32-byte message. true or false as ring-go
 *     answers (false also where go-dleq's HashToScalar would panic); null where this path cannot
 *     decide (a zero scalar, a sum at infinity, no SHA3-512 in the process, bad input), and the caller
 *     verifies the general way.
 *   null also stands for the point at infinity; the caller computes that case the general way.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_DEFAULT in older glibc's dlfcn.h; before any system header */
#endif
#include "secp256k1.c"
#include <node_api.h>
#include <dlfcn.h>
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

/* A table serves a scalar split by the curve's endomorphism (k = k1 + k2·λ with |k1|, |k2| < 2^128, and
 * λ·(x, y) = (β·x, y)) and written in signed digits of w bits: row j holds d·2^(w·j)·P for 1 ≤ d ≤ 2^(w−1);
 * a negative digit negates its entry's y and the k2 half's sum is multiplied by λ. So one table covers both
 * halves, and half the digits' values need no entry. The rows cover magnitudes below 2^129 with room for the
 * top digit's carry. Two widths: 8 bits keep a table at a quarter of the size plain byte windows (32 × 255
 * entries) need for the same additions, so many recurring keys (one per application in a supplier's
 * sessions) keep theirs; 12 bits (1.4 MB) take a third fewer additions, for the few points in nearly every
 * signature (G, a gateway's key, its H_p and key image). */
struct table_format {
  unsigned int window, rows, cols;
  size_t bytes;
};
#define FORMAT(w) { (w), (130 + (w) - 1) / (w), 1u << ((w) - 1), sizeof(secp256k1_ge_storage) * ((130 + (w) - 1) / (w)) * (1u << ((w) - 1)) }
static const struct table_format NARROW = FORMAT(8), WIDE = FORMAT(12);
#define MAX_ROWS 17 /* NARROW's */

struct table_ref {
  const secp256k1_ge_storage *entries;
  const struct table_format *format;
};

/* Entry j·cols + d − 1 is d·2^(w·j)·P, in malloc'd storage (NULL when out of memory). No entry is at
 * infinity: d·2^(w·j) ≤ 2^(w·rows − 1) < n. Pure computation on public data: safe on any thread. */
static secp256k1_ge_storage *build_table(const secp256k1_ge *base, const struct table_format *f) {
  size_t entries = (size_t)f->rows * f->cols;
  secp256k1_ge row_base = *base;
  secp256k1_gej next_base;
  secp256k1_gej *jacobian = malloc(sizeof(secp256k1_gej) * entries);
  secp256k1_ge *affine = malloc(sizeof(secp256k1_ge) * entries);
  secp256k1_ge_storage *storage = malloc(f->bytes);
  size_t j, d;
  if (jacobian != NULL && affine != NULL && storage != NULL) {
    for (j = 0; j < f->rows; j++) {
      secp256k1_gej *row = jacobian + j * f->cols;
      secp256k1_gej_set_ge(&row[0], &row_base);
      for (d = 1; d < f->cols; d++) secp256k1_gej_add_ge_var(&row[d], &row[d - 1], &row_base, NULL);
      secp256k1_gej_double_var(&next_base, &row[f->cols - 1], NULL); /* 2^w·row_base */
      secp256k1_ge_set_gej_var(&row_base, &next_base);
    }
    secp256k1_ge_set_all_gej_var(affine, jacobian, entries); /* one inversion for all */
    for (j = 0; j < entries; j++) secp256k1_ge_to_storage(storage + j, &affine[j]);
  } else {
    free(storage);
    storage = NULL;
  }
  free(jacobian);
  free(affine);
  return storage;
}

/* An ArrayBuffer holding a copy of the table, or null. */
static napi_value table_buffer(napi_env env, const secp256k1_ge_storage *storage, const struct table_format *f) {
  napi_value result;
  napi_value arraybuffer;
  void *data;
  napi_get_null(env, &result);
  if (storage != NULL && napi_create_arraybuffer(env, f->bytes, &data, &arraybuffer) == napi_ok) {
    memcpy(data, storage, f->bytes);
    result = arraybuffer;
  }
  return result;
}

/* The point and width of table(P[, wide]) and tableAsync(P[, wide]); 0 on bad input. */
static int table_request(napi_env env, napi_callback_info info, secp256k1_ge *base, const struct table_format **f) {
  size_t argc = 2;
  napi_value argv[2];
  unsigned char *data;
  bool wide = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || argc > 2) return 0;
  if (!bytes_arg(env, argv[0], 65, &data) || !secp256k1_eckey_pubkey_parse(base, data, 65)) return 0;
  if (argc == 2 && napi_get_value_bool(env, argv[1], &wide) != napi_ok) return 0;
  *f = wide ? &WIDE : &NARROW;
  return 1;
}

static napi_value table(napi_env env, napi_callback_info info) {
  napi_value result;
  secp256k1_ge base;
  const struct table_format *f;
  secp256k1_ge_storage *storage;

  napi_get_null(env, &result);
  if (!table_request(env, info, &base, &f)) return result;
  storage = build_table(&base, f);
  result = table_buffer(env, storage, f);
  free(storage);
  return result;
}

/* tableAsync: the same table built on libuv's thread pool, so the calling thread's event loop never waits
 * the milliseconds a table takes. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  secp256k1_ge base;
  const struct table_format *format;
  secp256k1_ge_storage *storage;
} table_job;

static void table_execute(napi_env env, void *data) {
  table_job *job = data;
  (void)env;
  job->storage = build_table(&job->base, job->format);
}

static void table_complete(napi_env env, napi_status status, void *data) {
  table_job *job = data;
  napi_value result;
  if (status == napi_ok) {
    result = table_buffer(env, job->storage, job->format);
  } else {
    napi_get_null(env, &result);
  }
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  free(job->storage);
  free(job);
}

static napi_value table_async(napi_env env, napi_callback_info info) {
  napi_value promise;
  napi_value name;
  napi_value null_value;
  table_job *job = calloc(1, sizeof(table_job));

  if (job == NULL) return NULL; /* out of memory: the call returns undefined */
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    free(job);
    return NULL;
  }
  napi_get_null(env, &null_value);
  if (!table_request(env, info, &job->base, &job->format) ||
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

/* A table of either width, told apart by its size. */
static int table_arg(napi_env env, napi_value v, struct table_ref *out) {
  void *data;
  size_t len;
  bool is_arraybuffer = false;
  if (napi_is_arraybuffer(env, v, &is_arraybuffer) != napi_ok || !is_arraybuffer) return 0;
  if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok) return 0;
  out->entries = data;
  out->format = len == NARROW.bytes ? &NARROW : len == WIDE.bytes ? &WIDE : NULL;
  return out->format != NULL;
}

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* k·P as two halves of signed digits for one table's width: digits[h][j] for k1 (h = 0) and k2 (h = 1), each
 * half's sign in negate[h]. */
struct table_scalar {
  int16_t digits[2][MAX_ROWS];
  int negate[2];
};

/* Splits and recodes k for a table of format f; 0 if a half does not fit the rows (never for the split's
 * 128-bit halves). */
static int table_scalar_set(struct table_scalar *out, const secp256k1_scalar *k, const struct table_format *f) {
  secp256k1_scalar half[2];
  int h;
  secp256k1_scalar_split_lambda(&half[0], &half[1], k);
  for (h = 0; h < 2; h++) {
    unsigned int carry = 0, off;
    size_t j;
    out->negate[h] = secp256k1_scalar_is_high(&half[h]);
    if (out->negate[h]) secp256k1_scalar_negate(&half[h], &half[h]);
    for (off = f->rows * f->window; off < 256; off += 16) {
      if (secp256k1_scalar_get_bits_var(&half[h], off, off + 16 <= 256 ? 16 : 256 - off) != 0) return 0;
    }
    for (j = 0; j < f->rows; j++) {
      int v = (int)(secp256k1_scalar_get_bits_var(&half[h], j * f->window, f->window) + carry);
      carry = v > (int)f->cols;
      out->digits[h][j] = (int16_t)(carry ? v - 2 * (int)f->cols : v);
    }
    if (carry) return 0;
  }
  return 1;
}

static const secp256k1_ge_storage *table_entry(const struct table_ref *t, size_t row, int digit) {
  return &t->entries[row * t->format->cols + (size_t)(digit < 0 ? -digit : digit) - 1];
}

/* Asks the cache for the entries add_multiple will read for k: they are known before the first addition,
 * so their loads overlap instead of each addition waiting on its own (an entry may span two lines). */
static void prefetch_multiple(const struct table_scalar *k, const struct table_ref *t) {
  size_t h, j;
  for (h = 0; h < 2; h++) {
    for (j = 0; j < t->format->rows; j++) {
      const secp256k1_ge_storage *e;
      if (k->digits[h][j] == 0) continue;
      e = table_entry(t, j, k->digits[h][j]);
      PREFETCH(e);
      PREFETCH((const unsigned char *)e + sizeof(secp256k1_ge_storage) - 1);
    }
  }
}

/* acc[0] += k1·P and acc[1] += k2·P, one table entry per non-zero digit; fixed_sum applies λ to acc[1] once. */
static void add_multiple(secp256k1_gej *acc, const struct table_scalar *k, const struct table_ref *t) {
  size_t h, j;
  secp256k1_ge entry;
  for (h = 0; h < 2; h++) {
    for (j = 0; j < t->format->rows; j++) {
      int d = k->digits[h][j];
      if (d == 0) continue;
      secp256k1_ge_from_storage(&entry, table_entry(t, j, d));
      if ((d < 0) != k->negate[h]) secp256k1_ge_neg(&entry, &entry);
      secp256k1_gej_add_ge_var(&acc[h], &acc[h], &entry, NULL);
    }
  }
}

/* a·A + b·B to compute from tables. */
struct fixed_sum {
  struct table_scalar a, b;
  struct table_ref ta, tb;
};

/* Fills `out` and prefetches the entries its additions will read; 0 if a scalar does not fit its table. */
static int prepare_fixed_sum(struct fixed_sum *out, const secp256k1_scalar *a, const struct table_ref *ta, const secp256k1_scalar *b, const struct table_ref *tb) {
  if (!table_scalar_set(&out->a, a, ta->format) || !table_scalar_set(&out->b, b, tb->format)) return 0;
  out->ta = *ta, out->tb = *tb;
  prefetch_multiple(&out->a, ta);
  prefetch_multiple(&out->b, tb);
  return 1;
}

/* The sum from argv[0..3] = a, TA, b, TB (scalars below the order, tables); 0 on bad input. */
static int fixed_sum_args(napi_env env, const napi_value *argv, struct fixed_sum *out) {
  secp256k1_scalar a, b;
  struct table_ref ta, tb;
  if (!scalar_arg(env, argv[0], &a) || !scalar_arg(env, argv[2], &b)) return 0;
  if (!table_arg(env, argv[1], &ta) || !table_arg(env, argv[3], &tb)) return 0;
  return prepare_fixed_sum(out, &a, &ta, &b, &tb);
}

/* The k2 halves are summed on the table's points and mapped by λ once, at the end: λ·(X, Y, Z) = (β·X, Y, Z)
 * in Jacobian coordinates too, so one multiplication by β replaces one per entry. */
static void fixed_sum(secp256k1_gej *sum, const struct fixed_sum *args) {
  static const secp256k1_fe beta = SECP256K1_FE_CONST(0x7ae96a2bUL, 0x657c0710UL, 0x6e64479eUL, 0xac3434e9UL, 0x9cf04975UL, 0x12f58995UL, 0xc1396c28UL, 0x719501eeUL);
  secp256k1_gej acc[2];
  secp256k1_gej_set_infinity(&acc[0]);
  secp256k1_gej_set_infinity(&acc[1]);
  add_multiple(acc, &args->a, &args->ta);
  add_multiple(acc, &args->b, &args->tb);
  if (!secp256k1_gej_is_infinity(&acc[1])) secp256k1_fe_mul(&acc[1].x, &acc[1].x, &beta);
  secp256k1_gej_add_var(sum, &acc[0], &acc[1], NULL);
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

/* SHA3-512 is OpenSSL's, the one node:crypto uses, found in the running process on first use rather than
 * linked: the addon then needs no OpenSSL headers to build, and a node without OpenSSL's symbols only
 * loses ringChainFixed, not the addon. */
typedef int (*evp_digest_fn)(const void *data, size_t count, unsigned char *md, unsigned int *size, const void *type, void *impl);
typedef const void *(*evp_md_fn)(void);
static evp_digest_fn evp_digest;
static const void *evp_sha3_512;
static pthread_once_t sha3_once = PTHREAD_ONCE_INIT;

static void find_sha3(void) {
  evp_md_fn sha3_512 = (evp_md_fn)dlsym(RTLD_DEFAULT, "EVP_sha3_512");
  evp_digest = (evp_digest_fn)dlsym(RTLD_DEFAULT, "EVP_Digest");
  evp_sha3_512 = sha3_512 != NULL ? sha3_512() : NULL;
}

#define MAX_RING 64
#define CHALLENGE_INPUT (32 + 33 + 33)

/* go-dleq's secp256k1 HashToScalar of m ‖ L ‖ R, quirk included (core/crypto/ring/hash.ts): v = SHA3-512 mod
 * n, its minimal big-endian bytes copied to the start of 32. 1 with the scalar; 0 where Go panics (the
 * shifted value ≥ n); −1 where the hash could not be computed. */
static int challenge_scalar(secp256k1_scalar *out, const unsigned char *input) {
  /* 2^256 mod n: a 512-bit digest hi·2^256 + lo is hi·(2^256 mod n) + lo mod n. */
  static const secp256k1_scalar two_256 = SECP256K1_SCALAR_CONST(0, 0, 0, 1, 0x45512319UL, 0x50B75FC4UL, 0x402DA173UL, 0x2FC9BEBFUL);
  unsigned char digest[64];
  unsigned char v32[32];
  unsigned int digest_len = 0;
  secp256k1_scalar hi, lo;
  int overflow = 0;
  size_t zeros = 0;
  if (!evp_digest(input, CHALLENGE_INPUT, digest, &digest_len, evp_sha3_512, NULL) || digest_len != 64) return -1;
  secp256k1_scalar_set_b32(&hi, digest, NULL);
  secp256k1_scalar_set_b32(&lo, digest + 32, NULL);
  secp256k1_scalar_mul(&hi, &hi, &two_256);
  secp256k1_scalar_add(&hi, &hi, &lo);
  secp256k1_scalar_get_b32(v32, &hi);
  while (zeros < 32 && v32[zeros] == 0) zeros++;
  if (zeros > 0 && zeros < 32) {
    memmove(v32, v32 + zeros, 32 - zeros);
    memset(v32 + 32 - zeros, 0, zeros);
  }
  secp256k1_scalar_set_b32(out, v32, &overflow);
  return !overflow;
}

/* -1: undecided (the caller verifies the general way); 0: refused; 1: verified. */
static int ring_chain(const unsigned char *m, const unsigned char *sig, size_t sig_len, const struct table_ref *tables, size_t n) {
  secp256k1_scalar c, c0, s;
  unsigned char input[CHALLENGE_INPUT];
  size_t i;
  int k;
  if (evp_digest == NULL || evp_sha3_512 == NULL) return -1;
  if (n == 0 || n > MAX_RING || sig_len < 4 + 32 + 33 + n * (32 + 33)) return -1;
  if (((size_t)sig[0] << 24 | (size_t)sig[1] << 16 | (size_t)sig[2] << 8 | sig[3]) != n) return -1;
  secp256k1_scalar_set_b32(&c0, sig + 4, NULL); /* DecodeToScalar reduces mod n */
  c = c0;
  memcpy(input, m, 32);
  for (i = 0; i < n; i++) {
    struct fixed_sum args[2];
    secp256k1_gej sums[2];
    secp256k1_ge affine[2];
    size_t len = 33;
    secp256k1_scalar_set_b32(&s, sig + 4 + 32 + 33 + i * (32 + 33), NULL);
    if (secp256k1_scalar_is_zero(&s) || secp256k1_scalar_is_zero(&c)) return -1;
    /* L = s·G + c·P_i, R = s·H_i + c·I */
    if (!prepare_fixed_sum(&args[0], &s, &tables[0], &c, &tables[2 + 2 * i])) return -1;
    if (!prepare_fixed_sum(&args[1], &s, &tables[3 + 2 * i], &c, &tables[1])) return -1;
    fixed_sum(&sums[0], &args[0]);
    fixed_sum(&sums[1], &args[1]);
    if (secp256k1_gej_is_infinity(&sums[0]) || secp256k1_gej_is_infinity(&sums[1])) return -1;
    secp256k1_ge_set_all_gej_var(affine, sums, 2);
    if (!secp256k1_eckey_pubkey_serialize(&affine[0], input + 32, &len, 1)) return -1;
    len = 33;
    if (!secp256k1_eckey_pubkey_serialize(&affine[1], input + 32 + 33, &len, 1)) return -1;
    k = challenge_scalar(&c, input);
    if (k != 1) return k; /* 0: Go panics, so ring-go's Verify does not return true */
  }
  return secp256k1_scalar_eq(&c, &c0);
}

static napi_value ring_chain_fixed(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_value result;
  unsigned char *m, *sig;
  struct table_ref tables[2 + 2 * MAX_RING];
  napi_typedarray_type type;
  size_t sig_len, offset;
  napi_value arraybuffer;
  uint32_t count, i;
  bool is_array = false;
  int verdict;

  napi_get_null(env, &result);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return result;
  if (!bytes_arg(env, argv[0], 32, &m)) return result;
  if (napi_get_typedarray_info(env, argv[1], &type, &sig_len, (void **)&sig, &arraybuffer, &offset) != napi_ok || type != napi_uint8_array) return result;
  if (napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[2], &count) != napi_ok) return result;
  if (count < 4 || count > 2 + 2 * MAX_RING || count % 2 != 0) return result;
  for (i = 0; i < count; i++) {
    napi_value element;
    if (napi_get_element(env, argv[2], i, &element) != napi_ok || !table_arg(env, element, &tables[i])) return result;
  }
  pthread_once(&sha3_once, find_sha3);
  verdict = ring_chain(m, sig, sig_len, tables, (count - 2) / 2);
  if (verdict >= 0) napi_get_boolean(env, verdict == 1, &result);
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
  if (napi_create_function(env, "ringChainFixed", NAPI_AUTO_LENGTH, ring_chain_fixed, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "ringChainFixed", fn) != napi_ok) return NULL;
  return exports;
}
