import t from 'tap';
import { StateSignals } from '../../core/observability/state-signals.js';

t.test('a condition checked every block is reported on change and at most every repeatMs while it lasts', async (t) => {
  let now = 0;
  const signals = new StateSignals(15 * 60_000, () => now);
  const said: string[] = [];
  const check = (active: boolean, level = '') => signals.update('balance_low|pokt1x', active, () => said.push(`low ${level}`), () => said.push('cleared'), level);
  for (let block = 0; block < 60; block++, now += 1000) check(true, '9'); // a minute of 1-second blocks
  t.same(said, ['low 9'], 'sixty checks, one line');
  check(true, '8');
  t.same(said, ['low 9', 'low 8'], 'a new level is a change');
  now += 15 * 60_000;
  check(true, '8');
  t.same(said.at(-1), 'low 8', 'still true after 15 minutes: said again');
  t.equal(said.length, 3);
  check(false);
  check(false);
  t.same(said.slice(3), ['cleared'], 'cleared once');
  t.equal(signals.active('balance_low|pokt1x'), false);
  check(true, '8');
  t.equal(said.at(-1), 'low 8', 'back: reported at once');
  t.same([signals.clear('balance_low|pokt1x'), signals.clear('balance_low|pokt1x')], [true, false], 'clear: true once, for the caller to say it is over');
  t.equal(signals.active('balance_low|pokt1x'), false);
  check(true, '8');
  t.equal(said.at(-1), 'low 8', 'reported again after a clear, at once');
});

t.test('a condition over many subjects lasts while any is in it: subjects recovering in between neither end nor restart it', async (t) => {
  let now = 0;
  const signals = new StateSignals(15 * 60_000, () => now);
  const said: string[] = [];
  const query = (supplier: string, failing: boolean) => signals.updateFor('balance_query', supplier, failing, (n) => said.push(`failing (${n})`), () => said.push('works again'));
  for (let block = 0; block < 30; block++, now += 1000) {
    query('pokt1a', true); // on a failed Cluster master or node endpoint
    query('pokt1b', block % 2 === 0); // failing every other block
    query('pokt1c', false); // healthy
  }
  t.same(said, ['failing (1)'], 'ninety checks over three suppliers, one line');
  now += 15 * 60_000;
  query('pokt1b', true);
  t.same(said.at(-1), 'failing (2)', 'still failing after 15 minutes: said again, with how many');
  query('pokt1a', false);
  t.equal(signals.active('balance_query'), true, 'one supplier still failing');
  query('pokt1b', false);
  query('pokt1b', false);
  t.same(said, ['failing (1)', 'failing (2)', 'works again'], 'over once, when none is left');
  query('pokt1c', true);
  t.equal(said.at(-1), 'failing (1)', 'a new failure starts it again at once');
});

t.test('a step failing for some requests and not others ends only after a quiet spell, not at each success', async (t) => {
  let now = 0;
  const signals = new StateSignals(60_000, () => now);
  const said: string[] = [];
  const append = (ok: boolean) => {
    if (ok) {
      if (signals.clearQuiet('publish|anvil', 10_000)) said.push('works again');
    } else signals.update('publish|anvil', true, () => said.push('failed'));
  };
  for (let i = 0; i < 3000; i++, now += 10) append(i % 3 !== 0); // 30 s at 100 requests a second, a third failing
  t.same(said, ['failed'], 'one line, not one per failure after a success');
  now += 9_000;
  append(true);
  t.same(said, ['failed'], 'nine seconds without a failure: not yet');
  now += 1_000;
  append(true);
  append(true);
  t.same(said, ['failed', 'works again'], 'ten: over, once');
  append(false);
  t.same(said.at(-1), 'failed', 'a failure after it is over is said at once');
});
