import { createRequire } from 'node:module';
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * Canonical protobuf codec, exact to what gogoproto emits (docs/spec/protocol.md §1), driven by the repo's
 * .proto files. protobufjs parses the definitions; encoding and decoding are done here because the
 * rules that decide hashes and signatures are gogoproto's, not protobufjs's:
 *   - fields in ascending field number, whatever the declaration order;
 *   - proto3 zero values omitted; a present message field emitted even when empty;
 *   - `(gogoproto.nullable) = false` message fields always emitted;
 *   - maps sorted by key, entries with key and value always written;
 *   - decoding: unknown fields dropped, last value wins for scalars, a repeated occurrence of a
 *     message field is merged into the first (proto merge semantics), non-minimal varints accepted.
 * Values: int64/uint64 → bigint, 32-bit ints and enums → number, bytes → Uint8Array, maps → Map.
 */

export const PROTO_DIR = join(PACKAGE_ROOT, 'core', 'protocol', 'proto');

/** Every .proto file of the repo (services included), loaded together. */
export const PROTO_FILES = [
  'pocket/service/relay.proto',
  'pocket/service/relay_mining_difficulty.proto',
  'pocket/session/types.proto',
  'pocket/shared/service.proto',
  'pocket/shared/supplier.proto',
  'pocket/shared/params.proto',
  'pocket/application/types.proto',
  'pocket/gateway/types.proto',
  'pocket/proof/types.proto',
  'pocket/proof/tx.proto',
  'sdk/types/http.proto',
  'pocket/shared/query.proto',
  'pocket/session/query.proto',
  'pocket/application/query.proto',
  'pocket/supplier/query.proto',
  'pocket/service/query.proto',
  'pocket/proof/query.proto',
  'cosmos/auth/v1beta1/auth.proto',
  'cosmos/bank/v1beta1/query.proto',
  'cosmos/crypto/secp256k1/keys.proto',
  'cosmos/tx/v1beta1/tx.proto',
  'relayminer/mined_relay.proto',
];

export class ProtoDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtoDecodeError';
  }
}

let root: protobuf.Root | undefined;

/** The parsed definitions (loaded once). */
export function protoRoot(): protobuf.Root {
  if (!root) {
    const require = createRequire(import.meta.url);
    const r = new protobuf.Root();
    r.resolvePath = (_origin, target) => {
      // descriptor.proto ships as a file with protobufjs; any/timestamp/… are its built-in "common" types.
      if (target === 'google/protobuf/descriptor.proto') return require.resolve('protobufjs/google/protobuf/descriptor.proto');
      if (target.startsWith('google/protobuf/')) return target;
      return isAbsolute(target) ? target : join(PROTO_DIR, target);
    };
    r.loadSync(PROTO_FILES, { keepCase: true });
    r.resolveAll();
    root = r;
  }
  return root;
}

// ---- plans: per message type, the fields in wire order with what encoding needs ----

type ScalarType =
  | 'double' | 'float' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64'
  | 'fixed32' | 'fixed64' | 'sfixed32' | 'sfixed64' | 'bool' | 'string' | 'bytes';

interface ScalarKind { kind: 'scalar'; type: ScalarType }
interface EnumKind { kind: 'enum' }
interface MessageKind { kind: 'message'; plan: () => Plan }
type ValueKind = ScalarKind | EnumKind | MessageKind;

interface FieldPlan {
  name: string;
  id: number;
  value: ValueKind;
  repeated: boolean;
  map?: { key: ScalarKind };
  /** gogoproto nullable=false message: always present and emitted. */
  nonNullable: boolean;
  /** Member of a oneof: has presence, so a set zero value is emitted and an absent one is undefined. */
  inOneof: boolean;
}

interface Plan {
  fullName: string;
  fields: FieldPlan[];
  byId: Map<number, FieldPlan>;
}

const plans = new Map<string, Plan>();

