import { hash } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { bigIntTo32, bytesToBigInt } from '../big-endian.js';

// OpenSSL's SHA3 (FIPS, as go's x/crypto/sha3 New512): several times the pure-JS speed on the hot path.
const sha3_512 = (input: Uint8Array): Buffer => hash('sha3-512', input, 'buffer');

const Point = secp256k1.Point;
export const CURVE_ORDER = Point.Fn.ORDER;
const Fp = Point.Fp;
const P = Fp.ORDER;

/**
 * go-dleq's secp256k1 HashToScalar, quirk included: v = SHA3-512(in) mod N, then v.Bytes() (minimal
 * big-endian) is copied to the START of a 32-byte array, so a v with fewer than 32 significant bytes
 * is left-aligned (multiplied by 256^short). Returns null where Go panics: the shifted value ≥ N.
 */
export function hashToScalar(input: Uint8Array): bigint | null {
  const v = bytesToBigInt(sha3_512(input)) % CURVE_ORDER;
  const len = v === 0n ? 0 : Math.ceil(v.toString(16).length / 2);
  const aligned = v << BigInt(8 * (32 - len));
  return aligned >= CURVE_ORDER ? null : aligned;
}

/** The canonical (right-aligned) reduction, for tests that show why the quirk matters. */
export function hashToScalarCanonical(input: Uint8Array): bigint {
  return bytesToBigInt(sha3_512(input)) % CURVE_ORDER;
}

/**
 * ring-go's hashToCurve for secp256k1: x = SHA3-256(compressed P) (reduced mod p, as decred's
 * FieldVal.SetBytes does); if x³+7 has a square root take the even one, else hash the digest again;
 * at most 128 tries (then ring-go returns nil and would panic: null here).
 */
export function hashToCurve(compressedPubKey: Uint8Array): Uint8Array | null {
  let h = sha3_256(compressedPubKey);
  for (let i = 0; i < 128; i++) {
    const x = bytesToBigInt(h) % P;
    const y2 = Fp.add(Fp.mul(Fp.sqr(x), x), 7n);
    let y: bigint | undefined;
    try {
      y = Fp.sqrt(y2);
    } catch {
      y = undefined;
    }
    if (y !== undefined && Fp.sqr(y) === y2) {
      const out = new Uint8Array(33);
      out[0] = 0x02;
      out.set(bigIntTo32(x), 1);
      return out; // even y: prefix 0x02
    }
    h = sha3_256(h);
  }
  return null;
}
