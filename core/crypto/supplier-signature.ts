import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';

/**
 * The supplier's signature on a RelayResponse (spec/protocol.md §4.2), as cosmos-sdk secp256k1 signs:
 * ECDSA over SHA-256(signableHash) — the signable bytes hashed twice in all — with an RFC 6979 nonce,
 * low-S, encoded as 64 bytes r‖s.
 */
export function signSupplierResponse(signableHash: Uint8Array, privateKey: Uint8Array): Uint8Array {
  return secp256k1.sign(sha256(signableHash), privateKey, { prehash: false, lowS: true });
}

/** False for anything but a 64-byte low-S signature of SHA-256(signableHash) by this key. Never throws. */
export function verifySupplierResponse(signableHash: Uint8Array, signature: Uint8Array, compressedPublicKey: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return secp256k1.verify(signature, sha256(signableHash), compressedPublicKey, { prehash: false, lowS: true });
  } catch {
    return false;
  }
}
