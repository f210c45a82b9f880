import t from 'tap';
import { until } from '../../../test/helpers/until.js';
import { claimAndSettle, ownedWithRelays, setup } from './drill.js';

/** Miner failure drills with real processes: SIGKILL, SIGSTOP/SIGCONT and a Redis restart (AOF). */

t.test('two miners: the owner is SIGKILLed mid-session; the other takes over within the TTL and the claim and proof land', async (t) => {
  const s = await setup(t);
  const a = await s.startMiner('m1');
  await until('m1 owns the supplier', async () => (await s.owner())[0] === 'm1');
  const b = await s.startMiner('m2');
  await s.relays(10);
  await until('10 stored', async () => (await s.session())?.count === 10);
  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  await s.relays(10); // served while no miner owns the supplier: they wait in the stream
  await until('m2 takes over', async () => (await s.owner())[0] === 'm2');
  t.ok(Date.now() - killedAt < 1500 + 1000, `takeover after ${Date.now() - killedAt} ms (TTL 1500 ms)`);
  t.equal((await s.owner())[1], '2', 'with a new fencing token');
  await until('20 stored', async () => (await s.session())?.count === 20);
  await claimAndSettle(t, s, 20);
  t.ok(b.lines.some((l) => l.msg === 'supplier lease acquired'));
});

t.test('a paused owner (SIGSTOP) resumes after the takeover and cannot write over the new owner', async (t) => {
  const s = await setup(t);
  const a = await s.startMiner('m1');
  await until('m1 owns the supplier', async () => (await s.owner())[0] === 'm1');
  await s.startMiner('m2');
  await s.relays(5);
  await until('5 stored', async () => (await s.session())?.count === 5);
  a.child.kill('SIGSTOP');
  await until('m2 takes over', async () => (await s.owner())[0] === 'm2', 10_000);
  await s.relays(5);
  a.child.kill('SIGCONT'); // m1 wakes up with a stale lease and a blocking read in flight
  await s.relays(5);
  await until('15 stored', async () => (await s.session())?.count === 15);
  await until('m1 notices', () => a.lines.some((l) => l.msg === 'supplier lease lost' || l.msg === 'relay store refused our fencing token: another miner owns this supplier now'));
  t.equal((await s.owner())[0], 'm2', 'the lease stays with the new owner');
  await s.relays(3);
  await until('18 stored', async () => (await s.session())?.count === 18);
  await claimAndSettle(t, s, 18);
});

t.test('redis-server restarted (AOF on) mid-session: mining resumes and nothing is lost', async (t) => {
  const { s, m1 } = await ownedWithRelays(t, 8);
  await s.r.redisServer.stopProcess();
  // Long enough for lease ticks and stream reads to fail several times over (a queued command fails after
  // two reconnect attempts, and the attempts back off to 2 s apart).
  await new Promise((res) => setTimeout(res, 10_000));
  await s.r.redisServer.startProcess();
  await until('the lease is held again', async () => ((await s.owner().catch(() => []))[0] ?? '') === 'm1', 15_000);
  await s.relays(7);
  await until('15 stored', async () => (await s.session())?.count === 15, 15_000);
  await claimAndSettle(t, s, 15);
  // Each failing step said once (not once per retry for 3 s), and once when it worked again.
  const said = m1.lines.filter((l) => /failed|work again|works again/.test(String(l.msg))).map((l) => `${l.level} ${l.msg}`);
  t.same(said.filter((line, i) => said.indexOf(line) !== i), [], 'no line repeated');
  for (const line of ['40 miner lease tick failed', '30 miner lease ticks work again', '40 reading relay streams failed; retrying', '30 reading relay streams works again']) t.ok(said.includes(line), line);
});
