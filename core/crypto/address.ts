import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from './sha256.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { fromBech32, toBech32 } from '@cosmjs/encoding';
import { nativeSecp256k1 } from './native-secp256k1.js';

/** Bech32 human-readable prefix of Pocket account addresses (poktroll `app/app.go`). */
export const ADDRESS_PREFIX = 'pokt';

/** 20-byte account id: RIPEMD160(SHA-256(33-byte compressed pubkey)), as cosmos-sdk secp256k1 does. */
export function accountIdFromPublicKey(compressedPublicKey: Uint8Array): Uint8Array {
  if (compressedPublicKey.length !== 33) {
    throw new RangeError(`compressed secp256k1 public key must be 33 bytes, got ${compressedPublicKey.length}`);
  }
  return ripemd160(sha256(compressedPublicKey));
}

export function addressFromPublicKey(compressedPublicKey: Uint8Array): string {
  return toBech32(ADDRESS_PREFIX, accountIdFromPublicKey(compressedPublicKey));
}

/**
 * libsecp256k1 where its binary loads: every start derives the public key of each of an operator's
 * hundreds of supplier keys, and noble's constant-time multiplication is many times slower. An invalid
 * scalar goes to noble, whose error the callers know.
 */
export function publicKeyFromPrivateKey(privateKey: Uint8Array): Uint8Array {
  if (nativeSecp256k1 && secp256k1.utils.isValidSecretKey(privateKey)) return Uint8Array.from(nativeSecp256k1.publicKeyCreate(privateKey, true));
  return secp256k1.getPublicKey(privateKey, true);
}

export function addressFromPrivateKey(privateKey: Uint8Array): string {
  return addressFromPublicKey(publicKeyFromPrivateKey(privateKey));
}

/** True when `address` is a well-formed `pokt` bech32 account address (checksum included). */
export function isPoktAddress(address: string): boolean {
  try {
    // BIP-173 length limit, passed explicitly: @cosmjs/encoding's default (Infinity) is refused by its bech32 dependency.
    const { prefix, data } = fromBech32(address, 90);
    return prefix === ADDRESS_PREFIX && data.length === 20;
  } catch {
    return false;
  }
}
