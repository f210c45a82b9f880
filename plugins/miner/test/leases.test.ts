import t from 'tap';
import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { KeyBuilder, StateSignals, type RedisClient } from 'relayminer';
import { startRedis, startRedisCluster } from '../../../test/helpers/redis.js';
import { captureLogs } from '../../../test/helpers/logs.js';
import { LeaseManager } from '../leases.js';

const keys = new KeyBuilder('ha');
const log = pino({ level: 'silent' });
const suppliers = (n: number) => Array.from({ length: n }, (_, i) => `pokt1supplier${String(i).padStart(4, '0')}`);

/** Counts the commands a client sends. */
function counted(r: RedisClient): { calls: () => number; reset: () => void } {
  let n = 0;
  const send = r.sendCommand.bind(r);
  (r as { sendCommand: unknown }).sendCommand = (cmd: never) => {
    n++;
    return send(cmd);
  };
  return { calls: () => n, reset: () => void (n = 0) };
}

t.test('1,200 suppliers, two replicas: fair shares in a few batched calls, renewals batched, every token distinct', async (t) => {
  const server = await startRedis(t);
  const ra = new Redis(server.port);
  const rb = new Redis(server.port);
  t.teardown(() => (ra.disconnect(), rb.disconnect()));
  const all = suppliers(1200);
  const [logsA, logsB] = [captureLogs(), captureLogs()];
  const a = new LeaseManager({ keys, redis: () => ra, instanceId: 'a', suppliers: all, ttlMs: 30_000, log: logsA.logger, signals: new StateSignals(60_000) });
  const b = new LeaseManager({ keys, redis: () => rb, instanceId: 'b', suppliers: all, ttlMs: 30_000, log: logsB.logger, signals: new StateSignals(60_000) });
  // What an operator reads: hundreds of leases changing in one tick are one line, a few are a line each.
  const said = (logs: typeof logsA) => logs.lines.map((l) => [l.level, l.msg, l.suppliers ?? l.supplier]);
  await Promise.all([ra.ping(), rb.ping()]);
  const ca = counted(ra);
  await a.tick();
  t.equal(a.owned.size, 1200, 'alone, a replica takes every supplier');
  t.equal(ca.calls(), 7, 'in 7 Redis calls: heartbeat (3), acquire batches of 500 (3), leader lock (1)');
  await b.tick(); // b joins: the fair share is 600 from now on
  ca.reset();
  await a.tick(); // a gives back its surplus
  t.equal(ca.calls(), 9, 'giving back 600 leases: heartbeat (3), renewal batches (3), release batches of 500 (2), leader lock (1)');
  await b.tick(); // and b takes it
  t.same([a.owned.size, b.owned.size], [600, 600]);
  t.same(said(logsA), [
    [30, 'supplier lease acquired: 1200 suppliers', 1200],
    [30, 'supplier lease released for rebalancing: 600 suppliers', 600],
  ]);
  t.same(said(logsB), [[30, 'supplier lease acquired: 600 suppliers', 600]]);
  const owners = new Set([...a.owned.keys(), ...b.owned.keys()]);
  t.equal(owners.size, 1200, 'no supplier held twice');
  ca.reset();
  await a.tick();
  t.equal(a.owned.size, 600, 'renewed, none lost');
  t.equal(ca.calls(), 6, 'a renewal round of 600 leases: heartbeat (3), renewal batches (2), leader lock (1)');
  // A lease taken over behind a's back is reported lost at the next renewal.
  const [stolen] = [...a.owned.keys()];
  await ra.set(keys.supplierLease(stolen!), 'c 999', 'PX', 30_000);
  const lost: string[] = [];
  a.on('lost', (s) => lost.push(s));
  await a.tick();
  t.same(lost, [stolen], 'exactly the lease that changed hands');
  t.same(said(logsA).at(-1), [40, 'supplier lease lost', stolen], 'one lease lost: said by name');
  const tokens = await Promise.all(all.map((s) => ra.get(keys.supplierLeaseFence(s))));
  t.same(new Set(tokens), new Set(['1', '2']), 'fencing tokens: 1 for the first owner, 2 for the takeover after rebalancing');
  // Stopping gives every lease back at once, so a successor need not wait out the TTL.
  const held = [...a.owned.keys()];
  ca.reset();
  await a.stop();
  t.equal(ca.calls(), 4, 'stopping with 599 leases: release batches of 500 (2), the leader lock (1), leaving the active replicas (1)');
  t.same(await Promise.all(held.map((s) => ra.exists(keys.supplierLease(s)))), held.map(() => 0), "every lease a held is gone");
  t.equal(a.owned.size, 0);
  t.equal(await ra.get(keys.supplierLease(stolen!)), 'c 999', "a lease a no longer held is left to its owner");
});

t.test('on a Redis Cluster the same, one lease per call (suppliers sit in different slots)', async (t) => {
  const cluster = await startRedisCluster(t);
  const nodes = cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  const ca = new Cluster(nodes);
  const cb = new Cluster(nodes);
  t.teardown(() => (ca.disconnect(), cb.disconnect()));
  const all = suppliers(60);
  const a = new LeaseManager({ keys, redis: () => ca, instanceId: 'a', suppliers: all, ttlMs: 30_000, log, signals: new StateSignals(60_000) });
  const b = new LeaseManager({ keys, redis: () => cb, instanceId: 'b', suppliers: all, ttlMs: 30_000, log, signals: new StateSignals(60_000) });
  await a.tick();
  await b.tick();
  await a.tick();
  await b.tick();
  t.same([a.owned.size, b.owned.size], [30, 30]);
  t.equal(new Set([...a.owned.keys(), ...b.owned.keys()]).size, 60);
  await a.tick();
  t.equal(a.owned.size, 30, 'renewals work across slots');
});

t.test('a supplier taken off the list is given back at the next round, its lease deleted, said once', async (t) => {
  const server = await startRedis(t);
  const r = new Redis(server.port);
  t.teardown(() => r.disconnect());
  const [kept, dropped] = suppliers(2);
  const logs = captureLogs();
  const m = new LeaseManager({ keys, redis: () => r, instanceId: 'a', suppliers: [kept!, dropped!], ttlMs: 30_000, log: logs.logger, signals: new StateSignals(60_000) });
  await m.tick();
  t.same([...m.owned.keys()].sort(), [kept, dropped]);
  const lost: string[] = [];
  m.on('lost', (s) => lost.push(s));
  m.suppliers = [kept!];
  await m.tick();
  t.same([[...m.owned.keys()], lost], [[kept], [dropped]], 'given back, and told once');
  t.equal(await r.get(keys.supplierLease(dropped!)), null, 'its lease key deleted, for no one to wait out');
  t.match(await r.get(keys.supplierLease(kept!)), /^a /, 'the other renewed');
  await m.tick();
  t.same(
    logs.lines.map((l) => [l.level, l.msg, l.supplier]).sort(),
    [
      [30, 'supplier lease acquired', kept],
      [30, 'supplier lease acquired', dropped],
      [30, 'supplier lease released: its key was let go', dropped],
    ].sort(),
    'a line per supplier (a few changed), the release once',
  );
});
