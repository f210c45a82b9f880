import t from 'tap';
import protobuf from 'protobufjs';
import { messageCodec, protoRoot } from '../../core/protocol/codec.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  canonicalRelayRequestBytes,
  ClaimCodec,
  encodeSignedResponse,
  RelayCodec,
  relayBytesOf,
  minedRelayBytes,
  MinedRelayCodec,
  type MinedRelay,
  POKTHTTPRequestCodec,
  POKTHTTPResponseCodec,
  ProtoDecodeError,
  relayRequestSignableBytes,
  relayRequestSignableHash,
  RelayRequestCodec,
  RelayRequestMetadataCodec,
  RelayResponseCodec,
  relayResponseSignableBytes,
  relayResponseSignableHash,
  SessionHeaderCodec,
  type RelayRequest,
  type SessionHeader,
} from '../../core/protocol/index.js';
import { hex, loadVector, readVectorText, toHex } from '../helpers/vectors.js';

interface RelayRequestVector {
  id: string;
  note: string;
  fields: {
    payload_hex?: string;
    session_header?: Record<string, unknown> | null;
    signature_hex?: string;
    supplier_operator_address?: string;
  };
  session_header_bytes_hex?: string;
  meta_bytes_hex: string;
  marshaled_hex: string;
  signable_bytes_hex: string;
  signable_sha256_hex: string;
  unmarshal_marshal_fixed_point: boolean;
}

interface RelayRequestFile {
  relay_requests: RelayRequestVector[];
  non_canonical_inputs: { note: string; input_hex: string; go_unmarshal_then_marshal_hex: string; signable_sha256_hex: string; input_is_fixed_point: boolean }[];
}

const FILE = 'ring/relay-request.json';

/** int64 heights are JSON numbers in the file; take them from the text so ±2^63 stays exact. */
function exactHeights(): Map<string, { start: bigint; end: bigint }> {
  const text = readVectorText(FILE);
  const out = new Map<string, { start: bigint; end: bigint }>();
  for (const m of text.matchAll(/"id":\s*"(rr\d+)"[\s\S]*?"session_header":\s*(null|\{[^}]*\})/g)) {
    const header = m[2]!;
    const start = /"session_start_block_height":\s*(-?\d+)/.exec(header)?.[1];
    const end = /"session_end_block_height":\s*(-?\d+)/.exec(header)?.[1];
    if (start !== undefined && end !== undefined) out.set(m[1]!, { start: BigInt(start), end: BigInt(end) });
  }
  return out;
}

t.test('relay-request.json: every request encodes, signs and round-trips as Go does', async (t) => {
  const file = loadVector<RelayRequestFile>(FILE);
  const heights = exactHeights();
  let checked = 0;
  for (const v of file.relay_requests) {
    const f = v.fields;
    let header: SessionHeader | undefined;
    if (f.session_header) {
      const h = f.session_header as Record<string, string>;
      const exact = heights.get(v.id);
      header = {
        application_address: h.application_address ?? '',
        service_id: h.service_id ?? '',
        session_id: h.session_id ?? '',
        session_start_block_height: exact?.start ?? 0n,
        session_end_block_height: exact?.end ?? 0n,
      };
    }
    const req: RelayRequest = {
      meta: {
        session_header: header,
        signature: f.signature_hex ? hex(f.signature_hex) : new Uint8Array(0),
        supplier_operator_address: f.supplier_operator_address ?? '',
      },
      payload: f.payload_hex ? hex(f.payload_hex) : new Uint8Array(0),
    };
    const label = `${v.id} (${v.note.slice(0, 50)})`;
    if (v.session_header_bytes_hex !== undefined && header) t.equal(toHex(SessionHeaderCodec.encode(header)), v.session_header_bytes_hex, `${label}: header bytes`);
    t.equal(toHex(RelayRequestMetadataCodec.encode(req.meta)), v.meta_bytes_hex, `${label}: meta bytes`);
    t.equal(toHex(RelayRequestCodec.encode(req)), v.marshaled_hex, `${label}: marshaled`);
    t.equal(toHex(relayRequestSignableBytes(req)), v.signable_bytes_hex, `${label}: signable bytes`);
    t.equal(toHex(relayRequestSignableHash(req)), v.signable_sha256_hex, `${label}: signable sha256`);
    const decoded = RelayRequestCodec.decode(hex(v.marshaled_hex));
    t.equal(toHex(RelayRequestCodec.encode(decoded)), v.marshaled_hex, `${label}: decode → encode is a fixed point`);
    t.equal(toHex(relayRequestSignableHash(decoded)), v.signable_sha256_hex, `${label}: signable hash after decoding`);
    checked++;
  }
  t.equal(checked, file.relay_requests.length);
  t.comment(`relay-request.json: ${checked} relay requests checked`);
});

