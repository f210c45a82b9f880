import { BackendError, type BackendErrorCode } from '../backend/backend-error.js';
import { RelayRejection, type RejectReason } from './reasons.js';

/** The rejection a gateway sees for each way a backend call fails. */
const REASON_OF: Record<BackendErrorCode, RejectReason> = {
  BACKEND_UNAVAILABLE: 'no_healthy_backend',
  BACKEND_REQUEST_INVALID: 'malformed_payload',
  BACKEND_TIMEOUT: 'backend_timeout',
  BACKEND_FAILED: 'backend_error',
  BACKEND_RESPONSE_TOO_LARGE: 'backend_error',
  BACKEND_RESPONSE_UNDECODABLE: 'backend_error',
};

/** A relay rejection for a RelayRejection or BackendError; undefined for anything else (an internal error). */
export function rejectionOf(err: unknown): RelayRejection | undefined {
  if (RelayRejection.is(err)) return err;
  if (BackendError.is(err)) return new RelayRejection(REASON_OF[err.code], err.detail ?? err.message);
  return undefined;
}
