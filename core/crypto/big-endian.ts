/** Unsigned integers as big-endian bytes and back: ring scalars, hashes, difficulty targets. */

/** Big-endian bytes as an unsigned integer, eight bytes at a time (no hex string to parse). */
export function bytesToBigInt(b: Uint8Array): bigint {
  const n = b.length;
  const head = n % 8;
  let r = 0n;
  for (let i = 0; i < head; i++) r = (r << 8n) | BigInt(b[i]!);
  if (n === head) return r;
  const words = new DataView(b.buffer, b.byteOffset, n);
  for (let i = head; i < n; i += 8) r = (r << 64n) | words.getBigUint64(i);
  return r;
}

const HEX_DIGIT = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_DIGIT['0123456789abcdef'.charCodeAt(i)] = i;

/** v mod 2^256 as 32 big-endian bytes, from its hex digits (no intermediate Buffer). */
export function bigIntTo32(v: bigint): Uint8Array {
  const hex = BigInt.asUintN(256, v).toString(16);
  const out = new Uint8Array(32);
  let k = hex.length - 1;
  for (let o = 31; k >= 0; o--) {
    let byte = HEX_DIGIT[hex.charCodeAt(k--)]!;
    if (k >= 0) byte |= HEX_DIGIT[hex.charCodeAt(k--)]! << 4;
    out[o] = byte;
  }
  return out;
}
