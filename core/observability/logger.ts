import { pino, type Logger, type DestinationStream, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';
import type { LoggingConfig } from '../config/schema.js';

/**
 * Fields that may carry secrets anywhere in a log object. SupplierKey already serializes to its
 * address only; this is the second line of defence for raw config objects and headers.
 */
export const REDACTED_PATHS = [
  'private_key_hex',
  '*.private_key_hex',
  '*.*.private_key_hex',
  'privateKey',
  '*.privateKey',
  'password',
  '*.password',
  'bearer_token',
  '*.bearer_token',
  'req.headers.authorization',
  'headers.authorization',
];

export interface LoggerFactoryOptions {
  /** Where lines go (tests capture them); stdout by default. */
  destination?: DestinationStream;
  /** Base fields on every line, e.g. `{ role: 'relayer' }`. */
  base?: Record<string, unknown>;
}

export function createLogger(cfg: LoggingConfig, opts: LoggerFactoryOptions = {}): Logger {
  const options: LoggerOptions = {
    level: cfg.level,
    base: { pid: process.pid, ...opts.base },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const human = cfg.format === 'pretty' || (cfg.format === 'auto' && !opts.destination && process.stdout.isTTY);
  if (human) {
    return pino(options, pretty({ colorize: process.stdout.isTTY, sync: true, ignore: 'pid,hostname' }));
  }
  // Written synchronously, as the pretty output is: lines stay in order and none is lost or overtaken when the
  // process exits (an asynchronous write still in flight at exit lands after the lines flushed then).
  return pino(options, opts.destination ?? pino.destination({ dest: 1, sync: true }));
}
