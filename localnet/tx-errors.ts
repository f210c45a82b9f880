/**
 * Errors with an ABCI codespace and code, formatted as cosmos-sdk and poktroll format them
 * (docs/spec/errors.md §0.1, §2, §4): the registered description comes last, each wrap adds a prefix.
 */
export class AbciError extends Error {
  constructor(
    readonly codespace: string,
    readonly code: number,
    readonly log: string,
  ) {
    super(log);
    this.name = 'AbciError';
  }
}

export const sdkError = (code: number, log: string) => new AbciError('sdk', code, log);
export const proofError = (code: number, log: string) => new AbciError('proof', code, log);

const GRPC_CODE_NAMES: Record<number, string> = {
  2: 'Unknown',
  3: 'InvalidArgument',
  5: 'NotFound',
  9: 'FailedPrecondition',
  13: 'Internal',
};

/** A message handler's status.Error(code, desc), as runMsgs reports it: codespace undefined, code 1. */
export function handlerError(messageIndex: number, grpcCode: number, desc: string): AbciError {
  return new AbciError(
    'undefined',
    1,
    `failed to execute message; message index: ${messageIndex}: rpc error: code = ${GRPC_CODE_NAMES[grpcCode] ?? 'Unknown'} desc = ${desc}`,
  );
}

/** Thrown inside handlers; turned into handlerError by the engine, which knows the message index. */
export class StatusError extends Error {
  constructor(
    readonly grpcCode: number,
    readonly desc: string,
  ) {
    super(desc);
    this.name = 'StatusError';
  }
}

export const INVALID_ARGUMENT = 3;
export const NOT_FOUND = 5;
export const FAILED_PRECONDITION = 9;
export const INTERNAL = 13;
