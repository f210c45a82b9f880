import t from 'tap';
import { defaults, type ResolvedRedis } from '../../core/config/load.js';
import { RedisSchema, type RedisConfig } from '../../core/config/schema.js';
import { RedisPool } from '../../core/redis/connection.js';
import { RedisCircuits, RedisNotAnsweringError } from '../../core/redis/redis-circuit.js';
import { startRedis, startRedisCluster } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

function pool(url: string, commandTimeoutMs: number): RedisPool {
  const { address: _address, ...rest } = defaults<RedisConfig>(RedisSchema);
  const cfg: ResolvedRedis = { ...rest, url, pool: { ...rest.pool, size: 1, command_timeout_ms: commandTimeoutMs } };
  return new RedisPool(cfg, 'test-circuit');
}

/** Circuits on the pool, counting the probes they send and saying their changes. */
function circuitsOn(redis: RedisPool) {
  const changes: string[] = [];
  let calls = 0;
  const circuits = new RedisCircuits({
    client: () => (calls++, redis.next()),
    probeTimeoutMs: 300,
    retryMs: 50,
    onChange: (answering, err) => changes.push(answering ? 'answering' : `not answering: ${err?.message}`),
  });
  const probes = () => calls - 1; // the first call tells the topology
  return { circuits, changes, probes };
}

const failureOf = (p: Promise<unknown>) => p.then(() => undefined, (err: Error) => err);

t.test('one server: an error reply leaves the circuit closed, a timeout opens it for every key, and the first PING answered closes it', async (t) => {
  const server = await startRedis(t);
  const redis = pool(server.url, 300);
  t.teardown(() => redis.disconnect());
  t.ok(await redis.waitReady(5000));
  const { circuits, changes, probes } = circuitsOn(redis);
  t.teardown(() => circuits.stop());

  await redis.next().set('text', 'x');
  const wrongType = await failureOf(redis.next().incr('text'));
  t.match(wrongType?.message, /^ERR value is not an integer/);
  circuits.failed('text', wrongType);
  t.same([circuits.answering, circuits.skipped('text'), probes()], [true, undefined, 0], 'Redis answered, with an error: still answering, nothing probed');

  server.pause();
  t.teardown(() => server.resume());
  const timedOut = await failureOf(redis.next().get('text'));
  t.equal(timedOut?.message, 'Command timed out');
  circuits.failed('text', timedOut);
  circuits.failed('other', new Error('a second failure while open'));
  t.equal(circuits.answering, false);
  const skipped = circuits.skipped('any key at all');
  t.ok(skipped instanceof RedisNotAnsweringError, 'one server: every key skipped');
  t.same([skipped?.code, skipped?.message], ['REDIS_NOT_ANSWERING', 'Redis does not answer (Command timed out); not asked until it does']);
  circuits.failed('text', skipped);
  await until('two probes unanswered', () => probes() >= 2);
  t.equal(circuits.answering, false, 'still open while probes go unanswered');
  t.same(changes, ['not answering: Command timed out'], 'opened once');

  server.resume();
  await until('answering', () => circuits.answering);
  t.same(changes, ['not answering: Command timed out', 'answering']);
  t.equal(circuits.skipped('text'), undefined);
  const after = probes();
  await new Promise((r) => setTimeout(r, 200));
  t.equal(probes(), after, 'no probe once closed');
});

t.test('one server stopped: a lost connection opens the circuit; stop() ends the probing', async (t) => {
  const server = await startRedis(t);
  const redis = pool(server.url, 1000);
  t.teardown(() => redis.disconnect());
  t.ok(await redis.waitReady(5000));
  const { circuits, probes } = circuitsOn(redis);
  await server.stopProcess();
  const lost = await failureOf(redis.next().get('k'));
  t.match(lost?.message, /max retries per request/, 'the command failed once its retries were spent');
  circuits.failed('k', lost);
  t.equal(circuits.answering, false);
  await until('probing', () => probes() >= 2);
  circuits.stop();
  const stoppedAt = probes();
  await new Promise((r) => setTimeout(r, 300));
  t.ok(probes() <= stoppedAt + 1, 'at most the probe in flight settles; none follows');
  await server.startProcess();
  await new Promise((r) => setTimeout(r, 500));
  t.equal(circuits.answering, false, 'a stopped circuit keeps its state');
});

t.test('a Cluster: a master that stops answering opens the circuits of the keys it holds, not of the others', async (t) => {
  const cluster = await startRedisCluster(t);
  const redis = pool(cluster.url, 300);
  t.teardown(() => redis.disconnect());
  t.ok(await redis.waitReady(10_000));
  const client = redis.next();
  // Two suppliers' streams on different masters (each supplier's keys share its hash tag).
  const portOf = async (key: string) => {
    const slot = Number(await client.cluster('KEYSLOT', key));
    const ranges = await client.cluster('SLOTS');
    return ranges.find(([from, to]) => slot >= from && slot <= to)![2]![1];
  };
  const keys = Array.from({ length: 20 }, (_, i) => `ha:relays:{pokt1supplier${i}}`);
  const ports = await Promise.all(keys.map(portOf));
  const hung = keys[0]!;
  const other = keys[ports.findIndex((p) => p !== ports[0])]!;
  const sameSupplier = 'ha:meter:{pokt1supplier0}:session';
  const node = cluster.nodes.find((n) => n.port === ports[0])!;
  const { circuits, changes } = circuitsOn(redis);
  t.teardown(() => circuits.stop());

  node.pause();
  t.teardown(() => node.resume());
  const timedOut = await failureOf(client.get(hung));
  t.equal(timedOut?.message, 'Command timed out');
  circuits.failed(hung, timedOut);
  t.equal(circuits.answering, false);
  t.ok(circuits.skipped(hung), 'the key on the silent master is skipped');
  t.ok(circuits.skipped(sameSupplier), "and so is every key with the supplier's hash tag");
  t.equal(circuits.skipped(other), undefined, 'a key on another master is not');
  t.same([circuits.answersFor(hung), circuits.answersFor(other)], [false, true]);
  t.equal(await client.get(other), null, 'and that master answers');
  circuits.failed(other, new Error('Command timed out'));
  t.same(changes, ['not answering: Command timed out'], 'said once, though two circuits are open');
  circuits.failed('ha:cache:session:x', timedOut);
  t.same([circuits.answersFor('ha:cache:session:x'), circuits.answersFor('ha:cache:session:y')], [false, true], 'a key without a hash tag has a circuit of its own');

  node.resume();
  await until('answering', () => circuits.answering);
  t.same(changes, ['not answering: Command timed out', 'answering'], 'said once, when the last closed');
  t.equal(circuits.skipped(hung), undefined);
});
