import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../core/redis/local-server.js';
import { ROOT, cliAsync } from '../helpers/cli.js';
import { isAlive } from '../helpers/process.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';
import { withoutTapHook } from '../helpers/child-env.js';

/** Ports the devnet binds, all free or ephemeral, so the test runs beside anything else. */
async function devnetEnv(): Promise<NodeJS.ProcessEnv> {
  return {
    ...process.env,
    REDIS_URL: '',
    DEVNET_TRAFFIC: '0',
    DEVNET_RELAY_PORT: '0',
    DEVNET_HEALTH_PORT: '0',
    DEVNET_METRICS_PORT: '0',
    DEVNET_MINER_METRICS_PORT: '0',
    DEVNET_RPC_PORT: String(await freePort()),
    DEVNET_GRPC_PORT: String(await freePort()),
    DEVNET_BACKEND_PORT: '0',
    DEVNET_WS_BACKEND_PORT: '0',
    DEVNET_GRPC_BACKEND_PORT: '0',
    DEVNET_RELAY_GRPC_PORT: '0',
    DEVNET_MINER2_METRICS_PORT: '0',
  };
}

/** Starts a command that ends in the devnet (with secondStarted, until its second miner has started too); resolves with its private Redis port and second miner's pid. */
async function startDevnet(
  command: string,
  args: string[],
  o: { ownGroup?: boolean; secondStarted?: boolean } = {},
): Promise<{ child: ChildProcess; redisPort: string; secondPid: number; devnetPid: number; exit: Promise<number | null>; output: () => string }> {
  // ownGroup: the command leads a process group of its own, as a terminal's foreground job does.
  const child = spawn(...withoutTapHook(command, args), { cwd: ROOT, env: await devnetEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: o.ownGroup === true });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  // Generous: in the parallel run on two cores a devnet (localnet, Redis, relayer, two miners) has taken over 30 s to start.
  await until('the devnet and its second miner', () => /second miner replica \(devnet-b\) started, pid \d+/.test(stderr) && /"roles":"relayer,miner".*"msg":"relayminer started"/.test(stdout) && (!o.secondStarted || /"roles":"miner".*"msg":"relayminer started"/.test(stdout)), 60_000).catch((err: Error) => {
    child.kill('SIGTERM');
    throw new Error(`${err.message}; its last output:\n${(stderr + stdout).split('\n').slice(-15).join('\n')}`);
  });
  // The second miner's lines share this stdout; the devnet's own process runs both roles.
  const started = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'relayminer started' && l.roles === 'relayer,miner')!;
  return {
    child,
    redisPort: String(started.redis).split(':').at(-1)!,
    secondPid: Number(/second miner replica \(devnet-b\) started, pid (\d+)/.exec(stderr)![1]),
    devnetPid: Number(started.pid),
    exit,
    output: () => stderr + stdout,
  };
}

const redisAnswers = (port: string) => spawnSync('redis-cli', ['-p', port, 'ping'], { encoding: 'utf8' }).stdout.includes('PONG');

t.test('the devnet killed with SIGKILL leaves no redis-server and no second miner behind', async (t) => {
  const d = await startDevnet(process.execPath, ['dist/cli/main.js', 'start', '--dev']);
  t.teardown(() => void (isAlive(d.secondPid) && process.kill(d.secondPid, 'SIGKILL')));
  t.ok(redisAnswers(d.redisPort) && isAlive(d.secondPid), 'both running');
  d.child.kill('SIGKILL');
  await d.exit;
  await until('the second miner gone', () => !isAlive(d.secondPid), 15_000);
  await until('the private redis-server gone', () => !redisAnswers(d.redisPort), 15_000);
  t.pass('nothing left');
});

