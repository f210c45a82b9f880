import { secp256k1 } from '@noble/curves/secp256k1.js';
import { INFINITY_ENCODING, type RingCurveBackend } from './backend.js';
import { bytesKey } from '../bytes-key.js';

type NoblePoint = InstanceType<typeof secp256k1.Point>;

const G = secp256k1.Point.BASE;
const PRECOMPUTE_AFTER_USES = 64;

/**
 * Pure-JS backend (@noble/curves), variable-time (every scalar here is public). Points are parsed
 * once; hot ones get a precomputed window table (faster multiplication).
 */
export class NobleRingBackend implements RingCurveBackend {
  readonly name = 'noble';
  readonly #cache = new Map<string, { point: NoblePoint; uses: number }>();
  readonly #maxCached: number;

  constructor(maxCachedPoints = 4096) {
    this.#maxCached = maxCachedPoints;
  }

  #point(bytes: Uint8Array | null): NoblePoint {
    if (bytes === null) return G;
    const key = bytesKey(bytes);
    let entry = this.#cache.get(key);
    if (!entry) {
      entry = { point: secp256k1.Point.fromBytes(bytes), uses: 0 };
      if (this.#cache.size >= this.#maxCached) this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(key, entry);
    }
    // A window-8 table costs many multiplications to build and saves part of each later one, so only points
    // that keep coming back get one: ring members, their H_p and key images recur relay after relay;
    // a forged or one-off signature's points do not.
    if (++entry.uses === PRECOMPUTE_AFTER_USES) entry.point.precompute(8);
    return entry.point;
  }

  linearCombination(a: bigint, A: Uint8Array | null, b: bigint, B: Uint8Array): Uint8Array {
    return encode(this.#point(A).multiplyUnsafe(a).add(this.#point(B).multiplyUnsafe(b)));
  }

  multiply(x: bigint, A: Uint8Array | null): Uint8Array {
    return encode(this.#point(A).multiplyUnsafe(x));
  }
}

function encode(p: NoblePoint): Uint8Array {
  return p.is0() ? INFINITY_ENCODING : p.toBytes(true);
}
