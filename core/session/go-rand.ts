import { sha256 } from '../crypto/sha256.js';
import { RNG_COOKED } from './go-rand-cooked.js';

/**
 * A port of Go's math/rand v1 source (src/math/rand/rng.go) — an additive lagged Fibonacci generator —
 * exact to the bit, because the chain decides probabilistic proof requirements with it.
 */

const RNG_LEN = 607;
const RNG_TAP = 273;
const INT32_MAX = 2147483647;
const MASK64 = (1n << 64n) - 1n;
const MASK63 = (1n << 63n) - 1n;
const COOKED = RNG_COOKED.map((v) => BigInt.asUintN(64, BigInt(v)));

/** x[n+1] = 48271 * x[n] mod (2**31 - 1), Schrage's method as Go writes it. */
function seedrand(x: number): number {
  const A = 48271;
  const Q = 44488;
  const R = 3399;
  const hi = Math.trunc(x / Q);
  const lo = x % Q;
  let next = A * lo - R * hi;
  if (next < 0) next += INT32_MAX;
  return next;
}

export class GoRandSource {
  #tap = 0;
  #feed = RNG_LEN - RNG_TAP;
  readonly #vec = new Array<bigint>(RNG_LEN);

  constructor(seed: bigint) {
    let s = seed % BigInt(INT32_MAX); // sign of the dividend, as Go's %
    if (s < 0n) s += BigInt(INT32_MAX);
    if (s === 0n) s = 89482311n;
    let x = Number(s);
    for (let i = -20; i < RNG_LEN; i++) {
      x = seedrand(x);
      if (i >= 0) {
        let u = BigInt(x) << 40n;
        x = seedrand(x);
        u ^= BigInt(x) << 20n;
        x = seedrand(x);
        u ^= BigInt(x);
        u ^= COOKED[i]!;
        this.#vec[i] = u & MASK64;
      }
    }
  }

  uint64(): bigint {
    this.#tap -= 1;
    if (this.#tap < 0) this.#tap += RNG_LEN;
    this.#feed -= 1;
    if (this.#feed < 0) this.#feed += RNG_LEN;
    const x = (this.#vec[this.#feed]! + this.#vec[this.#tap]!) & MASK64;
    this.#vec[this.#feed] = x;
    return x;
  }

  int63(): bigint {
    return this.uint64() & MASK63;
  }

  /** Go 1.19 `(*Rand).Float64`: float64(Int63()) / 2^63, retried when it rounds to 1. */
  float64(): number {
    for (;;) {
      const f = Number(this.int63()) / 2 ** 63;
      if (f !== 1) return f;
    }
  }
}

/**
 * Go's `binary.Varint` over the start of `buf`: LEB128 groups up to 10 bytes, zig-zag decoded.
 * An unterminated or overflowing varint yields 0, as Go returns (0, n ≤ 0).
 */
export function goVarint(buf: Uint8Array): bigint {
  let x = 0n;
  let shift = 0n;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (i === 10) return 0n;
    if (b < 0x80) {
      if (i === 9 && b > 1) return 0n;
      const ux = x | (BigInt(b) << shift);
      const v = BigInt.asIntN(64, ux >> 1n);
      return (ux & 1n) !== 0n ? ~v : v;
    }
    x |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  }
  return 0n;
}

/** poktroll `pkg/crypto/rand` SeededFloat64: rand.New(rand.NewSource(Varint(sha256(seed)))).Float64(). */
export function seededFloat64(seed: Uint8Array): number {
  return new GoRandSource(goVarint(sha256(seed))).float64();
}
