import * as grpc from '@grpc/grpc-js';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { grpcFrame, RELAY_SERVICE_PATHS } from '../core/protocol/grpc-wire.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest } from '../core/relay/relay-client.js';
import { freePort } from '../core/redis/local-server.js';
import { demo, startGrpcBackend } from '../examples/backends/grpc-demo.js';
import { h2load, h2loadVersion } from './h2load.js';
import { cpuMs, key, KEYS, mainThreadSchedMs, pct, RING, pairedTable, runBench, startBenchChain, type MessageRow, startBenchRelayer, SUPPLIER1, SUPPLIER_PUB } from './harness.js';
import { metricSum } from './metrics-text.js';
import { RUNS, spreadTable, table } from './table.js';

/**
 * gRPC through one relayer (RelayService: validation, meter, HTTP/2 to the backend, signing, mining,
 * publishing) against the same demo backend called directly, in the same run:
 * - unary Echo with CONCURRENCY calls in flight for STEP_MS;
 * - server-streaming Count of STREAM messages (SendStreamingRelay: one signed response per message);
 * - where h2load is installed (h2load.ts), unary Echo again with h2load as the client: the grpc-js client
 *   and the relayer share two cores, so the first rows measure the machine as much as the relayer. With
 *   h2load sending one pre-signed relay over and over (every relay is verified, forwarded, signed and
 *   published anew; nothing is cached per request), the relayer's own counters give the outcome of each
 *   call and its main thread's time on and off a core is read from the scheduler.
 * Run: npm run bench:grpc  (STEP_MS, CONCURRENCY, STREAM to change the plan)
 */

const STEP_MS = Number(process.env.STEP_MS ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const STREAM = Number(process.env.STREAM ?? 5000);
const PRESIGNED = 3000;
const id = (b: Buffer) => b;


function unary(client: grpc.Client, path: string, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => client.makeUnaryRequest(path, id, id, body, (err, res) => (err ? reject(err) : resolve(res!))));
}

function serverStream(client: grpc.Client, path: string, body: Buffer, onMessage: (b: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.makeServerStreamRequest(path, id, id, body);
    call.on('data', onMessage);
    call.on('error', reject);
    call.on('end', () => resolve());
  });
}

async function closedLoop(send: (i: number) => Promise<boolean>) {
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() - began < STEP_MS) {
        const i = n++;
        const started = performance.now();
        const ok = await send(i).catch(() => false);
        latencies.push(performance.now() - started);
        if (!ok) errors++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, elapsed: performance.now() - began, latencies, errors };
}