t.test('relay-request.json: non-canonical inputs come out as Go\'s canonical bytes', async (t) => {
  const file = loadVector<RelayRequestFile>(FILE);
  for (const v of file.non_canonical_inputs) {
    const canonical = canonicalRelayRequestBytes(hex(v.input_hex));
    t.equal(toHex(canonical), v.go_unmarshal_then_marshal_hex, v.note);
    t.equal(toHex(relayRequestSignableHash(RelayRequestCodec.decode(hex(v.input_hex)))), v.signable_sha256_hex, `${v.note}: signable hash`);
    t.equal(toHex(canonical) === v.input_hex, v.input_is_fixed_point, `${v.note}: fixed point or not`);
  }
  t.comment(`relay-request.json: ${file.non_canonical_inputs.length} non-canonical inputs checked`);
});

t.test('§11.3: signable bytes of relay fixture minable[0] re-encode and hash as computed', async (t) => {
  const reqSignable = hex('0a760a450a2d636f736d6f733163346c30677467327337396d6b336b337476657671756165376a6d3465346d617838643664381204737663311a0a73657373696f6e5f6964200128021a2d636f736d6f733179796c647878667732743361706a70723573763366686b6b78657574747a37676c6b7130326b');
  t.equal(toHex(sha256(reqSignable)), '02f7dc8bba30fe5e5f44f11d232cf4b42027c5c9f49a2e975c8a3dcb7046ef7e');
  const req = RelayRequestCodec.decode(reqSignable);
  t.equal(req.meta.session_header?.service_id, 'svc1');
  t.equal(req.meta.session_header?.session_start_block_height, 1n);
  t.equal(toHex(relayRequestSignableHash(req)), '02f7dc8bba30fe5e5f44f11d232cf4b42027c5c9f49a2e975c8a3dcb7046ef7e');

  const resSignable = hex('0a470a450a2d636f736d6f733163346c30677467327337396d6b336b337476657671756165376a6d3465346d617838643664381204737663311a0a73657373696f6e5f6964200128022220d82cd033a9e31d483c8645ef02fb431231d38f45325f4c84fbfedf2547f25afb');
  const res = RelayResponseCodec.decode(resSignable);
  t.equal(toHex(res.payload_hash), 'd82cd033a9e31d483c8645ef02fb431231d38f45325f4c84fbfedf2547f25afb');
  t.equal(toHex(relayResponseSignableHash(res)), '85277ba770dad449843742cc909eeb6e075bbb6c5e96f6ffbc484dd17c876f15');
  // With a payload and a signature present, both are left out of the signable bytes.
  const signed = { ...res, payload: Uint8Array.from([1, 2, 3]), meta: { ...res.meta, supplier_operator_signature: new Uint8Array(64).fill(7) } };
  t.equal(toHex(relayResponseSignableBytes(signed)), toHex(resSignable));
});

