/** Stable codes of the problems an operator must fix outside relayminer's own files. */
export type OperatorErrorCode = 'REDIS_MAY_EVICT' | 'REDIS_UNREACHABLE' | 'NODE_UNREACHABLE' | 'INVALID_ARGUMENT' | 'CANNOT_LISTEN' | 'PROGRAM_MISSING';

/**
 * A reason not to go on that the operator must fix outside relayminer's own files: a Redis setting,
 * a server that cannot be reached, an argument on the command line. The CLI prints its message as one
 * line, without a stack.
 */
export class OperatorError extends Error {
  readonly code: OperatorErrorCode;

  constructor(code: OperatorErrorCode, message: string) {
    super(message);
    this.name = 'OperatorError';
    this.code = code;
  }

  /** `what` (a listener, named for the operator) could not bind `address`. */
  static cannotListen(what: string, address: string, err: unknown): OperatorError {
    return new OperatorError('CANNOT_LISTEN', `${what} cannot listen on ${address}: ${listenFailureReason(err)}`);
  }
}

/** Why a listener could not bind, in words (grpc-js gives no code, only the socket's error inside its message). */
export function listenFailureReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const message = (err as Error).message;
  if (code === 'EADDRINUSE' || (code === undefined && /\bEADDRINUSE\b/.test(message))) return 'address already in use';
  if (code === 'EACCES' || (code === undefined && /\bEACCES\b/.test(message))) return 'permission denied';
  return message;
}
