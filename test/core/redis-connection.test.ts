import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaults, type ResolvedRedis } from '../../core/config/load.js';
import { RedisSchema, type RedisConfig } from '../../core/config/schema.js';
import { createRedisClient, RedisPool } from '../../core/redis/connection.js';
import { freePort, startLocalRedisSentinel } from '../../core/redis/local-server.js';
import { startRedis, startRedisCluster } from '../helpers/redis.js';

function redisConfig(url: string): ResolvedRedis {
  const { address: _address, ...rest } = defaults<RedisConfig>(RedisSchema);
  return { ...rest, url };
}

t.test('redis:// with a password, through the factory', async (t) => {
  const server = await startRedis(t, { args: ['--requirepass', 's3cret'] });
  const ok = createRedisClient(redisConfig(`redis://:s3cret@127.0.0.1:${server.port}/2`), { connectionName: 'test-auth' });
  t.teardown(() => ok.disconnect());
  await ok.set('k', 'v');
  t.equal(await ok.get('k'), 'v');
  t.equal(Number((await ok.client('INFO')).match(/db=(\d+)/)?.[1]), 2, 'database from the URL path');
  t.equal(await ok.client('GETNAME'), 'test-auth', 'connection name for CLIENT LIST');
});

t.test('unix:// reaches a Redis by its socket, with go-redis\'s ?db=', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'redis.sock');
  await startRedis(t, { args: ['--unixsocket', socket, '--unixsocketperm', '700'] });
  const client = createRedisClient(redisConfig(`unix://${socket}?db=3`), { connectionName: 'test-unix' });
  t.teardown(() => client.disconnect());
  await client.set('by', 'socket');
  const info = String(await client.client('INFO'));
  t.match(info, new RegExp(`addr=${socket}:0 `), 'connected over the socket, not TCP');
  t.equal(Number(info.match(/db=(\d+)/)?.[1]), 3, 'database from ?db=');
});

t.test('rediss:// with tls_ca_file: the server is trusted by that CA only', async (t) => {
  const tlsDir = join(import.meta.dirname, '..', 'fixtures', 'tls');
  const tlsPort = await freePort();
  await startRedis(t, {
    args: ['--tls-port', String(tlsPort), '--tls-cert-file', join(tlsDir, 'server.pem'), '--tls-key-file', join(tlsDir, 'server.key'), '--tls-ca-cert-file', join(tlsDir, 'ca.pem'), '--tls-auth-clients', 'no'],
  });
  const trusted = createRedisClient({ ...redisConfig(`rediss://localhost:${tlsPort}/1`), tls_ca_file: join(tlsDir, 'ca.pem') }, { connectionName: 'test-tls' });
  t.teardown(() => trusted.disconnect());
  await trusted.set('over', 'tls');
  t.equal(await trusted.get('over'), 'tls');
  t.equal(Number(String(await trusted.client('INFO')).match(/db=(\d+)/)?.[1]), 1);
  const untrusted = createRedisClient(redisConfig(`rediss://localhost:${tlsPort}`), { connectionName: 'test-tls-untrusted' });
  t.teardown(() => untrusted.disconnect());
  const failure = await new Promise<Error>((resolve) => untrusted.once('error', resolve));
  t.match(failure.message, /self[- ]signed certificate|unable to (get|verify)/, 'the system CAs do not vouch for the test CA');
  t.equal(untrusted.status === 'ready', false);
});

t.test('redis-sentinel:// finds the master through a real Sentinel', async (t) => {
  const master = await startRedis(t);
  const sentinel = await startLocalRedisSentinel(master, 'relaymaster');
  t.teardown(() => sentinel.stop());
  const url = `redis-sentinel://127.0.0.1:${sentinel.port}/relaymaster`;
  const client = createRedisClient(redisConfig(url), { connectionName: 'test-sentinel' });
  t.teardown(() => client.disconnect());
  await client.set('through', 'sentinel');
  const direct = createRedisClient(redisConfig(master.url), { connectionName: 'test-direct' });
  t.teardown(() => direct.disconnect());
  t.equal(await direct.get('through'), 'sentinel', 'the write landed on the monitored master');
});

t.test('redis-cluster:// through the factory and the pool', async (t) => {
  const cluster = await startRedisCluster(t);
  const pool = new RedisPool({ ...redisConfig(cluster.url), pool: { ...redisConfig(cluster.url).pool, size: 2 } }, 'test-cluster');
  t.teardown(() => pool.close());
  t.ok(await pool.waitReady(10_000), 'cluster pool ready');
  const a = pool.next();
  const b = pool.next();
  t.not(a, b, 'round-robin over pool.size connections');
  t.equal(pool.next(), a);
  for (let i = 0; i < 30; i++) await pool.next().set(`spread:${i}`, String(i));
  const values = await Promise.all(Array.from({ length: 30 }, (_, i) => pool.next().get(`spread:${i}`)));
  t.same(values, Array.from({ length: 30 }, (_, i) => String(i)), 'keys on every master are reachable');
  await pool.ping(1000);
});