t.test('RelayResponse: fields by number, payload_hash nil-ness as Go sees it', async (t) => {
  const header: SessionHeader = { application_address: 'a', service_id: 's', session_id: 'id', session_start_block_height: 1n, session_end_block_height: 2n };
  const res = {
    meta: { session_header: header, supplier_operator_signature: new Uint8Array(0) },
    payload: Uint8Array.from([0xaa]),
    payload_hash: Uint8Array.from([0xbb]),
    relay_miner_error: { codespace: 'relayer_proxy', code: 7, description: '', message: '' },
  };
  const bytes = RelayResponseCodec.encode(res);
  // meta (1), payload (2), relay_miner_error (3), payload_hash (4): ascending although 4 is declared first.
  const tags = [];
  for (let i = 0; i < bytes.length; ) {
    tags.push(bytes[i]! >> 3);
    const len = bytes[i + 1]!;
    i += 2 + len;
  }
  t.same(tags, [1, 2, 3, 4]);
  // No payload_hash: the payload is signed. A payload_hash present with zero length: Go treats it as set.
  const noHash = RelayResponseCodec.decode(RelayResponseCodec.encode({ ...res, payload_hash: new Uint8Array(0) }));
  t.match(toHex(relayResponseSignableBytes(noHash)), /1201aa/, 'payload kept');
  const emptyHashOnWire = Uint8Array.from([...RelayResponseCodec.encode({ ...res, payload_hash: new Uint8Array(0) }), 0x22, 0x00]);
  const presentEmpty = RelayResponseCodec.decode(emptyHashOnWire);
  t.equal(presentEmpty.payload_hash.length, 0);
  t.notMatch(toHex(relayResponseSignableBytes(presentEmpty)), /1201aa/, 'payload dropped: field 4 was present');
});

t.test('mined relay bytes drop the response payload and keep the request payload', async (t) => {
  const file = loadVector<RelayRequestFile>(FILE);
  const req = RelayRequestCodec.decode(hex(file.relay_requests[0]!.marshaled_hex));
  const res = { meta: { session_header: req.meta.session_header, supplier_operator_signature: new Uint8Array(64).fill(1) }, payload: Uint8Array.from([9, 9, 9]), payload_hash: sha256(Uint8Array.from([9, 9, 9])) };
  const mined = minedRelayBytes(req, res);
  const reqBytes = RelayRequestCodec.encode(req);
  const resBytes = RelayResponseCodec.encode({ ...res, payload: new Uint8Array(0) });
  const expected = Uint8Array.from([0x0a, ...varint(reqBytes.length), ...reqBytes, 0x12, ...varint(resBytes.length), ...resBytes]);
  t.equal(toHex(mined), toHex(expected));
  t.notMatch(toHex(mined), /1203090909/, 'response payload absent');
});

/**
 * protobufjs's own encoder over the same .proto files: an implementation other than ours (it writes fields
 * by number, as gogoproto does), so a splice that only agreed with our codec would not pass. Only fields set
 * to something other than their zero value are handed to it (it writes a present empty field; Go does not).
 */
function protobufjsEncode(typeName: string, value: Record<string, unknown>): Uint8Array {
  const type = protoRoot().lookupType(typeName);
  return type.encode(type.fromObject(value)).finish();
}

