import { createConnection } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../core/config/load.js';
import { ConfigError } from '../../core/config/problems.js';
import { PluginError } from '../../core/plugins/loader.js';
import { defaultRingBackend } from '../../core/crypto/ring/signature.js';
import { Runtime } from '../../core/runtime/runtime.js';
import { captureLogs } from '../helpers/logs.js';
import { relayerConfig, TEST_KEYS } from '../helpers/config.js';
import { startTestLocalnet } from '../helpers/localnet-client.js';
import { startRedis } from '../helpers/redis.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

async function get(address: string, path: string): Promise<{ status: number; body: string; connection: string | null }> {
  const res = await fetch(`http://${address}${path}`);
  return { status: res.status, body: await res.text(), connection: res.headers.get('connection') };
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function portOpen(address: string): Promise<boolean> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

t.test('relayminer_ready follows the state at each scrape, with nobody asking /ready; the dashboard is off by default', async (t) => {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const { logger } = captureLogs();
  const runtime = await Runtime.start({ config: relayerConfig(redis.url, '', { node: net }), roles: ['relayer'], builtins: {}, version: 'test', logger });
  t.teardown(() => runtime.shutdown());
  const metrics = runtime.addresses.metrics!;
  t.match((await get(metrics, '/metrics')).body, /^relayminer_ready 1$/m, 'ready at the first scrape');
  await redis.stopProcess();
  t.match((await get(metrics, '/metrics')).body, /^relayminer_ready 0$/m, 'not ready once Redis is gone, without any /ready request');
  for (const path of ['/dashboard', '/dashboard/state']) t.equal((await get(metrics, path)).status, 404, `${path} is not served unless enabled`);
  t.equal((await get(runtime.addresses.health!, '/dashboard')).status, 404, 'nor on the health listener');
});

t.test('dashboard: true serves it on the metrics listener', async (t) => {
  const redis = await startRedis(t);
  const { logger } = captureLogs();
  const config = relayerConfig(redis.url);
  config.relayer!.dashboard = true;
  const runtime = await Runtime.start({ config, roles: ['relayer'], builtins: {}, version: 'test', logger });
  t.teardown(() => runtime.shutdown());
  t.equal((await get(runtime.addresses.metrics!, '/dashboard')).status, 200);
  t.equal((await get(runtime.addresses.metrics!, '/dashboard/state')).status, 200);
});

t.test('readiness follows Redis: 503 when redis-server stops, 200 again when it returns; the outage logged once, its end once', async (t) => {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const { logger, lines } = captureLogs();
  const runtime = await Runtime.start({ config: relayerConfig(redis.url, '', { node: net }), roles: ['relayer'], builtins: {}, version: 'test', logger });
  t.teardown(() => runtime.shutdown());
  const health = runtime.addresses.health!;

  const up = await get(health, '/ready');
  t.equal(up.status, 200);
  t.match(JSON.parse(up.body), { status: 'ready', checks: { redis: { ok: true }, chain: { ok: true } } });
  t.same(JSON.parse((await get(health, '/health')).body), { status: 'ok' });

  await redis.stopProcess();
  const down = await until('readiness 503', () => get(health, '/ready'), (r) => r.status === 503);
  const report = JSON.parse(down.body);
  t.equal(report.status, 'not_ready');
  t.equal(report.checks.redis.ok, false);
  t.type(report.checks.redis.error, 'string');
  t.equal((await get(health, '/health')).status, 200, 'liveness stays 200: a Redis outage is no reason to restart');
  const metrics = await get(runtime.addresses.metrics!, '/metrics');
  t.match(metrics.body, /^relayminer_ready 0$/m);

  await redis.startProcess();
  const back = await until('readiness 200', () => get(health, '/ready'), (r) => r.status === 200);
  t.equal(JSON.parse(back.body).status, 'ready');
  t.match((await get(runtime.addresses.metrics!, '/metrics')).body, /^relayminer_ready 1$/m);
  t.match((await get(runtime.addresses.metrics!, '/metrics')).body, new RegExp(`^relayminer_build_info\\{version="test",roles="relayer",ring_crypto="${defaultRingBackend().name}"\\} 1$`, 'm'));
  t.match((await get(runtime.addresses.metrics!, '/metrics')).body, /^relayminer_crypto_threads 1$/m, 'relayer.ring_verify_threads (1) crypto threads running');
  t.match((await get(runtime.addresses.metrics!, '/metrics')).body, /^relayminer_ring_tables\{width="narrow"\} 0\nrelayminer_ring_tables\{width="wide"\} 0$/m, 'no ring tables before any relay');
  t.match((await get(runtime.addresses.metrics!, '/metrics')).body, /^relayminer_ring_tables_capacity 480$/m, 'room for relayer.ring_tables (240) on the event loop and on its crypto thread');
  t.match((await get(runtime.addresses.metrics!, '/metrics')).body, /^process_cpu_seconds_total /m, 'runtime metrics');
  t.equal((await get(runtime.addresses.metrics!, '/ready')).status, 404, 'the relayer keeps health on its own listener');
  // Every connection of the pool failed, many times each (the counter has them); the log has one line each way.
  const counted = [...(await get(runtime.addresses.metrics!, '/metrics')).body.matchAll(/^relayminer_redis_connection_errors_total\{connection="[^"]+"\} (\d+)$/gm)];
  const errors = counted.reduce((sum, m) => sum + Number(m[1]), 0);
  t.ok(errors >= 4, `${errors} connection errors counted`);
  await until('the recovery said', async () => lines.some((l) => l.msg === 'redis connections work again'), Boolean);
  const said = lines.filter((l) => String(l.msg).startsWith('redis connection')).map((l) => [l.level, String(l.msg).split(' (')[0]]);
  t.same(said, [
    [40, 'redis connection error'],
    [30, 'redis connections work again'],
  ]);
});

t.test('graceful shutdown: 503 first, in-flight work finishes, then plugins, Redis, operator listeners', async (t) => {
  const redis = await startRedis(t);
  const { logger, lines } = captureLogs();
  const config = relayerConfig(
    redis.url,
    `plugins:\n  - ./plugins/transport-a.js\n  - { name: ./plugins/recorder.js, options: { label: rec } }\nshutdown: { readiness_delay_ms: 1000, drain_timeout_ms: 5000 }\n`,
    { dir: FIXTURES },
  );
  const runtime = await Runtime.start({ config, roles: ['relayer'], builtins: {}, version: 'test', logger });
  const { relay, health } = runtime.addresses;

  // Readiness stays 503 for a second before the listeners close (long enough for a stalled machine to read it
  // in that state); the request outlasts it, so the drain has to wait for it.
  const inFlight = get(relay!, '/slow?ms=2500');
  await new Promise((r) => setTimeout(r, 100));
  const stopped = runtime.shutdown('SIGTERM');
  await new Promise((r) => setTimeout(r, 50));
  const during = await get(health!, '/ready');
  t.equal(during.status, 503, 'readiness turns 503 first');
  t.equal(JSON.parse(during.body).status, 'draining');
  t.same(runtime.shutdownSteps, ['draining'], 'nothing else has closed during the readiness delay');

  const served = await inFlight;
  t.equal(served.status, 200, 'the request in flight is served');
  t.equal(served.connection, 'close', 'and told to reconnect elsewhere (the onSend hook while draining)');
  const drainStarted = Date.now();
  t.same(JSON.parse(served.body), { served: true, ms: 2500 });
  await stopped;
  t.notOk(lines.some((l) => l.msg === 'drain timeout: cutting open connections'), 'drained without hitting the bound');
  t.ok(Date.now() - drainStarted < 2000, 'and promptly once the request was served');
  t.same(runtime.shutdownSteps, ['draining', 'listeners_closed', 'plugins_closed', 'redis_closed', 'operator_servers_closed', 'stopped']);
  const logged = lines.filter((l) => typeof l.shutdown_step === 'string').map((l) => l.shutdown_step);
  t.same(logged, runtime.shutdownSteps, 'each step is logged in order');
  t.notOk(await portOpen(relay!), 'relay listener closed');
  t.notOk(await portOpen(health!), 'health listener closed');
  t.equal(runtime.context.redis.status, 'end', 'redis connections closed');
  await runtime.shutdown();
  t.equal(runtime.shutdownSteps.length, 6, 'a second shutdown call is a no-op');
});

t.test('plugins close after the listener stopped and before Redis', async (t) => {
  const redis = await startRedis(t);
  const { logger } = captureLogs();
  const config = relayerConfig(redis.url, `plugins: [./plugins/close-observer.js]\nshutdown: { readiness_delay_ms: 0 }\n`, { dir: FIXTURES });
  const runtime = await Runtime.start({ config, roles: ['relayer'], builtins: {}, version: 'test', logger });
  await runtime.shutdown();
  t.same((globalThis as Record<string, unknown>).relayminerCloseObservation, {
    relayListening: false,
    redisStatus: 'ready',
    ready: 'draining',
  });
});

t.test("the relay listener: plugins log through app.log, and fastify adds no listeners of its own to a response", async (t) => {
  const redis = await startRedis(t);
  const { logger, lines } = captureLogs();
  const config = relayerConfig(redis.url, `plugins: [./plugins/response-listeners.js]\nshutdown: { readiness_delay_ms: 0 }\n`, { dir: FIXTURES });
  const runtime = await Runtime.start({ config, roles: ['relayer'], builtins: {}, version: 'test', logger });
  t.teardown(() => runtime.shutdown());
  const logged = lines.find((l) => l.fixture === 'response-listeners');
  // The process's own logger: a plugin's lines name no listener (plugins log for the miner and their own listeners too).
  t.same([logged?.msg, 'server' in (logged ?? {})], ['plugin logging through app.log', false]);
  // Node's own 'finish' listener only: a fastify given a logger adds a 'finish' and an 'error' listener to time each response.
  const answer = await get(runtime.addresses.relay!, '/listeners');
  t.same([answer.status, JSON.parse(answer.body)], [200, { finish: 1, error: 0 }]);
});

t.test('the drain bound cuts a request that does not finish', async (t) => {
  const redis = await startRedis(t);
  const { logger, lines } = captureLogs();
  const config = relayerConfig(redis.url, `plugins: [./plugins/transport-a.js]\nshutdown: { readiness_delay_ms: 0, drain_timeout_ms: 300 }\n`, { dir: FIXTURES });
  const runtime = await Runtime.start({ config, roles: ['relayer'], builtins: {}, version: 'test', logger });
  const stuck = get(runtime.addresses.relay!, '/slow?ms=5000').then(
    () => 'served',
    () => 'cut',
  );
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await runtime.shutdown();
  const took = Date.now() - started;
  t.ok(took < 3000, `shutdown finished in ${took} ms, well before the 5 s request`);
  t.equal(await stuck, 'cut');
  t.ok(lines.some((l) => l.msg === 'drain timeout: cutting open connections'));
  t.same(runtime.shutdownSteps.at(-1), 'stopped');
});

t.test('a plugin that fails to start leaves nothing listening and no Redis connection behind', async (t) => {
  const redis = await startRedis(t);
  const { logger } = captureLogs();
  const config = relayerConfig(redis.url, `plugins: [./plugins/transport-a.js, ./plugins/throws-on-start.js]\n`, { dir: FIXTURES });
  const err = await Runtime.start({ config, roles: ['relayer'], builtins: {}, version: 'test', logger }).catch((e: unknown) => e);
  t.ok(err instanceof PluginError);
  t.equal((err as PluginError).pluginName, 'throws-on-start');
  const clients = await until(
    'connections to close',
    async () => {
      const { Redis } = await import('ioredis');
      const c = new Redis(redis.url);
      const list = (await c.client('LIST')) as string;
      c.disconnect();
      return list.split('\n').filter((l) => l.includes('name=relayminer')).length;
    },
    (n) => n === 0,
  );
  t.equal(clients, 0);
});

t.test('roles need their section; one process uses one Redis', async (t) => {
  const { logger } = captureLogs();
  const relayerOnly = relayerConfig('redis://127.0.0.1:1');
  const missing = await Runtime.start({ config: relayerOnly, roles: ['miner'], builtins: {}, version: 'test', logger }).catch((e: unknown) => e);
  t.ok(missing instanceof ConfigError);
  t.match((missing as ConfigError).problems[0], { path: 'miner', message: 'this file has no "miner" section; "relayminer miner" needs one' });

  const both = parseConfig(
    `keys: { supplier_keys: [{ private_key_hex: "\${K}" }] }\nrelayer: { redis: { url: "redis://a:6379" } }\nminer: { redis: { url: "redis://b:6379" } }\n`,
    { env: { K: TEST_KEYS.app1.hex } },
  );
  const split = await Runtime.start({ config: both, roles: ['relayer', 'miner'], builtins: {}, version: 'test', logger }).catch((e: unknown) => e);
  t.ok(split instanceof ConfigError);
  t.match((split as ConfigError).problems[0]!.message, 'relayer.redis and miner.redis differ');
});

t.test('a port in use is a clear error naming the config key', async (t) => {
  const redis = await startRedis(t);
  const { logger } = captureLogs();
  const first = await Runtime.start({ config: relayerConfig(redis.url), roles: ['relayer'], builtins: {}, version: 'test', logger });
  t.teardown(() => first.shutdown());
  const taken = first.addresses.relay!;
  const config = relayerConfig(redis.url, '', {});
  (config.relayer as { listen_address: string }).listen_address = taken;
  const err = await Runtime.start({ config, roles: ['relayer'], builtins: {}, version: 'test', logger }).catch((e: unknown) => e);
  t.ok(err instanceof ConfigError);
  t.same((err as ConfigError).problems, [{ path: 'relayer.listen_address', message: `cannot listen on ${taken}: address already in use` }]);
});

t.test('a miner alone serves /health and /ready on its metrics address', async (t) => {
  const redis = await startRedis(t);
  const { logger } = captureLogs();
  const config = parseConfig(
    `miner:\n  metrics_address: "127.0.0.1:0"\n  redis: { url: "${redis.url}" }\n  supplier_keys: [{ private_key_hex: "\${K}" }]\n`,
    { env: { K: TEST_KEYS.app1.hex } },
  );
  const runtime = await Runtime.start({ config, roles: ['miner'], builtins: {}, version: 'test', logger });
  t.teardown(() => runtime.shutdown());
  t.equal(runtime.addresses.relay, undefined, 'no relay listener');
  t.equal(runtime.addresses.health, undefined);
  const ready = await get(runtime.addresses.metrics!, '/ready');
  t.equal(ready.status, 200);
  t.match((await get(runtime.addresses.metrics!, '/metrics')).body, new RegExp(`relayminer_build_info\\{version="test",roles="miner",ring_crypto="${defaultRingBackend().name}"\\} 1`));
  t.same(runtime.context.suppliers.map((s) => s.address), [TEST_KEYS.app1.address]);
  t.equal(runtime.context.keys.relayStream(TEST_KEYS.app1.address), `ha:relays:{${TEST_KEYS.app1.address}}`);
});

t.test('relayer without a reachable node: starts, warns, and /ready says why', async (t) => {
  const redis = await startRedis(t);
  const { logger, lines } = captureLogs();
  const node = { rpcAddress: '127.0.0.1:1', grpcAddress: '127.0.0.1:1' };
  const runtime = await Runtime.start({ config: relayerConfig(redis.url, '', { node }), roles: ['relayer'], builtins: {}, version: 'test', logger });
  t.teardown(() => runtime.shutdown());
  t.ok(lines.some((l) => l.level === 40 && String(l.msg).startsWith('no block height from the node yet')), 'warned at start');
  const ready = await get(runtime.addresses.health!, '/ready');
  t.equal(ready.status, 503);
  t.match(JSON.parse(ready.body), { status: 'not_ready', checks: { redis: { ok: true }, chain: { ok: false, error: 'no block height from the node yet' } } });
});
