import t, { type Test } from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { KeyBuilder, MinedRelayCodec, StateSignals, type RedisClient } from 'relayminer';
import { startRedis, startRedisCluster } from '../../../test/helpers/redis.js';
import { captureLogs } from '../../../test/helpers/logs.js';
import { until } from '../../../test/helpers/until.js';
import { MinerMetrics } from '../metrics.js';
import { SessionStore } from '../session-store.js';
import { StreamReader } from '../stream-reader.js';

const keys = new KeyBuilder('ha');
const log = pino({ level: 'silent' });
const suppliers = (n: number) => Array.from({ length: n }, (_, i) => `pokt1reader${String(i).padStart(3, '0')}`);

function entry(supplier: string, n: number): Buffer {
  const relay = Buffer.from(`relay ${n} for ${supplier}`);
  return Buffer.from(
    MinedRelayCodec.encode({
      relay_hash: sha256(relay),
      relay,
      compute_units: 1n,
      session_id: 's1',
      session_start_block_height: 1n,
      session_end_block_height: 10n,
      supplier_operator_address: supplier,
      service_id: 'anvil',
      application_address: 'pokt1app',
      arrival_block_height: 2n,
      published_at_ms: 1n,
    }),
  );
}

function reader(redis: () => RedisClient, dedicated: () => RedisClient, streamsPerConnection: number, batch = 100, logger = log, reclaimIdleMs = 60_000) {
  const store = new SessionStore(keys, redis);
  const r = new StreamReader({ consumerName: 'm1', keys, store, redis, dedicated, batch, blockMs: 200, reclaimIdleMs, streamsPerConnection, metrics: new MinerMetrics(new Registry()), log: logger, signals: new StateSignals(60_000), onFenced: () => {} });
  return { r, store };
}

/** A Redis server for the test and a factory of connections to it, all closed at its end. */
async function connections(t: Test) {
  const server = await startRedis(t);
  const conns: Redis[] = [];
  const conn = () => {
    const c = new Redis(server.port);
    conns.push(c);
    return c;
  };
  t.teardown(() => conns.forEach((c) => c.disconnect()));
  return { main: conn(), conn };
}

t.test('standalone: 40 suppliers on lanes of 16 streams; a busy stream does not hold back the quiet ones', async (t) => {
  const { main, conn } = await connections(t);
  const all = suppliers(40);
  for (const s of all) await main.set(keys.supplierLeaseFence(s), '1');
  let lanes = 0;
  const { r, store } = reader(() => main, () => (lanes++, conn()), 16);
  t.teardown(() => r.stop());
  // What was stored, in order: the busy supplier's total each time the last quiet one completes.
  const stored = new Map<string, number>();
  let busyWhenQuietDone: number | undefined;
  const ingest = store.ingest.bind(store);
  store.ingest = async (supplier, token, entries) => {
    const out = await ingest(supplier, token, entries);
    stored.set(supplier, (stored.get(supplier) ?? 0) + entries.length);
    if (busyWhenQuietDone === undefined && all.slice(1).every((q) => stored.get(q) === 5)) busyWhenQuietDone = stored.get(all[0]!) ?? 0;
    return out;
  };
  // Every stream on its lane first (so no lane starts late), then the entries: the first supplier is busy
  // (3,000 entries), the others have 5 each.
  for (const s of all) await r.add(s, '1');
  t.equal(lanes, 3, '40 streams, 16 a connection: 3 blocking connections');
  const p = main.pipeline();
  for (const s of all.slice(1)) for (let i = 0; i < 5; i++) p.xadd(keys.relayStream(s), '*', 'data', entry(s, i));
  for (let i = 0; i < 3000; i++) p.xadd(keys.relayStream(all[0]!), '*', 'data', entry(all[0]!, i));
  await p.exec();
  const counts = async () => Promise.all(all.map(async (s) => (await store.session(s, 's1'))?.count ?? 0));
  await until('every relay stored', async () => (await counts()).every((c, i) => c === (i === 0 ? 3000 : 5)));
  t.ok(busyWhenQuietDone !== undefined && busyWhenQuietDone < 3000, `the quiet ones were done while the busy one was at ${busyWhenQuietDone} of 3,000 (100 per round)`);
  t.same(await Promise.all(all.map((s) => main.xlen(keys.relayStream(s)))), all.map(() => 0), 'every stream emptied by consumption');
});

t.test('a backlog on many streams is read a share at a time: one lane read stays bounded, every entry stored', async (t) => {
  const { main, conn } = await connections(t);
  const all = suppliers(200);
  const { r, store } = reader(() => main, conn, 256, 100);
  t.teardown(() => r.stop());
  const sizes: number[] = [];
  const ingest = store.ingest.bind(store);
  store.ingest = (supplier, token, entries) => (sizes.push(entries.length), ingest(supplier, token, entries));
  // Every stream on the lane first, then the backlog arrives.
  for (const s of all) {
    await main.set(keys.supplierLeaseFence(s), '1');
    await r.add(s, '1');
  }
  const p = main.pipeline();
  for (const s of all) for (let i = 0; i < 60; i++) p.xadd(keys.relayStream(s), '*', 'data', entry(s, i));
  await p.exec();
  await until('all stored', async () => (await Promise.all(all.map(async (s) => (await store.session(s, 's1'))?.count ?? 0))).every((c) => c === 60));
  // batch 100 over 200 streams: 16 batches' worth per read is 8 a stream, raised to the floor of 20.
  t.equal(Math.max(...sizes), 20, 'at most 20 entries of a stream per read (not the batch of 100)');
  t.equal(sizes.reduce((a, b) => a + b, 0), 200 * 60);
});

