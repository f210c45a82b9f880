/** Stable codes of the problems an operator must fix outside relayminer's own files. */
export type OperatorErrorCode = 'REDIS_MAY_EVICT' | 'REDIS_UNREACHABLE' | 'NODE_UNREACHABLE' | 'INVALID_ARGUMENT';

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
}
