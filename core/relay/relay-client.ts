import { addressFromPublicKey } from '../crypto/address.js';
import { sha256 } from '../crypto/sha256.js';
import { ringSign } from '../crypto/ring/index.js';
import { verifySupplierResponse } from '../crypto/supplier-signature.js';
import { POKTHTTPRequestCodec, RelayRequestCodec, RelayResponseCodec, type HttpHeader, type RelayRequest, type RelayResponse, type SessionHeader } from '../protocol/messages.js';
import { relayRequestSignableHash, relayResponseSignableHash } from '../protocol/relay.js';
import { simulatedSessionId } from './simulated-relays.js';

/** What a gateway puts in a relay: an HTTP request (shannon-sdk POKTHTTPRequest). */
export interface HttpRelayPayload {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export function encodeHttpPayload(p: HttpRelayPayload): Uint8Array {
  const header = new Map<string, HttpHeader>(Object.entries(p.headers ?? {}).map(([k, v]) => [k, { key: k, values: [v] }]));
  const body = typeof p.body === 'string' ? Buffer.from(p.body) : (p.body ?? new Uint8Array(0));
  return POKTHTTPRequestCodec.encode({ method: p.method ?? 'POST', header, url: p.url ?? '/', body_bz: body });
}

/**
 * The session header of a simulated relay (`relayer.simulation`), as the Go HA relay miner's clients build it:
 * the pinned application's address, the service, and `simv1:<unix seconds>:<hex nonce>` as the session id, a
 * signed timestamp the relayer checks against its clock; the heights are not read.
 */
export function simulatedSessionHeader(o: { appPublicKey: Uint8Array; serviceId: string; nowMs?: number }): SessionHeader {
  const seconds = Math.floor((o.nowMs ?? Date.now()) / 1000);
  return {
    application_address: addressFromPublicKey(o.appPublicKey),
    service_id: o.serviceId,
    session_id: simulatedSessionId(seconds, Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex')),
    session_start_block_height: 1n,
    session_end_block_height: 2n,
  };
}

/** A relay request ring-signed the way shannon-sdk signs it (docs/spec/wire.md §1.2). */
export function buildRelayRequest(o: { header: SessionHeader; supplierAddress: string; payload: Uint8Array; signerKey: Uint8Array; ring: readonly Uint8Array[] }): RelayRequest {
  const req: RelayRequest = { meta: { session_header: o.header, signature: new Uint8Array(0), supplier_operator_address: o.supplierAddress }, payload: o.payload };
  req.meta.signature = ringSign(relayRequestSignableHash(req), o.ring, o.signerKey);
  return req;
}

/**
 * The WebSocket handshake headers PATH sends (docs/spec/wire.md §4.1), with `Pocket-Signature` = the ring
 * signature over RelayRequest{meta{session_header, supplier}, payload: nil} (omit the key for an
 * unsigned health probe).
 */
export function websocketHandshakeHeaders(o: { header: SessionHeader; supplierAddress: string; signerKey?: Uint8Array; ring?: readonly Uint8Array[] }): Record<string, string> {
  const h: Record<string, string> = {
    'Target-Service-Id': o.header.service_id,
    'App-Address': o.header.application_address,
    'Rpc-Type': '2',
    'Pocket-Session-Id': o.header.session_id,
    'Pocket-Session-Start-Height': String(o.header.session_start_block_height),
    'Pocket-Session-End-Height': String(o.header.session_end_block_height),
    'Pocket-Supplier-Address': o.supplierAddress,
  };
  if (o.signerKey && o.ring) {
    const req = buildRelayRequest({ header: o.header, supplierAddress: o.supplierAddress, payload: new Uint8Array(0), signerKey: o.signerKey, ring: o.ring });
    h['Pocket-Signature'] = Buffer.from(req.meta.signature).toString('base64');
  }
  return h;
}

export function encodeRelayRequest(req: RelayRequest): Uint8Array {
  return RelayRequestCodec.encode(req);
}

export type RelayResponseCheck = { ok: true; response: RelayResponse } | { ok: false; response?: RelayResponse; why: string };

/** What a gateway checks on an answer: it decodes, the payload hash matches, the supplier signed it. */
export function checkRelayResponse(body: Uint8Array, supplierPublicKey: Uint8Array): RelayResponseCheck {
  let response: RelayResponse;
  try {
    response = RelayResponseCodec.decode(body);
  } catch (err) {
    return { ok: false, why: `not a RelayResponse: ${(err as Error).message}` };
  }
  if (response.relay_miner_error) return { ok: false, response, why: `relay miner error ${response.relay_miner_error.code}: ${response.relay_miner_error.message}` };
  if (Buffer.compare(Buffer.from(response.payload_hash), Buffer.from(sha256(response.payload))) !== 0) return { ok: false, response, why: 'payload_hash does not match the payload' };
  if (!verifySupplierResponse(relayResponseSignableHash(response), response.meta.supplier_operator_signature, supplierPublicKey)) {
    return { ok: false, response, why: 'supplier signature does not verify' };
  }
  return { ok: true, response };
}