t.test('a signed response encoded once: wire bytes and dehydrated bytes as encoding each', async (t) => {
  const file = loadVector<RelayRequestFile>(FILE);
  const req = RelayRequestCodec.decode(hex(file.relay_requests[0]!.marshaled_hex));
  const header = req.meta.session_header;
  // Lengths around each varint width (1, 2 and 3 bytes), with and without an error field.
  for (const size of [0, 1, 127, 128, 16_383, 16_384, 70_000]) {
    for (const relay_miner_error of [undefined, { codespace: 'relayer_proxy', code: 502, description: 'bad gateway', message: 'backend down' }]) {
      const payload = Uint8Array.from({ length: size }, (_, i) => (i * 31) & 0xff);
      const res = { meta: { session_header: header, supplier_operator_signature: new Uint8Array(64).fill(3) }, payload, payload_hash: sha256(payload), ...(relay_miner_error ? { relay_miner_error } : {}) };
      const { bytes, dehydrated } = encodeSignedResponse(res);
      const what = `payload ${size} bytes${relay_miner_error ? ', with an error' : ''}`;
      t.equal(toHex(bytes), toHex(RelayResponseCodec.encode(res)), `${what}: wire bytes`);
      const reference = {
        meta: { session_header: { ...header, session_start_block_height: header!.session_start_block_height.toString(), session_end_block_height: header!.session_end_block_height.toString() }, supplier_operator_signature: res.meta.supplier_operator_signature },
        ...(size ? { payload } : {}),
        payload_hash: res.payload_hash,
        ...(relay_miner_error ? { relay_miner_error } : {}),
      };
      t.equal(toHex(bytes), toHex(protobufjsEncode('pocket.service.RelayResponse', reference)), `${what}: wire bytes as protobufjs writes them`);
      t.equal(toHex(dehydrated), toHex(protobufjsEncode('pocket.service.RelayResponse', { ...reference, payload: undefined })), `${what}: dehydrated bytes as protobufjs writes them`);
      t.equal(toHex(dehydrated), toHex(RelayResponseCodec.encode({ ...res, payload: new Uint8Array(0) })), `${what}: dehydrated bytes`);
      t.equal(toHex(relayBytesOf(RelayRequestCodec.encode(req), dehydrated)), toHex(RelayCodec.encode({ req, res: { ...res, payload: new Uint8Array(0) } })), `${what}: relay bytes`);
    }
  }
  // A request large enough for a 3-byte length.
  const bigReq = { ...req, payload: new Uint8Array(20_000).fill(5) };
  const res = { meta: { session_header: header, supplier_operator_signature: new Uint8Array(64) }, payload: new Uint8Array(0), payload_hash: new Uint8Array(32).fill(1) };
  t.equal(toHex(relayBytesOf(RelayRequestCodec.encode(bigReq), encodeSignedResponse(res).dehydrated)), toHex(RelayCodec.encode({ req: bigReq, res })));
});

