import { Pool } from 'undici';
import { RelayResponseCodec } from '../core/protocol/messages.js';
import { checkRelayResponse } from '../core/relay/relay-client.js';
import { cpuMs, mainThreadSchedMs, pct, PIN, rssMb, runBench, startBaselineProxy, startBenchChain, startBenchRelayer, SUPPLIER1, SUPPLIER_PUB } from './harness.js';
import { drive, presignedRelays, startJsonRpcBackend } from './http-load.js';
import { metricSum } from './metrics-text.js';
import { RUNS, type SpreadRow, spreadTable, table } from './table.js';
import { EVENT_LOOP_SAMPLING_MS } from '../core/observability/metrics.js';

/**
 * One relayer process (full eager validation, meter, signing, mining, publishing to Redis) against a
 * local backend, and in the same run the same backend behind a plain fastify proxy (bench/baseline-proxy)
 * as the baseline. Open-loop steps at fixed rates, then a closed loop for the maximum.
 * Each target is warmed up first (WARMUP_MS at WARMUP_RATE): a relayer's first seconds of traffic, before its JIT,
 * caches and heap settle, cost it far more CPU and latency per relay than its steady state.
 * Run: npm run bench:relayer  (RATES=500,1000 STEP_MS=4000 WARMUP_MS=10000 PRESIGNED=4000 WORKERS=2 to change the plan;
 * PIN=1 for the measured process alone on a core)
 */

const RATES = (process.env.RATES ?? '500,1000,1500,2000,3000').split(',').map(Number);
const STEP_MS = Number(process.env.STEP_MS ?? 4000);
const PRESIGNED = Number(process.env.PRESIGNED ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const WORKERS = Number(process.env.WORKERS ?? 1);
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 10_000);
const WARMUP_RATE = Number(process.env.WARMUP_RATE ?? 500);
const ANSWER_BYTES = Number(process.env.ANSWER_BYTES ?? 0);
const BACKEND_MS = Number(process.env.BACKEND_MS ?? 0);

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
  /** The relayer's own share at p99 (its overhead histogram: the duration less the backend's time; a bucket bound). */
  ownP99?: number;
  /** The relayer's event-loop delay during the step (monitorEventLoopDelay, ms) and its GC pauses (ms in all). */
  loop?: { p50: number; p99: number; max: number; gcMs: number };
  /**
   * The serving process's main thread over the step (its schedstat), ms per second: runnable but waiting for a
   * core (the other threads and processes on the machine had them). Not taken for `--workers`, whose relays run
   * in the workers.
   */
  waitingMsPerS?: number;
}

/** One scrape of the relayer's /metrics. Scraping resets prom-client's event-loop delay histogram. */
async function scrape(metricsUrl: string): Promise<string> {
  return (await fetch(metricsUrl)).text();
}

/** The event-loop delay since the last scrape, and GC pause time between two scrapes. */
function loopStats(before: string, after: string): NonNullable<Step['loop']> {
  const ms = (name: string) => metricSum(after, name) * 1000;
  return { p50: ms('nodejs_eventloop_lag_p50_seconds'), p99: ms('nodejs_eventloop_lag_p99_seconds'), max: ms('nodejs_eventloop_lag_max_seconds'), gcMs: (metricSum(after, 'nodejs_gc_duration_seconds_sum') - metricSum(before, 'nodejs_gc_duration_seconds_sum')) * 1000 };
}

