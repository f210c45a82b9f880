import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from './sha256.js';
import { nativeSecp256k1 } from './native-secp256k1.js';

/**
 * The supplier's signature on a RelayResponse (docs/spec/protocol.md §4.2), as cosmos-sdk secp256k1 signs:
 * ECDSA over SHA-256(signableHash) — the signable bytes hashed twice in all — with an RFC 6979 nonce,
 * low-S, encoded as 64 bytes r‖s. libsecp256k1 when its binary loads (it signs low-S with RFC 6979 and
 * verifies only low-S), @noble otherwise: the same bytes either way (tests check both).
 */
export type SignatureBackend = 'native' | 'noble';

export const supplierSignatureBackend: SignatureBackend = nativeSecp256k1 ? 'native' : 'noble';

/** cosmos-sdk secp256k1 PrivKey.Sign: ECDSA over SHA-256(message), RFC 6979, low-S, 64-byte r‖s. */
export function signSha256(message: Uint8Array, privateKey: Uint8Array, backend = supplierSignatureBackend): Uint8Array {
  const digest = sha256(message);
  if (backend === 'native' && nativeSecp256k1) return Uint8Array.from(nativeSecp256k1.ecdsaSign(digest, privateKey).signature);
  return secp256k1.sign(digest, privateKey, { prehash: false, lowS: true });
}

/** cosmos-sdk PubKey.VerifySignature: 64 bytes, low-S, over SHA-256(message). Never throws. */
export function verifySha256(message: Uint8Array, signature: Uint8Array, compressedPublicKey: Uint8Array, backend = supplierSignatureBackend): boolean {
  if (signature.length !== 64) return false;
  try {
    const digest = sha256(message);
    if (backend === 'native' && nativeSecp256k1) return nativeSecp256k1.ecdsaVerify(signature, digest, compressedPublicKey);
    return secp256k1.verify(signature, digest, compressedPublicKey, { prehash: false, lowS: true });
  } catch {
    return false;
  }
}

/** The supplier signs the response's signable hash as a message (so the digest is SHA-256 of it). */
export function signSupplierResponse(signableHash: Uint8Array, privateKey: Uint8Array, backend = supplierSignatureBackend): Uint8Array {
  return signSha256(signableHash, privateKey, backend);
}

/** False for anything but a 64-byte low-S signature of SHA-256(signableHash) by this key. Never throws. */
export function verifySupplierResponse(signableHash: Uint8Array, signature: Uint8Array, compressedPublicKey: Uint8Array, backend = supplierSignatureBackend): boolean {
  return verifySha256(signableHash, signature, compressedPublicKey, backend);
}
