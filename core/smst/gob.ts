import type { CompactClosestProof, CompactProof } from './proof.js';

/**
 * Go encoding/gob for *smt.SparseCompactMerkleClosestProof — the bytes of MsgSubmitProof.proof
 * (docs/spec/smst.md §7). The encoder writes exactly what a fresh Go ≥ 1.21 encoder writes (type ids 64,
 * 65, 66); the decoder follows the type definitions in the stream, so any id numbering (Go 1.19
 * relayers use 65–67) decodes, and fields are matched by name as gob does.
 */

export class GobError extends Error {
  constructor(message: string) {
    super(`gob: ${message}`);
    this.name = 'GobError';
  }
}

/** The three type-definition messages every proof starts with (Go ≥ 1.21 ids). */
const TYPE_HEADER = Buffer.from(
  'ff877f0301011f537061727365436f6d706163744d65726b6c65436c6f7365737450726f6f6601ff80000106010450617468010a00010b466c6970706564' +
    '4269747301ff820001054465707468010a00010b436c6f7365737450617468010a000110436c6f7365737456616c756548617368010a00010c436c6f7365' +
    '737450726f6f6601ff8400000017ff81020101095b5d5b5d75696e743801ff8200010a00007cff8303010118537061727365436f6d706163744d65726b6c' +
    '6550726f6f6601ff840001050109536964654e6f64657301ff820001154e6f6e4d656d626572736869704c65616644617461010a0001074269744d61736b' +
    '010a00010c4e756d536964654e6f646573010400010b5369626c696e6744617461010a000000',
  'hex',
);
const ID_CLOSEST_PROOF = 64;

// ---- encoding ----

function gobUint(out: number[], v: number): void {
  if (v < 128) {
    out.push(v);
    return;
  }
  const bytes: number[] = [];
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  out.push(256 - bytes.length, ...bytes);
}

function gobInt(out: number[], v: number): void {
  gobUint(out, v >= 0 ? v * 2 : (-v - 1) * 2 + 1);
}

function gobBytes(out: number[], b: Uint8Array): void {
  gobUint(out, b.length);
  for (const x of b) out.push(x);
}

class StructWriter {
  #last = -1;
  constructor(readonly out: number[]) {}
  field(index: number): void {
    gobUint(this.out, index - this.#last);
    this.#last = index;
  }
  bytes(index: number, b: Uint8Array | null): void {
    if (!b || b.length === 0) return;
    this.field(index);
    gobBytes(this.out, b);
  }
  byteSlices(index: number, list: Uint8Array[]): void {
    if (list.length === 0) return;
    this.field(index);
    gobUint(this.out, list.length);
    for (const b of list) gobBytes(this.out, b);
  }
  end(): void {
    this.out.push(0);
  }
}

export function encodeCompactClosestProof(p: CompactClosestProof): Uint8Array {
  const body: number[] = [];
  gobInt(body, ID_CLOSEST_PROOF);
  const w = new StructWriter(body);
  w.bytes(0, p.path);
  w.byteSlices(1, p.flippedBits);
  w.bytes(2, p.depth);
  w.bytes(3, p.closestPath);
  w.bytes(4, p.closestValueHash);
  // A non-nil pointer is always sent, even to an empty struct: the chain dereferences it.
  w.field(5);
  const inner = new StructWriter(body);
  inner.byteSlices(0, p.closestProof.sideNodes);
  inner.bytes(1, p.closestProof.nonMembershipLeafData);
  inner.bytes(2, p.closestProof.bitMask);
  if (p.closestProof.numSideNodes !== 0) {
    inner.field(3);
    gobInt(body, p.closestProof.numSideNodes);
  }
  inner.bytes(4, p.closestProof.siblingData);
  inner.end();
  w.end();
  const message: number[] = [];
  gobUint(message, body.length);
  return Uint8Array.from([...TYPE_HEADER, ...message, ...body]);
}

// ---- decoding ----

const BUILTIN = { bool: 1, int: 2, uint: 3, float: 4, bytes: 5, string: 6 } as const;

type TypeDef =
  | { kind: 'struct'; name: string; fields: { name: string; id: number }[] }
  | { kind: 'slice'; name: string; elem: number };

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

  byte(): number {
    if (this.pos >= this.end) throw new GobError('unexpected end of data');
    return this.buf[this.pos++]!;
  }

  uint(): number {
    const b = this.byte();
    if (b < 128) return b;
    const n = 256 - b;
    if (n > 8) throw new GobError('encoded unsigned integer out of range');
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(this.byte());
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GobError('integer too large');
    return Number(v);
  }

  int(): number {
    const u = this.uint();
    return u % 2 === 0 ? u / 2 : -(u - 1) / 2 - 1;
  }

