import t from 'tap';
import { defaults, type ResolvedRedis } from '../../core/config/load.js';
import { RedisSchema, type RedisConfig } from '../../core/config/schema.js';
import { RedisPool } from '../../core/redis/connection.js';
import { RedisCircuit, RedisNotAnsweringError } from '../../core/redis/redis-circuit.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

function pool(url: string, commandTimeoutMs: number): RedisPool {
  const { address: _address, ...rest } = defaults<RedisConfig>(RedisSchema);
  const cfg: ResolvedRedis = { ...rest, url, pool: { ...rest.pool, size: 1, command_timeout_ms: commandTimeoutMs } };
  return new RedisPool(cfg, 'test-circuit');
}

t.test('a real Redis: an error reply leaves the circuit closed, a timeout opens it, and the first PING answered closes it', async (t) => {
  const server = await startRedis(t);
  const redis = pool(server.url, 300);
  t.teardown(() => redis.disconnect());
  t.ok(await redis.waitReady(5000));
  const changes: string[] = [];
  let probes = 0;
  const circuit = new RedisCircuit({
    probe: () => (probes++, redis.ping(300)),
    retryMs: 50,
    onChange: (answering, err) => changes.push(answering ? 'answering' : `not answering: ${err?.message}`),
  });
  t.teardown(() => circuit.stop());

  await redis.next().set('text', 'x');
  const wrongType = await redis.next().incr('text').then(() => undefined, (err: Error) => err);
  t.match(wrongType?.message, /^ERR value is not an integer/);
  circuit.failed(wrongType);
  t.same([circuit.answering, circuit.skipped, probes], [true, undefined, 0], 'Redis answered, with an error: still answering, nothing probed');

  server.pause();
  t.teardown(() => server.resume());
  const timedOut = await redis.next().get('text').then(() => undefined, (err: Error) => err);
  t.equal(timedOut?.message, 'Command timed out');
  circuit.failed(timedOut);
  circuit.failed(new Error('a second failure while open'));
  t.equal(circuit.answering, false);
  t.ok(circuit.skipped instanceof RedisNotAnsweringError);
  t.same([circuit.skipped?.code, circuit.skipped?.message], ['REDIS_NOT_ANSWERING', 'Redis does not answer (Command timed out); not asked until it does']);
  circuit.failed(circuit.skipped);
  await until('two probes unanswered', () => probes >= 2);
  t.equal(circuit.answering, false, 'still open while probes go unanswered');
  t.same(changes, ['not answering: Command timed out'], 'opened once');

  server.resume();
  await until('answering', () => circuit.answering);
  t.same(changes, ['not answering: Command timed out', 'answering']);
  const after = probes;
  await new Promise((r) => setTimeout(r, 200));
  t.equal(probes, after, 'no probe once closed');
});

t.test('Redis stopped: a lost connection opens the circuit; stop() ends the probing', async (t) => {
  const server = await startRedis(t);
  const redis = pool(server.url, 1000);
  t.teardown(() => redis.disconnect());
  t.ok(await redis.waitReady(5000));
  let probes = 0;
  const circuit = new RedisCircuit({ probe: () => (probes++, redis.ping(300)), retryMs: 20 });
  await server.stopProcess();
  const lost = await redis.next().get('k').then(() => undefined, (err: Error) => err);
  t.ok(lost, `the command failed: ${lost?.message}`);
  circuit.failed(lost);
  t.equal(circuit.answering, false);
  await until('probing', () => probes >= 2);
  circuit.stop();
  const stoppedAt = probes;
  await new Promise((r) => setTimeout(r, 300));
  t.ok(probes <= stoppedAt + 1, 'at most the probe in flight settles; none follows');
  await server.startProcess();
  await new Promise((r) => setTimeout(r, 300));
  t.equal(circuit.answering, false, 'a stopped circuit keeps its state');
});
