import t from 'tap';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { isStreamContentType, streamBatches, streamFraming, type StreamFraming } from '../../core/backend/stream-batches.js';

async function collect(chunks: (string | Buffer)[], gapMs = 0, framing: StreamFraming = 'lines'): Promise<string[]> {
  async function* source() {
    for (const c of chunks) {
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      yield Buffer.isBuffer(c) ? c : Buffer.from(c);
    }
  }
  const out: string[] = [];
  for await (const b of streamBatches(source(), framing)) out.push(b.toString());
  return out;
}

t.test('lines keep their newline; chunks split mid-line are joined; a trailing partial line is flushed', async (t) => {
  t.same(await collect(['data: a', 'b\n\nda', 'ta: c\n', 'tail']), ['data: ab\n\ndata: c\ntail']);
});

t.test('a batch holds at most 100 lines', async (t) => {
  const batches = await collect(['x\n'.repeat(250)]);
  t.same(batches.map((b) => b.split('\n').length - 1), [100, 100, 50]);
});

t.test('a batch is flushed once it reaches 100 KiB; a line is at most 256 KiB', async (t) => {
  const line = `${'y'.repeat(60 * 1024 - 1)}\n`;
  t.same((await collect([line.repeat(3)])).map((b) => b.length), [120 * 1024, 60 * 1024]);
  const huge = 'z'.repeat(300 * 1024);
  t.same((await collect([huge])).map((b) => b.length), [256 * 1024, 44 * 1024], 'an endless line is cut');
});

t.test('a batch is flushed 100 ms after it started even while the source is quiet', async (t) => {
  t.same(await collect(['a\n', 'b\n'], 500), ['a\n', 'b\n']);
});

t.test('stream content types, parameters ignored', async (t) => {
  t.same(
    ['text/event-stream', 'Text/Event-Stream; charset=utf-8', 'application/x-ndjson', 'application/json', undefined].map(isStreamContentType),
    [true, true, true, false, false],
  );
});

/** The events a client parsing each batch alone receives (what a gateway does with each signed batch). */
function eventsPerBatch(batches: string[]): EventSourceMessage[][] {
  return batches.map((b) => {
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e) });
    parser.feed(b);
    return events;
  });
}

t.test('SSE: a batch ends only between events, so an event of several data: lines is never split', async (t) => {
  // 3 events of 60 data lines each: 181 lines, past the 100-line limit in the middle of the second event.
  const event = (n: number) => `id: ${n}\nevent: tick\n${Array.from({ length: 60 }, (_, i) => `data: ${n}.${i}`).join('\n')}\n\n`;
  const body = [event(1), event(2), event(3)].join('');
  // Delivered in 7-byte chunks, so lines and events arrive in pieces.
  const chunks = body.match(/[\s\S]{1,7}/g)!;
  const batches = await collect(chunks, 0, 'sse');
  t.equal(batches.join(''), body, 'the bytes pass unchanged');
  t.ok(batches.length >= 2, `cut into ${batches.length} batches`);
  const got = eventsPerBatch(batches);
  t.same(got.flat().map((e) => [e.id, e.event, e.data.split('\n').length]), [['1', 'tick', 60], ['2', 'tick', 60], ['3', 'tick', 60]], 'every event whole, in one batch');
  t.ok(batches.every((b) => b.endsWith('\n\n')), 'each batch ends on an event boundary');
  // The line framing (NDJSON) of the same bytes does cut events: what the SSE framing prevents.
  const byLines = eventsPerBatch(await collect(chunks, 0, 'lines'));
  t.not(JSON.stringify(byLines.flat().map((e) => e.data.split('\n').length)), JSON.stringify([60, 60, 60]));
});

t.test('SSE: a quiet backend in the middle of an event holds the batch until the event ends; comments are boundaries', async (t) => {
  const batches = await collect([': keep-alive\n\n', 'data: a\n', 'data: b\n', '\n', 'data: c\n\n'], 150, 'sse');
  t.same(batches, [': keep-alive\n\n', 'data: a\ndata: b\n\n', 'data: c\n\n'], 'the 150 ms gap inside the event did not flush half of it');
  t.same(eventsPerBatch(batches).map((es) => es.map((e) => e.data)), [[], ['a\nb'], ['c']]);
});

t.test('SSE: CRLF line endings and an event left open at the end of the stream', async (t) => {
  const batches = await collect(['data: x\r\ndata: y\r\n\r\n', 'data: z\r\n'], 0, 'sse');
  t.equal(batches.join(''), 'data: x\r\ndata: y\r\n\r\ndata: z\r\n');
  t.same(eventsPerBatch(batches).flat().map((e) => e.data), ['x\ny']);
});

t.test('the framing follows the content type', async (t) => {
  t.same(['text/event-stream', 'TEXT/EVENT-STREAM; charset=utf-8', 'application/x-ndjson', undefined].map(streamFraming), ['sse', 'sse', 'lines', 'lines']);
});
