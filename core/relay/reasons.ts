/**
 * Why a relay was refused. One code is used for the response, the log line and the metric label
 * (`reason`), so the set is closed and small. HTTP statuses follow the Go HA relay miner's error model
 * (docs/spec/wire.md §2.4); the poktroll-compatible model maps the same codes onto a RelayMinerError.
 */
export const REJECT_REASONS = {
  body_unreadable: { httpStatus: 400, message: 'failed to read request body' },
  body_too_large: { httpStatus: 413, message: 'request body too large' },
  malformed_request: { httpStatus: 400, message: 'invalid relay request: body must be a valid RelayRequest protobuf' },
  malformed_payload: { httpStatus: 400, message: 'invalid relay payload: not a usable request for the backend' },
  missing_service_id: { httpStatus: 400, message: 'missing service ID in relay request' },
  unknown_service: { httpStatus: 404, message: 'unknown service' },
  missing_supplier: { httpStatus: 400, message: 'missing supplier operator address in relay request' },
  supplier_not_loaded: { httpStatus: 503, message: 'supplier key not loaded by this relayer' },
  implausible_heights: { httpStatus: 400, message: 'implausible session heights' },
  invalid_session: { httpStatus: 403, message: 'relay validation failed: session header does not match the chain' },
  session_expired: { httpStatus: 403, message: 'relay validation failed: session grace period elapsed' },
  supplier_not_in_session: { httpStatus: 403, message: 'relay validation failed: supplier not in session' },
  invalid_ring_signature: { httpStatus: 403, message: 'relay validation failed: invalid ring signature' },
  signer_not_in_ring: { httpStatus: 403, message: 'relay validation failed: signer is not the application or a delegated gateway' },
  rejected_by_plugin: { httpStatus: 403, message: 'relay validation failed: refused by a plugin' },
  simulation_rejected: { httpStatus: 403, message: 'simulation rejected' },
  simulation_malformed: { httpStatus: 400, message: 'simulation rejected: malformed' },
  simulation_replay: { httpStatus: 409, message: 'simulation rejected: replay' },
  simulation_unavailable: { httpStatus: 503, message: 'simulation unavailable' },
  simulation_rate_limited: { httpStatus: 429, message: 'simulation rate limited' },
  over_servicing: { httpStatus: 429, message: 'session relay limit reached: claimable portion fully consumed' },
  meter_unavailable: { httpStatus: 503, message: 'relay metering unavailable' },
  no_healthy_backend: { httpStatus: 503, message: 'service temporarily unavailable' },
  backend_error: { httpStatus: 502, message: 'backend error' },
  backend_timeout: { httpStatus: 504, message: 'backend timeout' },
  chain_unavailable: { httpStatus: 503, message: 'chain state unavailable' },
  chain_busy: { httpStatus: 503, message: 'chain queries at their bound: too many relays of sessions not cached here, retry later' },
  relayer_busy: { httpStatus: 503, message: 'relayer busy, retry later' },
  // nginx's "client closed request": nobody reads this answer, the status is for logs and metrics.
  client_gone: { httpStatus: 499, message: 'the client went away before the relay was forwarded' },
  internal: { httpStatus: 500, message: 'internal error' },
} as const satisfies Record<string, { httpStatus: number; message: string }>;

export type RejectReason = keyof typeof REJECT_REASONS;

export const REJECT_REASON_CODES = Object.keys(REJECT_REASONS) as RejectReason[];

// A registry-wide symbol, so a rejection thrown by a plugin that bundles its own copy of
// relayminer is still recognised (instanceof would fail across copies).
const BRAND = Symbol.for('relayminer.RelayRejection');

/** Thrown anywhere in the pipeline (or by an `onRelayValidated` hook) to refuse a relay. */
export class RelayRejection extends Error {
  readonly reason: RejectReason;

  constructor(reason: RejectReason, detail?: string) {
    if (!Object.hasOwn(REJECT_REASONS, reason)) throw new TypeError(`unknown reject reason "${String(reason)}"`);
    super(detail ? `${REJECT_REASONS[reason].message}: ${detail}` : REJECT_REASONS[reason].message);
    this.name = 'RelayRejection';
    this.reason = reason;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static is(err: unknown): err is RelayRejection {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
  }

  get httpStatus(): number {
    return REJECT_REASONS[this.reason].httpStatus;
  }
}
