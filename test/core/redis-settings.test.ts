import t from 'tap';
import { parseConfig } from '../../core/config/load.js';
import { Runtime } from '../../core/runtime/runtime.js';
import { OperatorError } from '../../core/runtime/operator-error.js';
import { judgeSettings } from '../../core/redis/redis-settings.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { captureLogs } from '../helpers/logs.js';
import { minerYaml } from '../helpers/miner.js';
import { relayerConfig } from '../helpers/config.js';
import { startRedis } from '../helpers/redis.js';

t.test('a miner refuses a Redis that may evict keys, with the exact fix; a relayer warns and runs', async (t) => {
  const redis = await startRedis(t, { args: ['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru'] });
  const err = await Runtime.start({
    config: parseConfig(minerYaml({ redisUrl: redis.url, instance: 'evict-1' })),
    roles: ['miner'],
    builtins: BUILTIN_PLUGINS,
    version: 'test',
    logger: captureLogs().logger,
  }).then(
    (rt) => (void rt.shutdown(), undefined),
    (e: unknown) => e,
  );
  t.ok(err instanceof OperatorError, 'a OperatorError (the CLI prints it as one line)');
  t.equal((err as OperatorError).code, 'REDIS_MAY_EVICT');
  t.match((err as Error).message, /^Redis 127\.0\.0\.1:\d+ has maxmemory-policy allkeys-lru: it may evict keys when memory is full, and an evicted session, leaf set or submission is a claim or proof lost\. The miner needs noeviction: run `redis-cli -h <host> CONFIG SET maxmemory-policy noeviction` and put `maxmemory-policy noeviction` in redis\.conf/);

  const logs = captureLogs();
  const relayer = await Runtime.start({ config: relayerConfig(redis.url), roles: ['relayer'], builtins: {}, version: 'test', logger: logs.logger });
  t.teardown(() => relayer.shutdown());
  t.ok(logs.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('Redis 127.0.0.1:') && l.msg.includes('has maxmemory-policy allkeys-lru') && l.level === 40), 'the relayer logs a warning');
  const metrics = await (await fetch(`http://${relayer.addresses.metrics}/metrics`)).text();
  t.match(metrics, /^relayminer_redis_maxmemory_bytes 104857600$/m, 'maxmemory gauge');
  t.match(metrics, /^relayminer_redis_used_memory_bytes [1-9]\d+$/m, 'used memory gauge');
});

t.test('noeviction passes; a miner without AOF is warned', async (t) => {
  t.same(judgeSettings({ usedMemoryBytes: 1, maxmemoryBytes: 0, maxmemoryPolicy: 'noeviction', aofEnabled: true }, 'miner', 'r:6379'), { warnings: [] });
  const noAof = judgeSettings({ usedMemoryBytes: 1, maxmemoryBytes: 0, maxmemoryPolicy: 'noeviction', aofEnabled: false }, 'miner', 'r:6379');
  t.equal(noAof.fatal, undefined);
  t.match(noAof.warnings, [/^Redis r:6379 has no append-only file: .*`appendonly yes`/]);
  t.same(judgeSettings({ usedMemoryBytes: 1, maxmemoryBytes: 0, maxmemoryPolicy: 'noeviction', aofEnabled: false }, 'relayer', 'r:6379'), { warnings: [] }, 'relayers keep nothing that needs AOF');
  const volatile = judgeSettings({ usedMemoryBytes: 1, maxmemoryBytes: 5, maxmemoryPolicy: 'volatile-ttl', aofEnabled: true }, 'miner', 'r:6379');
  t.match(volatile.fatal, /maxmemory-policy volatile-ttl/, 'every evicting policy is refused, volatile ones too (miner keys carry TTLs)');
});
