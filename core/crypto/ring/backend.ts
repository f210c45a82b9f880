/**
 * The elliptic-curve work of ring signatures, behind one interface so a native backend can replace
 * the pure-JS one. Points are 33-byte compressed SEC1, already validated by the caller.
 */
export interface RingCurveBackend {
  readonly name: string;
  /**
   * a·A + b·B (A = null means the generator G), encoded compressed. The point at infinity encodes
   * as 0x02 followed by 32 zero bytes, which is what go-dleq's Encode produces for it.
   */
  linearCombination(a: bigint, A: Uint8Array | null, b: bigint, B: Uint8Array): Uint8Array;
  /**
   * A ring member's two sums, s·G + c·P and s·H + c·I, exactly as two `linearCombination` calls give them;
   * for a backend that computes the pair more cheaply than one at a time.
   */
  memberSums?(s: bigint, c: bigint, P: Uint8Array, H: Uint8Array, I: Uint8Array): [Uint8Array, Uint8Array];
  /**
   * A whole signature's verdict in one step where the backend can give it (all its points' tables held):
   * `serialized` is the signature's wire form, `ring` its members in order, `hashes` their H_p. Undefined
   * where it cannot decide; the caller then goes member by member.
   */
  verifyRing?(msg: Uint8Array, serialized: Uint8Array, ring: readonly Uint8Array[], hashes: readonly Uint8Array[], keyImage: Uint8Array): boolean | undefined;
  /** x·A (A = null means G), compressed; infinity encoded as above. */
  multiply(x: bigint, A: Uint8Array | null): Uint8Array;
  /**
   * Told the points (ring members, their H_p, the key image) of each signature that verified, so a
   * backend can invest in the points that recur. Never called for a signature that failed.
   */
  noteVerified?(points: readonly Uint8Array[]): void;
  /** Multiples tables held and sums computed from them so far (a backend that keeps tables). */
  stats?(): RingTableStats;
}

export interface RingTableStats {
  /** Tables of 8-bit windows held. */
  tables: number;
  /** Wide tables (12-bit windows) held, G's included. */
  wideTables: number;
  fixedSums: number;
}

export const INFINITY_ENCODING = (() => {
  const b = new Uint8Array(33);
  b[0] = 0x02;
  return b;
})();
