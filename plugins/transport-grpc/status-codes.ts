import { status } from '@grpc/grpc-js';
import { type RejectReason } from 'relayminer';

/** Rejection reason → gRPC status (docs/spec/wire.md §5, as the Go HA miner answers SendRelay). */
const CODES: Record<RejectReason, status> = {
  body_unreadable: status.INVALID_ARGUMENT,
  body_too_large: status.RESOURCE_EXHAUSTED,
  malformed_request: status.INVALID_ARGUMENT,
  malformed_payload: status.INVALID_ARGUMENT,
  missing_service_id: status.INVALID_ARGUMENT,
  unknown_service: status.NOT_FOUND,
  missing_supplier: status.INVALID_ARGUMENT,
  supplier_not_loaded: status.FAILED_PRECONDITION,
  implausible_heights: status.INVALID_ARGUMENT,
  invalid_session: status.PERMISSION_DENIED,
  session_expired: status.PERMISSION_DENIED,
  supplier_not_in_session: status.PERMISSION_DENIED,
  invalid_ring_signature: status.PERMISSION_DENIED,
  signer_not_in_ring: status.PERMISSION_DENIED,
  rejected_by_plugin: status.PERMISSION_DENIED,
  simulation_rejected: status.PERMISSION_DENIED,
  simulation_malformed: status.INVALID_ARGUMENT,
  simulation_replay: status.ALREADY_EXISTS,
  simulation_unavailable: status.UNAVAILABLE,
  simulation_rate_limited: status.RESOURCE_EXHAUSTED,
  over_servicing: status.RESOURCE_EXHAUSTED,
  meter_unavailable: status.UNAVAILABLE,
  no_healthy_backend: status.UNAVAILABLE,
  backend_error: status.UNAVAILABLE,
  backend_timeout: status.DEADLINE_EXCEEDED,
  chain_unavailable: status.UNAVAILABLE,
  chain_busy: status.UNAVAILABLE,
  relayer_busy: status.UNAVAILABLE,
  client_gone: status.CANCELLED,
  internal: status.INTERNAL,
};

export function grpcStatusFor(reason: RejectReason): status {
  return CODES[reason];
}

/** Backend answers that are the backend's fault: served signed, but not billable (like HTTP 5xx). */
export const SERVER_FAULT_STATUSES: ReadonlySet<number> = new Set([status.UNKNOWN, status.DEADLINE_EXCEEDED, status.INTERNAL, status.UNAVAILABLE, status.DATA_LOSS]);