/** Cumulative bucket counts of a histogram (relayminer_relay_duration_seconds by default), summed over label sets. */
function durationBuckets(text: string, histogram = 'relayminer_relay_duration_seconds'): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${histogram}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\d+)`, 'gm'))) {
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

/** One run: a fresh relayer and baseline proxy, each warmed up, then every step on both. */
async function oneRun(chain: Awaited<ReturnType<typeof startBenchChain>>, backendUrl: string, bodies: Uint8Array[]): Promise<Step[]> {
  const stops: (() => Promise<void>)[] = [];
  try {
    const relayer = await startBenchRelayer(chain, { services: `  anvil:\n    backends:\n      jsonrpc: { url: "${backendUrl}" }`, plugins: '  - transport-jsonrpc', workers: WORKERS });
    stops.push(relayer.stop);
    const { relayPort, metricsPort } = relayer;
    const proxy = await startBaselineProxy(backendUrl);
    stops.push(proxy.stop);
    const { port: basePort, child: baseline } = proxy;

    // Every answer is decoded; one in 50 also has its supplier signature verified (the client's CPU is shared).
    const relayCheck = (b: Uint8Array, i: number) => (i % 50 === 0 ? checkRelayResponse(b, SUPPLIER_PUB).ok : !RelayResponseCodec.decode(b).relay_miner_error);
    const steps: Step[] = [];
    for (const [name, port, proc, check] of [
      ['baseline proxy', basePort, baseline, () => true],
      [WORKERS > 1 ? `relayer ×${WORKERS}` : 'relayer', relayPort, relayer.child, relayCheck],
    ] as const) {
      const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
      await drive(pool, bodies, WARMUP_RATE, WARMUP_MS, check, CONCURRENCY); // warm-up: JIT, caches, heap, connections
      const metricsUrl = port === relayPort ? `http://127.0.0.1:${metricsPort}/metrics` : undefined;
      for (const rate of [...RATES, 0]) {
        const cpu0 = cpuMs(proc.pid!);
        const m0 = metricsUrl ? await scrape(metricsUrl) : undefined;
        const sched0 = mainThreadSchedMs(proc.pid!);
        const r = await drive(pool, bodies, rate, STEP_MS, check, CONCURRENCY);
        const waitingMs = mainThreadSchedMs(proc.pid!).waiting - sched0.waiting;
        const cpu = cpuMs(proc.pid!) - cpu0;
        const m1 = metricsUrl ? await scrape(metricsUrl) : undefined;
        const [h0, h1] = [m0 && durationBuckets(m0), m1 && durationBuckets(m1)];
        const [o0, o1] = [m0 && durationBuckets(m0, 'relayminer_relay_overhead_seconds'), m1 && durationBuckets(m1, 'relayminer_relay_overhead_seconds')];
        steps.push({
          target: name,
          offered: rate > 0 ? `${rate}/s` : `max (${CONCURRENCY} conc.)`,
          achieved: (r.completed / r.elapsedMs) * 1000,
          p50: pct(r.latencies, 50),
          p95: pct(r.latencies, 95),
          p99: pct(r.latencies, 99),
          cpuMsPerRelay: cpu / Math.max(1, r.completed),
          rssMb: rssMb(proc.pid!),
          errors: r.errors,
          innerP50: h0 && h1 ? bucketPercentile(h0, h1, 50) : undefined,
          innerP99: h0 && h1 ? bucketPercentile(h0, h1, 99) : undefined,
          ownP99: o0 && o1 ? bucketPercentile(o0, o1, 99) : undefined,
          loop: m0 && m1 ? loopStats(m0, m1) : undefined,
          waitingMsPerS: proc === relayer.child && WORKERS > 1 ? undefined : (waitingMs * 1000) / r.elapsedMs,
        });
        process.stderr.write(`${name} ${steps.at(-1)!.offered}: ${steps.at(-1)!.achieved.toFixed(0)}/s\n`);
      }
      await pool.close();
    }
    return steps;
  } finally {
    await Promise.all(stops.map((s) => s()));
  }
}

