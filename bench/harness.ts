import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { RELAYER_NODE_FLAGS } from '../cli/node-flags.js';
import { ChainQueryClient } from '../core/chain/query-client.js';
import { publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import type { SessionHeader } from '../core/protocol/messages.js';
import { freePort, LocalRedisServer } from '../core/redis/local-server.js';
import { parseGenesis, startLocalnet, type RunningLocalnet } from '../localnet/index.js';
import { table } from './table.js';

/** What every relayer benchmark needs: Redis, a chain held in one session, keys, and the relayer process. */

export const KEYS = {
  app1: '2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a',
  gateway1: 'cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177',
  supplier1: 'f09f3ab6251bdc1e0fc31f804f198df6e6df6152d41518ba73abcbe3987e2515',
};
export const key = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
export const APP1 = 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4';
export const SUPPLIER1 = 'pokt1tt7l5gu99zdpc7qnaty77xspta94dprls4xwz7';
export const RING = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));
export const SUPPLIER_PUB = publicKeyFromPrivateKey(key(KEYS.supplier1));
const CLK_TCK = 100;

export interface BenchChain {
  redis: LocalRedisServer;
  /** What the relayer is given: the server's TCP URL, or its unix socket under REDIS_SOCKET=1. */
  redisUrl: string;
  net: RunningLocalnet;
  /** app1's session on anvil, [11, 20]; blocks are manual so it lasts the whole run. */
  header: SessionHeader;
  stop(): Promise<void>;
}

/**
 * PIN=1: the measured process (relayer or baseline proxy) gets the last core to itself, and this process
 * (load generator, backend, localnet) with Redis gets the others, so what is measured is one process on one
 * core, not the share of two cores it won from the load generator. Needs taskset (util-linux).
 */
export const PIN = process.env.PIN === '1';
const MEASURED_CORE = availableParallelism() - 1;

/**
 * The command that runs `args` under node on the measured core (as is, unless PIN), with the V8 flags the
 * container image starts node with (a relayer and the plain proxy alike; RELAYER_NODE_ARGS may override them).
 */
export function measured(args: string[]): [string, string[]] {
  const node = [...RELAYER_NODE_FLAGS, ...args];
  return PIN ? ['taskset', ['--cpu-list', String(MEASURED_CORE), process.execPath, ...node]] : [process.execPath, node];
}

