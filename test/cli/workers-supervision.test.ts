import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { spawnBoundToParent } from '../../core/process/child-process.js';
import { TEST_KEYS } from '../helpers/config.js';
import { startTestLocalnet } from '../helpers/localnet-client.js';
import { until } from '../helpers/until.js';
import { isAlive, startProcess } from '../helpers/process.js';
import { startRedis } from '../helpers/redis.js';
import { BIN, relayerFile } from '../helpers/cli.js';
import { withoutTapHook } from '../helpers/child-env.js';

// What the primary of `relayer --workers` does when workers die, and when one cannot start.

/** One service whose backend no relay reaches here, on the JSON-RPC transport. */
const SERVED = 'services:\n  anvil:\n    backends:\n      jsonrpc: { url: "http://127.0.0.1:9" }\nplugins: [transport-jsonrpc]\n';

/** A two-worker relayer whose workers drain for `drainMs`; resolves once both have started, with their pids. */
async function twoWorkers(t: Test, drainMs: number) {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const file = relayerFile(t, redis.url, net, `${SERVED}shutdown: { readiness_delay_ms: ${drainMs} }\n`);
  const p = await startProcess(['relayer', '-c', file, '--workers', '2'], { KEY: TEST_KEYS.app1.hex });
  t.teardown(() => void p.child.kill('SIGKILL'));
  const started = () => p.lines.filter((l) => l.msg === 'relayminer started').map((l) => Number(l.pid));
  await until('both workers started', () => started().length === 2);
  return { p, started, workers: started() };
}

/** The exit code `exit` resolves to, or 'still running' after `ms`. */
function exitWithin(exit: Promise<number | null>, ms: number): Promise<number | null | 'still running'> {
  return Promise.race([exit, new Promise<'still running'>((res) => setTimeout(() => res('still running'), ms).unref())]);
}

t.test('relayer --workers 2: a stop while a dead worker waits to be replaced starts no replacement', async (t) => {
  // Worker B drains for 2 s, past the 1 s after which the primary replaces a worker that died.
  const { p, started, workers } = await twoWorkers(t, 2000);
  process.kill(workers[0]!, 'SIGKILL');
  await until('the primary to see the worker die', () => p.stderr().includes(`worker ${workers[0]} exited (SIGKILL); starting another`));
  p.child.kill('SIGTERM');
  t.equal(await exitWithin(p.exit, 15_000), 0, 'the primary exits once the live worker has drained');
  t.same(started(), workers, 'no replacement worker started');
  await until('the workers gone', () => workers.every((pid) => !isAlive(pid)), 3000);
});

t.test('relayer --workers 2: a stop while every worker is dead exits at once', async (t) => {
  const { p, started, workers } = await twoWorkers(t, 0);
  for (const pid of workers) process.kill(pid, 'SIGKILL');
  await until('the primary to see both die', () => workers.every((pid) => p.stderr().includes(`worker ${pid} exited (SIGKILL); starting another`)));
  p.child.kill('SIGTERM');
  t.equal(await exitWithin(p.exit, 5000), 0, 'no worker to wait for');
  t.same(started(), workers, 'no replacement worker started');
});

t.test('relayer --workers 2: a worker that cannot start stops them all, as one process would, instead of being restarted', async (t) => {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const taken = createServer();
  await new Promise<void>((res) => taken.listen(0, '127.0.0.1', res));
  t.teardown(() => void taken.close());
  const healthPort = (taken.address() as AddressInfo).port;
  const file = relayerFile(t, redis.url, net, SERVED);
  writeFileSync(file, readFileSync(file, 'utf8').replace('health_address: "127.0.0.1:0"', `health_address: "127.0.0.1:${healthPort}"`));
  const child = spawnBoundToParent(...withoutTapHook(process.execPath, [BIN, 'relayer', '-c', file, '--workers', '2']), { env: { ...process.env, KEY: TEST_KEYS.app1.hex }, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  t.equal(await exitWithin(new Promise((res) => child.once('exit', res)), 20_000), 1, 'the primary exits 1');
  t.match(stderr, `relayer.health_address: cannot listen on 127.0.0.1:${healthPort}: address already in use`, "the worker's reason");
  t.match(stderr, /relayminer: worker \d+ could not start; stopping the other workers/);
  t.notMatch(stderr, 'starting another', 'no worker restarted');
});
