import t, { type Test } from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { KeyBuilder, MinedRelayCodec, parseConfig, Runtime, StateSignals } from 'relayminer';
import { BUILTIN_PLUGINS } from '../../index.js';
import { ADDR, KEYS } from '../../../test/helpers/localnet-client.js';
import { captureLogs } from '../../../test/helpers/logs.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';
import { LeaseManager } from '../leases.js';
import { SessionStore } from '../session-store.js';
import { until } from '../../../test/helpers/until.js';
import { minerYaml } from '../../../test/helpers/miner.js';

const keys = new KeyBuilder('ha');

/** A stream entry as the relayer writes it; `n` makes the relay (and its hash) distinct. */
function entry(n: number, o: { supplier?: string; session?: string; cu?: bigint } = {}): Buffer {
  const relay = Buffer.from(`relay ${n} of ${o.session ?? 's1'}`);
  return Buffer.from(
    MinedRelayCodec.encode({
      relay_hash: sha256(relay),
      relay,
      compute_units: o.cu ?? 3n,
      session_id: o.session ?? 's1',
      session_start_block_height: 11n,
      session_end_block_height: 20n,
      supplier_operator_address: o.supplier ?? ADDR.supplier1,
      service_id: 'anvil',
      application_address: ADDR.app1,
      arrival_block_height: 12n,
      published_at_ms: 1n,
    }),
  );
}

async function startMiner(t: Test, redisUrl: string, instance: string) {
  const yaml = minerYaml({ redisUrl, instance, keys: [KEYS.supplier1, KEYS.supplier2], consume: '{ block_ms: 100, batch: 50 }' });
  const logs = captureLogs();
  const runtime = await Runtime.start({ config: parseConfig(yaml), roles: ['miner'], builtins: BUILTIN_PLUGINS, version: 'test', logger: logs.logger });
  let stopped = false;
  const stop = async () => {
    if (!stopped) (stopped = true), await runtime.shutdown();
  };
  t.teardown(stop);
  return { runtime, logs, stop, metrics: async () => (await fetch(`http://${runtime.addresses.metrics}/metrics`)).text() };
}


t.test('relays move from the stream into their sessions; duplicates count once; the stream is emptied by consumption', async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.url);
  t.teardown(() => redis.disconnect());
  const stream = keys.relayStream(ADDR.supplier1);
  for (let i = 0; i < 120; i++) await redis.xadd(stream, '*', 'data', entry(i));
  for (let i = 0; i < 10; i++) await redis.xadd(stream, '*', 'data', entry(i)); // the same relays again
  for (let i = 0; i < 5; i++) await redis.xadd(stream, '*', 'data', entry(i, { session: 's2', cu: 7n }));
  await redis.xadd(stream, '*', 'data', Buffer.from('not a mined relay'));
  const m = await startMiner(t, server.url, 'a');
  const store = new SessionStore(keys, () => redis);
  await until('all consumed', async () => (await redis.xlen(stream)) === 0);
  t.match(await store.session(ADDR.supplier1, 's1'), { state: 'active', count: 120, computeUnits: 360n, serviceId: 'anvil', applicationAddress: ADDR.app1, startHeight: 11n, endHeight: 20n });
  t.match(await store.session(ADDR.supplier1, 's2'), { count: 5, computeUnits: 35n });
  t.equal((await store.leaves(ADDR.supplier1, 's1')).size, 120);
  const leaf = (await store.leaves(ADDR.supplier1, 's1')).get(Buffer.from(sha256(sha256(Buffer.from('relay 7 of s1')))).toString('hex'));
  t.equal(leaf?.toString(), 'relay 7 of s1', 'leaf: path (sha256 of the relay hash) → mined relay bytes');
  t.same(await store.sessionIds(ADDR.supplier1), ['s1', 's2']);
  t.same(
    (await store.sessions(ADDR.supplier1, ['s2', 'missing', 's1'])).map((r) => r && [r.sessionId, r.state, r.count, r.computeUnits]),
    [['s2', 'active', 5, 35n], undefined, ['s1', 'active', 120, 360n]],
    'several records in one read, in the order asked, none where there is no record',
  );
  const pending = (await redis.xpending(stream, keys.minerConsumerGroup())) as [number, ...unknown[]];
  t.equal(pending[0], 0, 'nothing left pending');
  const metrics = await m.metrics();
  t.match(metrics, new RegExp(`relayminer_miner_relays_consumed_total\\{supplier="${ADDR.supplier1}",result="stored"\\} 125`));
  t.match(metrics, new RegExp(`relayminer_miner_relays_consumed_total\\{supplier="${ADDR.supplier1}",result="duplicate"\\} 10`));
  t.match(metrics, new RegExp(`relayminer_miner_relays_consumed_total\\{supplier="${ADDR.supplier1}",result="malformed"\\} 1`));
  t.match(metrics, new RegExp(`relayminer_miner_supplier_lease\\{supplier="${ADDR.supplier1}"\\} 1`));
  t.match(metrics, /relayminer_miner_leader 1/);

  // A relay for a session that has moved on is acknowledged, not added.
  await redis.hset(keys.minerSession(ADDR.supplier1, 's2'), 'state', 'claiming');
  await redis.xadd(stream, '*', 'data', entry(99, { session: 's2' }));
  await until('late relay consumed', async () => (await redis.xlen(stream)) === 0);
  t.match(await store.session(ADDR.supplier1, 's2'), { state: 'claiming', count: 5 });
  t.match(await m.metrics(), new RegExp(`result="late"\\} 1`));
});