function varint(n: number): number[] {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

t.test('POKTHTTP envelopes: deterministic map order; Claim encoding', async (t) => {
  const req = {
    method: 'POST',
    header: new Map([
      ['Content-Type', { key: 'Content-Type', values: ['application/json'] }],
      ['Accept', { key: 'Accept', values: ['*/*'] }],
    ]),
    url: '/v1?x=1',
    body_bz: new TextEncoder().encode('{}'),
  };
  const bytes = POKTHTTPRequestCodec.encode(req);
  const text = Buffer.from(bytes).toString('latin1');
  t.ok(text.indexOf('Accept') < text.indexOf('Content-Type'), 'map entries sorted by key');
  const back = POKTHTTPRequestCodec.decode(bytes);
  t.same([...back.header.keys()], ['Accept', 'Content-Type']);
  t.equal(back.url, '/v1?x=1');
  const res = POKTHTTPResponseCodec.decode(POKTHTTPResponseCodec.encode({ status_code: 200, header: new Map(), body_bz: Uint8Array.from([1]) }));
  t.equal(res.status_code, 200);
  // Claim with proof_validation_status 0 omits field 4 (the form the proof requirement hashes).
  const claim = ClaimCodec.encode({ supplier_operator_address: 'x', session_header: undefined, root_hash: Uint8Array.from([1]), proof_validation_status: 0 });
  t.equal(toHex(claim), '0a01781a0101');
  t.equal(toHex(ClaimCodec.encode({ supplier_operator_address: 'x', root_hash: Uint8Array.from([1]), proof_validation_status: 1 })), '0a01781a01012001');
});

t.test('malformed input is a ProtoDecodeError, never a crash', async (t) => {
  const cases: [string, string][] = [
    ['0a', 'truncated length'],
    ['0a05', 'length past the end'],
    ['12ffffffffffffffffffff01', 'varint longer than 10 bytes'],
    ['0b', 'illegal wire type (group)'],
    ['08', 'wrong wire type for meta'],
    ['0a0412020a', 'nested truncation'],
    ['0a070a050a030a01ff', 'session header with an invalid UTF-8 application address'],
  ];
  for (const [input, why] of cases) {
    t.throws(() => RelayRequestCodec.decode(hex(input)), ProtoDecodeError, why);
  }
  t.doesNotThrow(() => RelayRequestCodec.decode(new Uint8Array(0)), 'empty input is an empty message');
  t.equal(toHex(RelayRequestCodec.encode(RelayRequestCodec.decode(new Uint8Array(0)))), '0a00', 'non-nullable meta emitted');
});

t.test('fixed-width fields decode from a Buffer that is a window on a larger one (as gRPC hands them over)', async (t) => {
  const { messageCodec } = await import('../../core/protocol/codec.js');
  const params = messageCodec<{ proof_request_probability: number }>('pocket.proof.Params');
  const encoded = params.encode({ proof_request_probability: 0.25 });
  t.equal(Buffer.from(encoded).toString('hex'), '11000000000000d03f', 'field 2, wire type 1, IEEE-754 little endian');
  const pool = Buffer.alloc(64, 0xaa);
  pool.set(encoded, 21);
  const window = pool.subarray(21, 21 + encoded.length);
  t.equal(params.decode(window).proof_request_probability, 0.25, 'not the bytes at the start of the shared memory');
  const ts = messageCodec<{ seconds: bigint; nanos: number }>('google.protobuf.Timestamp');
  const tsBytes = ts.encode({ seconds: 1_790_000_000n, nanos: 5 });
  pool.set(tsBytes, 7);
  t.same(ts.decode(pool.subarray(7, 7 + tsBytes.length)), { seconds: 1_790_000_000n, nanos: 5 });
});

t.test('encoder: nested lengths across varint widths match protobufjs, and a huge message does not disturb the next', async (t) => {
  const { protoRoot } = await import('../../core/protocol/codec.js');
  const Reference = protoRoot().lookupType('pocket.service.RelayRequest');
  const header = { application_address: 'pokt1app', service_id: 'anvil', session_id: 'é-ü-中', session_start_block_height: 11, session_end_block_height: 20 };
  // Sizes around the 1-, 2- and 3-byte length boundaries of the payload and of the nested meta.
  for (const n of [1, 60, 126, 127, 128, 129, 16_300, 16_383, 16_384, 2_097_151, 2_097_152, 3_000_000, 5]) {
    const signature = Uint8Array.from({ length: n }, (_, i) => i % 251);
    const payload = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 256);
    const ours = RelayRequestCodec.encode({
      meta: { session_header: { ...header, session_start_block_height: 11n, session_end_block_height: 20n }, signature, supplier_operator_address: 'pokt1supplier' },
      payload,
    });
    const reference = Reference.encode(Reference.fromObject({ meta: { session_header: header, signature, supplier_operator_address: 'pokt1supplier' }, payload })).finish();
    t.equal(Buffer.compare(Buffer.from(ours), Buffer.from(reference)), 0, `${n}-byte signature and payload: identical bytes`);
    t.equal(ours.length, reference.length);
  }
});

t.test('encoder: map entries in Go order (UTF-8 bytes of the key), ASCII or not', async (t) => {
  const header = (keys: string[]) => new Map(keys.map((k) => [k, { key: k, values: ['v'] }]));
  const wireOrder = (keys: string[]) => [...POKTHTTPRequestCodec.decode(POKTHTTPRequestCodec.encode({ method: 'GET', header: header(keys), url: '/', body_bz: new Uint8Array(0) })).header.keys()];
  t.same(wireOrder(['content-type', 'Accept', 'accept', 'X-B', 'X-A']), ['Accept', 'X-A', 'X-B', 'accept', 'content-type']);
  // UTF-16 would put U+1F600 (a surrogate pair, 0xD83D…) before U+FF71; UTF-8 puts F0… after EF….
  t.same(wireOrder(['\u{1F600}', '\uFF71', 'é', 'b', 'a']), ['a', 'b', 'é', '\uFF71', '\u{1F600}']);
});