async function main(): Promise<void> {
  const chain = await startBenchChain();
  const backend = await startGrpcBackend();
  try {
    const grpcPort = await freePort();
    const relayer = await startBenchRelayer(chain, {
      services: `  anvil:\n    backends:\n      grpc: { url: "${backend.url}" }`,
      plugins: `  - name: transport-grpc\n    options: { listen_address: "127.0.0.1:${grpcPort}" }`,
    });
    try {
      const relayGrpc = `127.0.0.1:${grpcPort}`;
      const direct = new grpc.Client(backend.address, grpc.credentials.createInsecure());
      const viaRelayer = new grpc.Client(relayGrpc, grpc.credentials.createInsecure());
      const sign = (path: string, message: Buffer) =>
        Buffer.from(
          encodeRelayRequest(
            buildRelayRequest({
              header: chain.header,
              supplierAddress: SUPPLIER1,
              payload: encodeHttpPayload({ method: 'POST', url: path, headers: { 'content-type': 'application/grpc' }, body: grpcFrame(message) }),
              signerKey: key(KEYS.gateway1),
              ring: RING,
            }),
          ),
        );
      const echo = (i: number) => demo.encodeEcho({ message: `hello ${i}` });
      const presigned = Array.from({ length: PRESIGNED }, (_, i) => sign(demo.echoPath, echo(i)));
      // Every answer decoded; one in 50 also has its supplier signature verified (the client shares the CPU).
      const signed = (b: Buffer, i: number) => (i % 50 === 0 ? checkRelayResponse(b, SUPPLIER_PUB).ok : b.length > 0 && b[0] === 0x0a);
      const rows: MessageRow[] = [];
      const pid = relayer.child.pid!;

      const unaryRates: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        for (const [target, send, cpu] of [
          ['direct backend', async (i: number) => (await unary(direct, demo.echoPath, echo(i))).length > 0, false],
          ['relayer', async (i: number) => signed(await unary(viaRelayer, RELAY_SERVICE_PATHS.SendRelay, presigned[i % PRESIGNED]!), i), true],
        ] as const) {
          await closedLoop(send); // warm-up
          const c0 = cpuMs(pid);
          const r = await closedLoop(send);
          const used = cpuMs(pid) - c0;
          rows.push({ mode: `unary Echo (${CONCURRENCY} in flight)`, target, rate: (r.count / r.elapsed) * 1000, p50: pct(r.latencies, 50), p99: pct(r.latencies, 99), cpuPerMsg: cpu ? used / r.count : undefined, errors: r.errors });
          if (cpu) unaryRates.push(rows.at(-1)!.rate);
          process.stderr.write(`${target} unary: ${rows.at(-1)!.rate.toFixed(0)}/s\n`);
        }
      }
      const count = demo.encodeCount({ to: STREAM, interval_ms: 0 });
      for (const [target, run, cpu] of [
        ['direct backend', (on: (b: Buffer) => void) => serverStream(direct, demo.countPath, count, on), false],
        ['relayer', (on: (b: Buffer) => void) => serverStream(viaRelayer, RELAY_SERVICE_PATHS.SendStreamingRelay, sign(demo.countPath, count), on), true],
      ] as const) {
        let got = 0;
        let errors = 0;
        const c0 = cpuMs(pid);
        const began = performance.now();
        await run((b) => {
          if (cpu && !signed(b, got)) errors++;
          got++;
        });
        const elapsed = performance.now() - began;
        const used = cpuMs(pid) - c0;
        rows.push({ mode: `server stream (${STREAM} messages)`, target, rate: (got / elapsed) * 1000, p50: NaN, p99: NaN, cpuPerMsg: cpu ? used / got : undefined, errors });
        process.stderr.write(`${target} stream: ${rows.at(-1)!.rate.toFixed(0)}/s\n`);
      }
      direct.close();
      viaRelayer.close();

      const h2 = await h2loadVersion();
      const h2Rates: number[] = [];
      const mainRows: (string | number)[][] = [];
      if (h2) {
        const dir = mkdtempSync(join(tmpdir(), 'relayminer-bench-grpc-'));
        const bodies = { 'direct backend': join(dir, 'echo.bin'), relayer: join(dir, 'relay.bin') };
        writeFileSync(bodies['direct backend'], grpcFrame(echo(0)));
        writeFileSync(bodies.relayer, grpcFrame(presigned[0]!));
        const metrics = `127.0.0.1:${relayer.metricsPort}`;
        const outcomes = async () => {
          const text = await (await fetch(`http://${metrics}/metrics`)).text();
          const rejected = metricSum(text, 'relayminer_relay_rejections_total') - metricSum(text, 'relayminer_relay_rejections_total', { reason: 'client_gone' });
          // A call h2load leaves in flight when its time is up is cancelled (client_gone): not an error it saw.
          return { served: metricSum(text, 'relayminer_relays_total', { outcome: 'served' }), failed: rejected + metricSum(text, 'relayminer_relays_total', { outcome: 'backend_5xx' }) };
        };
        const headers = { 'content-type': 'application/grpc', te: 'trailers' };
        const seconds = Math.max(1, Math.round(STEP_MS / 1000));
        const mode = `unary Echo, h2load (${CONCURRENCY} in flight)`;
        try {
          for (let run = 0; run < RUNS; run++) {
            for (const target of ['direct backend', 'relayer'] as const) {
              const url = target === 'relayer' ? `http://${relayGrpc}${RELAY_SERVICE_PATHS.SendRelay}` : `http://${backend.address}${demo.echoPath}`;
              await h2load(url, bodies[target], { seconds, inFlight: CONCURRENCY, headers }); // warm-up
              const [o0, c0, m0] = [await outcomes(), cpuMs(pid), mainThreadSchedMs(pid)];
              const r = await h2load(url, bodies[target], { seconds, inFlight: CONCURRENCY, headers });
              const [c1, m1, o1] = [cpuMs(pid), mainThreadSchedMs(pid), await outcomes()];
              const relayed = target === 'relayer';
              // h2load sees HTTP statuses only; a relay refused or failed is a 200 with a gRPC status in its trailers.
              const errors = r.failed + (relayed ? o1.failed - o0.failed : 0);
              const rate = (r.succeeded / r.elapsedMs) * 1000;
              rows.push({ mode, target, rate, p50: pct(r.latencies, 50), p99: pct(r.latencies, 99), cpuPerMsg: relayed ? (c1 - c0) / (o1.served - o0.served) : undefined, errors });
              process.stderr.write(`${target} unary (h2load): ${rate.toFixed(0)}/s\n`);
              if (!relayed) continue;
              h2Rates.push(rate);
              const served = o1.served - o0.served;
              mainRows.push([run + 1, rate.toFixed(0), (((m1.onCpu - m0.onCpu) * 1000) / served).toFixed(0), (((m1.waiting - m0.waiting) * 1000) / served).toFixed(0), ((100 * (m1.onCpu - m0.onCpu)) / r.elapsedMs).toFixed(0)]);
            }
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      } else {
        process.stderr.write('h2load not found (Debian: nghttp2-client): the h2load rows are left out\n');
      }

      process.stdout.write(pairedTable(`gRPC through one relayer vs the backend directly (node ${process.version}, ${STEP_MS / 1000} s unary steps)`, rows));
      if (mainRows.length) {
        process.stdout.write(
          table(`The relayer's main thread in the h2load steps (${h2})`, ['run', 'calls/s', 'on a core, µs per call', 'waiting for a core, µs per call', 'on a core, % of the step'], mainRows) + '\n',
        );
      }
      process.stdout.write(
        spreadTable('gRPC target across runs', [
          { name: 'unary through the relayer, messages/s, one process', values: unaryRates, digits: 0, target: { op: '>=', value: 3000 } },
          ...(h2Rates.length ? [{ name: 'the same with h2load as the client', values: h2Rates, digits: 0, target: { op: '>=' as const, value: 3000 } }] : []),
        ]) + '\n',
      );
    } finally {
      await relayer.stop();
    }
  } finally {
    await backend.close();
    await chain.stop();
  }
}

runBench(main);