function planFor(typeName: string): Plan {
  const existing = plans.get(typeName);
  if (existing) return existing;
  const type = protoRoot().lookupType(typeName);
  const plan: Plan = { fullName: type.fullName.replace(/^\./, ''), fields: [], byId: new Map() };
  plans.set(typeName, plan); // before children: self-references resolve lazily
  for (const f of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    const value = kindOf(f.type, f.resolvedType);
    const field: FieldPlan = {
      name: f.name,
      id: f.id,
      value,
      repeated: f.repeated,
      nonNullable: value.kind === 'message' && f.options?.['(gogoproto.nullable)'] === false,
      inOneof: f.partOf !== null && f.partOf !== undefined,
    };
    if (f instanceof protobuf.MapField) {
      field.map = { key: { kind: 'scalar', type: f.keyType as ScalarType } };
      field.repeated = false;
    }
    plan.fields.push(field);
    plan.byId.set(f.id, field);
  }
  return plan;
}

function kindOf(type: string, resolved: protobuf.Type | protobuf.Enum | null): ValueKind {
  if (resolved instanceof protobuf.Enum) return { kind: 'enum' };
  if (resolved instanceof protobuf.Type) {
    const name = resolved.fullName.replace(/^\./, '');
    let plan: Plan | undefined;
    return { kind: 'message', plan: () => (plan ??= planFor(name)) };
  }
  return { kind: 'scalar', type: type as ScalarType };
}

// ---- wire primitives ----

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/**
 * A view on exactly these bytes. (Not `bytes.slice().buffer`: on a Node Buffer — what gRPC hands over —
 * `slice` shares the pooled ArrayBuffer, and offset 0 of that is someone else's data.)
 */
function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function wireTypeOf(v: ValueKind): number {
  if (v.kind === 'enum') return WIRE_VARINT;
  if (v.kind === 'message') return WIRE_LEN;
  switch (v.type) {
    case 'string':
    case 'bytes':
      return WIRE_LEN;
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      return WIRE_I64;
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return WIRE_I32;
    default:
      return WIRE_VARINT;
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * One growing buffer per top-level encode. A nested message or packed field is written in place
 * behind a one-byte length slot that is widened (content moved right) only when it is 128 bytes or
 * more — no buffer per nested message, no copy per level.
 */
class Writer {
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
    let u = BigInt.asUintN(64, v);
    if (u <= 0x1fffffffffffffn) {
      this.uvarint(Number(u));
      return;
    }
    this.#ensure(10);
    while (u > 0x7fn) {
      this.buf[this.len++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.len++] = Number(u);
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

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

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

// ---- encoding ----

type Msg = Record<string, unknown>;

function isZeroScalar(type: ScalarType, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  switch (type) {
    case 'string':
      return v === '';
    case 'bytes':
      return (v as Uint8Array).length === 0;
    case 'bool':
      return v === false;
    default:
      return v === 0 || v === 0n;
  }
}

function writeScalar(w: Writer, type: ScalarType, v: unknown): void {
  switch (type) {
    case 'string':
      w.string(v as string);
      return;
    case 'bytes':
      w.bytes(v as Uint8Array);
      return;
    case 'bool':
      w.byte(v ? 1 : 0);
      return;
    case 'int64':
    case 'uint64':
      w.varint64(BigInt(v as bigint | number));
      return;
    case 'int32':
    case 'uint32': {
      const n = Number(v);
      if (n < 0) w.varint64(BigInt(n));
      else w.uvarint(n);
      return;
    }
    case 'sint32':
    case 'sint64': {
      const b = BigInt(v as bigint | number);
      w.varint64(b >= 0n ? b << 1n : ((-b) << 1n) - 1n);
      return;
    }
    case 'double': {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, Number(v), true);
      w.fixed(b);
      return;
    }
    case 'float': {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, Number(v), true);
      w.fixed(b);
      return;
    }
    case 'fixed64':
    case 'sfixed64': {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v as bigint)), true);
      w.fixed(b);
      return;
    }
    case 'fixed32':
    case 'sfixed32': {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, Number(v) >>> 0, true);
      w.fixed(b);
      return;
    }
  }
}

