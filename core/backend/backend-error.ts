/**
 * Why a call to an operator's backend failed, as stable codes (as undici's errors carry theirs). The
 * backend layer knows nothing of relays: the relay layer maps each code to the rejection a gateway sees
 * (`rejectionOf` in core/relay/backend-rejection.ts).
 */
export const BACKEND_ERROR_CODES = {
  /** Every URL of the backend is marked failing: none was tried. */
  BACKEND_UNAVAILABLE: 'every backend URL is failing',
  /** The request cannot be sent to any URL (invalid method, path or header): the relay's fault. */
  BACKEND_REQUEST_INVALID: 'the request cannot be sent to a backend',
  /** No answer within the backend's timeout. */
  BACKEND_TIMEOUT: 'the backend did not answer in time',
  /** Connection refused or reset, or another transport failure on every URL tried. */
  BACKEND_FAILED: 'the backend failed',
  /** The answer (or a stream so far) is larger than `max_body_bytes`. */
  BACKEND_RESPONSE_TOO_LARGE: 'the backend answer is larger than max_body_bytes',
  /** The answer cannot be decoded (a broken gzip body). */
  BACKEND_RESPONSE_UNDECODABLE: 'the backend answer cannot be decoded',
} as const;

export type BackendErrorCode = keyof typeof BACKEND_ERROR_CODES;

// Registry-wide, like RelayRejection's brand: recognised across copies of the package.
const BRAND = Symbol.for('relayminer.BackendError');

export class BackendError extends Error {
  constructor(
    readonly code: BackendErrorCode,
    /** What exactly failed (the URL's error, the limit), without the code's own text. */
    readonly detail?: string,
  ) {
    super(detail ? `${BACKEND_ERROR_CODES[code]}: ${detail}` : BACKEND_ERROR_CODES[code]);
    this.name = 'BackendError';
    Object.defineProperty(this, BRAND, { value: true });
  }

  static is(err: unknown): err is BackendError {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
  }
}
