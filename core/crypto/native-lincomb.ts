import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * The addon built from core/crypto/native/secp256k1-lincomb.c (see there for the costs). Scalars are
 * 32 bytes big-endian below the group order, points 65 bytes uncompressed; results are 33 bytes
 * compressed, or null when the sum is at infinity or an input is out of range.
 */
export interface NativeCurveAddon {
  /** a·A + b·B (A null = G) in one Strauss–wNAF double multiplication. */
  lincomb(a: Uint8Array, A: Uint8Array | null, b: Uint8Array, B: Uint8Array): Uint8Array | null;
  /** The 32 × 255 byte-window multiples of P (522,240 bytes), or null when P does not parse. */
  table(P: Uint8Array): ArrayBuffer | null;
  /** a·A + b·B from the two points' tables: additions only. */
  lincombFixed(a: Uint8Array, tableA: ArrayBuffer, b: Uint8Array, tableB: ArrayBuffer): Uint8Array | null;
}

/** Where scripts/build-native.mjs puts the addon. */
export const NATIVE_ADDON_PATH = join(PACKAGE_ROOT, 'build/native/secp256k1-lincomb.node');

/** Undefined where the addon was not built (no C compiler) or RELAYMINER_DISABLE_NATIVE=1. */
export const nativeCurveAddon: NativeCurveAddon | undefined = (() => {
  if (process.env.RELAYMINER_DISABLE_NATIVE === '1' || !existsSync(NATIVE_ADDON_PATH)) return undefined;
  try {
    return createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeCurveAddon;
  } catch {
    return undefined;
  }
})();
