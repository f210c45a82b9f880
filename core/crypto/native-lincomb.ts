import { createRequire } from 'node:module';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * The addon built from core/crypto/native/secp256k1-lincomb.c (see there for the costs). Scalars are
 * 32 bytes big-endian below the group order, points 65 bytes uncompressed; results are 33 bytes
 * compressed, or null when the sum is at infinity or an input is out of range.
 */
export interface NativeCurveAddon {
  /** a·A + b·B (A null = G) in one Strauss–wNAF double multiplication. */
  lincomb(a: Uint8Array, A: Uint8Array | null, b: Uint8Array, B: Uint8Array): Uint8Array | null;
  /**
   * The 17 × 128 signed-byte-window multiples of P (139,264 bytes; sums use them for P and λ·P), or wide the
   * 11 × 2048 of 12-bit windows (1,441,792 bytes, a third fewer additions); null when P does not parse.
   */
  table(P: Uint8Array, wide?: boolean): ArrayBuffer | null;
  /** The same table built on libuv's thread pool (null when P does not parse), so no event loop waits for it. */
  tableAsync(P: Uint8Array, wide?: boolean): Promise<ArrayBuffer | null>;
  /** a·A + b·B from the two points' tables (of either width): additions only. */
  lincombFixed(a: Uint8Array, tableA: ArrayBuffer, b: Uint8Array, tableB: ArrayBuffer): Uint8Array | null;
  /** [a·A + b·B, c·C + d·D] from four tables, made affine with one inversion for both (a ring member's two sums). */
  lincombFixedPair(
    a: Uint8Array,
    tableA: ArrayBuffer,
    b: Uint8Array,
    tableB: ArrayBuffer,
    c: Uint8Array,
    tableC: ArrayBuffer,
    d: Uint8Array,
    tableD: ArrayBuffer,
  ): [Uint8Array | null, Uint8Array | null] | null;
  /**
   * A serialized ring signature verified from tables [G, I, P_0, H_0, P_1, H_1, …] as ring-go's Verify
   * answers; null where this path cannot decide (a zero scalar, a sum at infinity, no SHA3-512 in the process).
   */
  ringChainFixed?(msg: Uint8Array, serialized: Uint8Array, tables: ArrayBuffer[]): boolean | null;
}

/**
 * Loaded by node-gyp-build from where node-gyp puts it (build/Release, binding.gyp) or a prebuilds/
 * folder. Undefined where it was not built (no C compiler) or RELAYMINER_DISABLE_NATIVE=1.
 */
export const nativeCurveAddon: NativeCurveAddon | undefined = (() => {
  if (process.env.RELAYMINER_DISABLE_NATIVE === '1') return undefined;
  const require = createRequire(import.meta.url);
  try {
    return (require('node-gyp-build') as (dir: string) => NativeCurveAddon)(PACKAGE_ROOT);
  } catch {
    return undefined;
  }
})();
