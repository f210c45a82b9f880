import * as grpc from '@grpc/grpc-js';
import { grpcFrame, RELAY_SERVICE_PATHS } from '../core/protocol/grpc-wire.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest } from '../core/relay/relay-client.js';
import { freePort } from '../core/redis/local-server.js';
import { demo, startGrpcBackend } from '../examples/backends/grpc-demo.js';
import { cpuMs, key, KEYS, pct, RING, pairedTable, runBench, startBenchChain, type MessageRow, startBenchRelayer, SUPPLIER1, SUPPLIER_PUB } from './harness.js';
import { RUNS, spreadTable } from './table.js';

/**
 * gRPC through one relayer (RelayService: validation, meter, HTTP/2 to the backend, signing, mining,
 * publishing) against the same demo backend called directly, in the same run:
 * - unary Echo with CONCURRENCY calls in flight for STEP_MS;
 * - server-streaming Count of STREAM messages (SendStreamingRelay: one signed response per message).
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

      process.stdout.write(pairedTable(`gRPC through one relayer vs the backend directly (node ${process.version}, ${STEP_MS / 1000} s unary steps)`, rows));
      process.stdout.write(spreadTable('gRPC target across runs', [{ name: 'unary through the relayer, messages/s, one process', values: unaryRates, digits: 0, target: { op: '>=', value: 3000 } }]) + '\n');
    } finally {
      await relayer.stop();
    }
  } finally {
    await backend.close();
    await chain.stop();
  }
}

runBench(main);
