import { createParser } from 'eventsource-parser';

/**
 * Streamed backend answers (docs/spec/wire.md §3): the body is cut into lines (each keeps its "\n"; a line
 * is at most 256 KiB) and lines are grouped into batches, each flushed after 100 ms, 100 KiB or 100
 * lines, whichever comes first, and once more at the end. Each batch becomes one signed RelayResponse,
 * which a client parses alone: so a batch ends only where a unit of the stream ends. For NDJSON that is
 * every line; for Server-Sent Events it is the end of an event (eventsource-parser decides), so an event
 * of several `data:` lines is never cut across two batches (past MAX_OPEN_EVENT bytes one is, to bound
 * memory).
 */

export const STREAM_DELIMITER = Buffer.from('||POKT_STREAM||');
export const STREAM_CONTENT_TYPES = ['text/event-stream', 'application/x-ndjson'];

const MAX_LINE = 256 * 1024;
const MAX_BATCH_BYTES = 100 * 1024;
const MAX_BATCH_LINES = 100;
const MAX_BATCH_MS = 100;
/** An SSE event still open past this many bytes is cut anyway: a batch is held in memory until it ends. */
const MAX_OPEN_EVENT = 1024 * 1024;

/** Where a stream may be cut into batches: after any line, or only between Server-Sent Events. */
export type StreamFraming = 'lines' | 'sse';

export function streamFraming(contentType: string | undefined): StreamFraming {
  return contentType?.split(';')[0]?.trim().toLowerCase() === 'text/event-stream' ? 'sse' : 'lines';
}

/**
 * Tells, line by line, whether the stream is between SSE events. The parser is fed each line as it
 * passes; an event is complete when the parser dispatches it, or when a blank line ends one it did not
 * dispatch (no data); comment lines between events leave the stream between events.
 */
function sseBoundaries(): (line: Buffer) => boolean {
  let open = false;
  let dispatched = false;
  const decoder = new TextDecoder();
  const parser = createParser({ onEvent: () => void (dispatched = true) });
  return (line) => {
    dispatched = false;
    const text = decoder.decode(line, { stream: true });
    parser.feed(text);
    const bare = text.replace(/\r?\n$|\r$/, '');
    if (dispatched || bare === '') open = false;
    else if (!bare.startsWith(':')) open = true;
    return !open;
  };
}

export function isStreamContentType(value: string | undefined): boolean {
  const type = value?.split(';')[0]?.trim().toLowerCase();
  return type !== undefined && STREAM_CONTENT_TYPES.includes(type);
}

const TICK = Symbol('tick');

export async function* streamBatches(source: AsyncIterable<Buffer>, framing: StreamFraming = 'lines'): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const atBoundary = framing === 'sse' ? sseBoundaries() : () => true;
  let partial = Buffer.alloc(0);
  let lines: Buffer[] = [];
  let bytes = 0;
  let startedAt = 0;
  // Lines up to here end on a boundary; the rest (an SSE event still open) wait for its end.
  let closed = 0;
  let closedBytes = 0;
  const take = (line: Buffer) => {
    if (lines.length === 0) startedAt = Date.now();
    lines.push(line);
    bytes += line.length;
    if (atBoundary(line) || bytes - closedBytes > MAX_OPEN_EVENT) {
      closed = lines.length;
      closedBytes = bytes;
    }
  };
  /** The lines up to the last boundary as one batch (all of them at the end of the stream). */
  const flush = (all = false) => {
    const n = all ? lines.length : closed;
    const batch = Buffer.concat(lines.slice(0, n));
    lines = lines.slice(n);
    bytes -= all ? bytes : closedBytes;
    closed = 0;
    closedBytes = 0;
    if (lines.length) startedAt = Date.now();
    return batch;
  };
  let pending = it.next();
  // A consumer that stops early (and destroys the source) leaves this read pending: not an unhandled rejection.
  pending.catch(() => undefined);
  for (;;) {
    const wait = lines.length ? Math.max(0, startedAt + MAX_BATCH_MS - Date.now()) : undefined;
    let timer: NodeJS.Timeout | undefined;
    const next = wait === undefined ? await pending : await Promise.race([pending, new Promise<typeof TICK>((r) => (timer = setTimeout(() => r(TICK), wait)))]);
    clearTimeout(timer);
    if (next === TICK) {
      if (closed) yield flush();
      else startedAt = Date.now(); // an event still open: look again after another interval
      continue;
    }
    if (next.done) break;
    pending = it.next();
    pending.catch(() => undefined);
    let chunk = partial.length ? Buffer.concat([partial, next.value]) : next.value;
    let nl: number;
    while ((nl = chunk.indexOf(0x0a)) >= 0 || chunk.length >= MAX_LINE) {
      const end = nl >= 0 && nl < MAX_LINE ? nl + 1 : MAX_LINE;
      take(chunk.subarray(0, end));
      chunk = chunk.subarray(end);
      if (closed && (closedBytes >= MAX_BATCH_BYTES || closed >= MAX_BATCH_LINES)) yield flush();
    }
    partial = Buffer.from(chunk);
  }
  if (partial.length) take(partial);
  if (lines.length) yield flush(true);
}
