import { compiledFor, decodeMessage, type CompiledMessage } from './proto-compile.js';
import { ProtoDecodeError, Reader, WIRE_LEN, releaseWriter, takeWriter, withScratch } from './proto-wire.js';

/**
 * Canonical protobuf codec, exact to what gogoproto emits (docs/spec/protocol.md §1), driven by the repo's
 * .proto files (proto-schema.ts) and compiled per message type (proto-compile.ts, where the rules are).
 * Values: int64/uint64 → bigint, 32-bit ints and enums → number, bytes → Uint8Array, maps → Map.
 */

export { PROTO_DIR, PROTO_FILES, protoRoot } from './proto-schema.js';
export { isPresentEmpty } from './proto-compile.js';
export { ProtoDecodeError } from './proto-wire.js';

export interface MessageCodec<T> {
  readonly typeName: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** Encoder and decoder for one message type, e.g. messageCodec<RelayRequest>('pocket.service.RelayRequest'). */
export function messageCodec<T>(typeName: string): MessageCodec<T> {
  let codec: CompiledMessage | undefined;
  return {
    typeName,
    encode: (value: T) => {
      const c = (codec ??= compiledFor(typeName));
      const w = takeWriter();
      try {
        c.enc(w, value as Record<string, unknown>);
        return w.result();
      } finally {
        releaseWriter(w);
      }
    },
    decode: (bytes: Uint8Array) => {
      const c = (codec ??= compiledFor(typeName));
      const msg = c.defaults();
      decodeMessage(c, new Reader(bytes), msg);
      return msg as T;
    },
  };
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
