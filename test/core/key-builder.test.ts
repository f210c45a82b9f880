import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { Cluster } from 'ioredis';
import { KeyBuilder, KEY_TTL_SECONDS } from '../../core/redis/key-builder.js';
import { startRedisCluster } from '../helpers/redis.js';

const S = 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4';
const SID = 'fea5d6f7544ff6d8af5c22529b2ccf01ed7930b3d454d42dda5ccc0b65b6ebfd';
const APP = 'pokt15vzxjqklzjtlz7lahe8z2dfe9nm5vxwwmscne4';

t.test('every key and channel in its default form', async (t) => {
  const k = new KeyBuilder();
  const golden: [string, string][] = [
    [k.relayStream(S), `ha:relays:{${S}}`],
    [k.minerConsumerGroup(), 'ha-miners'],
    [k.minerSession(S, SID), `ha:miner:sessions:{${S}}:${SID}`],
    [k.minerSessionLeaves(S, SID), `ha:miner:sessions:{${S}}:${SID}:leaves`],
    [k.minerSessionPaths(S, SID), `ha:miner:sessions:{${S}}:${SID}:paths`],
    [k.minerSessionFrontier(S, SID), `ha:miner:sessions:{${S}}:${SID}:frontier`],
    [k.minerSessionIndex(S), `ha:miner:sessions:{${S}}:index`],
    [k.globalLeader(), 'ha:miner:global_leader'],
    [k.supplierLease(S), `ha:miner:lease:{${S}}`],
    [k.supplierLeaseFence(S), `ha:miner:lease:{${S}}:fence`],
    [k.activeMiners(), 'ha:miner:active'],
    [k.submission(S, 'claim', 1234n), `ha:miner:submission:{${S}}:claim:1234`],
    [k.submission(S, 'proof', 1234), `ha:miner:submission:{${S}}:proof:1234`],
    [k.meter(S, SID), `ha:meter:{${S}}:${SID}`],
    [k.cache('application', APP), `ha:cache:application:${APP}`],
    [k.cache('shared_params', 1200), 'ha:cache:shared_params:1200'],
    [k.blockEventsChannel(), 'ha:events:blocks'],
    [k.cacheInvalidationChannel('application'), 'ha:events:cache:application:invalidate'],
  ];
  for (const [actual, expected] of golden) t.equal(actual, expected);
  t.equal(KEY_TTL_SECONDS.globalLeader, 30);
  t.equal(new KeyBuilder('prod').relayStream(S), `prod:relays:{${S}}`, 'namespace prefix');
  t.equal(new KeyBuilder('prod').minerConsumerGroup(), 'prod-miners');
  t.equal(k.relayStreamPattern(), 'ha:relays:{*}');
  t.same([k.relayStreamSupplier(k.relayStream(S)), k.relayStreamSupplier(`prod:relays:{${S}}`), k.relayStreamSupplier(k.minerSessionIndex(S))], [S, undefined, undefined], "a relay stream's supplier; other keys none");
  t.equal(k.meterPatternAll(), 'ha:meter:{*}:*');
  t.same(
    [k.meterParts(k.meter(S, 'sess-1')), k.meterParts(`prod:meter:{${S}}:sess-1`), k.meterParts(k.relayStream(S)), k.meterParts(`ha:meter:{${S}}:a:b`)],
    [{ supplier: S, sessionId: 'sess-1' }, undefined, undefined, undefined],
    "a meter's supplier and session; other keys none",
  );
});

t.test('a value that would break a key or its hash tag is refused', async (t) => {
  const k = new KeyBuilder();
  t.throws(() => k.relayStream('pokt1{evil}'), /invalid supplier/);
  t.throws(() => k.minerSession(S, 'a:b'), /invalid session id/);
  t.throws(() => k.relayStream(''), /invalid supplier/);
  t.throws(() => k.cache('application', 'has space'), /invalid cache id/);
  t.throws(() => new KeyBuilder('a:b'), /invalid namespace/);
});

t.test('no Redis key is spelled outside the KeyBuilder', async (t) => {
  const root = join(import.meta.dirname, '..', '..');
  const offenders: string[] = [];
  const scan = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) scan(path);
      else if (/\.(ts|js)$/.test(name) && !path.endsWith(join('redis', 'key-builder.ts'))) {
        const text = readFileSync(path, 'utf8');
        // A string literal or template starting with a namespace and a colon, e.g. 'ha:relays:' or `${ns}:miner:`.
        if (/['"`](ha|\$\{[^}]*(namespace|prefix|ns)[^}]*\}):[a-z_]+/.test(text)) offenders.push(relative(root, path));
      }
    }
  };
  for (const dir of ['core', 'plugins', 'cli', 'localnet', 'bench', 'examples']) {
    try {
      scan(join(root, dir));
    } catch {
      // a folder that is still empty
    }
  }
  t.same(offenders, [], 'keys are built only in core/redis/key-builder.ts');
});

t.test('a supplier\'s keys share one Redis Cluster slot (real 3-master cluster)', async (t) => {
  const cluster = await startRedisCluster(t);
  const nodes = cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  const client = new Cluster(nodes);
  t.teardown(() => client.disconnect());
  const k = new KeyBuilder();
  const keys = [k.relayStream(S), k.minerSession(S, SID), k.minerSessionLeaves(S, SID), k.minerSessionPaths(S, SID), k.minerSessionFrontier(S, SID), k.minerSessionIndex(S), k.supplierLease(S), k.supplierLeaseFence(S), k.submission(S, 'claim', 10), k.meter(S, SID)];
  const slots = await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key) as Promise<number>));
  t.equal(new Set(slots).size, 1, `all on slot ${slots[0]}`);
  // A transaction over several of them is accepted (it would fail with CROSSSLOT otherwise).
  const result = await client
    .multi()
    .xadd(k.relayStream(S), '*', 'data', 'x')
    .hset(k.minerSession(S, SID), 'state', 'active')
    .incr(k.supplierLeaseFence(S))
    .exec();
  t.equal(result?.length, 3);
  t.same(result?.map(([err]) => err), [null, null, null]);
  const other = 'pokt15vzxjqklzjtlz7lahe8z2dfe9nm5vxwwmscne4';
  t.not(await client.cluster('KEYSLOT', k.relayStream(other)), slots[0], 'another supplier lands elsewhere (for these two addresses)');
});
