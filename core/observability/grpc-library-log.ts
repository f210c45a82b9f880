import { setLogger } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { StateSignals } from './state-signals.js';

/**
 * Where @grpc/grpc-js's own messages go. Left alone, it writes them to stderr as plain text, and some of
 * them quote what a peer sent: a gRPC client (or the node) whose metadata has a character grpc-js does not
 * accept makes it print the header's name and whole value, once per call, so any client could fill an
 * operator's logs, break a JSON log stream and put the values of headers (tokens among them) in it.
 * Here those say only the header's name, at debug; the listener's failure to bind is already said by
 * the relayer's own error; anything else grpc-js reports as an error is a warning, at most once a minute.
 */
const METADATA_DROPPED = /^Failed to add metadata entry ([^:]{0,64})/;
const BIND_FAILED = /^No address added out of total/;
const MAX_TEXT = 500;

export function routeGrpcLibraryLog(log: Logger, signals = new StateSignals(60_000)): void {
  const lib = log.child({ component: 'grpc-js' });
  const text = (message: unknown) => String(message).slice(0, MAX_TEXT);
  const error = (message?: unknown) => {
    const line = text(message);
    const dropped = METADATA_DROPPED.exec(line);
    if (dropped) return lib.debug({ header: dropped[1] }, 'gRPC metadata entry with characters grpc-js does not accept: dropped');
    if (BIND_FAILED.test(line)) return lib.debug(line);
    signals.update('grpc_library_error', true, () => lib.warn(`${line} (grpc-js errors are logged at most once a minute)`));
  };
  const debug = (message?: unknown) => lib.debug(text(message));
  setLogger({ error, info: debug, debug });
}