t.test('SIGINT or SIGTERM to the npm process alone stops the whole devnet', async (t) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const d = await startDevnet('npm', ['run', '--silent', 'devnet']);
    t.teardown(() => void (isAlive(d.devnetPid) && process.kill(d.devnetPid, 'SIGKILL')));
    t.not(d.devnetPid, d.child.pid, 'npm is not the devnet itself');
    d.child.kill(signal); // npm's pid only, as docker stop or a supervisor sends it
    t.equal(await d.exit, 0, `${signal}: npm exits 0 with the devnet`);
    await until(`${signal}: the devnet gone`, () => !isAlive(d.devnetPid), 20_000);
    await until(`${signal}: the second miner gone`, () => !isAlive(d.secondPid), 15_000);
    await until(`${signal}: the private redis-server gone`, () => !redisAnswers(d.redisPort), 15_000);
    t.pass(`${signal}: nothing left`);
  }
});

t.test('Ctrl-C at a terminal (SIGINT to the whole foreground group): the devnet stops its Redis and second miner itself, after its own shutdown', async (t) => {
  const d = await startDevnet('npm', ['run', '--silent', 'devnet'], { ownGroup: true, secondStarted: true });
  t.teardown(() => void (isAlive(d.devnetPid) && process.kill(d.devnetPid, 'SIGKILL')));
  process.kill(-d.child.pid!, 'SIGINT');
  t.equal(await d.exit, 0, 'npm exits 0 with the devnet');
  await until('the devnet gone', () => !isAlive(d.devnetPid), 20_000);
  const lines = d.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const stopped = lines.filter((l) => l.msg === 'relayminer stopped');
  t.same(stopped.map((l) => [l.roles, l.timedOut]).sort(), [['miner', false], ['relayer,miner', false]], 'both miners stopped without the drain timeout, and the second one is heard');
  // Only what Redis's absence would cause: the chain-facing lines (a stake warning, a settlement query cut short as
  // the localnet stops) depend on where the first block falls against the signal.
  const aboutRedis = lines.filter((l) => Number(l.level) >= 40 && /redis|lease|stream|relay store|shutdown/i.test(JSON.stringify(l)));
  t.same(aboutRedis.map((l) => l.msg), [], 'no warning about Redis: it was there until the end');
  t.notOk(redisAnswers(d.redisPort) || isAlive(d.secondPid), 'nothing left');
});

t.test('a port the devnet needs is taken: one line naming the listener and what moves the ports, exit 1, no stack, its redis-server stopped', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = String((taken.address() as AddressInfo).port);
  const cases: [string, string][] = [
    ['DEVNET_RPC_PORT', `localnet CometBFT RPC cannot listen on 127.0.0.1:${port}`],
    ['DEVNET_WS_BACKEND_PORT', `demo WebSocket backend cannot listen on 127.0.0.1:${port}`],
    ['DEVNET_RELAY_PORT', `relayer.listen_address: cannot listen on 127.0.0.1:${port}`],
  ];
  for (const [variable, what] of cases) {
    const r = await cliAsync(['start', '--dev'], { ...(await devnetEnv()), [variable]: port });
    t.equal(r.code, 1, variable);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    t.equal(last.slice(0, last.indexOf('. ')), `relayminer: devnet: ${what}: address already in use`, variable);
    t.match(last, /\. The devnet's ports move with DEVNET_RPC_PORT \(26657\), .*DEVNET_MINER2_METRICS_PORT \(9093\)$/);
    t.notMatch(r.stderr + r.stdout, /\n\s+at /, 'no stack');
    const redisPort = /started redis-server on redis:\/\/127\.0\.0\.1:(\d+)/.exec(r.stderr)?.[1];
    t.ok(redisPort, 'a private redis-server was started');
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(Number(redisPort), '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(true));
    });
    t.ok(refused, `${variable}: the private redis-server is stopped`);
  }
});

t.test('no redis-server on the PATH: one line saying what to install or set, exit 1, no stack', async (t) => {
  const bin = tempDir(t, 'relayminer-path');
  symlinkSync(process.execPath, join(bin, 'node'));
  const r = await cliAsync(['start', '--dev'], { ...(await devnetEnv()), PATH: bin });
  t.equal(r.code, 1);
  t.equal(r.stderr, 'relayminer: redis-server is not on the PATH: install it (apt-get install redis-server), or set REDIS_URL to a Redis of yours\n');
});
