import type { NativeLinearCombination } from '../native-lincomb.js';
import type { NativeSecp256k1 } from '../native-secp256k1.js';
import { INFINITY_ENCODING, type RingCurveBackend } from './backend.js';
import { NobleRingBackend } from './backend-noble.js';
import { bigIntTo32, bytesToBigInt, CURVE_ORDER } from './hash.js';

/**
 * libsecp256k1 backend (~6x the pure-JS one). Intermediate points stay uncompressed so no call pays
 * for a square root; repeated points are converted once and cached. libsecp256k1 refuses a zero
 * scalar and a result at infinity — cases only malformed or adversarial signatures reach — and
 * those fall back to the pure-JS backend, so results are identical on every input.
 *
 * With `lincomb` (the addon built from core/crypto/native/secp256k1-lincomb.c) each a·A + b·B is one
 * variable-time double multiplication — about half the cost of the public API's way; its name is
 * then `native-strauss`.
 */
export class NativeRingBackend implements RingCurveBackend {
  readonly name: 'native' | 'native-strauss';
  readonly #lib: NativeSecp256k1;
  readonly #lincomb: NativeLinearCombination | undefined;
  readonly #fallback = new NobleRingBackend(256);
  readonly #uncompressed = new Map<string, Uint8Array>();
  readonly #maxCached: number;

  constructor(lib: NativeSecp256k1, lincomb?: NativeLinearCombination, maxCachedPoints = 4096) {
    this.#lib = lib;
    this.#lincomb = lincomb;
    this.name = lincomb ? 'native-strauss' : 'native';
    this.#maxCached = maxCachedPoints;
  }

  #u(point: Uint8Array): Uint8Array {
    const key = Buffer.from(point).toString('hex');
    let u = this.#uncompressed.get(key);
    if (!u) {
      u = this.#lib.publicKeyConvert(point, false);
      if (this.#uncompressed.size >= this.#maxCached) this.#uncompressed.delete(this.#uncompressed.keys().next().value as string);
      this.#uncompressed.set(key, u);
    }
    return u;
  }

  #mul(x: bigint, A: Uint8Array | null): Uint8Array {
    const k = bigIntTo32(x);
    return A === null ? this.#lib.publicKeyCreate(k, false) : this.#lib.publicKeyTweakMul(this.#u(A), k, false);
  }

  linearCombination(a: bigint, A: Uint8Array | null, b: bigint, B: Uint8Array): Uint8Array {
    if (a === 0n || b === 0n) return this.#fallback.linearCombination(a, A, b, B);
    if (this.#lincomb) {
      return this.#lincomb(bigIntTo32(a), A === null ? null : this.#u(A), bigIntTo32(b), this.#u(B)) ?? this.#fallback.linearCombination(a, A, b, B);
    }
    if (A === null) {
      const q = this.#generatorPlus(a, b, B);
      if (q) return q;
    }
    try {
      return this.#lib.publicKeyCombine([this.#mul(a, A), this.#mul(b, B)], true);
    } catch {
      return this.#fallback.linearCombination(a, A, b, B);
    }
  }

  /**
   * a·G + b·B in one libsecp256k1 double multiplication, through ECDSA public-key recovery:
   * recover(r, s, z) = r⁻¹(s·R − z·G) with R the point of x-coordinate r. Taking R = B, s = b·r and
   * z = −a·r gives exactly a·G + b·B (one call instead of two multiplications and an addition).
   * Null when B's x-coordinate is not below the group order or the sum is at infinity: the caller
   * computes those the general way.
   */
  #generatorPlus(a: bigint, b: bigint, B: Uint8Array): Uint8Array | null {
    const r = bytesToBigInt(B.subarray(1, 33));
    if (r === 0n || r >= CURVE_ORDER) return null;
    const signature = new Uint8Array(64);
    signature.set(bigIntTo32(r), 0);
    signature.set(bigIntTo32((b * r) % CURVE_ORDER), 32);
    const z = ((CURVE_ORDER - a) * r) % CURVE_ORDER;
    try {
      return Uint8Array.from(this.#lib.ecdsaRecover(signature, B[0] === 0x03 ? 1 : 0, bigIntTo32(z), true));
    } catch {
      return null;
    }
  }

  multiply(x: bigint, A: Uint8Array | null): Uint8Array {
    if (x === 0n) return INFINITY_ENCODING;
    try {
      return A === null ? this.#lib.publicKeyCreate(bigIntTo32(x), true) : this.#lib.publicKeyTweakMul(this.#u(A), bigIntTo32(x), true);
    } catch {
      return this.#fallback.multiply(x, A);
    }
  }
}
