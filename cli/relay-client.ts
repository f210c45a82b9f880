import { pino } from 'pino';
import { Pool } from 'undici';
import { ChainQueryClient } from '../core/chain/query-client.js';
import { CometClient } from '../core/chain/comet-client.js';
import { addressFromPublicKey, publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { parsePrivateKeyHex } from '../core/crypto/private-key.js';
import { KeyBuilder } from '../core/redis/key-builder.js';
import { RelayChainState } from '../core/relay/chain-state.js';
import { RPC_TYPE_CODES } from '../core/relay/events.js';
import type { HttpRpcType } from '../core/relay/http-relay.js';
import { POKTHTTPResponseCodec } from '../core/protocol/messages.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest } from '../core/relay/relay-client.js';

export interface RelayClientOptions {
  transport: HttpRpcType;
  relayer: string;
  grpcAddress: string;
  rpcUrl: string;
  /** The app's key, or a delegated gateway's key (then `app` names the application). */
  key: string;
  app?: string;
  service: string;
  supplier: string;
  method: string;
  path: string;
  data: string;
  count: number;
  concurrency: number;
  /** 0: as fast as the concurrency allows. */
  rps: number;
  out: (line: string) => void;
}

export interface RelayClientReport {
  sent: number;
  ok: number;
  failed: { index: number; why: string }[];
  relaysPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
}

/**
 * `relayminer relay`: builds real relays (session from the chain, ring from the app's delegations),
 * signs all of them before sending so the client is not the bottleneck, sends them and verifies the
 * supplier signature on every answer.
 */
export async function runRelayClient(o: RelayClientOptions): Promise<RelayClientReport> {
  const signerKey = parsePrivateKeyHex(o.key);
  const app = o.app ?? addressFromPublicKey(publicKeyFromPrivateKey(signerKey));
  const query = new ChainQueryClient({ grpc_address: o.grpcAddress, tls: false, query_timeout_ms: 5000 });
  try {
    const height = BigInt((await new CometClient(o.rpcUrl).status()).latest.height);
    const chain = new RelayChainState({ query, keys: new KeyBuilder('client'), log: pino({ level: 'silent' }), currentHeight: () => height });
    const session = await chain.session(app, o.service, height);
    const ring = await chain.ringPublicKeys(app, session.header.session_end_block_height);
    const supplierPub = await query.accountPublicKey(o.supplier);
    if (!supplierPub) throw new Error(`supplier ${o.supplier} has no public key on chain: its signatures cannot be checked`);
    const payload = encodeHttpPayload({ method: o.method, url: o.path, headers: { 'content-type': 'application/json' }, body: o.data });
    const bodies = Array.from({ length: o.count }, () =>
      encodeRelayRequest(buildRelayRequest({ header: session.header, supplierAddress: o.supplier, payload, signerKey, ring })),
    );
    o.out(`session ${session.sessionId} [${session.header.session_start_block_height}, ${session.header.session_end_block_height}]; ${o.count} relay(s) signed`);

    const url = new URL(o.relayer);
    const pool = new Pool(url.origin, { connections: o.concurrency });
    const latencies: number[] = [];
    const failed: { index: number; why: string }[] = [];
    let next = 0;
    const began = performance.now();
    const send = async (i: number) => {
      if (o.rps > 0) {
        const due = began + (i * 1000) / o.rps;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const started = performance.now();
      try {
        const res = await pool.request({
          method: 'POST',
          path: url.pathname + url.search,
          headers: { 'content-type': 'application/json', 'rpc-type': String(RPC_TYPE_CODES[o.transport]) },
          body: Buffer.from(bodies[i]!),
        });
        const body = new Uint8Array(await res.body.arrayBuffer());
        latencies.push(performance.now() - started);
        if (res.statusCode !== 200) return failed.push({ index: i, why: `HTTP ${res.statusCode}: ${Buffer.from(body).toString().slice(0, 200)}` });
        const check = checkRelayResponse(body, supplierPub);
        if (!check.ok) return failed.push({ index: i, why: check.why });
        if (o.count === 1) o.out(Buffer.from(POKTHTTPResponseCodec.decode(check.response.payload).body_bz).toString());
      } catch (err) {
        failed.push({ index: i, why: (err as Error).message });
      }
      return undefined;
    };
    await Promise.all(
      Array.from({ length: Math.min(o.concurrency, o.count) }, async () => {
        while (next < o.count) await send(next++);
      }),
    );
    const elapsed = performance.now() - began;
    await pool.close();
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * q) / 100))] ?? NaN;
    const report: RelayClientReport = {
      sent: o.count,
      ok: o.count - failed.length,
      failed,
      relaysPerSecond: (o.count / elapsed) * 1000,
      p50: p(50),
      p95: p(95),
      p99: p(99),
    };
    for (const f of failed) o.out(`relay ${f.index}: ${f.why}`);
    o.out(
      `${report.ok}/${report.sent} ok, signatures verified; ${report.relaysPerSecond.toFixed(0)} relays/s; ` +
        `p50 ${report.p50.toFixed(2)} ms, p95 ${report.p95.toFixed(2)} ms, p99 ${report.p99.toFixed(2)} ms`,
    );
    return report;
  } finally {
    query.close();
  }
}