function writeValue(w: Writer, kind: ValueKind, v: unknown): void {
  if (kind.kind === 'enum') writeScalar(w, 'int32', v);
  else if (kind.kind === 'scalar') writeScalar(w, kind.type, v);
  else {
    const slot = w.beginLength();
    writeFields(w, kind.plan(), (v ?? {}) as Msg);
    w.endLength(slot);
  }
}

/** Map keys in Go's order: strings by their UTF-8 bytes, integers numerically. */
function sortedEntries(v: unknown): [unknown, unknown][] {
  const entries: [unknown, unknown][] = v instanceof Map ? [...v.entries()] : Object.entries((v ?? {}) as object);
  if (entries.length < 2) return entries;
  if (typeof entries[0]![0] === 'string') {
    // ASCII keys (HTTP header names) order the same as strings and as bytes.
    if (entries.every(([k]) => /^[\x00-\x7f]*$/.test(k as string))) return entries.sort(([a], [b]) => ((a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0));
    const keyed = entries.map((e) => ({ k: Buffer.from(e[0] as string), e }));
    keyed.sort((a, b) => Buffer.compare(a.k, b.k));
    return keyed.map((x) => x.e);
  }
  return entries.sort(([a], [b]) => {
    const x = BigInt(a as bigint | number);
    const y = BigInt(b as bigint | number);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function writeFields(w: Writer, plan: Plan, msg: Msg): void {
  for (const f of plan.fields) {
    const v = msg[f.name];
    if (f.map) {
      for (const [key, val] of sortedEntries(v)) {
        w.tag(f.id, WIRE_LEN);
        const slot = w.beginLength();
        w.tag(1, wireTypeOf(f.map.key));
        writeScalar(w, f.map.key.type, key);
        w.tag(2, wireTypeOf(f.value));
        writeValue(w, f.value, val);
        w.endLength(slot);
      }
    } else if (f.repeated) {
      const list = (v ?? []) as unknown[];
      if (list.length === 0) continue;
      const wire = wireTypeOf(f.value);
      if (wire !== WIRE_LEN) {
        // proto3 packs repeated scalars
        w.tag(f.id, WIRE_LEN);
        const slot = w.beginLength();
        for (const item of list) writeValue(w, f.value, item);
        w.endLength(slot);
      } else {
        for (const item of list) {
          w.tag(f.id, WIRE_LEN);
          writeValue(w, f.value, item);
        }
      }
    } else if (f.value.kind === 'message') {
      if (v === undefined || v === null) {
        if (!f.nonNullable) continue;
      }
      w.tag(f.id, WIRE_LEN);
      writeValue(w, f.value, v);
    } else {
      const type = f.value.kind === 'enum' ? 'int32' : f.value.type;
      if (f.inOneof ? v === undefined || v === null : isZeroScalar(type, v)) continue;
      w.tag(f.id, wireTypeOf(f.value));
      writeValue(w, f.value, v);
    }
  }
}

/** Encodes are synchronous and never re-entered, so one scratch buffer serves them all. */
let scratch = new Writer(4096);
const SCRATCH_KEEP = 1 << 20;

function withScratch(write: (w: Writer) => void): Uint8Array {
  const w = scratch;
  w.len = 0;
  try {
    write(w);
    return w.result();
  } finally {
    w.len = 0;
    // A rare huge message must not pin its buffer for the life of the process.
    if (w.buf.length > SCRATCH_KEEP) scratch = new Writer(4096);
  }
}

function encodePlan(plan: Plan, msg: Msg): Uint8Array {
  return withScratch((w) => writeFields(w, plan, msg));
}

/**
 * A message put together from length-delimited fields already encoded, in the order given (a message
 * field's bytes are its message's encoding): what encoding the whole would write, without encoding the
 * parts again.
 */
export function lengthDelimitedFields(fields: readonly (readonly [field: number, bytes: Uint8Array])[]): Uint8Array {
  return withScratch((w) => {
    for (const [field, bytes] of fields) {
      w.tag(field, WIRE_LEN);
      w.bytes(bytes);
    }
  });
}

/**
 * `message` with the length-delimited field (`field`, `value`) put in right after its first field, which
 * must be length-delimited too. Canonical when `field` is numbered between the first field and the rest.
 */
export function withFieldAfterFirst(message: Uint8Array, field: number, value: Uint8Array): Uint8Array {
  const r = new Reader(message);
  if (r.smallVarint() % 8 !== WIRE_LEN) throw new ProtoDecodeError('the first field is not length-delimited');
  r.take(r.smallVarint());
  return withScratch((w) => {
    w.fixed(message.subarray(0, r.pos));
    w.tag(field, WIRE_LEN);
    w.bytes(value);
    w.fixed(message.subarray(r.pos));
  });
}

// ---- decoding ----

/** Bytes fields that were on the wire with length 0 (Go keeps them non-nil; see isPresentEmpty). */
const PRESENT_EMPTY = Symbol('relayminer.presentEmpty');

function scalarDefault(type: ScalarType): unknown {
  switch (type) {
    case 'string':
      return '';
    case 'bytes':
      return new Uint8Array(0);
    case 'bool':
      return false;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      return 0n;
    default:
      return 0;
  }
}

function defaultsFor(plan: Plan): Msg {
  const msg: Msg = {};
  for (const f of plan.fields) {
    if (f.map) msg[f.name] = new Map();
    else if (f.repeated) msg[f.name] = [];
    else if (f.value.kind === 'message') {
      if (f.nonNullable) msg[f.name] = defaultsFor(f.value.plan());
    } else if (f.inOneof) continue;
    else if (f.value.kind === 'enum') msg[f.name] = 0;
    else msg[f.name] = scalarDefault(f.value.type);
  }
  return msg;
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
function copyBytes(src: Uint8Array): Uint8Array {
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

function readScalar(r: Reader, type: ScalarType): unknown {
  switch (type) {
    case 'string':
      try {
        return utf8Decoder.decode(r.take(r.smallVarint()));
      } catch (err) {
        if (err instanceof ProtoDecodeError) throw err;
        throw new ProtoDecodeError('string field is not valid UTF-8');
      }
    case 'bytes':
      return copyBytes(r.take(r.smallVarint()));
    case 'bool':
      return r.varint() !== 0n;
    case 'int64':
      return BigInt.asIntN(64, r.varint());
    case 'uint64':
      return r.varint();
    case 'int32':
      return Number(BigInt.asIntN(32, r.varint()));
    case 'uint32':
      return Number(BigInt.asUintN(32, r.varint()));
    case 'sint32':
    case 'sint64': {
      const u = r.varint();
      const v = (u >> 1n) ^ -(u & 1n);
      return type === 'sint32' ? Number(BigInt.asIntN(32, v)) : BigInt.asIntN(64, v);
    }
    case 'double':
      return view(r.take(8)).getFloat64(0, true);
    case 'float':
      return view(r.take(4)).getFloat32(0, true);
    case 'fixed64':
      return view(r.take(8)).getBigUint64(0, true);
    case 'sfixed64':
      return view(r.take(8)).getBigInt64(0, true);
    case 'fixed32':
      return view(r.take(4)).getUint32(0, true);
    case 'sfixed32':
      return view(r.take(4)).getInt32(0, true);
  }
}

function readValue(r: Reader, kind: ValueKind, into?: Msg): unknown {
  if (kind.kind === 'enum') return readScalar(r, 'int32');
  if (kind.kind === 'scalar') return readScalar(r, kind.type);
  const sub = r.sub();
  const plan = kind.plan();
  const target = into ?? defaultsFor(plan);
  decodeInto(plan, sub, target);
  return target;
}

const MAX_DEPTH = 32;
/** Levels of nested messages being decoded now (decoding is synchronous: one count for the process). */
let depth = 0;

function decodeInto(plan: Plan, r: Reader, msg: Msg): void {
  // Refused before entering, so every level entered leaves through its `finally` exactly once.
  if (depth >= MAX_DEPTH) throw new ProtoDecodeError('message nesting too deep');
  depth++;
  try {
    while (r.pos < r.end) {
      const tag = r.smallVarint();
      const id = Math.floor(tag / 8);
      const wire = tag % 8;
      if (id === 0) throw new ProtoDecodeError('field number 0');
      const f = plan.byId.get(id);
      if (!f) {
        r.skip(wire);
        continue;
      }
      const expected = f.map ? WIRE_LEN : wireTypeOf(f.value);
      if (f.map) {
        if (wire !== WIRE_LEN) throw new ProtoDecodeError(`${plan.fullName}.${f.name}: wrong wire type ${wire}`);
        const e = r.sub();
        let key: unknown = scalarDefault(f.map.key.type);
        let value: unknown = f.value.kind === 'message' ? defaultsFor(f.value.plan()) : f.value.kind === 'enum' ? 0 : scalarDefault(f.value.type);
        while (e.pos < e.end) {
          const etag = e.smallVarint();
          if (etag >>> 3 === 1) key = readScalar(e, f.map.key.type);
          else if (etag >>> 3 === 2) value = readValue(e, f.value);
          else e.skip(etag & 7);
        }
        (msg[f.name] as Map<unknown, unknown>).set(key, value);
      } else if (f.repeated) {
        const list = msg[f.name] as unknown[];
        if (wire === WIRE_LEN && expected !== WIRE_LEN) {
          const p = r.sub();
          while (p.pos < p.end) list.push(readValue(p, f.value));
        } else if (wire === expected) {
          list.push(readValue(r, f.value));
        } else throw new ProtoDecodeError(`${plan.fullName}.${f.name}: wrong wire type ${wire}`);
      } else {
        if (wire !== expected) throw new ProtoDecodeError(`${plan.fullName}.${f.name}: wrong wire type ${wire}`);
        if (f.value.kind === 'message') {
          msg[f.name] = readValue(r, f.value, msg[f.name] as Msg | undefined);
        } else {
          const v = readValue(r, f.value);
          msg[f.name] = v;
          if (f.value.kind === 'scalar' && f.value.type === 'bytes') markPresentEmpty(msg, f.name, (v as Uint8Array).length === 0);
        }
      }
    }
  } finally {
    depth--;
  }
}

function markPresentEmpty(msg: Msg, name: string, empty: boolean): void {
  const set = (msg as Record<symbol, Set<string> | undefined>)[PRESENT_EMPTY];
  if (empty) {
    if (set) set.add(name);
    else Object.defineProperty(msg, PRESENT_EMPTY, { value: new Set([name]), enumerable: false });
  } else set?.delete(name);
}

/**
 * True when a decoded bytes field was on the wire with zero length. Go keeps such a field non-nil,
 * which matters where the protocol tests for nil (RelayResponse.payload_hash).
 */
export function isPresentEmpty(msg: object, field: string): boolean {
  return (msg as Record<symbol, Set<string> | undefined>)[PRESENT_EMPTY]?.has(field) ?? false;
}

// ---- public API ----

export interface MessageCodec<T> {
  readonly typeName: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** Encoder and decoder for one message type, e.g. messageCodec<RelayRequest>('pocket.service.RelayRequest'). */
export function messageCodec<T>(typeName: string): MessageCodec<T> {
  let plan: Plan | undefined;
  const get = () => (plan ??= planFor(typeName));
  return {
    typeName,
    encode: (value: T) => encodePlan(get(), value as Msg),
    decode: (bytes: Uint8Array) => {
      const p = get();
      const msg = defaultsFor(p);
      decodeInto(p, new Reader(bytes), msg);
      return msg as T;
    },
  };
}
