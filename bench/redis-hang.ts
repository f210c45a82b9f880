import { Pool } from 'undici';
import { RelayResponseCodec } from '../core/protocol/messages.js';
import { pct, rssMb, runBench, startBenchChain, startBenchRelayer, type BenchChain } from './harness.js';
import { presignedRelays, startJsonRpcBackend } from './http-load.js';
import { metricSum } from './metrics-text.js';
import { table } from './table.js';

/**
 * One relayer at a steady open-loop rate while Redis stops answering (SIGSTOP) for HANG_MS, then answers
 * again (SIGCONT): what gateways see in each phase, by when each relay was sent. The baseline is the same
 * relayer in the same run with Redis answering (the phase before the hang). Run once with the meter's
 * default `fail_mode: open`, once with `closed`, and with the default `redis.pool.command_timeout_ms` (5 s).
 * Run: npm run bench:redis-hang  (RATE=300 HANG_MS=20000 PHASE_MS=5000 to change the plan)
 */

const RATE = Number(process.env.RATE ?? 300);
const HANG_MS = Number(process.env.HANG_MS ?? 20_000);
const PHASE_MS = Number(process.env.PHASE_MS ?? 5000);
const WARMUP_MS = 5000;
/** `redis.pool.command_timeout_ms`'s default: the first relays of a hang wait it out. */
const COMMAND_TIMEOUT_MS = 5000;

interface Sent {
  at: number;
  ms: number;
  outcome: 'served' | 'refused' | 'failed';
}

/** Relays sent in the second before the hang may still be in flight when it begins: they count with its start. */
const PHASES = [
  { name: 'Redis answering (baseline)', from: 0, to: PHASE_MS - 1000 },
  { name: `hang, first ${COMMAND_TIMEOUT_MS / 1000} s (and the second before)`, from: PHASE_MS - 1000, to: PHASE_MS + COMMAND_TIMEOUT_MS },
  { name: `hang, ${COMMAND_TIMEOUT_MS / 1000}–${HANG_MS / 1000} s`, from: PHASE_MS + COMMAND_TIMEOUT_MS, to: PHASE_MS + HANG_MS },
  { name: 'answering again', from: PHASE_MS + HANG_MS, to: 2 * PHASE_MS + HANG_MS },
];

/** Open loop at RATE for `ms`; each relay's latency from when it was due, and whether it was served or refused. */
async function load(pool: Pool, bodies: Uint8Array[], ms: number, at: (sent: Sent) => void): Promise<void> {
  const began = performance.now();
  const inflight = new Set<Promise<void>>();
  let sent = 0;
  while (performance.now() - began < ms) {
    const due = Math.floor(((performance.now() - began) / 1000) * RATE);
    for (; sent < due; sent++) {
      const dueAt = began + (sent * 1000) / RATE;
      const body = Buffer.from(bodies[sent % bodies.length]!);
      const p = pool
        .request({ method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'rpc-type': '3' }, body })
        .then(async (res) => {
          const answer = new Uint8Array(await res.body.arrayBuffer());
          const refused = res.statusCode !== 200 || RelayResponseCodec.decode(answer).relay_miner_error !== undefined;
          return refused ? ('refused' as const) : ('served' as const);
        })
        .catch(() => 'failed' as const)
        .then((outcome) => at({ at: dueAt - began, ms: performance.now() - dueAt, outcome }))
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inflight);
}

async function scenario(chain: BenchChain, backendUrl: string, bodies: Uint8Array[], failMode: 'open' | 'closed'): Promise<(string | number)[][]> {
  const relayer = await startBenchRelayer(chain, {
    services: `  anvil:\n    backends:\n      jsonrpc: { url: "${backendUrl}" }`,
    plugins: '  - transport-jsonrpc',
    relayerYaml: `  meter: { fail_mode: ${failMode} }`,
  });
  // Enough connections that no relay waits for one behind relays held by the hang.
  const pool = new Pool(`http://127.0.0.1:${relayer.relayPort}`, { connections: 2048 });
  const metrics = async () => (await fetch(`http://127.0.0.1:${relayer.metricsPort}/metrics`)).text();
  try {
    await load(pool, bodies, WARMUP_MS, () => {});
    const before = await metrics();
    const sent: Sent[] = [];
    let rssPeak = 0;
    let answering = '';
    const watch = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(relayer.child.pid!))), 500);
    const hang = setTimeout(() => {
      chain.redis.pause();
      // Sampled mid-hang: the relayer's own view of Redis.
      setTimeout(() => void metrics().then((m) => (answering = /^relayminer_redis_answering (\d)/m.exec(m)?.[1] ?? 'absent')), COMMAND_TIMEOUT_MS + 2000);
    }, PHASE_MS);
    const resume = setTimeout(() => chain.redis.resume(), PHASE_MS + HANG_MS);
    await load(pool, bodies, 2 * PHASE_MS + HANG_MS, (s) => sent.push(s));
    clearTimeout(hang);
    clearTimeout(resume);
    clearInterval(watch);
    chain.redis.resume();
    const after = await metrics();
    const delta = (name: string) => metricSum(after, name) - metricSum(before, name);
    process.stderr.write(
      `fail_mode ${failMode}: unmetered ${delta('relayminer_meter_fail_open_total')}, publish failures ${delta('relayminer_relay_publish_failures_total')}, relayminer_redis_answering mid-hang ${answering}, RSS peak ${rssPeak.toFixed(0)} MB\n`,
    );
    return PHASES.map((phase) => {
      const xs = sent.filter((s) => s.at >= phase.from && s.at < phase.to);
      const ms = xs.map((s) => s.ms).sort((a, b) => a - b);
      const count = (o: Sent['outcome']) => xs.filter((s) => s.outcome === o).length;
      const f = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
      return [`fail_mode ${failMode}`, phase.name, xs.length, count('served'), count('refused'), count('failed'), f(pct(ms, 50)), f(pct(ms, 95)), f(pct(ms, 99)), f(ms.at(-1) ?? NaN), `${rssPeak.toFixed(0)}`, answering];
    });
  } finally {
    chain.redis.resume();
    await pool.close();
    await relayer.stop();
  }
}

async function main(): Promise<void> {
  const chain = await startBenchChain();
  const backend = await startJsonRpcBackend();
  try {
    const bodies = presignedRelays(chain.header, 2000);
    const rows = [...(await scenario(chain, backend.url, bodies, 'open')), ...(await scenario(chain, backend.url, bodies, 'closed'))];
    process.stdout.write(
      table(
        `One relayer at ${RATE} relays/s (open loop) while Redis does not answer for ${HANG_MS / 1000} s (SIGSTOP), redis.pool.command_timeout_ms ${COMMAND_TIMEOUT_MS}; relays by when they were sent (node ${process.version})`,
        ['meter', 'phase', 'relays', 'served', 'refused', 'failed', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'RSS peak MB', 'redis_answering mid-hang'],
        rows,
      ) + '\n',
    );
  } finally {
    backend.close();
    await chain.stop();
  }
}

runBench(main);
