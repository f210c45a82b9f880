import { planFor, type FieldPlan, type Plan, type ScalarType, type ValueKind } from './proto-schema.js';
import { ProtoDecodeError, Reader, WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT, Writer, view } from './proto-wire.js';

/**
 * Encoders and decoders compiled per message type from its plan, as protobufjs compiles its own: a
 * function whose property reads and writes name the fields, so V8 sees one object shape per call site
 * instead of one keyed lookup for every field of every type. The wire rules are gogoproto's
 * (docs/spec/protocol.md §1), not protobufjs's:
 *   - fields in ascending field number, whatever the declaration order;
 *   - proto3 zero values omitted; a present message field emitted even when empty;
 *   - `(gogoproto.nullable) = false` message fields always emitted;
 *   - maps sorted by key, entries with key and value always written;
 *   - decoding: unknown fields dropped, last value wins for scalars, a repeated occurrence of a
 *     message field is merged into the first (proto merge semantics), non-minimal varints accepted.
 * The generated code covers singular fields on their expected wire type; maps, repeated fields and
 * anything unexpected on the wire go through the generic functions below, which handle every case.
 */

type Msg = Record<string, unknown>;

export interface CompiledMessage {
  /** Writes the message's fields (not its own tag or length). */
  enc: (w: Writer, m: Msg) => void;
  /** Reads fields from `r.pos` up to `r.end` into `m`. */
  dec: (r: Reader, m: Msg) => void;
  /** A new message with every field at its default: what decoding starts from. */
  defaults: () => Msg;
}

// ---- presence of empty bytes ----

/** Bytes fields that were on the wire with length 0 (Go keeps them non-nil; see isPresentEmpty). */
const PRESENT_EMPTY = Symbol('relayminer.presentEmpty');

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

// ---- generic encoding: every scalar type, maps, repeated fields ----

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
      w.int64(v as bigint | number);
      return;
    case 'int32':
    case 'uint32':
      w.int32(v as number);
      return;
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
  if (kind.kind === 'enum') w.int32(v as number);
  else if (kind.kind === 'scalar') writeScalar(w, kind.type, v);
  else {
    const slot = w.beginLength();
    compiled(kind.plan()).enc(w, (v ?? {}) as Msg);
    w.endLength(slot);
  }
}

const ASCII = /^[\x00-\x7f]*$/;

