import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Pool } from 'undici';
import { startBenchChain, startBenchRelayer, key, KEYS, RING, SUPPLIER1, SUPPLIER_PUB } from '../../bench/harness.js';
import { EVENT_LOOP_SAMPLING_MS } from '../../core/observability/metrics.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest } from '../../core/relay/relay-client.js';
import { withoutTapHook } from '../helpers/child-env.js';

/**
 * The relayer's event loop under a fixed modest load (a real relayer process, as operators run it:
 * eager validation, meter, signing, mining to Redis): its delay p99, as its own /metrics reports it, stays
 * far below a stall anyone would notice. Not a benchmark: the bound is generous, so only a new stall of tens
 * of milliseconds recurring every half second or more often fails it (a table built on the loop, a
 * synchronous parse of a large answer, a log line per relay on a slow sink). `npm test` runs it alone
 * after the parallel files, so what it measures is the relayer, not the machine's other tests.
 *
 * The load runs for WINDOWS windows and the verdict takes the quietest: a stall in the relayer's code recurs
 * in every window, while this shared VM's slow moments (the host descheduling the process) come and go, and
 * one such moment in a single window has put the p99 past the bound with code that is otherwise 5 ms late.
 * What is compared with the bound is the relayer's lateness beyond the machine's in the same window: an idle
 * Node process beside it samples its own event loop the same way, so a host that takes a third of the CPU
 * for minutes (seen: 18–41 % steal, the relayer 31–59 ms late at p99 in both windows) is not taken for a stall.
 */
const RATE = 200;
const SECONDS = 5;
const WINDOWS = 2;
/**
 * How late the loop may be at p99 (past the sampling interval). The delay is sampled every 10 ms, so a stall
 * shows in the p99 once it recurs in more than 1 % of the samples: a 50 ms stall twice a second exceeds the
 * bound every time (once a second sits at the edge of the p99, seen both sides of it).
 */
const P99_LATE_BOUND_MS = 30;

interface Window {
  offered: number;
  served: number;
  p99Late: number;
  maxLate: number;
  /** An idle process's own p99 lateness in the same window: the machine's share. */
  machineP99Late: number;
  /** p99Late beyond the machine's. */
  excess: number;
}

/** An idle Node process sampling its event loop as the relayer's metrics do, for `seconds`: p99 and max in ms. */
function idleLoopDelay(seconds: number): Promise<{ p99: number; max: number }> {
  const script = `const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: ${EVENT_LOOP_SAMPLING_MS} }); h.enable();
setTimeout(() => { h.disable(); process.stdout.write(JSON.stringify({ p99: h.percentile(99) / 1e6, max: h.max / 1e6 })); }, ${seconds * 1000});`;
  return new Promise((resolve, reject) => execFile(...withoutTapHook(process.execPath, ['-e', script]), (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as { p99: number; max: number }))));
}

/** The windows, and the one whose p99 is the lowest. */
interface Measured {
  windows: Window[];
  quietest: Window;
}

