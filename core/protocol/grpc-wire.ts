/**
 * Splits a gRPC body (length-prefixed messages: 1-byte flags, 4-byte big-endian length, message)
 * into whole frames, as bytes arrive. Frames are kept as they are (compressed flag included).
 */
export async function* grpcFrames(chunks: AsyncIterable<Buffer>, maxFrameBytes: number): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (len > maxFrameBytes) throw new Error(`gRPC message of ${len} bytes is over the ${maxFrameBytes}-byte limit`);
      if (buf.length < 5 + len) break;
      yield buf.subarray(0, 5 + len);
      buf = buf.subarray(5 + len);
    }
  }
  if (buf.length) throw new Error(`gRPC body ends inside a message (${buf.length} bytes left over)`);
}

/** One length-prefixed, uncompressed gRPC message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** The relay miner's gRPC service (docs/spec/wire.md §5): RelayRequest in, RelayResponse(s) out. */
export const RELAY_SERVICE_PATHS = {
  SendRelay: '/pocket.service.RelayService/SendRelay',
  SendStreamingRelay: '/pocket.service.RelayService/SendStreamingRelay',
} as const;
