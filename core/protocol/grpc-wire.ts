/**
 * Splits a gRPC body (length-prefixed messages: 1-byte flags, 4-byte big-endian length, message)
 * into whole frames, as bytes arrive. Frames are kept as they are (compressed flag included).
 */
export async function* grpcFrames(chunks: AsyncIterable<Buffer>, maxFrameBytes: number): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  const frames: Buffer[] = [];
  for await (const chunk of chunks) {
    const cut = cutFrames(buf.length ? Buffer.concat([buf, chunk]) : chunk, maxFrameBytes, frames);
    yield* frames;
    frames.length = 0;
    if (cut.tooLarge !== undefined) throw tooLarge(cut.tooLarge, maxFrameBytes);
    buf = cut.rest;
  }
  if (buf.length) throw leftOver(buf.length);
}

/** The frames of a whole gRPC body (a unary answer): whole messages only, each within the limit. */
export function splitGrpcFrames(body: Buffer, maxFrameBytes: number): Buffer[] {
  const frames: Buffer[] = [];
  const cut = cutFrames(body, maxFrameBytes, frames);
  if (cut.tooLarge !== undefined) throw tooLarge(cut.tooLarge, maxFrameBytes);
  if (cut.rest.length) throw leftOver(cut.rest.length);
  return frames;
}

/** Moves the whole frames at the start of `buf` to `frames`; stops at a frame still arriving or one over the limit. */
function cutFrames(buf: Buffer, maxFrameBytes: number, frames: Buffer[]): { rest: Buffer; tooLarge?: number } {
  while (buf.length >= 5) {
    const len = buf.readUInt32BE(1);
    if (len > maxFrameBytes) return { rest: buf, tooLarge: len };
    if (buf.length < 5 + len) break;
    frames.push(buf.subarray(0, 5 + len));
    buf = buf.subarray(5 + len);
  }
  return { rest: buf };
}

const tooLarge = (len: number, max: number) => new Error(`gRPC message of ${len} bytes is over the ${max}-byte limit`);
const leftOver = (n: number) => new Error(`gRPC body ends inside a message (${n} bytes left over)`);

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
