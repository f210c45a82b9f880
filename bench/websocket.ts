import { WebSocket } from 'ws';
import { buildRelayRequest, checkRelayResponse, encodeRelayRequest, websocketHandshakeHeaders } from '../core/relay/relay-client.js';
import { startWebSocketBackend } from '../examples/backends/websocket-jsonrpc.js';
import { cpuMs, key, KEYS, pct, RING, pairedTable, runBench, startBenchChain, type MessageRow, startBenchRelayer, SUPPLIER1, SUPPLIER_PUB } from './harness.js';
import { RUNS, spreadTable } from './table.js';

/**
 * WebSocket through one relayer (every request frame validated, every backend frame metered, signed,
 * mined, published) against the same demo backend directly, in the same run:
 * - request/response: CONNECTIONS connections, each sending a request and waiting for its answer (each
 *   measured step follows an unmeasured one of the same length: the warm-up);
 * - subscription stream: one connection receiving FLOOD backend events as fast as they come.
 * Run: npm run bench:websocket  (STEP_MS, CONNECTIONS, FLOOD to change the plan)
 */

const STEP_MS = Number(process.env.STEP_MS ?? 4000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16);
const FLOOD = Number(process.env.FLOOD ?? 20_000);
const PRESIGNED = 2000;


function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, skipUTF8Validation: true, maxPayload: 16 << 20 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Each connection: send, await one answer, repeat, for STEP_MS. */
async function requestResponse(connect: () => Promise<WebSocket>, frame: (i: number) => Buffer, check: (b: Buffer, i: number) => boolean) {
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const ws = await connect();
      while (performance.now() - began < STEP_MS) {
        const i = n++;
        const started = performance.now();
        const answer = await new Promise<Buffer>((resolve) => {
          ws.once('message', (d: Buffer) => resolve(d));
          ws.send(frame(i), { binary: false });
        });
        latencies.push(performance.now() - started);
        if (!check(answer, i)) errors++;
      }
      ws.close();
    }),
  );
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, elapsed: performance.now() - began, latencies, errors };
}

/** One connection asks for FLOOD events and reads them all. */
async function stream(connect: () => Promise<WebSocket>, request: Buffer, check: (b: Buffer, i: number) => boolean) {
  const ws = await connect();
  let got = 0;
  let errors = 0;
  const began = performance.now();
  await new Promise<void>((resolve) => {
    ws.on('message', (d: Buffer) => {
      if (!check(d, got)) errors++;
      if (++got >= FLOOD) resolve();
    });
    ws.on('close', () => resolve());
    ws.send(request, { binary: false });
  });
  const elapsed = performance.now() - began;
  ws.close();
  return { count: got, elapsed, errors };
}

async function main(): Promise<void> {
  const chain = await startBenchChain();
  const backend = await startWebSocketBackend();
  try {
    const relayer = await startBenchRelayer(chain, {
      services: `  anvil:\n    backends:\n      websocket: { url: "${backend.url}" }`,
      plugins: '  - name: transport-websocket\n    options: { max_buffered_bytes: 67108864 }',
    });
    try {
      const sign = (json: string) =>
        Buffer.from(encodeRelayRequest(buildRelayRequest({ header: chain.header, supplierAddress: SUPPLIER1, payload: Buffer.from(json), signerKey: key(KEYS.gateway1), ring: RING })));
      const call = (i: number) => `{"jsonrpc":"2.0","id":${i},"method":"eth_chainId"}`;
      const presigned = Array.from({ length: PRESIGNED }, (_, i) => sign(call(i)));
      const relayUrl = `ws://127.0.0.1:${relayer.relayPort}/`;
      const headers = websocketHandshakeHeaders({ header: chain.header, supplierAddress: SUPPLIER1, signerKey: key(KEYS.gateway1), ring: RING });
      // Every answer decoded; one in 50 also has its supplier signature verified (the client shares the CPU).
      const signed = (b: Buffer, i: number) => (i % 50 === 0 ? checkRelayResponse(b, SUPPLIER_PUB).ok : b.length > 0 && b[0] === 0x0a);
      const rows: MessageRow[] = [];
      const pid = relayer.child.pid!;

      const rrRates: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        for (const [target, connect, frame, check, cpu] of [
          ['direct backend', () => open(backend.url), (i: number) => Buffer.from(call(i)), (b: Buffer) => b.includes('result'), false],
          ['relayer', () => open(relayUrl, headers), (i: number) => presigned[i % PRESIGNED]!, signed, true],
        ] as const) {
          await requestResponse(connect, frame, check); // warm-up, as bench:grpc and bench:relayer do
          const c0 = cpuMs(pid);
          const r = await requestResponse(connect, frame, check);
          const used = cpuMs(pid) - c0;
          rows.push({ mode: `request/response (${CONNECTIONS} conns)`, target, rate: (r.count / r.elapsed) * 1000, p50: pct(r.latencies, 50), p99: pct(r.latencies, 99), cpuPerMsg: cpu ? used / r.count : undefined, errors: r.errors });
          if (cpu) rrRates.push(rows.at(-1)!.rate);
          process.stderr.write(`${target} request/response: ${rows.at(-1)!.rate.toFixed(0)}/s\n`);
        }
      }
      const flood = `{"jsonrpc":"2.0","id":1,"method":"demo_flood","params":[${FLOOD},200]}`;
      for (const [target, connect, request, check, cpu] of [
        ['direct backend', () => open(backend.url), Buffer.from(flood), (b: Buffer) => b.length > 0, false],
        ['relayer', () => open(relayUrl, headers), sign(flood), signed, true],
      ] as const) {
        const c0 = cpuMs(pid);
        const r = await stream(connect, request, check);
        const used = cpuMs(pid) - c0;
        rows.push({ mode: `subscription stream (${FLOOD} events)`, target, rate: (r.count / r.elapsed) * 1000, p50: NaN, p99: NaN, cpuPerMsg: cpu ? used / r.count : undefined, errors: r.errors + (FLOOD - r.count) });
        process.stderr.write(`${target} stream: ${rows.at(-1)!.rate.toFixed(0)}/s\n`);
      }

      process.stdout.write(pairedTable(`WebSocket through one relayer vs the backend directly (node ${process.version}, ${STEP_MS / 1000} s request/response steps)`, rows));
      process.stdout.write(spreadTable('WebSocket target across runs', [{ name: 'request/response through the relayer, messages/s, one process', values: rrRates, digits: 0, target: { op: '>=', value: 3000 } }]) + '\n');
    } finally {
      await relayer.stop();
    }
  } finally {
    await backend.close();
    await chain.stop();
  }
}

runBench(main);