t.test('entries a previous owner read after this reader took the supplier over are claimed and stored within a few block_ms, not reclaim_idle_ms', async (t) => {
  const { main, conn } = await connections(t);
  const supplier = 'pokt1reader000';
  const stream = keys.relayStream(supplier);
  await main.set(keys.supplierLeaseFence(supplier), '1');
  const { r, store } = reader(() => main, conn, 16); // block_ms 200, reclaim_idle_ms 60 s
  t.teardown(() => r.stop());
  await r.add(supplier, '1');
  // The previous owner's last blocking read returns after the takeover with three entries it can no longer
  // store. One transaction: Redis serves this reader's blocked read only after it, with nothing left to deliver.
  const tx = main.multi();
  for (let i = 0; i < 3; i++) tx.xadd(stream, '*', 'data', entry(supplier, i));
  tx.xreadgroup('GROUP', keys.minerConsumerGroup(), 'previous-owner', 'COUNT', 10, 'STREAMS', stream, '>');
  const late = (await tx.exec())?.[3]?.[1] as [string, unknown[]][] | null;
  t.equal(late?.[0]?.[1].length, 3, 'the previous owner holds three entries pending');
  await until('the three stored here', async () => (await store.session(supplier, 's1'))?.count === 3, 5_000);
  t.same(await main.xpending(stream, keys.minerConsumerGroup()), [0, null, null, null], 'nothing left pending');
});

t.test('a claim that fails is said once for every supplier, tried again every second and said to work again: a dead owner\'s pending entries are stored within seconds of Redis answering, not reclaim_idle_ms later', async (t) => {
  const { main, conn } = await connections(t);
  const logs = captureLogs();
  const all = suppliers(5);
  // Three entries per supplier that a consumer read and died before storing.
  for (const s of all) {
    await main.set(keys.supplierLeaseFence(s), '1');
    await main.xgroup('CREATE', keys.relayStream(s), keys.minerConsumerGroup(), '0', 'MKSTREAM');
    for (let i = 0; i < 3; i++) await main.xadd(keys.relayStream(s), '*', 'data', entry(s, i));
    await main.xreadgroup('GROUP', keys.minerConsumerGroup(), 'dead-owner', 'COUNT', 10, 'STREAMS', keys.relayStream(s), '>');
  }
  // The command connection refuses XAUTOCLAIM, as a Redis still loading its data does, until told otherwise.
  const cmd = conn();
  const callBuffer = cmd.callBuffer.bind(cmd) as (...args: unknown[]) => Promise<unknown>;
  let refusing = true;
  let refused = 0;
  cmd.callBuffer = ((...args: unknown[]) => {
    if (!refusing || String(args[0]).toUpperCase() !== 'XAUTOCLAIM') return callBuffer(...args);
    refused++;
    return Promise.reject(new Error('LOADING Redis is loading the dataset in memory'));
  }) as typeof cmd.callBuffer;
  const { r, store } = reader(() => cmd, conn, 16, 100, logs.logger); // block_ms 200, reclaim_idle_ms 60 s
  t.teardown(() => r.stop());
  for (const s of all) await r.add(s, '1');
  // Each supplier's claim on joining and two block_ms later, then the retries.
  await until('both claims of every supplier refused, then a retry', async () => refused > 2 * all.length, 5_000);
  refusing = false;
  await until('every dead owner\'s entry stored', async () => (await Promise.all(all.map((s) => store.session(s, 's1')))).every((x) => x?.count === 3), 5_000);
  const said = logs.lines.filter((l) => String(l.msg).startsWith('claiming pending')).map((l) => [l.level, l.msg]);
  t.same(said, [
    [40, 'claiming pending relay stream entries failed; retried every second'],
    [30, 'claiming pending relay stream entries works again'],
  ]);
  for (const s of all) t.same(await main.xpending(keys.relayStream(s), keys.minerConsumerGroup()), [0, null, null, null], `${s}: nothing left pending`);
});