async function measure(t: Test, plugins: string): Promise<Measured> {
  const chain = await startBenchChain();
  t.teardown(() => chain.stop());
  const answer = Buffer.from('{"jsonrpc":"2.0","id":1,"result":"0x1234"}');
  const backend = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length }).end(answer));
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    backend.closeAllConnections();
    backend.close();
  });
  const backendUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}`;
  const relayer = await startBenchRelayer(chain, { services: `  anvil:\n    backends:\n      jsonrpc: { url: "${backendUrl}" }`, plugins });
  t.teardown(() => relayer.stop());

  const payload = encodeHttpPayload({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' });
  const bodies = Array.from({ length: 400 }, () => encodeRelayRequest(buildRelayRequest({ header: chain.header, supplierAddress: SUPPLIER1, payload, signerKey: key(KEYS.gateway1), ring: RING })));
  const pool = new Pool(`http://127.0.0.1:${relayer.relayPort}`, { connections: 16 });
  t.teardown(() => pool.close());
  let sent = 0;
  let served = 0;
  const one = async () => {
    const body = bodies[sent++ % bodies.length]!;
    const res = await pool.request({ method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'rpc-type': '3' }, body: Buffer.from(body) });
    const bytes = new Uint8Array(await res.body.arrayBuffer());
    if (res.statusCode === 200 && (served % 20 !== 0 || checkRelayResponse(bytes, SUPPLIER_PUB).ok)) served++;
  };
  const load = async (seconds: number) => {
    const began = performance.now();
    const inflight: Promise<void>[] = [];
    for (let due = 0; performance.now() - began < seconds * 1000; ) {
      for (const target = Math.floor(((performance.now() - began) / 1000) * RATE); due < target; due++) inflight.push(one());
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(inflight);
  };
  const metrics = async () => (await fetch(`http://127.0.0.1:${relayer.metricsPort}/metrics`)).text();
  const gauge = (text: string, name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1]) * 1000;

  await load(3); // warm-up: JIT, caches, connections
  await metrics(); // a scrape resets the delay histogram: what follows each scrape is one window's load alone
  const windows: Window[] = [];
  for (let i = 0; i < WINDOWS; i++) {
    const [servedBefore, sentBefore] = [served, sent];
    const machine = idleLoopDelay(SECONDS);
    await load(SECONDS);
    const text = await metrics();
    const p99Late = gauge(text, 'nodejs_eventloop_lag_p99_seconds') - EVENT_LOOP_SAMPLING_MS;
    const machineP99Late = Math.max(0, (await machine).p99 - EVENT_LOOP_SAMPLING_MS);
    windows.push({
      offered: sent - sentBefore,
      served: served - servedBefore,
      p99Late,
      maxLate: gauge(text, 'nodejs_eventloop_lag_max_seconds') - EVENT_LOOP_SAMPLING_MS,
      machineP99Late,
      excess: p99Late - machineP99Late,
    });
  }
  const quietest = windows.reduce((a, b) => (b.excess < a.excess ? b : a));
  return { windows, quietest };
}

const each = (m: Measured) => m.windows.map((w) => `${w.p99Late.toFixed(1)} (max ${w.maxLate.toFixed(1)}; an idle process ${w.machineP99Late.toFixed(1)})`).join(', ');

t.test(`under ${RATE} relays/s the relayer's event loop is late by less than ${P99_LATE_BOUND_MS} ms at p99`, async (t) => {
  const m = await measure(t, '  - transport-jsonrpc');
  for (const w of m.windows) {
    t.ok(w.offered >= RATE * SECONDS * 0.95, `${w.offered} relays offered`);
    t.equal(w.served, w.offered, 'every one served (the supplier signature checked on one in 20)');
    t.ok(Number.isFinite(w.p99Late), 'the relayer reports its event-loop delay');
    t.ok(Number.isFinite(w.machineP99Late), 'and the idle process its own');
  }
  t.ok(m.quietest.excess < P99_LATE_BOUND_MS, `event loop late by ${m.quietest.excess.toFixed(1)} ms at p99 beyond an idle process's in the quieter window (bound ${P99_LATE_BOUND_MS} ms; windows: ${each(m)} ms)`);
});

t.test('the bound catches a 50 ms stall twice a second (a plugin that blocks the loop)', async (t) => {
  const m = await measure(t, `  - transport-jsonrpc\n  - name: ${join(import.meta.dirname, '../fixtures/plugins/stall.js')}`);
  for (const w of m.windows) t.equal(w.served, w.offered, 'every relay still served');
  t.ok(m.quietest.excess >= P99_LATE_BOUND_MS, `late by ${m.quietest.excess.toFixed(1)} ms at p99 beyond an idle process's in the quieter window: over the bound, so the test above would fail (windows: ${each(m)} ms)`);
  t.ok(m.quietest.maxLate >= 45, `at most ${m.quietest.maxLate.toFixed(1)} ms there: the stall itself`);
});