async function main(): Promise<void> {
  const chain = await startBenchChain();
  const backend = await startJsonRpcBackend(ANSWER_BYTES, BACKEND_MS);
  const backendUrl = backend.url;
  try {
    const t0 = performance.now();
    const bodies = presignedRelays(chain.header, PRESIGNED);
    process.stderr.write(`pre-signed ${PRESIGNED} distinct relays in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    const runs: Step[][] = [];
    for (let i = 0; i < RUNS; i++) {
      process.stderr.write(`run ${i + 1} of ${RUNS}\n`);
      runs.push(await oneRun(chain, backendUrl, bodies));
    }
    const mined = await (async () => {
      const { Redis } = await import('ioredis');
      const c = new Redis(chain.redis.url);
      const n = await c.xlen(`bench:relays:{${SUPPLIER1}}`).catch(() => -1);
      c.disconnect();
      return n;
    })();

    const steps = runs.at(-1)!;
    const f = (n: number) => n.toFixed(2);
    process.stdout.write(
      table(
        `Relayer vs plain proxy, one process each${PIN ? ', each alone on one core (PIN=1)' : ''}, ${STEP_MS / 1000} s per step after ${WARMUP_MS / 1000} s of warm-up at ${WARMUP_RATE}/s (node ${process.version}, ${PRESIGNED} pre-signed relays${ANSWER_BYTES ? `, answers of ~${ANSWER_BYTES} bytes` : ''}${BACKEND_MS ? `, the backend answering in ${BACKEND_MS / 2}–${BACKEND_MS * 1.5} ms` : ''}${RUNS > 1 ? `; the last of ${RUNS} runs` : ''})`,
        ['target', 'offered', 'relays/s', 'p50 ms', 'p95 ms', 'p99 ms', 'inside p50 / p99 (own p99) ms', 'loop delay p50 / p99 / max ms', 'GC ms', 'waiting for a core ms/s', 'CPU ms/relay', 'RSS MB', 'errors'],
        steps.map((s) => [
          s.target,
          s.offered,
          s.achieved.toFixed(0),
          f(s.p50),
          f(s.p95),
          f(s.p99),
          s.innerP50 === undefined ? '' : `≤ ${s.innerP50} / ≤ ${s.innerP99} (≤ ${s.ownP99})`,
          s.loop ? `${s.loop.p50.toFixed(1)} / ${s.loop.p99.toFixed(1)} / ${s.loop.max.toFixed(1)}` : '',
          s.loop ? s.loop.gcMs.toFixed(0) : '',
          s.waitingMsPerS === undefined ? '' : s.waitingMsPerS.toFixed(0),
          f(s.cpuMsPerRelay),
          s.rssMb.toFixed(0),
          s.errors,
        ]),
      ) + '\n',
    );
    process.stdout.write(spreadTable("Relayer targets across runs (added = relayer − proxy in the same run; loop delay past the 10 ms sampling interval; waiting: the process's main thread runnable without a core)", targetRows(runs)) + '\n');
    const last = summary(steps);
    process.stdout.write(
      `\nmax relays/s: relayer ${last.maxRelayer.toFixed(0)} vs baseline ${last.maxBaseline.toFixed(0)} (ratio ${(last.maxRelayer / last.maxBaseline).toFixed(2)}); ` +
        `relays in the stream: ${mined}\n`,
    );
  } finally {
    backend.close();
    await chain.stop();
  }
}

function summary(steps: Step[]) {
  const base = steps.filter((s) => s.target === 'baseline proxy');
  const rel = steps.filter((s) => s.target.startsWith('relayer'));
  const at = (xs: Step[], rate: number) => xs.find((s) => s.offered === `${rate}/s`);
  const added = (rate: number, p: 'p95' | 'p99') => {
    const [r, b] = [at(rel, rate), at(base, rate)];
    return r && b ? r[p] - b[p] : NaN;
  };
  return { rel, base, at, added, maxRelayer: rel.at(-1)!.achieved, maxBaseline: base.at(-1)!.achieved };
}

function targetRows(runs: Step[][]): SpreadRow[] {
  const s = runs.map(summary);
  const rows: SpreadRow[] = [];
  for (const rate of [500, 1000].filter((r) => RATES.includes(r))) {
    rows.push({ name: `p95 added at ${rate}/s, ms`, values: s.map((x) => x.added(rate, 'p95')), target: { op: '<=', value: 2 } });
    rows.push({ name: `p99 added at ${rate}/s, ms`, values: s.map((x) => x.added(rate, 'p99')), target: { op: '<=', value: 5 } });
    rows.push({ name: `relayer's own p99 at ${rate}/s, ms (bucket bound)`, values: s.map((x) => x.at(x.rel, rate)?.ownP99 ?? NaN), digits: 1 });
    rows.push({ name: `loop delay p99 at ${rate}/s, ms`, values: s.map((x) => (x.at(x.rel, rate)?.loop?.p99 ?? NaN) - EVENT_LOOP_SAMPLING_MS), digits: 1 });
    rows.push({ name: `GC pauses at ${rate}/s, ms per s`, values: s.map((x) => ((x.at(x.rel, rate)?.loop?.gcMs ?? NaN) * 1000) / STEP_MS), digits: 0 });
    rows.push({ name: `CPU per relay at ${rate}/s, ms`, values: s.map((x) => x.at(x.rel, rate)?.cpuMsPerRelay ?? NaN) });
    if (WORKERS === 1) rows.push({ name: `waiting for a core at ${rate}/s, ms per s`, values: s.map((x) => x.at(x.rel, rate)?.waitingMsPerS ?? NaN), digits: 0 });
    rows.push({ name: `the proxy's waiting for a core at ${rate}/s, ms per s`, values: s.map((x) => x.at(x.base, rate)?.waitingMsPerS ?? NaN), digits: 0 });
  }
  rows.push({ name: WORKERS > 1 ? `max relays/s, ${WORKERS} worker processes` : 'max relays/s, one process', values: s.map((x) => x.maxRelayer), digits: 0, target: WORKERS > 1 ? undefined : { op: '>=', value: 3000 } });
  rows.push({ name: 'max relays/s, ratio to the proxy', values: s.map((x) => x.maxRelayer / x.maxBaseline), target: { op: '>=', value: 0.3 } });
  return rows;
}

runBench(main);