/** Under PIN, moves every thread of this process off the measured core; children started later follow. */
function pinHarness(): void {
  if (!PIN) return;
  if (MEASURED_CORE < 1) throw new Error('PIN=1 needs at least two cores');
  const r = spawnSync('taskset', ['--all-tasks', '--cpu-list', '--pid', `0-${MEASURED_CORE - 1}`, String(process.pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset failed: ${r.error?.message ?? r.stderr}`);
  process.stderr.write(`PIN=1: measured process on core ${MEASURED_CORE}, the harness on 0-${MEASURED_CORE - 1}\n`);
}

export async function startBenchChain(): Promise<BenchChain> {
  pinHarness();
  const socketDir = process.env.REDIS_SOCKET === '1' ? mkdtempSync(join(tmpdir(), 'relayminer-bench-sock-')) : undefined;
  const redis = await LocalRedisServer.start(socketDir ? { args: ['--unixsocket', join(socketDir, 'redis.sock'), '--unixsocketperm', '700'] } : {});
  const redisUrl = socketDir ? `unix://${join(socketDir, 'redis.sock')}` : redis.url;
  const genesis = readFileSync(join(PACKAGE_ROOT, 'examples/localnet/genesis.yaml'), 'utf8').replace('block_interval_ms: 1000', 'block_interval_ms: 0');
  const net = await startLocalnet(parseGenesis(genesis), { rpcAddress: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', log: pino({ level: 'silent' }) });
  net.chain.advance(11);
  const q = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 5000 });
  const header = (await q.session(APP1, 'anvil', 12n)).header;
  q.close();
  return {
    redis,
    redisUrl,
    net,
    header,
    async stop() {
      await net.stop();
      await redis.stop();
      if (socketDir) rmSync(socketDir, { recursive: true, force: true });
    },
  };
}

export interface BenchRelayer {
  child: ChildProcess;
  relayPort: number;
  healthPort: number;
  metricsPort: number;
  log: string;
  stop(): Promise<void>;
}

/**
 * One relayer process (dist/cli/main.js) for the chain, with `services` and `plugins` YAML.
 * RELAYER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") and RELAYER_YAML (extra relayer keys, after the
 * suite's own `relayerYaml`) apply.
 */
export async function startBenchRelayer(chain: BenchChain, o: { services: string; plugins: string; workers?: number; relayerYaml?: string }): Promise<BenchRelayer> {
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-bench-'));
  const [relayPort, healthPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'relayer.yaml'),
    `relayer:
  listen_address: "127.0.0.1:${relayPort}"
  health_address: "127.0.0.1:${healthPort}"
  metrics_address: "127.0.0.1:${metricsPort}"
  redis: { url: "${chain.redisUrl}", namespace: bench }
  pocket_node: { rpc_url: "http://${chain.net.rpcAddress}", grpc_address: "${chain.net.grpcAddress}" }
  supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }]
${o.relayerYaml ?? ''}
${process.env.RELAYER_YAML ?? ''}
services:
${o.services}
plugins:
${o.plugins}
logging: { level: warn, format: json }
`,
  );
  const nodeArgs = (process.env.RELAYER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const log = join(dir, 'relayer.log');
  const [command, args] = measured([...nodeArgs, join(PACKAGE_ROOT, 'dist/cli/main.js'), 'relayer', '-c', join(dir, 'relayer.yaml'), '--workers', String(o.workers ?? 1)]);
  const child = spawn(command, args, {
    stdio: ['ignore', openSync(log, 'w'), 'inherit'],
  });
  process.stderr.write(`relayer log: ${log}\n`);
  await waitFor('relayer /ready', async () => (await fetch(`http://127.0.0.1:${healthPort}/ready`)).status === 200);
  return { child, relayPort, healthPort, metricsPort, log, stop: () => stopChild(child) };
}

export interface BaselineProxy {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/**
 * The plain fastify proxy (baseline-proxy.ts) in front of `backendUrl`, ready; under PIN=1 on the measured
 * core. `nodeArgs` go to its node (e.g. `--trace-gc-nvp`), and its stdout to the `stdout` file descriptor.
 */
export async function startBaselineProxy(backendUrl: string, o: { nodeArgs?: string[]; stdout?: number } = {}): Promise<BaselineProxy> {
  const port = await freePort();
  const child = spawn(...measured([...(o.nodeArgs ?? []), join(PACKAGE_ROOT, 'dist/bench/baseline-proxy.js'), String(port), backendUrl]), { stdio: ['ignore', o.stdout ?? 'ignore', 'inherit'] });
  const stop = () => stopChild(child);
  try {
    await waitFor('baseline', async () => (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' })).status === 200);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, port, stop };
}

/** SIGTERM and wait: the relayer drains and exits (and writes a CPU profile when asked for one). */
export function stopChild(c: ChildProcess): Promise<void> {
  return new Promise<void>((r) => (c.exitCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))));
}

/** The process and its children (cluster workers). */
function tree(pid: number): number[] {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return [pid, ...kids.flatMap(tree)];
}

/** CPU time (user + system, all threads) of a process tree, in ms. */
export function cpuMs(pid: number): number {
  const ticks = tree(pid).reduce((sum, p) => {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return sum + Number(fields[11]) + Number(fields[12]);
  }, 0);
  return (ticks * 1000) / CLK_TCK;
}

/**
 * A process's main thread from the scheduler's side (/proc/<pid>/task/<pid>/schedstat), in ms: time on a
 * core, and time runnable but waiting for one (the cores taken by the other processes on the machine).
 */
export function mainThreadSchedMs(pid: number): { onCpu: number; waiting: number } {
  const [onCpu, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
  return { onCpu: onCpu! / 1e6, waiting: waiting! / 1e6 };
}

/** CPU time (user + system) a Redis server reports for itself, in ms. */
export async function redisCpuMs(redis: { info(section: string): Promise<string> }): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

export function rssMb(pid: number): number {
  return tree(pid).reduce((sum, p) => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    return sum + (m ? Number(m[1]) / 1024 : 0);
  }, 0);
}

/** p-th percentile of an ascending array. */
export const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : NaN);

export async function waitFor(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One measured mode against one target; rows come in (direct backend, relayer) pairs. */
export interface MessageRow {
  mode: string;
  target: string;
  rate: number;
  p50: number;
  p99: number;
  cpuPerMsg: number | undefined;
  errors: number;
}

/** The table of paired rows, each relayer row with its ratio to the direct row before it. */
export function pairedTable(title: string, rows: MessageRow[]): string {
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '');
  return (
    table(
      title,
      ['mode', 'target', 'messages/s', 'p50 ms', 'p99 ms', 'relayer CPU ms/msg', 'errors', 'ratio'],
      rows.map((r, i) => {
        const base = rows[i - (i % 2)]!;
        return [r.mode, r.target, r.rate.toFixed(0), f(r.p50), f(r.p99), r.cpuPerMsg === undefined ? '' : f(r.cpuPerMsg), r.errors, (r.rate / base.rate).toFixed(2)];
      }),
    ) + '\n'
  );
}

/** Runs a bench's main and exits with its outcome. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