t.test('varints: short ones read as numbers and long ones as bigints give the values Go reads', async (t) => {
  const ts = messageCodec<{ seconds: bigint; nanos: number }>('google.protobuf.Timestamp');
  const seconds = (varint: string) => ts.decode(hex(`08${varint}`)).seconds;
  const nanos = (varint: string) => ts.decode(hex(`10${varint}`)).nanos;
  t.equal(seconds('ffffffffffff7f'), 2n ** 49n - 1n, '7 bytes: the longest read as a number');
  t.equal(seconds('80808080808080 01'.replace(' ', '')), 2n ** 49n, '8 bytes');
  t.equal(seconds('ffffffffffffffff7f'), 2n ** 63n - 1n, 'int64 maximum');
  t.equal(seconds('ffffffffffffffffff01'), -1n, 'int64 -1: ten bytes, two\'s complement');
  t.equal(seconds('808080808080808080 01'.replace(' ', '')), -(2n ** 63n), 'int64 minimum');
  t.equal(seconds('858000'), 5n, 'non-minimal encoding accepted');
  t.equal(nanos('feffffffffffffffff01'), -2, 'int32 -2 as Go writes it');
  t.equal(nanos('8580808010'), 5, 'int32 of a 2^32 + 5 varint: the low 32 bits, as Go converts');
  t.equal(nanos('ffffffff07'), 2 ** 31 - 1, 'int32 maximum');
  t.equal(nanos('8080808008'), -(2 ** 31), '2^31 read as int32: the minimum');
  t.equal(toHex(ts.encode({ seconds: -1n, nanos: -2 })), '08ffffffffffffffffff0110feffffffffffffffff01', 'negatives written as ten bytes');
  t.equal(toHex(ts.encode({ seconds: 2n ** 49n, nanos: 300 })), '08808080808080800110ac02');
  const mined = messageCodec<{ compute_units: bigint }>('relayminer.v1.MinedRelay');
  t.equal(mined.decode(hex('18ffffffffffffffffff01')).compute_units, 2n ** 64n - 1n, 'uint64 maximum');
  t.equal(mined.decode(hex('18ffffffffffff7f')).compute_units, 2n ** 49n - 1n);
});

t.test('unknown fields are dropped: in a message, and inside a map entry, whatever their wire type', async (t) => {
  // POKTHTTPRequest{method "GET", header {"a": {key "a", values ["b"]}}, url "/"}, its header entry carrying
  // field 3 (varint 5) and field 4 (fixed64) before the value, and the request a field 9 (bytes) at its end.
  const withUnknown = hex('0a03474554' + '1216' + '0a0161' + '1805' + '210102030405060708' + '12060a0161120162' + '1a012f' + '4a03ffffff');
  const canonical = '0a03474554' + '120b' + '0a0161' + '12060a0161120162' + '1a012f';
  const decoded = POKTHTTPRequestCodec.decode(withUnknown);
  t.same([...decoded.header.entries()], [['a', { key: 'a', values: ['b'] }]], 'the entry keeps its key and value');
  t.equal(decoded.url, '/');
  t.equal(toHex(POKTHTTPRequestCodec.encode(decoded)), canonical, 're-encoded without the unknown fields');
  t.throws(() => POKTHTTPRequestCodec.decode(hex('0a03474554' + '1204' + '0a01611f')), ProtoDecodeError, 'an unknown field of an illegal wire type inside an entry is refused');
});

