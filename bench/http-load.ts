import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { Pool } from 'undici';
import type { SessionHeader } from '../core/protocol/messages.js';
import { buildRelayRequest, encodeHttpPayload, encodeRelayRequest } from '../core/relay/relay-client.js';
import { key, KEYS, RING, SUPPLIER1 } from './harness.js';

/** What the relayer-side HTTP suites share: a JSON-RPC backend, pre-signed relays, and the load. */

export interface JsonRpcBackend {
  url: string;
  close(): void;
}

/**
 * A backend answering every request with the same JSON-RPC result: `"0x1234"`, or with `answerBytes`, log
 * entries (hashes and addresses, as eth_getLogs answers) up to about that size. With `delayMs`, each answer
 * waits between half and one and a half times that, drawn uniformly: a node's answers take time and do not
 * all take the same, and one fixed delay would release the answers of a busy millisecond together.
 */
export async function startJsonRpcBackend(answerBytes = 0, delayMs = 0): Promise<JsonRpcBackend> {
  const answer = Buffer.from(answerBytes > 0 ? logsAnswer(answerBytes) : '{"jsonrpc":"2.0","id":1,"result":"0x1234"}');
  const server = createServer((req, res) => {
    req.resume();
    const respond = () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length }).end(answer);
    req.on('end', delayMs > 0 ? () => setTimeout(respond, delayMs * (0.5 + Math.random())) : respond);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

function logsAnswer(bytes: number): string {
  const hex = (n: number, i: number) => (BigInt(i + 1) * 0x9e3779b97f4a7c15n).toString(16).padStart(n, '0').slice(-n);
  const logs: string[] = [];
  let size = 40;
  for (let i = 0; size < bytes; i++) {
    const log = JSON.stringify({ address: `0x${hex(40, i % 7)}`, topics: [`0x${hex(64, 1_000 + (i % 3))}`, `0x${hex(64, i)}`], data: `0x${hex(64, i * 31)}`, blockNumber: `0x${(19_000_000 + (i >> 4)).toString(16)}`, transactionHash: `0x${hex(64, i * 17)}`, logIndex: `0x${i.toString(16)}`, removed: false });
    logs.push(log);
    size += log.length + 1;
  }
  return `{"jsonrpc":"2.0","id":1,"result":[${logs.join(',')}]}`;
}

/** `n` distinct eth_blockNumber relays for SUPPLIER1, ring-signed by the gateway. */
export function presignedRelays(header: SessionHeader, n: number): Uint8Array[] {
  const payload = encodeHttpPayload({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' });
  return Array.from({ length: n }, () => encodeRelayRequest(buildRelayRequest({ header, supplierAddress: SUPPLIER1, payload, signerKey: key(KEYS.gateway1), ring: RING })));
}

/** Sends `bodies` round robin; open loop at `rate`/s, or closed loop with `concurrency` when rate is 0. */
export async function drive(pool: Pool, bodies: Uint8Array[], rate: number, ms: number, check: (b: Uint8Array, i: number) => boolean, concurrency = 64) {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const one = async () => {
    const i = next++;
    const started = performance.now();
    try {
      // Accept-Encoding as PATH sends it (Go's HTTP client adds it): answers are gzipped where the relayer is set to.
      const res = await pool.request({ method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'rpc-type': '3', 'accept-encoding': 'gzip' }, body: Buffer.from(bodies[i % bodies.length]!) });
      const raw = new Uint8Array(await res.body.arrayBuffer());
      const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
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
    await Promise.all(Array.from({ length: concurrency }, worker));
  }
  await Promise.all(inflight);
  const elapsed = performance.now() - began;
  latencies.sort((a, b) => a - b);
  return { completed: latencies.length, elapsedMs: elapsed, latencies, errors };
}