/** Map keys in Go's order: strings by their UTF-8 bytes, integers numerically. */
function sortedEntries(v: unknown): [unknown, unknown][] {
  const entries: [unknown, unknown][] = v instanceof Map ? [...v.entries()] : Object.entries((v ?? {}) as object);
  if (entries.length < 2) return entries;
  if (typeof entries[0]![0] === 'string') {
    // ASCII keys (HTTP header names) order the same as strings and as bytes.
    if (entries.every(([k]) => ASCII.test(k as string))) return entries.sort(([a], [b]) => ((a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0));
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

function writeMap(w: Writer, f: FieldPlan, v: unknown): void {
  if (v === undefined || v === null || (v instanceof Map && v.size === 0)) return;
  const key = f.map!.key;
  for (const [k, val] of sortedEntries(v)) {
    w.tag(f.id, WIRE_LEN);
    const slot = w.beginLength();
    w.tag(1, wireTypeOf(key));
    writeScalar(w, key.type, k);
    w.tag(2, wireTypeOf(f.value));
    writeValue(w, f.value, val);
    w.endLength(slot);
  }
}

function writeRepeated(w: Writer, f: FieldPlan, v: unknown): void {
  const list = (v ?? []) as unknown[];
  if (list.length === 0) return;
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
}

// ---- generic decoding ----

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

function readScalar(r: Reader, type: ScalarType): unknown {
  switch (type) {
    case 'string':
      return r.string();
    case 'bytes':
      return r.bytes();
    case 'bool':
      return r.bool();
    case 'int64':
      return r.int64();
    case 'uint64':
      return r.uint64();
    case 'int32':
      return r.int32();
    case 'uint32':
      return r.uint32();
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
  if (kind.kind === 'enum') return r.int32();
  if (kind.kind === 'scalar') return readScalar(r, kind.type);
  return readMessage(r, compiled(kind.plan()), into);
}

const MAX_DEPTH = 32;
/** Levels of nested messages being decoded now (decoding is synchronous: one count for the process). */
let depth = 0;

/** Decodes `r` (from its position to its end) into `m`, refusing nesting deeper than MAX_DEPTH. */
export function decodeMessage(c: CompiledMessage, r: Reader, m: Msg): void {
  // Refused before entering, so every level entered leaves through its `finally` exactly once.
  if (depth >= MAX_DEPTH) throw new ProtoDecodeError('message nesting too deep');
  depth++;
  try {
    c.dec(r, m);
  } finally {
    depth--;
  }
}

/** The length-delimited message at `r.pos`, decoded into `into` (merge) or a new message. */
function readMessage(r: Reader, c: CompiledMessage, into: Msg | undefined): Msg {
  const len = r.smallVarint();
  const end = r.pos + len;
  if (end > r.end) throw new ProtoDecodeError('length exceeds the remaining bytes');
  const outer = r.end;
  const target = into ?? c.defaults();
  r.end = end;
  try {
    decodeMessage(c, r, target);
  } finally {
    r.end = outer;
  }
  return target;
}

/** One field of any kind, whatever wire type it came with (the generated decoders' default case). */
function decodeField(plan: Plan, r: Reader, msg: Msg, tag: number): void {
  const id = Math.floor(tag / 8);
  const wire = tag % 8;
  if (id === 0) throw new ProtoDecodeError('field number 0');
  const f = plan.byId.get(id);
  if (!f) {
    r.skip(wire); // an unknown field is dropped, as Go's unmarshal drops it
    return;
  }
  const expected = f.map ? WIRE_LEN : wireTypeOf(f.value);
  if (f.map) {
    if (wire !== WIRE_LEN) throw new ProtoDecodeError(`${plan.fullName}.${f.name}: wrong wire type ${wire}`);
    const e = r.sub();
    let key: unknown = scalarDefault(f.map.key.type);
    let value: unknown = f.value.kind === 'message' ? compiled(f.value.plan()).defaults() : f.value.kind === 'enum' ? 0 : scalarDefault(f.value.type);
    while (e.pos < e.end) {
      const etag = e.smallVarint();
      if (etag >>> 3 === 1) key = readScalar(e, f.map.key.type);
      else if (etag >>> 3 === 2) value = readValue(e, f.value);
      else e.skip(etag & 7); // a map entry's unknown fields too (gogoproto's generated entry decoder skips them)
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

// ---- code generation ----

const helpers = { writeMap, writeRepeated, writeScalar, readScalar, readMessage, decodeField, markPresentEmpty, PRESENT_EMPTY, EMPTY: Object.freeze({}) };

const compiledByPlan = new Map<Plan, CompiledMessage>();

/** A tag's varint bytes, as the writer would put them. */
function tagBytes(tag: number): number[] {
  const w = new Writer(10);
  w.uvarint(tag);
  return [...w.buf.subarray(0, w.len)];
}

/** A scalar's "is set" test in generated code (proto3: zero values are not written). */
function presentTest(type: ScalarType, inOneof: boolean): string {
  const set = 'v !== undefined && v !== null';
  if (inOneof) return set;
  switch (type) {
    case 'string':
      return `${set} && v !== ''`;
    case 'bytes':
      return `${set} && v.length !== 0`;
    case 'bool':
      return `${set} && v !== false`;
    default:
      return `${set} && v !== 0 && v !== 0n`;
  }
}

function writeCall(type: ScalarType): string {
  switch (type) {
    case 'string':
      return 'w.string(v)';
    case 'bytes':
      return 'w.bytes(v)';
    case 'bool':
      return 'w.byte(v ? 1 : 0)';
    case 'int64':
    case 'uint64':
      return 'w.int64(v)';
    case 'int32':
    case 'uint32':
      return 'w.int32(v)';
    default:
      return `h.writeScalar(w, ${JSON.stringify(type)}, v)`;
  }
}

function readCall(type: ScalarType): string {
  switch (type) {
    case 'string':
      return 'r.string()';
    case 'bytes':
      return 'r.bytes()';
    case 'bool':
      return 'r.bool()';
    case 'int64':
      return 'r.int64()';
    case 'uint64':
      return 'r.uint64()';
    case 'int32':
      return 'r.int32()';
    case 'uint32':
      return 'r.uint32()';
    default:
      return `h.readScalar(r, ${JSON.stringify(type)})`;
  }
}

function defaultLiteral(type: ScalarType): string {
  const v = scalarDefault(type);
  if (typeof v === 'bigint') return '0n';
  if (v instanceof Uint8Array) return 'new Uint8Array(0)';
  return JSON.stringify(v);
}

/** The compiled codec of a plan (generated on first use; self-referencing types resolve through the cache). */
export function compiled(plan: Plan): CompiledMessage {
  const existing = compiledByPlan.get(plan);
  if (existing) return existing;
  const unready = (): never => {
    throw new Error(`codec of ${plan.fullName} used while being compiled`);
  };
  const c: CompiledMessage = { enc: unready, dec: unready, defaults: unready };
  compiledByPlan.set(plan, c);

  // Values the generated code closes over, by parameter name.
  const params: string[] = ['h', 'P'];
  const args: unknown[] = [helpers, plan];
  const bind = (value: unknown): string => {
    params.push(`a${args.length}`);
    args.push(value);
    return params[params.length - 1]!;
  };

  const enc: string[] = ['let v, s;'];
  const cases: string[] = [];
  const defaults: string[] = [];
  for (const f of plan.fields) {
    if (f.name === '__proto__') throw new Error(`${plan.fullName}: a field named __proto__ cannot be compiled`);
    const key = JSON.stringify(f.name);
    const at = `m[${key}]`;
    if (f.map || f.repeated) {
      const field = bind(f);
      enc.push(`h.${f.map ? 'writeMap' : 'writeRepeated'}(w, ${field}, ${at});`);
      defaults.push(`${key}: ${f.map ? 'new Map()' : '[]'}`);
      continue;
    }
    const wire = wireTypeOf(f.value);
    const tag = f.id * 8 + wire;
    const writeTag = tagBytes(tag).map((b) => `w.byte(${b});`).join(' ');
    if (f.value.kind === 'message') {
      const sub = bind(compiled(f.value.plan()));
      const body = `${writeTag} s = w.beginLength(); ${sub}.enc(w, v); w.endLength(s);`;
      enc.push(f.nonNullable ? `v = ${at}; if (v === undefined || v === null) v = h.EMPTY; ${body}` : `v = ${at}; if (v !== undefined && v !== null) { ${body} }`);
      cases.push(`case ${tag}: ${at} = h.readMessage(r, ${sub}, ${at}); break;`);
      if (f.nonNullable) defaults.push(`${key}: ${sub}.defaults()`);
      continue;
    }
    const type: ScalarType = f.value.kind === 'enum' ? 'int32' : f.value.type;
    enc.push(`v = ${at}; if (${presentTest(type, f.inOneof)}) { ${writeTag} ${writeCall(type)}; }`);
    if (type === 'bytes') {
      cases.push(`case ${tag}: v = r.bytes(); ${at} = v; if (v.length === 0 || m[h.PRESENT_EMPTY] !== undefined) h.markPresentEmpty(m, ${key}, v.length === 0); break;`);
    } else {
      cases.push(`case ${tag}: ${at} = ${readCall(type)}; break;`);
    }
    if (!f.inOneof) defaults.push(`${key}: ${defaultLiteral(type)}`);
  }

  const name = plan.fullName.replace(/\W/g, '_');
  const source = `return {
  enc: function encode_${name}(w, m) { ${enc.join('\n')} },
  dec: function decode_${name}(r, m) {
    let v;
    while (r.pos < r.end) {
      const tag = r.smallVarint();
      switch (tag) {
        ${cases.join('\n        ')}
        default: h.decodeField(P, r, m, tag);
      }
    }
  },
  defaults: function defaults_${name}() { return { ${defaults.join(', ')} }; },
};`;
  const made = new Function(...params, source)(...args) as CompiledMessage;
  c.enc = made.enc;
  c.dec = made.dec;
  c.defaults = made.defaults;
  return c;
}

/** The compiled codec of a message type by its full name. */
export function compiledFor(typeName: string): CompiledMessage {
  return compiled(planFor(typeName));
}
