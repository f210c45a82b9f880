import { RelayResponseCodec, type SessionHeader } from '../protocol/messages.js';
import { REJECT_REASONS, type RejectReason } from './reasons.js';

/**
 * How a refused relay is answered (docs/spec/wire.md §2.4).
 *
 * - `poktroll` (default): HTTP 200 with an unsigned RelayResponse carrying a RelayMinerError in
 *   codespace `relayer_proxy`. PATH reads it structurally: code 7 marks the session exhausted
 *   instead of scoring the supplier down for a non-2xx status.
 * - `http`: the Go HA miner's model, the reason's HTTP status and `{"error": "<message>"}`, which
 *   its CLI expects.
 */
export type ErrorModel = 'poktroll' | 'http';

export const RELAYER_PROXY_CODESPACE = 'relayer_proxy';

/** poktroll pkg/relayer/proxy/errors.go codes, by the reason that produces them. */
const POKTROLL_CODES: Record<RejectReason, number> = {
  body_unreadable: 14,
  body_too_large: 11,
  malformed_request: 14,
  malformed_payload: 14,
  missing_service_id: 1,
  unknown_service: 3,
  missing_supplier: 1,
  supplier_not_loaded: 9,
  implausible_heights: 1,
  invalid_session: 1,
  session_expired: 1,
  supplier_not_in_session: 1,
  invalid_ring_signature: 1,
  signer_not_in_ring: 1,
  rejected_by_plugin: 1,
  simulation_rejected: 1,
  simulation_malformed: 1,
  simulation_replay: 1,
  simulation_unavailable: 5,
  simulation_rate_limited: 5,
  over_servicing: 7,
  meter_unavailable: 5,
  no_healthy_backend: 5,
  backend_error: 5,
  backend_timeout: 10,
  chain_unavailable: 5,
  chain_busy: 5,
  relayer_busy: 5,
  client_gone: 5,
  internal: 5,
};

export function poktrollErrorCode(reason: RejectReason): number {
  return POKTROLL_CODES[reason];
}

export interface ErrorReply {
  status: number;
  contentType: string;
  body: Uint8Array;
}

export function errorReply(model: ErrorModel, reason: RejectReason, message: string, header?: SessionHeader): ErrorReply {
  if (model === 'http') {
    return { status: REJECT_REASONS[reason].httpStatus, contentType: 'application/json', body: Buffer.from(JSON.stringify({ error: message })) };
  }
  const body = RelayResponseCodec.encode({
    // poktroll answers with the request's header, or service "unknown" when it has none.
    meta: {
      session_header: header ?? { application_address: '', service_id: 'unknown', session_id: '', session_start_block_height: 0n, session_end_block_height: 0n },
      supplier_operator_signature: new Uint8Array(0),
    },
    payload: Buffer.from(message),
    relay_miner_error: { codespace: RELAYER_PROXY_CODESPACE, code: POKTROLL_CODES[reason], description: REJECT_REASONS[reason].message, message },
    payload_hash: new Uint8Array(0),
  });
  return { status: 200, contentType: 'application/x-protobuf', body };
}
