import t from 'tap';
import { until } from '../../../test/helpers/until.js';
import { claimAndSettle, ownedWithRelays } from './drill.js';

/** A Redis that stops answering for longer than the lease TTL (SIGSTOP, then SIGCONT), with a real miner process. */

t.test('redis-server hung past the lease TTL mid-session: the lease lapses and is taken back, and nothing is lost', async (t) => {
  const { s, m1 } = await ownedWithRelays(t, 8);
  // 20 s: past the lease's 15 s TTL, which Redis counts on the wall clock, so the lease has expired when it runs again.
  s.r.redisServer.pause();
  await new Promise((res) => setTimeout(res, 20_000));
  s.r.redisServer.resume();
  await until('the lease is held again', async () => ((await s.owner().catch(() => []))[0] ?? '') === 'm1', 15_000);
  await s.relays(7);
  await until('15 stored', async () => (await s.session())?.count === 15, 15_000);
  await claimAndSettle(t, s, 15);
  const said = m1.lines.filter((l) => /lease|failed|work again|works again/.test(String(l.msg))).map((l) => `${l.level} ${l.msg}`);
  t.same(said.filter((line, i) => said.indexOf(line) !== i && line !== '30 supplier lease acquired'), [], 'no line repeated but the lease taken back');
  for (const line of ['40 miner lease tick failed', '40 supplier lease lost', '30 miner lease ticks work again']) t.ok(said.includes(line), line);
  t.equal(said.filter((l) => l === '30 supplier lease acquired').length, 2, 'acquired, then taken back once it had lapsed');
});
