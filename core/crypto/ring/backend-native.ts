import type { NativeSecp256k1 } from '../native-secp256k1.js';
import { INFINITY_ENCODING, type RingCurveBackend } from './backend.js';
import { NobleRingBackend } from './backend-noble.js';
import { bigIntTo32 } from './hash.js';

/**
 * libsecp256k1 backend (~6x the pure-JS one). Intermediate points stay uncompressed so no call pays
 * for a square root; repeated points are converted once and cached. libsecp256k1 refuses a zero
 * scalar and a result at infinity — cases only malformed or adversarial signatures reach — and
 * those fall back to the pure-JS backend, so results are identical on every input.
 */
export class NativeRingBackend implements RingCurveBackend {
  readonly name = 'native';
  readonly #lib: NativeSecp256k1;
  readonly #fallback = new NobleRingBackend(256);
  readonly #uncompressed = new Map<string, Uint8Array>();
  readonly #maxCached: number;

  constructor(lib: NativeSecp256k1, maxCachedPoints = 4096) {
    this.#lib = lib;
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
    try {
      return this.#lib.publicKeyCombine([this.#mul(a, A), this.#mul(b, B)], true);
    } catch {
      return this.#fallback.linearCombination(a, A, b, B);
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
