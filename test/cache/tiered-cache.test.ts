import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { CacheMetrics } from '../../core/cache/cache-metrics.js';
import { TieredCache, type TieredCacheOptions } from '../../core/cache/tiered-cache.js';
import { KeyBuilder } from '../../core/redis/key-builder.js';
import { StateSignals } from '../../core/observability/state-signals.js';
import { captureLogs } from '../helpers/logs.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

const keys = new KeyBuilder('cachetest');

/** A "chain" that counts how often each id was asked for; with `versions`, each answer is a new stake (1, 2, …). */
function fakeChain(o: { versions?: boolean } = {}) {
  const calls: string[] = [];
  let version = 0;
  let gate: Promise<void> = Promise.resolve();
  return {
    calls,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => release();
    },
    load: async (id: string) => {
      calls.push(id);
      const stake = o.versions ? BigInt(++version) : BigInt(id.length) * 1000n;
      await gate;
      if (id === 'missing') throw new Error('not found on chain');
      return { id, stake };
    },
  };
}

type App = { id: string; stake: bigint };

function cache(t: Test, chain: ReturnType<typeof fakeChain>, redis: Redis | undefined, extra: Partial<TieredCacheOptions<App>> = {}) {
  const registry = new Registry();
  const metrics = new CacheMetrics(registry);
  const c = new TieredCache<App>({
    entity: 'application',
    keys,
    log: captureLogs().logger,
    metrics,
    redis: redis ? () => redis : undefined,
    l1: { maxEntries: 3, ttlMs: null },
    l2TtlSeconds: 60,
    load: chain.load,
    encode: (v) => JSON.stringify({ id: v.id, stake: v.stake.toString() }),
    decode: (s) => {
      const o = JSON.parse(s) as { id: string; stake: string };
      return { id: o.id, stake: BigInt(o.stake) };
    },
    ...extra,
  });
  const count = async (name: string, labels: Record<string, string>) =>
    (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
  return { c, count };
}

function conn(t: Test, url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
  // The outage test stops the server under this client on purpose.
  r.on('error', () => undefined);
  t.teardown(() => r.disconnect());
  return r;
}

t.test('chain once, then L1; a second replica reads L2 without asking the chain', async (t) => {
  const server = await startRedis(t);
  const chain = fakeChain();
  const a = cache(t, chain, conn(t, server.url));
  t.same(await a.c.get('pokt1app'), { id: 'pokt1app', stake: 8000n });
  t.same(await a.c.get('pokt1app'), { id: 'pokt1app', stake: 8000n });
  t.same(chain.calls, ['pokt1app'], 'one chain query');
  t.equal(await a.count('relayminer_cache_hits_total', { level: 'l1' }), 1);
  t.equal(await a.count('relayminer_cache_misses_total', { level: 'chain' }), 1);
  // The L2 write is fire-and-forget; wait for it to land.
  const raw = conn(t, server.url);
  for (let i = 0; i < 50 && (await raw.get(keys.cache('application', 'pokt1app'))) === null; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(await raw.get(keys.cache('application', 'pokt1app')), '{"id":"pokt1app","stake":"8000"}');
  t.equal(await raw.ttl(keys.cache('application', 'pokt1app')) > 0, true, 'L2 entry expires');

  const b = cache(t, chain, conn(t, server.url));
  t.same(await b.c.get('pokt1app'), { id: 'pokt1app', stake: 8000n });
  t.same(chain.calls, ['pokt1app'], 'replica b served from Redis');
  t.equal(await b.count('relayminer_cache_hits_total', { level: 'l2' }), 1);
});

t.test('concurrent misses share one chain query; a failed load is not cached', async (t) => {
  const chain = fakeChain();
  const { c, count } = cache(t, chain, undefined);
  const release = chain.hold();
  const all = Promise.all(Array.from({ length: 20 }, () => c.get('pokt1x')));
  await new Promise((r) => setImmediate(r));
  release();
  const results = await all;
  t.equal(results.length, 20);
  t.ok(results.every((r) => r === results[0]), 'every caller got the same object');
  t.same(chain.calls, ['pokt1x']);

  await t.rejects(c.get('missing'), /not found on chain/);
  await t.rejects(c.get('missing'), /not found on chain/);
  t.same(chain.calls, ['pokt1x', 'missing', 'missing'], 'errors are retried, not cached');
  t.equal(await count('relayminer_cache_load_errors_total', {}), 2);
});

// Long enough that a stalled test machine does not reach the last quarter of an entry's life (where a read
// starts a background refresh, a chain call the tests would see) between filling the cache and reading it.
const L1_TTL_MS = 1000;

t.test('L1 is bounded, least recently used out first, with TTL', async (t) => {
  const chain = fakeChain();
  const { c } = cache(t, chain, undefined, { l1: { maxEntries: 3, ttlMs: L1_TTL_MS } });
  for (const id of ['a', 'b', 'c']) await c.get(id);
  await c.get('a'); // a becomes youngest; b is now the oldest
  await c.get('d'); // evicts b
  t.equal(c.size, 3);
  chain.calls.length = 0;
  await c.get('a');
  await c.get('c');
  await c.get('d');
  t.same(chain.calls, [], 'a, c, d still cached');
  await c.get('b');
  t.same(chain.calls, ['b'], 'b was evicted');
  await new Promise((r) => setTimeout(r, L1_TTL_MS + 100));
  await c.get('a');
  t.same(chain.calls, ['b', 'a'], 'expired after ttl');
});

t.test('peek: the in-process value without a promise, counted as a hit; nothing for a miss, an expired entry or one still loading', async (t) => {
  const chain = fakeChain();
  const { c, count } = cache(t, chain, undefined, { l1: { maxEntries: 3, ttlMs: L1_TTL_MS } });
  t.equal(c.peek('a'), undefined, 'never fetched');
  const release = chain.hold();
  const loading = c.get('a');
  t.equal(c.peek('a'), undefined, 'being fetched');
  release();
  const a = await loading;
  t.equal(c.peek('a')?.value, a, 'fetched: the same value get gave');
  t.equal(await count('relayminer_cache_hits_total', { entity: 'application', level: 'l1' }), 1, 'the peek counted as an in-process hit');
  t.same(chain.calls, ['a'], 'peeking asked the chain nothing');
  await new Promise((r) => setTimeout(r, L1_TTL_MS + 100));
  t.equal(c.peek('a'), undefined, 'expired');
});

t.test('at its bound, L1 keeps what was read and evicts what was not, whatever the insertion order; an expired entry goes first', async (t) => {
  const chain = fakeChain();
  const { c } = cache(t, chain, undefined, { l1: { maxEntries: 100, ttlMs: null } });
  const ids = Array.from({ length: 100 }, (_, i) => `app${String(i).padStart(3, '0')}`);
  for (const id of ids) await c.get(id);
  const read = ids.filter((_, i) => i % 2 === 0);
  for (const id of read) await c.get(id);
  const newcomers = Array.from({ length: 50 }, (_, i) => `new${i}`);
  for (const id of newcomers) await c.get(id);
  t.equal(c.size, 100);
  chain.calls.length = 0;
  for (const id of [...read, ...newcomers]) await c.get(id);
  t.same(chain.calls, [], 'the 50 read entries and the 50 newcomers are all cached');
  await c.get(ids[1]!);
  t.same(chain.calls, [ids[1]], 'an entry never read was the one evicted for it');

  const expiring = fakeChain();
  const e = cache(t, expiring, undefined, { l1: { maxEntries: 2, ttlMs: L1_TTL_MS } }).c;
  await e.get('read-then-expired');
  await e.get('read-then-expired');
  await new Promise((r) => setTimeout(r, L1_TTL_MS + 100));
  await e.get('fresh');
  await e.get('third'); // full: the expired entry goes, read or not
  expiring.calls.length = 0;
  await e.get('fresh');
  t.same(expiring.calls, [], 'the fresh, unread entry stayed');
});

t.test('invalidation reaches every replica and clears Redis', async (t) => {
  const server = await startRedis(t);
  const chain = fakeChain();
  const a = cache(t, chain, conn(t, server.url));
  const b = cache(t, chain, conn(t, server.url));
  const subB = conn(t, server.url);
  await b.c.listen(subB);
  await a.c.get('pokt1app');
  await b.c.get('pokt1app');
  t.equal(b.c.size, 1);
  chain.calls.length = 0;

  await a.c.invalidate('pokt1app');
  for (let i = 0; i < 100 && b.c.size !== 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(b.c.size, 0, 'replica b dropped its copy');
  t.equal(await conn(t, server.url).exists(keys.cache('application', 'pokt1app')), 0, 'Redis entry deleted');
  await b.c.get('pokt1app');
  t.same(chain.calls, ['pokt1app'], 'b went back to the chain');

  await b.c.get('other');
  await a.c.invalidate();
  for (let i = 0; i < 100 && b.c.size !== 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(b.c.size, 0, 'empty payload drops everything');
});

t.test('a replica that begins listening while Redis is down gets invalidations once Redis is back; said once each way', async (t) => {
  const server = await startRedis(t);
  await server.stopProcess(); // a relayer started before its Redis
  const chain = fakeChain();
  const { logger, lines } = captureLogs();
  const b = cache(t, chain, conn(t, server.url), { log: logger });
  // As the relayer's subscriber connection is made: a bounded number of retries per command, reconnecting.
  const subB = new Redis(server.url, { maxRetriesPerRequest: 2, retryStrategy: () => 100 });
  subB.on('error', () => undefined);
  t.teardown(() => subB.disconnect());
  let attempts = 0;
  const subscribe = subB.subscribe.bind(subB);
  subB.subscribe = ((...args: Parameters<typeof subscribe>) => (attempts++, subscribe(...args))) as typeof subB.subscribe;
  await b.c.listen(subB);
  const failed = () => lines.filter((l) => String(l.msg).startsWith('cache: could not subscribe'));
  t.same(
    failed().map((l) => [l.level, l.entity, l.msg]),
    [[40, 'application', "cache: could not subscribe to other replicas' invalidations in Redis; entries last their lifetime meanwhile, retrying"]],
  );

  await until('a retry has failed too', () => attempts >= 3);
  await server.startProcess();
  await until('subscribed', () => lines.some((l) => l.msg === "cache: subscribed to other replicas' invalidations in Redis" && l.entity === 'application'));
  t.equal(failed().length, 1, 'the retries before it said nothing more');
  const a = cache(t, chain, conn(t, server.url));
  await b.c.get('pokt1app');
  t.equal(b.c.size, 1);
  await a.c.invalidate('pokt1app');
  await until("b dropped its copy on a's invalidation", () => b.c.size === 0);
  t.equal(b.c.size, 0);
});

t.test('Redis down: served from the chain, with one warning per kind of failure for all caches, no throw; its return said once', async (t) => {
  const server = await startRedis(t);
  const redis = conn(t, server.url);
  await redis.ping();
  await server.stopProcess();
  const chain = fakeChain();
  const logs = captureLogs();
  // Two caches of one process (as RelayChainState's), sharing where Redis failures are tracked.
  // On a clock the test moves past the quiet spell after which failing reads and writes are over.
  let skew = 0;
  const redisSignals = new StateSignals(60_000, () => Date.now() + skew);
  const { c } = cache(t, chain, redis, { log: logs.logger, redisSignals });
  const { c: other } = cache(t, chain, redis, { log: logs.logger, redisSignals, entity: 'account' });
  t.same(await c.get('pokt1app'), { id: 'pokt1app', stake: 8000n });
  t.same((await Promise.all(['pokt1b', 'pokt1c'].map((id) => c.get(id)))).map((a) => a.id), ['pokt1b', 'pokt1c']);
  t.equal((await other.get('pokt1acct')).id, 'pokt1acct');
  t.same(chain.calls, ['pokt1app', 'pokt1b', 'pokt1c', 'pokt1acct']);
  const said = () => logs.lines.filter((l) => /^cache: Redis/.test(String(l.msg))).map((l) => [l.level, l.msg]);
  await until('the writes failed too', async () => said().length === 2);
  t.same(said(), [
    [40, 'cache: Redis read failed; asking the chain (logged at most once a minute)'],
    [40, 'cache: Redis write failed (logged at most once a minute)'],
  ], 'four reads and four writes failed, in two caches: warned once each');
  await server.startProcess();
  await until('Redis back', async () => (await redis.ping().catch(() => '')) === 'PONG');
  await c.get('pokt1d');
  await until('its write', async () => (await redis.exists(keys.cache('application', 'pokt1d'))) === 1);
  t.equal(said().length, 2, 'not over at the first success: Redis failed moments ago');
  skew += 10_000;
  await c.get('pokt1e');
  await until('the write went through', async () => said().length === 4);
  t.same(said().slice(2).sort(), [
    [30, 'cache: Redis reads work again'],
    [30, 'cache: Redis writes work again'],
  ]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two replicas' caches over one Redis, entries living `ttlMs` in process and in Redis, on a versioned chain. */
async function twoReplicas(t: Test, ttlMs: number) {
  const server = await startRedis(t);
  const chain = fakeChain({ versions: true });
  const live = { l1: { maxEntries: 3, ttlMs }, l2TtlSeconds: ttlMs / 1000 };
  const raw = conn(t, server.url);
  return { chain, a: cache(t, chain, conn(t, server.url), live), b: cache(t, chain, conn(t, server.url), live), inRedis: async () => (await raw.get(keys.cache('application', 'x'))) ?? '' };
}

t.test('a read in the last quarter of an entry\'s life refreshes it in the background; another replica takes that refresh from Redis, not the chain', async (t) => {
  // A 16 s life, read at 12.8 s: 3.2 s to spare for a machine that stalls.
  const { chain, a, b, inRedis } = await twoReplicas(t, 16_000);
  const began = Date.now();
  t.same(await a.c.get('x'), { id: 'x', stake: 1n });
  await until('the first value in Redis', async () => (await inRedis()).includes('"1"'));
  t.same(await b.c.get('x'), { id: 'x', stake: 1n }, 'replica b from Redis');
  t.same(chain.calls, ['x']);

  await sleep(12_800 - (Date.now() - began)); // past three quarters of the TTL, well before its end
  const release = chain.hold();
  const served = await Promise.race([a.c.get('x'), sleep(500).then(() => 'waited for the chain')]);
  t.same(served, { id: 'x', stake: 1n }, 'the read is served at once from the entry it refreshes');
  if (typeof served === 'string') return release(); // the entry had expired: the reads below would wait on the held chain
  // Its own Redis copy is no newer than the entry, so the refresh goes on to the chain.
  await until('the refresh asks the chain', () => chain.calls.length === 2);
  t.same(await a.c.get('x'), { id: 'x', stake: 1n }, 'no second refresh while one is running');
  t.same(chain.calls, ['x', 'x']);
  release();
  await until('the refreshed value in process', () => a.c.peek('x')?.value.stake === 2n);
  await until('the refreshed value in Redis', async () => (await inRedis()).includes('"2"'));

  t.same(await b.c.get('x'), { id: 'x', stake: 1n }, 'replica b still serves its entry, and refreshes it');
  await until('replica b has the refreshed value', () => b.c.peek('x')?.value.stake === 2n);
  t.same(chain.calls, ['x', 'x'], 'replica b took the refresh from Redis');

  await sleep(17_200 - (Date.now() - began)); // past the first value's TTL
  t.same(await a.c.get('x'), { id: 'x', stake: 2n }, 'the refreshed entry lives on');
  t.same(chain.calls, ['x', 'x']);
});

t.test('a Redis copy serves only for what is left of its life, so a value does not outlive the TTL by passing between replicas', async (t) => {
  const { chain, a, b, inRedis } = await twoReplicas(t, 2000);
  const began = Date.now();
  t.same(await a.c.get('x'), { id: 'x', stake: 1n });
  await until('the value in Redis', async () => (await inRedis()) !== '');
  await sleep(1200 - (Date.now() - began));
  t.same(await b.c.get('x'), { id: 'x', stake: 1n }, 'replica b from Redis, 1.2 s into its life');
  await sleep(2200 - (Date.now() - began)); // expired everywhere, Redis included
  t.equal(b.c.peek('x'), undefined, 'replica b\'s copy expired with the Redis one, not 2 s after b read it');
  t.same(await b.c.get('x'), { id: 'x', stake: 2n });
  t.same(chain.calls, ['x', 'x']);
});

t.test('a value loaded across an invalidation is handed to its callers but neither kept nor written to Redis', async (t) => {
  const server = await startRedis(t);
  const chain = fakeChain({ versions: true });
  const a = cache(t, chain, conn(t, server.url));
  const raw = conn(t, server.url);
  const release = chain.hold();
  const loading = a.c.get('x');
  await until('the chain asked', () => chain.calls.length === 1);
  await a.c.invalidate('x');
  const after = a.c.get('x'); // not joined to the fill that began before the invalidation
  await until('the chain asked again', () => chain.calls.length === 2);
  release();
  t.same(await loading, { id: 'x', stake: 1n }, 'its caller still gets its answer');
  t.same(await after, { id: 'x', stake: 2n }, 'a read after the invalidation gets a value loaded after it');
  t.same(await a.c.get('x'), { id: 'x', stake: 2n }, 'and that is the value kept');
  await until('a value in Redis', async () => (await raw.get(keys.cache('application', 'x'))) !== null);
  t.equal(await raw.get(keys.cache('application', 'x')), '{"id":"x","stake":"2"}');
  t.same(chain.calls, ['x', 'x']);
});
