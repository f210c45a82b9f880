import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POKTHTTPResponseCodec, type HttpHeader } from '../protocol/messages.js';

/** Bodies up to this stay in memory; past it they go to a temporary file. */
export const STREAMED_BODY_MEMORY_BYTES = 1024 * 1024;

const READ_CHUNK = 1024 * 1024;

/**
 * The body of a streamed answer, kept only so its payload hash can be computed at the end. A mined
 * relay carries the response without its payload (docs/spec/protocol.md §5.1), but the payload hash covers
 * `POKTHTTPResponse{status, header, body}`, whose body length comes before the body: so the body is
 * read twice, and past `memoryBytes` it is kept in a temporary file rather than in the heap.
 */
export class StreamedBody {
  readonly #memoryBytes: number;
  readonly #dir: string;
  #chunks: Buffer[] = [];
  #size = 0;
  #file: { handle: FileHandle; dir: string } | undefined;
  #spillFailed = false;
  /** Writes to the file, in order; a failed write fails the hash. */
  #writing: Promise<void> = Promise.resolve();

  constructor(o: { memoryBytes?: number; dir?: string } = {}) {
    this.#memoryBytes = o.memoryBytes ?? STREAMED_BODY_MEMORY_BYTES;
    this.#dir = o.dir ?? tmpdir();
  }

  get size(): number {
    return this.#size;
  }

  /** True once the body went to a temporary file. */
  get spilled(): boolean {
    return this.#file !== undefined;
  }

  /** Adds the next piece. The caller must not change `chunk` afterwards. */
  async add(chunk: Uint8Array): Promise<void> {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.#size += buf.length;
    if (this.#file) {
      const { handle } = this.#file;
      this.#writing = this.#writing.then(() => writeAll(handle, buf));
      return this.#writing;
    }
    this.#chunks.push(buf);
    if (this.#size > this.#memoryBytes && !this.#spillFailed) await this.#spill();
  }

  /** SHA-256 of `POKTHTTPResponse{status_code, header, body_bz: the body}` as gogoproto encodes it. */
  async payloadHash(status: number, header: ReadonlyMap<string, HttpHeader>): Promise<Uint8Array> {
    const hash = createHash('sha256');
    hash.update(POKTHTTPResponseCodec.encode({ status_code: status, header: new Map(header), body_bz: new Uint8Array(0) }));
    // body_bz is the last field: tag 3 (length-delimited), the length, the bytes; absent when empty.
    if (this.#size > 0) hash.update(Buffer.concat([Buffer.from([0x1a]), varint(this.#size)]));
    if (this.#file) {
      await this.#writing;
      const { handle } = this.#file;
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, this.#size));
      for (let at = 0; at < this.#size; ) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, at);
        if (bytesRead === 0) throw new Error(`streamed body file ended at ${at} of ${this.#size} bytes`);
        hash.update(buf.subarray(0, bytesRead));
        at += bytesRead;
      }
    } else {
      for (const c of this.#chunks) hash.update(c);
    }
    return new Uint8Array(hash.digest());
  }

  /** Frees the memory and removes the file. Safe to call more than once. */
  async discard(): Promise<void> {
    this.#chunks = [];
    const file = this.#file;
    this.#file = undefined;
    if (!file) return;
    await this.#writing.catch(() => undefined);
    await file.handle.close().catch(() => undefined);
    await rm(file.dir, { recursive: true, force: true });
  }

  async #spill(): Promise<void> {
    let dir: string | undefined;
    try {
      dir = await mkdtemp(join(this.#dir, 'relayminer-stream-'));
      const handle = await open(join(dir, 'body'), 'w+', 0o600);
      this.#file = { handle, dir };
    } catch {
      // A read-only file system: the body stays in memory (still bounded by max_body_bytes).
      if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      this.#spillFailed = true;
      return;
    }
    const pending = Buffer.concat(this.#chunks);
    this.#chunks = [];
    const { handle } = this.#file;
    this.#writing = this.#writing.then(() => writeAll(handle, pending));
    await this.#writing;
  }
}

async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  for (let at = 0; at < buf.length; ) {
    const { bytesWritten } = await handle.write(buf, at, buf.length - at);
    at += bytesWritten;
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}
