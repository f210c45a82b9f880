/**
 * Streamed backend answers (docs/spec/wire.md §3): the body is cut into lines (each keeps its "\n"; a line
 * is at most 256 KiB) and lines are grouped into batches, each flushed after 100 ms, 100 KiB or 100
 * lines, whichever comes first, and once more at the end. Each batch becomes one signed RelayResponse.
 */

export const STREAM_DELIMITER = Buffer.from('||POKT_STREAM||');
export const STREAM_CONTENT_TYPES = ['text/event-stream', 'application/x-ndjson'];

const MAX_LINE = 256 * 1024;
const MAX_BATCH_BYTES = 100 * 1024;
const MAX_BATCH_LINES = 100;
const MAX_BATCH_MS = 100;

export function isStreamContentType(value: string | undefined): boolean {
  const type = value?.split(';')[0]?.trim().toLowerCase();
  return type !== undefined && STREAM_CONTENT_TYPES.includes(type);
}

const TICK = Symbol('tick');

export async function* streamBatches(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  let partial = Buffer.alloc(0);
  let lines: Buffer[] = [];
  let bytes = 0;
  let startedAt = 0;
  const take = (line: Buffer) => {
    if (lines.length === 0) startedAt = Date.now();
    lines.push(line);
    bytes += line.length;
  };
  const flush = () => {
    const batch = Buffer.concat(lines);
    lines = [];
    bytes = 0;
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
      yield flush();
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
      if (bytes >= MAX_BATCH_BYTES || lines.length >= MAX_BATCH_LINES) yield flush();
    }
    partial = Buffer.from(chunk);
  }
  if (partial.length) take(partial);
  if (lines.length) yield flush();
}
