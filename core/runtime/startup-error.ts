/**
 * A reason not to start that the operator must fix outside relayminer's own files (a Redis setting,
 * a server refusing us). The CLI prints its message as one line, without a stack.
 */
export class StartupError extends Error {
  readonly code: string;

  constructor(code: 'REDIS_MAY_EVICT', message: string) {
    super(message);
    this.name = 'StartupError';
    this.code = code;
  }
}
