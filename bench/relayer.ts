import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { ChainQueryClient } from '../core/chain/query-client.js';
import { publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { RelayResponseCodec } from '../core/protocol/messages.js';
import { freePort, LocalRedisServer } from '../core/redis/local-server.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest } from '../core/relay/relay-client.js';
import { parseGenesis, startLocalnet } from '../localnet/index.js';
import { table } from './table.js';

/**
 * One relayer process (full eager validation, meter, signing, mining, publishing to Redis) against a
 * local backend, and in the same run the same backend behind a plain fastify proxy (bench/baseline-proxy)
 * as the baseline. Open-loop steps at fixed rates, then a closed loop for the maximum.
 * Run: npm run bench:relayer  (RATES=500,1000 STEP_MS=4000 PRESIGNED=4000 WORKERS=2 to change the plan)
 */

const RATES = (process.env.RATES ?? '500,1000,1500,2000,3000').split(',').map(Number);
const STEP_MS = Number(process.env.STEP_MS ?? 4000);
const PRESIGNED = Number(process.env.PRESIGNED ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const CLK_TCK = 100;
const WORKERS = Number(process.env.WORKERS ?? 1);

const KEYS = {
  app1: '2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a',
  gateway1: 'cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177',
  supplier1: 'f09f3ab6251bdc1e0fc31f804f198df6e6df6152d41518ba73abcbe3987e2515',
};
const key = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
const APP1 = 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4';
const SUPPLIER1 = 'pokt1tt7l5gu99zdpc7qnaty77xspta94dprls4xwz7';

interface Step {
  target: string;
  offered: string;
  achieved: number;
  p50: number;
  p95: number;
  p99: number;
  cpuMsPerRelay: number;
  rssMb: number;
  errors: number;
  /** Inside the relayer (its duration histogram; bucket upper bounds), relayer steps only. */
  innerP50?: number;
  innerP99?: number;
}

/** The process and its children (cluster workers). */
function tree(pid: number): number[] {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return [pid, ...kids.flatMap(tree)];
}

function cpuTicks(pid: number): number {
  return tree(pid).reduce((sum, p) => {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return sum + Number(fields[11]) + Number(fields[12]);
  }, 0);
}

function rssMb(pid: number): number {
  return tree(pid).reduce((sum, p) => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    return sum + (m ? Number(m[1]) / 1024 : 0);
  }, 0);
}

/** Cumulative bucket counts of relayminer_relay_duration_seconds, summed over label sets. */
async function durationBuckets(metricsUrl: string): Promise<Map<number, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^relayminer_relay_duration_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/gm)) {
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    out.set(le, (out.get(le) ?? 0) + Number(m[2]));
  }
  return out;
}