  bytes(): Uint8Array {
    const n = this.uint();
    if (n > this.end - this.pos) throw new GobError('byte slice longer than the data');
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

/** Reads a struct value as gob sends it: (field delta, value)* then 0. */
function readStruct(r: Reader, onField: (index: number) => void): void {
  let index = -1;
  for (;;) {
    const delta = r.uint();
    if (delta === 0) return;
    index += delta;
    onField(index);
  }
}

function readCommonType(r: Reader): { name: string; id: number } {
  const common = { name: '', id: 0 };
  readStruct(r, (i) => {
    if (i === 0) common.name = r.string();
    else if (i === 1) common.id = r.int();
    else throw new GobError('unexpected field in CommonType');
  });
  return common;
}

/** A wireType message body: only the slice and struct kinds these proofs use. */
function readWireType(r: Reader): TypeDef {
  let def: TypeDef | undefined;
  readStruct(r, (i) => {
    if (i === 1) {
      let name = '';
      let elem = 0;
      readStruct(r, (j) => {
        if (j === 0) name = readCommonType(r).name;
        else if (j === 1) elem = r.int();
        else throw new GobError('unexpected field in sliceType');
      });
      def = { kind: 'slice', name, elem };
    } else if (i === 2) {
      let name = '';
      const fields: { name: string; id: number }[] = [];
      readStruct(r, (j) => {
        if (j === 0) name = readCommonType(r).name;
        else if (j === 1) {
          const n = r.uint();
          if (n > r.end - r.pos) throw new GobError('field list longer than the data');
          for (let k = 0; k < n; k++) {
            const f = { name: '', id: 0 };
            readStruct(r, (m) => {
              if (m === 0) f.name = r.string();
              else if (m === 1) f.id = r.int();
              else throw new GobError('unexpected field in fieldType');
            });
            fields.push(f);
          }
        } else throw new GobError('unexpected field in structType');
      });
      def = { kind: 'struct', name, fields };
    } else throw new GobError(`unsupported wire type kind ${i}`);
  });
  if (!def) throw new GobError('empty type definition');
  return def;
}

type Value = number | boolean | string | Uint8Array | Value[] | { [field: string]: Value };

function readValue(r: Reader, id: number, types: Map<number, TypeDef>, depth = 0): Value {
  if (depth > 8) throw new GobError('value nesting too deep');
  switch (id) {
    case BUILTIN.bool:
      return r.uint() !== 0;
    case BUILTIN.int:
      return r.int();
    case BUILTIN.uint:
      return r.uint();
    case BUILTIN.bytes:
      return r.bytes();
    case BUILTIN.string:
      return r.string();
    default: {
      const def = types.get(id);
      if (!def) throw new GobError(`unknown type id ${id}`);
      if (def.kind === 'slice') {
        const n = r.uint();
        if (n > r.end - r.pos) throw new GobError('slice longer than the data');
        const out: Value[] = [];
        for (let i = 0; i < n; i++) out.push(readValue(r, def.elem, types, depth + 1));
        return out;
      }
      const obj: { [field: string]: Value } = {};
      readStruct(r, (i) => {
        const f = def.fields[i];
        if (!f) throw new GobError(`field number ${i} out of range`);
        obj[f.name] = readValue(r, f.id, types, depth + 1);
      });
      return obj;
    }
  }
}

function asBytes(v: Value | undefined, field: string): Uint8Array | null {
  if (v === undefined) return null;
  if (!(v instanceof Uint8Array)) throw new GobError(`type mismatch for ${field}`);
  return v;
}

function asByteSlices(v: Value | undefined, field: string): Uint8Array[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((e) => !(e instanceof Uint8Array))) throw new GobError(`type mismatch for ${field}`);
  return v as Uint8Array[];
}

/** Decodes MsgSubmitProof.proof bytes. Throws GobError on anything Go's decoder would refuse. */
export function decodeCompactClosestProof(bytes: Uint8Array): CompactClosestProof {
  const r = new Reader(bytes);
  const types = new Map<number, TypeDef>();
  for (;;) {
    const len = r.uint();
    if (len === 0 || len > r.end - r.pos) throw new GobError('bad message length');
    const msg = new Reader(r.buf, r.pos + len);
    msg.pos = r.pos;
    r.pos += len;
    const id = msg.int();
    if (id < 0) {
      if (types.has(-id)) throw new GobError(`type id ${-id} defined twice`);
      types.set(-id, readWireType(msg));
      continue;
    }
    const def = types.get(id);
    if (!def || def.kind !== 'struct') throw new GobError('value is not a struct');
    const v = readValue(msg, id, types) as { [field: string]: Value };
    const cpRaw = v.ClosestProof;
    if (cpRaw !== undefined && (typeof cpRaw !== 'object' || cpRaw instanceof Uint8Array || Array.isArray(cpRaw))) {
      throw new GobError('type mismatch for ClosestProof');
    }
    const cp = (cpRaw ?? {}) as { [field: string]: Value };
    const num = cp.NumSideNodes;
    if (num !== undefined && typeof num !== 'number') throw new GobError('type mismatch for NumSideNodes');
    const closestProof: CompactProof = {
      sideNodes: asByteSlices(cp.SideNodes, 'SideNodes'),
      nonMembershipLeafData: asBytes(cp.NonMembershipLeafData, 'NonMembershipLeafData'),
      bitMask: asBytes(cp.BitMask, 'BitMask') ?? new Uint8Array(0),
      numSideNodes: num ?? 0,
      siblingData: asBytes(cp.SiblingData, 'SiblingData'),
    };
    if (cpRaw === undefined) {
      // Go decodes a missing pointer as nil, and DecompactClosestProof then panics.
      throw new GobError('ClosestProof is nil');
    }
    return {
      path: asBytes(v.Path, 'Path') ?? new Uint8Array(0),
      flippedBits: asByteSlices(v.FlippedBits, 'FlippedBits'),
      depth: asBytes(v.Depth, 'Depth') ?? new Uint8Array(0),
      closestPath: asBytes(v.ClosestPath, 'ClosestPath') ?? new Uint8Array(0),
      closestValueHash: asBytes(v.ClosestValueHash, 'ClosestValueHash'),
      closestProof,
    };
  }
}
