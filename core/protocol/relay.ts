import { sha256 } from '../crypto/sha256.js';
import { isPresentEmpty } from './codec.js';
import {
  RelayRequestCodec,
  RelayResponseCodec,
  type RelayRequest,
  type RelayResponse,
} from './messages.js';

const EMPTY = new Uint8Array(0);

/**
 * Bytes the application or gateway ring-signs: the canonical request with meta.signature removed
 * (poktroll RelayRequest.GetSignableBytesHash).
 */
export function relayRequestSignableBytes(req: RelayRequest): Uint8Array {
  return RelayRequestCodec.encode({ ...req, meta: { ...req.meta, signature: EMPTY } });
}

/** SHA-256 of the signable bytes: the message of the ring signature. */
export function relayRequestSignableHash(req: RelayRequest): Uint8Array {
  return sha256(relayRequestSignableBytes(req));
}

/** Go's `res.PayloadHash != nil`: set, or decoded from the wire even with length 0. */
function hasPayloadHash(res: RelayResponse): boolean {
  return res.payload_hash.length > 0 || isPresentEmpty(res, 'payload_hash');
}

/**
 * Bytes the supplier signs: the canonical response without its signature and, when payload_hash is
 * set, without its payload (poktroll RelayResponse.GetSignableBytesHash).
 */
export function relayResponseSignableBytes(res: RelayResponse): Uint8Array {
  return RelayResponseCodec.encode({
    ...res,
    payload: hasPayloadHash(res) ? EMPTY : res.payload,
    meta: { ...res.meta, supplier_operator_signature: EMPTY },
  });
}

/** SHA-256 of the response signable bytes; the supplier's ECDSA digest is SHA-256 of this again. */
export function relayResponseSignableHash(res: RelayResponse): Uint8Array {
  return sha256(relayResponseSignableBytes(res));
}

/**
 * The mined relay: Relay{req, res} with the response payload dropped ("dehydrated"), canonically
 * encoded; the request payload is kept (docs/spec/protocol.md §5.1). Its SHA-256 is the relay hash.
 */
export function minedRelayBytes(req: RelayRequest, res: RelayResponse): Uint8Array {
  return relayBytesOf(RelayRequestCodec.encode(req), RelayResponseCodec.encode({ ...res, payload: EMPTY }));
}

/**
 * `Relay{req, res}` from its two messages already encoded: each is one length-delimited field, in field
 * order, so this is RelayCodec's output without encoding either again (tested against it).
 */
export function relayBytesOf(requestBytes: Uint8Array, responseBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintSize(requestBytes.length) + requestBytes.length + 1 + varintSize(responseBytes.length) + responseBytes.length);
  let at = putField(out, 0, 0x0a, requestBytes);
  at = putField(out, at, 0x12, responseBytes);
  return out;
}

/**
 * A signed response's wire bytes and its dehydrated bytes (no payload, what is mined), with the message
 * encoded once, without its payload: the payload (field 2) sits right after `meta` (field 1, always
 * present), so the wire bytes are the dehydrated ones with the payload field put in after `meta`. Same
 * bytes as RelayResponseCodec.encode of each (tested); the payload is copied once.
 */
export function encodeSignedResponse(res: RelayResponse): { bytes: Uint8Array; dehydrated: Uint8Array } {
  const dehydrated = RelayResponseCodec.encode({ ...res, payload: EMPTY });
  const payload = res.payload;
  if (payload.length === 0) return { bytes: dehydrated, dehydrated };
  const metaEnd = endOfFirstField(dehydrated);
  const bytes = new Uint8Array(dehydrated.length + 1 + varintSize(payload.length) + payload.length);
  bytes.set(dehydrated.subarray(0, metaEnd));
  const at = putField(bytes, metaEnd, 0x12, payload);
  bytes.set(dehydrated.subarray(metaEnd), at);
  return { bytes, dehydrated };
}

function varintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Writes tag, length and bytes of a length-delimited field at `at`; returns the offset after it. */
function putField(out: Uint8Array, at: number, tag: number, value: Uint8Array): number {
  out[at++] = tag;
  let n = value.length;
  while (n > 0x7f) {
    out[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  out.set(value, at);
  return at + value.length;
}

/** Offset just past the first field of an encoded RelayResponse, which is `meta` (tag 0x0a). */
function endOfFirstField(bytes: Uint8Array): number {
  if (bytes[0] !== 0x0a) throw new Error('encoded RelayResponse does not start with its meta field');
  let len = 0;
  let shift = 1;
  let at = 1;
  for (;;) {
    const b = bytes[at++]!;
    len += (b & 0x7f) * shift;
    if (b < 0x80) break;
    shift *= 0x80;
  }
  return at + len;
}

export function relayHash(minedBytes: Uint8Array): Uint8Array {
  return sha256(minedBytes);
}

/** Received bytes → canonical bytes (decode and re-encode): what every hash must be computed over. */
export function canonicalRelayRequestBytes(received: Uint8Array): Uint8Array {
  return RelayRequestCodec.encode(RelayRequestCodec.decode(received));
}
