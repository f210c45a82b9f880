import t from 'tap';
import { Counter, Registry } from 'prom-client';
import { LocalCounts } from '../../core/observability/local-counts.js';

function setup() {
  const registry = new Registry();
  const counts = new LocalCounts<'service' | 'outcome'>();
  const counter = new Counter({
    name: 'test_relays_total',
    help: 'test',
    labelNames: ['service', 'outcome'],
    registers: [registry],
    collect() {
      counts.flush(this);
    },
  });
  let promIncs = 0;
  const inc = counter.inc.bind(counter);
  counter.inc = ((...args: Parameters<typeof inc>) => {
    promIncs++;
    return inc(...args);
  }) as typeof counter.inc;
  return { registry, counts, counter, promIncs: () => promIncs };
}

const line = (text: string, labels: string) => new RegExp(`^test_relays_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1];

t.test('series count in plain numbers; a scrape adds them to the counter once per series', async (t) => {
  const { registry, counts, promIncs } = setup();
  const served = counts.series({ service: 'anvil', outcome: 'served' });
  const rejected = counts.series({ service: 'anvil', outcome: 'rejected' });
  for (let i = 0; i < 1000; i++) served.inc();
  rejected.inc(3);
  t.equal(promIncs(), 0, 'no prom-client inc (and no label hashing) per count');

  let text = await registry.metrics();
  t.equal(line(text, 'service="anvil",outcome="served"'), '1000');
  t.equal(line(text, 'service="anvil",outcome="rejected"'), '3');
  t.equal(promIncs(), 2, 'one inc per series at the scrape');

  served.inc();
  text = await registry.metrics();
  t.equal(line(text, 'service="anvil",outcome="served"'), '1001', 'the next scrape adds only what came since');
  t.equal(line(text, 'service="anvil",outcome="rejected"'), '3');
  t.equal(promIncs(), 3, 'a series with nothing new is not touched');
});

t.test('get() and the JSON form (the --workers aggregation) see the counts too', async (t) => {
  const { registry, counts, counter } = setup();
  counts.series({ service: 'anvil', outcome: 'served' }).inc(7);
  t.same((await counter.get()).values.map((v) => [v.labels, v.value]), [[{ service: 'anvil', outcome: 'served' }, 7]]);
  const s = counts.series({ service: 'base', outcome: 'served' });
  s.inc(2);
  const json = await registry.getMetricsAsJSON();
  t.same(
    json[0]!.values.map((v) => [v.labels.service, v.value]),
    [
      ['anvil', 7],
      ['base', 2],
    ],
  );
});