t.test("a consumer that read and died before storing: its pending entries are claimed and stored", async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.url);
  t.teardown(() => redis.disconnect());
  const stream = keys.relayStream(ADDR.supplier1);
  await redis.xgroup('CREATE', stream, keys.minerConsumerGroup(), '0', 'MKSTREAM');
  for (let i = 0; i < 30; i++) await redis.xadd(stream, '*', 'data', entry(i));
  const read = (await redis.xreadgroup('GROUP', keys.minerConsumerGroup(), 'dead-miner', 'COUNT', 30, 'STREAMS', stream, '>')) as [string, unknown[]][];
  t.equal(read[0]![1].length, 30, 'a consumer read 30 entries and never acknowledged them');
  const m = await startMiner(t, server.url, 'b');
  const store = new SessionStore(keys, () => redis);
  await until('reclaimed and stored', async () => (await store.session(ADDR.supplier1, 's1'))?.count === 30);
  t.equal(await redis.xlen(stream), 0);
  t.equal(((await redis.xpending(stream, keys.minerConsumerGroup())) as [number])[0], 0);
  t.match(await m.metrics(), new RegExp(`relayminer_miner_entries_reclaimed_total\\{supplier="${ADDR.supplier1}"\\} 30`));
});

t.test('two miners: suppliers are shared fairly, and the survivor takes over a stopped one within the lease TTL', async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.url);
  t.teardown(() => redis.disconnect());
  const a = await startMiner(t, server.url, 'a');
  const owner = async (s: string) => (await redis.get(keys.supplierLease(s)))?.split(' ')[0];
  await until('a owns both', async () => (await owner(ADDR.supplier1)) === 'a' && (await owner(ADDR.supplier2)) === 'a');
  const b = await startMiner(t, server.url, 'b');
  await until('one each', async () => new Set([await owner(ADDR.supplier1), await owner(ADDR.supplier2)]).size === 2, 10_000);
  t.pass('rebalanced to one supplier each');
  for (let i = 0; i < 20; i++) await redis.xadd(keys.relayStream(ADDR.supplier1), '*', 'data', entry(i));
  for (let i = 0; i < 20; i++) await redis.xadd(keys.relayStream(ADDR.supplier2), '*', 'data', entry(i, { supplier: ADDR.supplier2 }));
  const store = new SessionStore(keys, () => redis);
  await until('both consumed', async () => (await store.session(ADDR.supplier1, 's1'))?.count === 20 && (await store.session(ADDR.supplier2, 's1'))?.count === 20);
  await a.stop();
  const started = Date.now();
  await until('b owns both', async () => (await owner(ADDR.supplier1)) === 'b' && (await owner(ADDR.supplier2)) === 'b', 5_000);
  t.ok(Date.now() - started < 1500 + 1000, 'within the lease TTL plus a renewal tick');
  for (let i = 20; i < 30; i++) await redis.xadd(keys.relayStream(ADDR.supplier1), '*', 'data', entry(i));
  await until('b consumes the taken-over stream', async () => (await store.session(ADDR.supplier1, 's1'))?.count === 30);
  t.match(await b.metrics(), /relayminer_miner_leader 1/, 'and the leader lock');
});

