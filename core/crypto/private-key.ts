import { secp256k1 } from '@noble/curves/secp256k1.js';

const HEX_64 = /^(0x)?[0-9a-fA-F]{64}$/;

/**
 * Parses a 32-byte secp256k1 scalar given as 64 hex characters (optionally 0x-prefixed).
 * The error never echoes the input: it may be a secret.
 */
export function parsePrivateKeyHex(hex: string): Uint8Array {
  const trimmed = hex.trim();
  if (!HEX_64.test(trimmed)) {
    throw new Error(`private key must be 64 hex characters (32 bytes), got ${trimmed.length} characters`);
  }
  const bytes = Uint8Array.from(Buffer.from(trimmed.replace(/^0x/, ''), 'hex'));
  if (!secp256k1.utils.isValidSecretKey(bytes)) {
    throw new Error('private key is not a valid secp256k1 scalar (zero or not below the curve order)');
  }
  return bytes;
}
