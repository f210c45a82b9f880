import t from 'tap';
import { firstIsolate, summarizeNvp } from '../../bench/gc-promotion.js';

// Lines as `node --trace-gc-nvp` prints them (fields cut down); 0x7f… is a worker thread's isolate.
const LOG = [
  'relayer listening on 127.0.0.1:4000',
  '[8843:0x373f4090]    20911 ms: pause=2.4 mutator=475.5 gc=s reduce_memory=0 scavenge=2.26 allocated=13653032 promoted=851968 new_space_survived=1057272 promotion_ratio=6.3%',
  '[8843:0x7f3ab8000f00]    20950 ms: pause=0.8 mutator=900.1 gc=s reduce_memory=0 allocated=400000 promoted=99999 new_space_survived=99999',
  '[8843:0x373f4090]    21340 ms: pause=3.6 mutator=420.0 gc=s reduce_memory=0 allocated=12163000 promoted=1001000 new_space_survived=1100000',
  '[8843:0x373f4090]    21400 ms: pause=9.42 mutator=55.0 gc=mc reduce_memory=0 promoted=0',
  '[8843:0x7f3ab8000f00]    21500 ms: pause=3.34 mutator=10.0 gc=mc reduce_memory=0',
  '',
].join('\n');

t.test("sums the first isolate's scavenges and mark-compacts; a worker thread's lines are left out", async (t) => {
  const w = summarizeNvp(LOG);
  t.equal(w.scavenges, 2);
  t.equal(w.markCompacts, 1);
  t.equal(w.promoted, 851968 + 1001000);
  t.equal(w.survived, 1057272 + 1100000);
  t.equal(w.allocated, 13653032 + 12163000);
  t.equal(Number(w.scavengeMs.toFixed(2)), 6.0);
  t.equal(w.markCompactMs, 9.42);
});

t.test("a window where a worker thread prints first: the named isolate's lines are summed", async (t) => {
  const window = LOG.split('\n').slice(2).join('\n');
  t.equal(summarizeNvp(window).promoted, 99999, 'unnamed, the first to print is taken: here the worker');
  const main = firstIsolate(LOG);
  t.equal(main, '0x373f4090');
  const w = summarizeNvp(window, main);
  t.equal(w.scavenges, 1);
  t.equal(w.promoted, 1001000);
  t.equal(w.allocated, 12163000);
  t.equal(w.markCompacts, 1);
});

t.test('a log without GC lines sums to nothing', async (t) => {
  t.same(summarizeNvp('listening\n[1:0x1] 5 ms: not a gc line\n'), { scavenges: 0, markCompacts: 0, promoted: 0, survived: 0, allocated: 0, scavengeMs: 0, markCompactMs: 0 });
  t.equal(firstIsolate('listening\n[1:0x1] 5 ms: not a gc line\n'), undefined);
});