t.test('fencing: a paused former owner cannot write after a takeover', async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.url);
  t.teardown(() => redis.disconnect());
  const log = pino({ level: 'silent' });
  const lease = (id: string) => new LeaseManager({ keys, redis: () => redis, instanceId: id, suppliers: [ADDR.supplier1], ttlMs: 300, log, signals: new StateSignals(60_000) });
  const old = lease('old');
  await old.tick();
  const oldToken = old.owned.get(ADDR.supplier1)!;
  t.equal(oldToken, '1');
  // "old" is paused (no renewals); its lease expires and "new" takes it.
  await new Promise((r) => setTimeout(r, 400));
  const next = lease('new');
  await next.tick();
  t.equal(next.owned.get(ADDR.supplier1), '2', 'a new fencing token');
  const store = new SessionStore(keys, () => redis);
  const stream = keys.relayStream(ADDR.supplier1);
  await redis.xgroup('CREATE', stream, keys.minerConsumerGroup(), '0', 'MKSTREAM');
  const id = await redis.xadd(stream, '*', 'data', entry(1));
  const relay = MinedRelayCodec.decode(entry(1));
  t.same(await store.ingest(ADDR.supplier1, oldToken, [{ entryId: id!, relay }]), ['fenced'], 'the old owner (resumed) is refused');
  t.equal(await store.session(ADDR.supplier1, 's1'), undefined, 'and wrote nothing');
  t.equal(await store.transition(ADDR.supplier1, 's1', oldToken, 'active', 'claiming'), 'fenced');
  t.same(await store.ingest(ADDR.supplier1, '2', [{ entryId: id!, relay }]), ['stored']);
  // The old owner's next renewal finds the lease gone.
  const lost: string[] = [];
  old.on('lost', (s) => lost.push(s));
  await old.tick();
  t.same(lost, [ADDR.supplier1]);
  t.equal(old.owned.size, 0);
});

t.test('end to end: relays served by a relayer are in the miner session store, byte for byte', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }` });
  const header = await r.header();
  for (let i = 0; i < 12; i++) {
    const res = await postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', body: `{"jsonrpc":"2.0","id":${i},"method":"eth_blockNumber"}` }));
    t.equal(res.status, 200);
  }
  const published = await r.stream();
  t.equal(published.length, 12);
  await startMiner(t, r.redisUrl, 'a');
  const store = new SessionStore(keys, () => r.redis);
  await until('stored', async () => (await store.session(ADDR.supplier1, header.session_id))?.count === 12);
  const leaves = await store.leaves(ADDR.supplier1, header.session_id);
  t.same(
    [...leaves.entries()].map(([h, b]) => [h, b.toString('hex')]).sort(),
    published.map((p) => [Buffer.from(sha256(p.relay_hash)).toString('hex'), Buffer.from(p.relay).toString('hex')]).sort(),
    'every leaf is a published relay: at the path of its hash, same bytes',
  );
  t.match(await store.session(ADDR.supplier1, header.session_id), { computeUnits: 12n, startHeight: header.session_start_block_height, endHeight: header.session_end_block_height });
});
