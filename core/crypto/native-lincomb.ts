import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * a·A + b·B (A null = G) for 32-byte scalars below the group order and 65-byte uncompressed points;
 * 33 bytes compressed, or null when the sum is at infinity or an input is out of range.
 */
export type NativeLinearCombination = (a: Uint8Array, A: Uint8Array | null, b: Uint8Array, B: Uint8Array) => Uint8Array | null;

/** Where scripts/build-native.mjs puts the addon (core/crypto/native/secp256k1-lincomb.c). */
export const NATIVE_LINCOMB_PATH = join(PACKAGE_ROOT, 'build/native/secp256k1-lincomb.node');

/**
 * libsecp256k1's variable-time double multiplication, or undefined where the addon was not built (no
 * C compiler) or RELAYMINER_DISABLE_NATIVE=1: ring verification then uses the public API.
 */
export const nativeLinearCombination: NativeLinearCombination | undefined = (() => {
  if (process.env.RELAYMINER_DISABLE_NATIVE === '1' || !existsSync(NATIVE_LINCOMB_PATH)) return undefined;
  try {
    return (createRequire(import.meta.url)(NATIVE_LINCOMB_PATH) as { lincomb: NativeLinearCombination }).lincomb;
  } catch {
    return undefined;
  }
})();
