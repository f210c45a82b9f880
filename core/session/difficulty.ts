import { bytesToBigInt } from '../crypto/big-endian.js';

/**
 * Relay mining difficulty (poktroll pkg/crypto/protocol/relay_difficulty.go; docs/spec/protocol.md §5.2).
 * Hashes and targets are 32-byte big-endian numbers.
 */

export { bytesToBigInt };

export const MAX_HASH = (1n << 256n) - 1n;
/** The base difficulty: every relay is mined. */
export const BASE_TARGET_HASH = new Uint8Array(32).fill(0xff);

export function bigIntToBytes(value: bigint, length?: number): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const raw = Uint8Array.from(Buffer.from(hex === '00' && length === undefined ? '' : hex, 'hex'));
  if (length === undefined || raw.length >= length) return raw;
  const out = new Uint8Array(length);
  out.set(raw, length - raw.length);
  return out;
}

/** A relay is mined iff its hash is strictly below the target, compared as big-endian bytes. */
export function isRelayVolumeApplicable(relayHash: Uint8Array, targetHash: Uint8Array): boolean {
  return Buffer.compare(relayHash, targetHash) < 0;
}

/** (2^256 − 1) / target, as an exact reduced fraction. */
export function relayDifficultyMultiplier(targetHash: Uint8Array): { num: bigint; den: bigint } {
  const target = bytesToBigInt(targetHash);
  if (target === 0n) throw new RangeError('difficulty target must be non-zero');
  const g = gcd(MAX_HASH, target);
  return { num: MAX_HASH / g, den: target / g };
}

/**
 * The next target from the previous one and the ratio of target relays to the EMA of relays:
 * floor(prev × targetNumRelays / ema); leading zero bytes stripped; longer than 32 bytes saturates to
 * ff…ff; left-padded to the previous length.
 */
export function computeNewDifficultyTargetHash(prevTarget: Uint8Array, targetNumRelays: bigint, relaysEma: bigint): Uint8Array {
  if (targetNumRelays === relaysEma) return Uint8Array.from(prevTarget);
  const scaled = (bytesToBigInt(prevTarget) * targetNumRelays) / relaysEma;
  const bytes = bigIntToBytes(scaled);
  if (bytes.length > 32) return Uint8Array.from(BASE_TARGET_HASH);
  return bigIntToBytes(scaled, prevTarget.length);
}

/** Greatest common divisor of non-negative bigints. */
export function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}
