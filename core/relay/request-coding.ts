import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { BackendRequest } from '../backend/http-backend.js';
import { RelayRejection } from './reasons.js';

type Decoder = (body: Buffer, opts: zlib.ZlibOptions & zlib.BrotliOptions) => Promise<Buffer>;

const DECODERS = new Map<string, Decoder>([
  ['gzip', promisify(zlib.gunzip)],
  ['x-gzip', promisify(zlib.gunzip)],
  ['deflate', promisify(zlib.inflate)],
  ['br', promisify(zlib.brotliDecompress)],
]);
// Node 22.15 and later read zstd; older ones refuse it as a coding they cannot read.
const zstd = (zlib as unknown as { zstdDecompress?: (b: Buffer, o: object, cb: (e: Error | null, r: Buffer) => void) => void }).zstdDecompress;
if (zstd) DECODERS.set('zstd', promisify(zstd) as Decoder);

/** More codings than any client applies: each is a pass over the body, and the list is the client's to make long. */
const MAX_CODINGS = 4;

/** The request's content codings in the order they were applied (`identity` left out); undefined when it names none. */
export function contentCodings(headers: Readonly<Record<string, string | readonly string[]>>): string[] | undefined {
  let codings: string[] | undefined;
  for (const key in headers) {
    if (key.length !== 16 || key.toLowerCase() !== 'content-encoding') continue;
    const value = headers[key]!;
    for (const part of (typeof value === 'string' ? [value] : value).join(',').split(',')) {
      const coding = part.trim().toLowerCase();
      if (coding !== '' && coding !== 'identity') (codings ??= []).push(coding);
    }
  }
  return codings;
}

/**
 * The request as its backend reads it once the body's `codings` (contentCodings) are undone, for a transport that checks
 * the body before it is forwarded (`HttpRelayProtocol.readsBody`): a gzipped `{"method":"admin_addPeer"}` is
 * unreadable to that check, and a backend (or a proxy in front of it) that decompresses requests would run it.
 * The decoded body goes to the backend without the header, so what was checked is what the backend reads.
 * A coding this process cannot read, more than MAX_CODINGS of them, or a body that does not decode, is `malformed_payload`; one that decodes
 * past `maxBytes` (the backend's `max_body_bytes`) is `body_too_large`.
 */
export async function decodedRequest(request: BackendRequest, codings: readonly string[], maxBytes: number): Promise<BackendRequest> {
  if (codings.length > MAX_CODINGS) throw new RelayRejection('malformed_payload', `${codings.length} content encodings, at most ${MAX_CODINGS} are read`);
  let body = request.body ? Buffer.from(request.body.buffer, request.body.byteOffset, request.body.length) : Buffer.alloc(0);
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    const decode = DECODERS.get(coding);
    if (!decode) throw new RelayRejection('malformed_payload', `content encoding ${JSON.stringify(coding.slice(0, 64))} is not one the relayer can read`);
    try {
      body = await decode(body, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new RelayRejection('body_too_large', `${coding} body decodes past ${maxBytes} bytes`);
      throw new RelayRejection('malformed_payload', `${coding} body does not decode: ${(err as Error).message}`);
    }
  }
  const headers: Record<string, string | string[]> = {};
  for (const key in request.headers) if (key.toLowerCase() !== 'content-encoding') headers[key] = request.headers[key]!;
  return { ...request, headers, body };
}
