import { createRequire } from 'node:module';

/** The subset of the `secp256k1` package's native (libsecp256k1) binding that core uses. */
export interface NativeSecp256k1 {
  publicKeyCreate(privateKey: Uint8Array, compressed?: boolean): Uint8Array;
  /** SEC1 parse: prefix, x below the field's prime, on the curve. */
  publicKeyVerify(publicKey: Uint8Array): boolean;
  publicKeyConvert(publicKey: Uint8Array, compressed?: boolean): Uint8Array;
  publicKeyTweakMul(publicKey: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array;
  publicKeyCombine(publicKeys: Uint8Array[], compressed?: boolean): Uint8Array;
  ecdsaSign(msg32: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaVerify(signature: Uint8Array, msg32: Uint8Array, publicKey: Uint8Array): boolean;
  ecdsaRecover(signature: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
}

/**
 * libsecp256k1 through the `secp256k1` package's prebuilt binary (linux-x64, darwin-arm64, win32-x64),
 * or undefined where no binary loads. The package's own fallback (elliptic, pure JS) is deliberately
 * not used: where there is no native code, core's @noble paths are the fallback.
 */
export const nativeSecp256k1: NativeSecp256k1 | undefined = (() => {
  if (process.env.RELAYMINER_DISABLE_NATIVE === '1') return undefined;
  try {
    return createRequire(import.meta.url)('secp256k1/bindings') as NativeSecp256k1;
  } catch {
    return undefined;
  }
})();
