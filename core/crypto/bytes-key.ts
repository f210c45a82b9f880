/**
 * A Map or Set key for a byte string. latin1 maps each byte to one character: the key is half the
 * length of hex, and made without copying the bytes (this Buffer is a view on the same memory).
 */
export function bytesKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}
