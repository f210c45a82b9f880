/**
 * Buffer's own latin1 decoder, called on any Uint8Array: Node defines it on Buffer.prototype (what
 * `toString('latin1')` calls) but does not document it, so it is used only when it is there.
 */
const latin1Slice = (Buffer.prototype as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/**
 * A Map or Set key for a byte string. latin1 maps each byte to one character: the key is half the
 * length of hex, and made without copying the bytes. The relay path makes about fifteen per relay
 * (points checked, looked up in the tables, counted), so no Buffer is built around the bytes for it.
 */
export const bytesKey: (bytes: Uint8Array) => string =
  typeof latin1Slice === 'function' ? (bytes) => latin1Slice.call(bytes, 0, bytes.length) : (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