/** Upper bound of the bucket holding the p-th percentile of what happened between two scrapes. */
function bucketPercentile(before: Map<number, number>, after: Map<number, number>, p: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const le of les) if ((after.get(le)! - (before.get(le) ?? 0)) >= (total * p) / 100) return le * 1000;
  return NaN;
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : NaN);

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Sends `bodies` round robin; open loop at `rate`/s, or closed loop with CONCURRENCY when rate is 0. */
async function drive(pool: Pool, bodies: Uint8Array[], rate: number, ms: number, check: (b: Uint8Array, i: number) => boolean) {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const one = async () => {
    const i = next++;
    const started = performance.now();
    try {
      const res = await pool.request({ method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'rpc-type': '3' }, body: Buffer.from(bodies[i % bodies.length]!) });
      const body = new Uint8Array(await res.body.arrayBuffer());
      latencies.push(performance.now() - started);
      if (res.statusCode !== 200 || !check(body, i)) errors++;
    } catch {
      errors++;
    }
  };
  const began = performance.now();
  const inflight = new Set<Promise<void>>();
  if (rate > 0) {
    let sent = 0;
    while (performance.now() - began < ms) {
      const due = Math.floor(((performance.now() - began) / 1000) * rate);
      for (; sent < due; sent++) {
        const p = one().finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  } else {
    const worker = async () => {
      while (performance.now() - began < ms) await one();
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }
  await Promise.all(inflight);
  const elapsed = performance.now() - began;
  latencies.sort((a, b) => a - b);
  return { completed: latencies.length, elapsedMs: elapsed, latencies, errors };
}

async function main(): Promise<void> {
  const redis = await LocalRedisServer.start();
  const genesis = readFileSync(join(PACKAGE_ROOT, 'examples/localnet/genesis.yaml'), 'utf8').replace('block_interval_ms: 1000', 'block_interval_ms: 0');
  const silent = (await import('pino')).pino({ level: 'silent' });
  const net = await startLocalnet(parseGenesis(genesis), { rpcAddress: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', log: silent });
  net.chain.advance(11); // one session [11, 20] for the whole run: blocks are manual
  const answer = Buffer.from('{"jsonrpc":"2.0","id":1,"result":"0x1234"}');
  const backend = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length }).end(answer));
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const backendUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}`;
  const children: ChildProcess[] = [];
  const cleanup = async () => {
    // SIGTERM: the relayer drains and exits (and writes a CPU profile when asked for one).
    await Promise.all(children.map((c) => new Promise<void>((r) => (c.exitCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))))));
    backend.closeAllConnections();
    backend.close();
    await net.stop();
    await redis.stop();
  };
  try {
    const q = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 5000 });
    const header = (await q.session(APP1, 'anvil', 12n)).header;
    q.close();
    const ring = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));
    const payload = encodeHttpPayload({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' });
    const t0 = performance.now();
    const bodies = Array.from({ length: PRESIGNED }, () => encodeRelayRequest(buildRelayRequest({ header, supplierAddress: SUPPLIER1, payload, signerKey: key(KEYS.gateway1), ring })));
    process.stderr.write(`pre-signed ${PRESIGNED} distinct relays in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    const dir = mkdtempSync(join(tmpdir(), 'relayminer-bench-'));
    const [relayPort, healthPort, metricsPort, basePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    writeFileSync(
      join(dir, 'relayer.yaml'),
      `relayer:
  listen_address: "127.0.0.1:${relayPort}"
  health_address: "127.0.0.1:${healthPort}"
  metrics_address: "127.0.0.1:${metricsPort}"
  redis: { url: "${redis.url}", namespace: bench }
  pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }
  supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }]
${process.env.RELAYER_YAML ?? ""}
services:
  anvil:
    backends:
      jsonrpc: { url: "${backendUrl}" }
plugins: [transport-jsonrpc]
logging: { level: warn, format: json }
`,
    );
    // RELAYER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the relayer under load.
    const nodeArgs = (process.env.RELAYER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const relayer = spawn(process.execPath, [...nodeArgs, join(PACKAGE_ROOT, 'dist/cli/main.js'), 'relayer', '-c', join(dir, 'relayer.yaml'), '--workers', String(WORKERS)], {
      stdio: ['ignore', openSync(join(dir, 'relayer.log'), 'w'), 'inherit'],
    });
    process.stderr.write(`relayer log: ${join(dir, 'relayer.log')}\n`);
    const baseline = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist/bench/baseline-proxy.js'), String(basePort), backendUrl], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(relayer, baseline);
    await waitFor('relayer /ready', async () => (await fetch(`http://127.0.0.1:${healthPort}/ready`)).status === 200);
    await waitFor('baseline', async () => (await fetch(`http://127.0.0.1:${basePort}/`, { method: 'POST', body: '{}' })).status === 200);

    const supplierPub = publicKeyFromPrivateKey(key(KEYS.supplier1));
    // Every answer is decoded; one in 50 also has its supplier signature verified (the client's CPU is shared).
    const relayCheck = (b: Uint8Array, i: number) => (i % 50 === 0 ? checkRelayResponse(b, supplierPub).ok : !RelayResponseCodec.decode(b).relay_miner_error);
    const steps: Step[] = [];
    for (const [name, port, proc, check] of [
      ['baseline proxy', basePort, baseline, () => true],
      [WORKERS > 1 ? `relayer ×${WORKERS}` : 'relayer', relayPort, relayer, relayCheck],
    ] as const) {
      const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
      await drive(pool, bodies, 300, 1000, check); // warm-up: JIT, caches, connections
      const metricsUrl = port === relayPort ? `http://127.0.0.1:${metricsPort}/metrics` : undefined;
      for (const rate of [...RATES, 0]) {
        const cpu0 = cpuTicks(proc.pid!);
        const h0 = metricsUrl ? await durationBuckets(metricsUrl) : undefined;
        const r = await drive(pool, bodies, rate, STEP_MS, check);
        const cpuMs = ((cpuTicks(proc.pid!) - cpu0) * 1000) / CLK_TCK;
        const h1 = metricsUrl ? await durationBuckets(metricsUrl) : undefined;
        steps.push({
          target: name,
          offered: rate > 0 ? `${rate}/s` : `max (${CONCURRENCY} conc.)`,
          achieved: (r.completed / r.elapsedMs) * 1000,
          p50: pct(r.latencies, 50),
          p95: pct(r.latencies, 95),
          p99: pct(r.latencies, 99),
          cpuMsPerRelay: cpuMs / Math.max(1, r.completed),
          rssMb: rssMb(proc.pid!),
          errors: r.errors,
          innerP50: h0 && h1 ? bucketPercentile(h0, h1, 50) : undefined,
          innerP99: h0 && h1 ? bucketPercentile(h0, h1, 99) : undefined,
        });
        process.stderr.write(`${name} ${steps.at(-1)!.offered}: ${steps.at(-1)!.achieved.toFixed(0)}/s\n`);
      }
      await pool.close();
    }
    const mined = await (async () => {
      const { Redis } = await import('ioredis');
      const c = new Redis(redis.url);
      const n = await c.xlen(`bench:relays:{${SUPPLIER1}}`).catch(() => -1);
      c.disconnect();
      return n;
    })();

    const f = (n: number) => n.toFixed(2);
    process.stdout.write(
      table(
        `Relayer vs plain proxy, one process each, ${STEP_MS / 1000} s per step (node ${process.version}, ${PRESIGNED} pre-signed relays)`,
        ['target', 'offered', 'relays/s', 'p50 ms', 'p95 ms', 'p99 ms', 'inside p50 / p99 ms', 'CPU ms/relay', 'RSS MB', 'errors'],
        steps.map((s) => [
          s.target,
          s.offered,
          s.achieved.toFixed(0),
          f(s.p50),
          f(s.p95),
          f(s.p99),
          s.innerP50 === undefined ? '' : `≤ ${s.innerP50} / ≤ ${s.innerP99}`,
          f(s.cpuMsPerRelay),
          s.rssMb.toFixed(0),
          s.errors,
        ]),
      ) + '\n',
    );
    const base = steps.filter((s) => s.target === 'baseline proxy');
    const rel = steps.filter((s) => s.target.startsWith('relayer'));
    const maxBase = base.at(-1)!.achieved;
    const maxRel = rel.at(-1)!.achieved;
    const at500 = (xs: Step[]) => xs.find((s) => s.offered === '500/s');
    const added = at500(rel) && at500(base) ? at500(rel)!.p50 - at500(base)!.p50 : NaN;
    process.stdout.write(
      `\nmax relays/s: relayer ${maxRel.toFixed(0)} vs baseline ${maxBase.toFixed(0)} (ratio ${(maxRel / maxBase).toFixed(2)}); ` +
        `p50 added at 500/s: ${added.toFixed(2)} ms; relays in the stream: ${mined}\n`,
    );
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
