import t from 'tap';
import { allocationBreakdown, type SamplingNode } from '../../bench/alloc-profile.js';

const node = (functionName: string, url: string, lineNumber: number, selfSize: number, children: SamplingNode[] = []): SamplingNode => ({ callFrame: { functionName, url, lineNumber }, selfSize, children });

t.test('bytes per relay by module (innermost script) and by site (innermost frame of this project)', async (t) => {
  // The pipeline allocates 1,000 bytes itself; undici 3,000 under it, and Node's streams 500 under that;
  // 200 bytes have no script on the stack at all.
  const head = node('(root)', '', -1, 0, [
    node('handle', 'file:///work/main/dist/core/relay/pipeline.js', 25, 1000, [
      node('request', 'file:///work/main/node_modules/undici/lib/api/api-request.js', 60, 3000, [node('clearBuffer', 'node:internal/streams/writable', 743, 500)]),
    ]),
    node('(V8 API)', '', -1, 200),
  ]);
  const b = allocationBreakdown(head, 10);
  t.equal(b.bytesPerRelay, 470, '4,700 bytes over 10 relays');
  t.same(
    b.modules.map((m) => [m.what, m.bytesPerRelay]),
    [
      ['npm undici', 300],
      ['core/relay', 100],
      ['node:internal/streams', 50],
      ['(V8 API)', 20],
    ],
  );
  t.same(
    b.sites.map((s) => [s.what, s.bytesPerRelay]),
    [
      ['core/relay/pipeline.js:26 handle', 450],
      ['(V8 API)', 20],
    ],
    "what a package or Node allocates for this project's code counts at the project's frame",
  );
});