t.test('claims and stores failing for one supplier while another\'s succeed: one warning per step until none fails, not one each time a step succeeds', async (t) => {
  const { main, conn } = await connections(t);
  const logs = captureLogs();
  const [failing, healthy] = suppliers(2) as [string, string];
  for (const s of [failing, healthy]) await main.set(keys.supplierLeaseFence(s), '1');
  // As on a Redis Cluster with one master down: what concerns the supplier whose slot it served fails, the other's does not.
  const cmd = conn();
  const callBuffer = cmd.callBuffer.bind(cmd) as (...args: unknown[]) => Promise<unknown>;
  let refusing = true;
  const claims = { [failing]: 0, [healthy]: 0 } as Record<string, number>;
  cmd.callBuffer = ((...args: unknown[]) => {
    if (String(args[0]).toUpperCase() !== 'XAUTOCLAIM') return callBuffer(...args);
    const supplier = String(args[1]) === keys.relayStream(failing) ? failing : healthy;
    claims[supplier]!++;
    if (refusing && supplier === failing) return Promise.reject(new Error('CLUSTERDOWN The cluster is down'));
    return callBuffer(...args);
  }) as typeof cmd.callBuffer;
  const { r, store } = reader(() => cmd, conn, 16, 100, logs.logger, 1_000); // reclaim_idle_ms 1 s: the healthy supplier claims every second
  const ingest = store.ingest.bind(store);
  let refusedStores = 0;
  store.ingest = ((supplier: string, ...rest: unknown[]) => {
    if (refusing && supplier === failing) return refusedStores++, Promise.reject(new Error('CLUSTERDOWN The cluster is down'));
    return (ingest as (...a: unknown[]) => Promise<unknown>)(supplier, ...rest);
  }) as typeof store.ingest;
  t.teardown(() => r.stop());
  await r.add(failing, '1');
  await r.add(healthy, '1');
  for (let i = 0; i < 8; i++) {
    for (const s of [failing, healthy]) await main.xadd(keys.relayStream(s), '*', 'data', entry(s, i));
    await new Promise((res) => setTimeout(res, 250));
  }
  await until('claims and stores of each, the healthy one\'s succeeding in between', async () => claims[failing]! >= 4 && claims[healthy]! >= 4 && refusedStores >= 4, 10_000);
  refusing = false;
  // What was refused is claimed again once idle; what comes next is stored as it is read.
  for (const s of [failing, healthy]) await main.xadd(keys.relayStream(s), '*', 'data', entry(s, 8));
  await until('every entry stored', async () => (await store.session(failing, 's1'))?.count === 9 && (await store.session(healthy, 's1'))?.count === 9, 10_000);
  const said = (what: string) => logs.lines.filter((l) => String(l.msg).startsWith(what)).map((l) => [l.level, l.msg, l.failing]);
  await until('the end of both conditions', async () => said('claiming pending').at(-1)?.[0] === 30 && said('storing relays').at(-1)?.[0] === 30, 5_000);
  t.same(said('claiming pending'), [
    [40, 'claiming pending relay stream entries failed; retried every second', 1],
    [30, 'claiming pending relay stream entries works again', undefined],
  ]);
  t.same(said('storing relays'), [
    [40, 'storing relays failed; they stay pending and are claimed again', 1],
    [30, 'storing relays works again', undefined],
  ]);
});

t.test('a lane whose reads fail says so once, and says it is over when its last supplier leaves (no warning left open)', async (t) => {
  const { main, conn } = await connections(t);
  const logs = captureLogs();
  const lane = conn();
  let reads = 0;
  lane.xreadgroupBuffer = (async () => {
    reads++;
    throw new Error('LOADING Redis is loading the dataset in memory');
  }) as typeof lane.xreadgroupBuffer;
  const { r } = reader(() => main, () => lane, 16, 100, logs.logger);
  t.teardown(() => r.stop());
  await main.set(keys.supplierLeaseFence('pokt1reader000'), '1');
  await r.add('pokt1reader000', '1');
  await until('three failed reads', async () => reads >= 3);
  r.remove('pokt1reader000');
  const said = () => logs.lines.filter((l) => String(l.msg).startsWith('reading relay streams')).map((l) => [l.level, l.msg, l.lane]);
  await until('the end of the condition said', async () => said().length === 2);
  t.same(said(), [
    [40, 'reading relay streams failed; retrying', 0],
    [30, 'reading relay streams: the lane has no streams left', 0],
  ]);
});

t.test('Redis Cluster: every supplier in its own slot, read without blocking, all stored', async (t) => {
  const cluster = await startRedisCluster(t);
  const nodes = cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  const conns: Cluster[] = [];
  const conn = () => {
    const c = new Cluster(nodes);
    conns.push(c);
    return c;
  };
  const main = conn();
  t.teardown(() => conns.forEach((c) => c.disconnect()));
  const all = suppliers(12);
  for (const s of all) {
    await main.set(keys.supplierLeaseFence(s), '1');
    for (let i = 0; i < 30; i++) await main.xadd(keys.relayStream(s), '*', 'data', entry(s, i));
  }
  const { r, store } = reader(() => main, conn, 256, 10);
  t.teardown(() => r.stop());
  for (const s of all) await r.add(s, '1');
  await until('all stored', async () => (await Promise.all(all.map(async (s) => (await store.session(s, 's1'))?.count ?? 0))).every((c) => c === 30));
  // Entries added later are picked up by the polling lane.
  await main.xadd(keys.relayStream(all[3]!), '*', 'data', entry(all[3]!, 99));
  await until('the late entry stored', async () => (await store.session(all[3]!, 's1'))?.count === 31);
  t.same(await Promise.all(all.map((s) => main.xlen(keys.relayStream(s)))), all.map(() => 0), 'every stream emptied by consumption');
});
