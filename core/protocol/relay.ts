import { sha256 } from '../crypto/sha256.js';
import { isPresentEmpty, lengthDelimitedFields, withFieldAfterFirst } from './codec.js';
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

/** `Relay{req, res}` from its two messages already encoded, without encoding either again. */
export function relayBytesOf(requestBytes: Uint8Array, responseBytes: Uint8Array): Uint8Array {
  return lengthDelimitedFields([
    [1, requestBytes],
    [2, responseBytes],
  ]);
}

/**
 * A signed response's wire bytes and its dehydrated bytes (no payload, what is mined), with the message
 * encoded once, without its payload: the payload (field 2) sits right after `meta` (field 1, always
 * present), so the wire bytes are the dehydrated ones with the payload field put in after `meta`.
 */
export function encodeSignedResponse(res: RelayResponse): { bytes: Uint8Array; dehydrated: Uint8Array } {
  const dehydrated = RelayResponseCodec.encode({ ...res, payload: EMPTY });
  const bytes = res.payload.length === 0 ? dehydrated : withFieldAfterFirst(dehydrated, 2, res.payload);
  return { bytes, dehydrated };
}

export function relayHash(minedBytes: Uint8Array): Uint8Array {
  return sha256(minedBytes);
}

/** Received bytes → canonical bytes (decode and re-encode): what every hash must be computed over. */
export function canonicalRelayRequestBytes(received: Uint8Array): Uint8Array {
  return RelayRequestCodec.encode(RelayRequestCodec.decode(received));
}
