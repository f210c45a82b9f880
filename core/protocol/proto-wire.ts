/**
 * Protobuf wire primitives: the growing writer every encode fills, the reader every decode advances, and
 * the copies decoded bytes fields are made into. What to write where is decided by proto-compile.ts.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export class ProtoDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtoDecodeError';
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A view on exactly these bytes. (Not `bytes.slice().buffer`: on a Node Buffer — what gRPC hands over —
 * `slice` shares the pooled ArrayBuffer, and offset 0 of that is someone else's data.)
 */
export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * One growing buffer per top-level encode. A nested message or packed field is written in place
 * behind a one-byte length slot that is widened (content moved right) only when it is 128 bytes or
 * more — no buffer per nested message, no copy per level.
 */
export class Writer {
  buf: Uint8Array;
  len = 0;

  constructor(size = 256) {
    this.buf = new Uint8Array(size);
  }

  #ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.#ensure(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned varint of a non-negative safe integer. */
  uvarint(n: number): void {
    this.#ensure(10);
    while (n > 0x7f) {
      this.buf[this.len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.len++] = n;
  }

  /** Varint of a 64-bit value given as bigint (negative → two's complement, 10 bytes). */
  varint64(v: bigint): void {
    if (v >= 0n && v <= MAX_SAFE_BIG) {
      this.uvarint(Number(v));
      return;
    }
    let u = BigInt.asUintN(64, v);
    this.#ensure(10);
    while (u > 0x7fn) {
      this.buf[this.len++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.len++] = Number(u);
  }

  /** An int64/uint64 field's value, given as bigint or number. */
  int64(v: bigint | number): void {
    this.varint64(typeof v === 'bigint' ? v : BigInt(v));
  }

  /** An int32/uint32/enum field's value: negative numbers as 10-byte two's complement, as Go writes them. */
  int32(v: number | bigint): void {
    const n = Number(v);
    if (n < 0) this.varint64(BigInt(n));
    else this.uvarint(n);
  }

  tag(id: number, wire: number): void {
    this.uvarint(id * 8 + wire);
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.#ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** A length-prefixed UTF-8 string, encoded straight into the buffer (ASCII without a view). */
  string(s: string): void {
    this.#ensure(5 + s.length * 3);
    const start = this.len++;
    const buf = this.buf;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[this.len++] = c;
    }
    if (i < s.length) this.len += utf8Encoder.encodeInto(s.slice(i), buf.subarray(this.len)).written;
    this.#closeLength(start);
  }

  /** Reserves a one-byte length slot; pass the result to `endLength` after writing the content. */
  beginLength(): number {
    this.#ensure(1);
    return this.len++;
  }

  endLength(start: number): void {
    this.#closeLength(start);
  }

  #closeLength(slot: number): void {
    const n = this.len - slot - 1;
    if (n < 0x80) {
      this.buf[slot] = n;
      return;
    }
    let width = 1;
    for (let v = n; v > 0x7f; v = Math.floor(v / 0x80)) width++;
    this.#ensure(width - 1);
    this.buf.copyWithin(slot + width, slot + 1, this.len);
    this.len += width - 1;
    let v = n;
    for (let i = 0; i < width - 1; i++) {
      this.buf[slot + i] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[slot + width - 1] = v;
  }

  fixed(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** The encoded bytes, copied out of the scratch buffer the way decoded fields are (copyBytes). */
  result(): Uint8Array {
    return copyBytes(this.buf.subarray(0, this.len));
  }
}

/** Encodes are synchronous and never re-entered, so one scratch buffer serves them all. */
let scratch = new Writer(4096);
const SCRATCH_KEEP = 1 << 20;

/** The shared writer, emptied; give it back with `releaseWriter` whatever happens. */
export function takeWriter(): Writer {
  scratch.len = 0;
  return scratch;
}

export function releaseWriter(w: Writer): void {
  w.len = 0;
  // A rare huge message must not pin its buffer for the life of the process.
  if (w.buf.length > SCRATCH_KEEP) scratch = new Writer(4096);
}

export function withScratch(write: (w: Writer) => void): Uint8Array {
  const w = takeWriter();
  try {
    write(w);
    return w.result();
  } finally {
    releaseWriter(w);
  }
}

/**
 * A cursor over `buf` up to `end`. A nested message is read by narrowing `end` to it and restoring it
 * after (see proto-compile.ts), so reading a message allocates no reader per level.
 */
export class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, public end = buf.length) {}

  /** Any varint as an unsigned 64-bit bigint (the slow path of the typed readers below). */
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoDecodeError('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw new ProtoDecodeError('varint longer than 10 bytes');
  }

  /**
   * A varint of at most 7 bytes as a number (exact: under 2^49), or -1 with the position unchanged when it
   * is longer, for the bigint path to read. Non-minimal encodings are accepted, as Go accepts them.
   */
  #short(): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (pos >= this.end) throw new ProtoDecodeError('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        this.pos = pos;
        return result;
      }
      mul *= 0x80;
    }
    return -1;
  }

  uint64(): bigint {
    const n = this.#short();
    return n >= 0 ? BigInt(n) : this.varint();
  }

  int64(): bigint {
    const n = this.#short();
    return n >= 0 ? BigInt(n) : BigInt.asIntN(64, this.varint());
  }

  int32(): number {
    const n = this.#short();
    return n >= 0 ? n | 0 : Number(BigInt.asIntN(32, this.varint()));
  }

  uint32(): number {
    const n = this.#short();
    return n >= 0 ? n >>> 0 : Number(BigInt.asUintN(32, this.varint()));
  }

  bool(): boolean {
    const n = this.#short();
    return n >= 0 ? n !== 0 : this.varint() !== 0n;
  }

  /** A varint used as a length or tag: must fit a safe integer. */
  smallVarint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoDecodeError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw new ProtoDecodeError('length or tag out of range');
        return result;
      }
      mul *= 0x80;
    }
    throw new ProtoDecodeError('varint longer than 10 bytes');
  }

  /** A reader over the next length-delimited field, advancing past it. */
  sub(): Reader {
    const len = this.smallVarint();
    if (this.pos + len > this.end) throw new ProtoDecodeError('length exceeds the remaining bytes');
    const r = new Reader(this.buf, this.pos + len);
    r.pos = this.pos;
    this.pos += len;
    return r;
  }

  take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.end) throw new ProtoDecodeError('length exceeds the remaining bytes');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A length-delimited bytes field, copied (copyBytes). */
  bytes(): Uint8Array {
    return copyBytes(this.take(this.smallVarint()));
  }

  /** A length-delimited string field; invalid UTF-8 is a decode error, as in Go. */
  string(): string {
    const raw = this.take(this.smallVarint());
    try {
      return utf8Decoder.decode(raw);
    } catch {
      throw new ProtoDecodeError('string field is not valid UTF-8');
    }
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.take(8);
        return;
      case WIRE_LEN:
        this.take(this.smallVarint());
        return;
      case WIRE_I32:
        this.take(4);
        return;
      default:
        throw new ProtoDecodeError(`illegal wire type ${wire}`);
    }
  }
}

/**
 * Decoded bytes fields and encoded messages are copied (the input may be reused; the encoder's buffer is)
 * into shared slabs, as Buffer's pool does. Such a copy shares its ArrayBuffer: code that reads `.buffer`
 * must use `byteOffset` and `byteLength`, and a worker is sent its own copy (a structured clone copies
 * the whole slab).
 */
const SLAB_SIZE = 8 * 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;

/**
 * A copy of `src` that does not own an ArrayBuffer of its own: a new ArrayBuffer per field costs more
 * than the rest of a small message's decode. Large fields get their own.
 */
export function copyBytes(src: Uint8Array): Uint8Array {
  const n = src.length;
  if (n > SLAB_SIZE / 4) return new Uint8Array(src);
  if (slabUsed + n > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, n);
  out.set(src);
  slabUsed += (n + 7) & ~7;
  return out;
}