t.test('nesting deeper than 32 messages is refused, and the limit holds for every decode after a refusal', async (t) => {
  // No message of the Pocket schema nests that deep; a self-referencing test type does.
  protobuf.parse('syntax = "proto3"; package relayminer.test; message Nest { Nest child = 1; uint32 n = 2; }', protoRoot());
  protoRoot().resolveAll();
  const Nest = messageCodec<{ child?: unknown; n: number }>('relayminer.test.Nest');
  const nested = (levels: number): Uint8Array => {
    let bytes = Buffer.from([0x10, 0x07]); // n = 7 at the innermost level
    for (let i = 1; i < levels; i++) bytes = Buffer.concat([Buffer.from([0x0a, ...varintBytes(bytes.length)]), bytes]);
    return bytes;
  };
  const depthOf = (m: { child?: unknown }) => {
    let d = 1;
    for (let c = m.child as { child?: unknown } | undefined; c; c = c.child as { child?: unknown } | undefined) d++;
    return d;
  };
  t.equal(depthOf(Nest.decode(nested(32))), 32, '32 levels decode');
  for (let round = 0; round < 3; round++) {
    t.throws(() => Nest.decode(nested(33)), /message nesting too deep/, `33 levels refused (round ${round})`);
    t.throws(() => Nest.decode(nested(60)), /message nesting too deep/, `60 levels refused (round ${round})`);
  }
  t.equal(depthOf(Nest.decode(nested(32))), 32, 'and 32 still decode after the refusals');
});

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

const MINED: MinedRelay = {
  relay_hash: new Uint8Array(32),
  relay: new Uint8Array(0),
  compute_units: 3n,
  session_id: 'session',
  session_start_block_height: 11n,
  session_end_block_height: 20n,
  supplier_operator_address: 'pokt1supplier',
  service_id: 'anvil',
  application_address: 'pokt1app',
  arrival_block_height: 12n,
  published_at_ms: 1n,
};

t.test('decoded bytes fields are copies: reusing the input buffer changes none of them, and none overlaps another', async (t) => {
  const input = Buffer.allocUnsafe(64 * 1024);
  const decoded: MinedRelay[] = [];
  const want: string[] = [];
  // Enough messages to cross several of the decoder's shared slabs, and one field larger than a slab share.
  for (let i = 0; i < 200; i++) {
    const relay = Buffer.alloc(i === 100 ? 5000 : 200 + (i % 7), i);
    const bytes = MinedRelayCodec.encode({ ...MINED, relay_hash: Buffer.alloc(32, 255 - i), relay });
    input.set(bytes, 0);
    decoded.push(MinedRelayCodec.decode(input.subarray(0, bytes.length)));
    input.fill(0xee);
    want.push(`${Buffer.alloc(32, 255 - i).toString('hex')}:${relay.toString('hex')}`);
  }
  t.same(
    decoded.map((d) => `${Buffer.from(d.relay_hash).toString('hex')}:${Buffer.from(d.relay).toString('hex')}`),
    want,
  );
  t.ok(decoded.every((d) => d.relay instanceof Uint8Array && !Buffer.isBuffer(d.relay)), 'plain Uint8Arrays, as before');
});

t.test("pocket.supplier.QueryParamsResponse decodes from bytes laid out by poktroll's field numbers (min_stake 1, staking_fee 2; Coin denom 1, amount 2)", async (t) => {
  // Written by hand, not by this codec: a wrong field number in params.proto would read min_stake as absent (0).
  const field = (n: number, bytes: Buffer) => Buffer.concat([Buffer.from([(n << 3) | 2, bytes.length]), bytes]);
  const coin = (amount: string) => Buffer.concat([field(1, Buffer.from('upokt')), field(2, Buffer.from(amount))]);
  const bytes = field(1, Buffer.concat([field(1, coin('60000000000')), field(2, coin('1'))]));
  t.equal(bytes.toString('hex'), '0a220a140a0575706f6b74120b3630303030303030303030120a0a0575706f6b74120131', 'the bytes');
  const res = messageCodec<{ params: { min_stake?: { denom: string; amount: string }; staking_fee?: { denom: string; amount: string } } }>('pocket.supplier.QueryParamsResponse').decode(bytes);
  t.same(res.params, { min_stake: { denom: 'upokt', amount: '60000000000' }, staking_fee: { denom: 'upokt', amount: '1' } });
});
