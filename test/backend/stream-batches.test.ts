import t from 'tap';
import { isStreamContentType, streamBatches } from '../../core/backend/stream-batches.js';

async function collect(chunks: (string | Buffer)[], gapMs = 0): Promise<string[]> {
  async function* source() {
    for (const c of chunks) {
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      yield Buffer.isBuffer(c) ? c : Buffer.from(c);
    }
  }
  const out: string[] = [];
  for await (const b of streamBatches(source())) out.push(b.toString());
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
