import t, { type Test } from 'tap';
import { defaults, type ResolvedRedis } from '../../core/config/load.js';
import { RedisSchema, type RedisConfig } from '../../core/config/schema.js';
import { createRedisClient, type RedisClient } from '../../core/redis/connection.js';
import { StreamAppender } from '../../core/relay/stream-appender.js';
import { startRedis, startRedisCluster } from '../helpers/redis.js';

function client(t: Test, url: string): RedisClient {
  const { address: _address, ...rest } = defaults<RedisConfig>(RedisSchema);
  const c = createRedisClient({ ...rest, url } as ResolvedRedis, { connectionName: 'test-appender' });
  t.teardown(() => c.disconnect());
  return c;
}

/** Counts what the appender sends: explicit pipelines and single XADDs. */
function counted(c: RedisClient): { redis: () => RedisClient; pipelines: number; singles: number } {
  const stats = { pipelines: 0, singles: 0, redis: () => c };
  const pipeline = c.pipeline.bind(c);
  const xadd = c.xadd.bind(c) as (...a: unknown[]) => unknown;
  Object.assign(c, {
    pipeline: (...a: Parameters<typeof pipeline>) => (stats.pipelines++, pipeline(...a)),
    xadd: (...a: unknown[]) => (stats.singles++, xadd(...a)),
  });
  return stats;
}

t.test('appends made together leave in one pipeline, each caller gets its own id, in order', async (t) => {
  const server = await startRedis(t);
  const c = client(t, server.url);
  const stats = counted(c);
  const appender = new StreamAppender(stats.redis);
  const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => appender.append(i % 2 ? 'rm:s:{a}' : 'rm:s:{b}', Buffer.from(`relay ${i}`))));
  t.same([stats.pipelines, stats.singles], [1, 0], 'one pipeline for the fifty');
  for (const [key, parity] of [['rm:s:{a}', 1], ['rm:s:{b}', 0]] as const) {
    const entries = (await c.xrange(key, '-', '+')) as [string, string[]][];
    const mine = Array.from({ length: 25 }, (_, i) => 2 * i + parity);
    t.same(entries.map(([, f]) => f[1]), mine.map((i) => `relay ${i}`), `${key} holds its own relays, in the order they were appended`);
    t.same(entries.map(([id]) => id), mine.map((i) => ids[i]), 'and each caller got the id of its own entry');
  }

  const one = await appender.append('rm:s:{a}', Buffer.from('later'));
  t.match(one, /^\d+-\d+$/);
  t.same([stats.pipelines, stats.singles], [1, 1], 'an append alone is a plain XADD, in a round trip of its own');
});

t.test('one append that fails fails alone; a connection that is gone fails them all', async (t) => {
  const server = await startRedis(t);
  const c = client(t, server.url);
  await c.set('rm:s:{wrong}', 'a string, not a stream');
  const appender = new StreamAppender(() => c);
  const results = await Promise.allSettled([appender.append('rm:s:{x}', Buffer.from('1')), appender.append('rm:s:{wrong}', Buffer.from('2')), appender.append('rm:s:{x}', Buffer.from('3'))]);
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  t.match((results[1] as PromiseRejectedResult).reason, { message: /WRONGTYPE/ });
  t.equal(await c.xlen('rm:s:{x}'), 2);

  c.disconnect();
  const gone = await Promise.allSettled([appender.append('rm:s:{x}', Buffer.from('4')), appender.append('rm:s:{x}', Buffer.from('5'))]);
  t.same(gone.map((r) => r.status), ['rejected', 'rejected'], 'nobody is told their relay was published');
});

t.test('on a Cluster, appends to different slots go in one pipeline per stream', async (t) => {
  const cluster = await startRedisCluster(t);
  const c = client(t, cluster.url);
  await new Promise<void>((resolve) => (c.status === 'ready' ? resolve() : c.once('ready', () => resolve())));
  const stats = counted(c);
  const appender = new StreamAppender(stats.redis);
  const keys = ['rm:s:{pokt1aaa}', 'rm:s:{pokt1bbb}', 'rm:s:{pokt1ccc}', 'rm:s:{pokt1ddd}'];
  const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => appender.append(keys[i % 4]!, Buffer.from(String(i)))));
  t.same([stats.pipelines, stats.singles], [4, 0], 'four streams, four pipelines');
  for (const [k, key] of keys.entries()) {
    const entries = (await c.xrange(key, '-', '+')) as [string, string[]][];
    const mine = Array.from({ length: 10 }, (_, i) => 4 * i + k);
    t.same(entries.map(([, f]) => f[1]), mine.map(String), `${key}: its relays, in order`);
    t.same(entries.map(([id]) => id), mine.map((i) => ids[i]), 'with the ids their callers got');
  }
});
