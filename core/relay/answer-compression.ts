import { Counter, type Registry } from 'prom-client';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';

const gzipAsync = promisify(gzip);

/** `relayer.response_compression` (built only when it is enabled). */
export interface ResponseCompressionConfig {
  min_bytes: number;
  level: number;
}

/**
 * Answers up to this size are compressed on the event loop: zlib's asynchronous form costs the loop about as
 * much in stream setup as compressing one of them does (bench/README.md), and hands the rest to libuv's threads.
 */
const INLINE_MAX_BYTES = 16 * 1024;

/**
 * Whether a client that sent this Accept-Encoding takes gzip (RFC 9110 §12.5.3): a `gzip` (or `x-gzip`) entry
 * with a non-zero weight, or none and a `*` with one. Absent header: no (identity only).
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  let gzipQ: number | undefined;
  let anyQ: number | undefined;
  for (const entry of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [coding = '', ...params] = entry.split(';');
    const name = coding.trim().toLowerCase();
    if (name !== 'gzip' && name !== 'x-gzip' && name !== '*') continue;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k?.trim().toLowerCase() === 'q') q = Number(v?.trim());
    }
    if (!Number.isFinite(q)) q = 0;
    if (name === '*') anyQ = Math.max(anyQ ?? 0, q);
    else gzipQ = Math.max(gzipQ ?? 0, q);
  }
  return (gzipQ ?? anyQ ?? 0) > 0;
}

export interface EncodedAnswer {
  body: Uint8Array;
  /** `gzip` when compressed. */
  encoding?: 'gzip';
  /** Whether the answer depends on Accept-Encoding (so caches must key on it). */
  vary: boolean;
}

/**
 * Gzip of HTTP relay answers for clients that accept it (Go's HTTP client, so PATH, asks for gzip and
 * decompresses on its own), as the Go HA relay miner's `response_compression`: egress is what large answers
 * cost an operator. Off by default; the signed RelayResponse is the same either way, only its transfer changes.
 */
export class AnswerCompression {
  readonly #cfg: ResponseCompressionConfig;
  readonly #bytes: Counter<'stage'>;

  constructor(cfg: ResponseCompressionConfig, registry: Registry) {
    this.#cfg = cfg;
    this.#bytes = new Counter({
      name: 'relayminer_relay_answer_compression_bytes_total',
      help: 'HTTP relay answers gzipped for their clients (relayer.response_compression): their bytes before (stage="signed") and after (stage="sent"); the difference is egress saved.',
      labelNames: ['stage'],
      registers: [registry],
    });
  }

  /** The answer as its client will get it: gzipped when large enough, accepted, and smaller for it. Never throws. */
  async encode(body: Uint8Array, acceptEncoding: string | string[] | undefined): Promise<EncodedAnswer> {
    const { min_bytes, level } = this.#cfg;
    if (body.length < min_bytes) return { body, vary: false };
    if (!acceptsGzip(acceptEncoding)) return { body, vary: true };
    let gz: Buffer;
    try {
      gz = body.length <= INLINE_MAX_BYTES ? gzipSync(body, { level }) : await gzipAsync(body, { level });
    } catch {
      return { body, vary: true }; // zlib out of memory: the answer goes as it is
    }
    if (gz.length >= body.length) return { body, vary: true };
    this.#bytes.inc({ stage: 'signed' }, body.length);
    this.#bytes.inc({ stage: 'sent' }, gz.length);
    return { body: gz, encoding: 'gzip', vary: true };
  }
}
