import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { Pool } from 'undici';
import { nodeEndpoints, type NodeTls } from '../core/chain/node-endpoints.js';
import { ChainQueryClient } from '../core/chain/query-client.js';
import { CometClient } from '../core/chain/comet-client.js';
import { addressFromPublicKey, publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { parsePrivateKeyHex } from '../core/crypto/private-key.js';
import { readKeyring } from '../core/config/keyring.js';
import { KEYRING_BACKENDS, type KeyringBackend } from '../core/config/schema.js';
import { OperatorError } from '../core/runtime/operator-error.js';
import { KeyBuilder } from '../core/redis/key-builder.js';
import { RelayChainState } from '../core/relay/chain-state.js';
import { RPC_TYPE_CODES } from '../core/protocol/rpc-type.js';
import type { HttpRpcType } from '../core/relay/http-relay.js';
import { POKTHTTPResponseCodec, type SessionHeader } from '../core/protocol/messages.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest, simulatedSessionHeader, websocketHandshakeHeaders } from '../core/relay/relay-client.js';
import { SIMULATION_HEADER } from '../core/relay/simulated-relays.js';
import { grpcFrame, RELAY_SERVICE_PATHS } from '../core/protocol/grpc-wire.js';

export type ClientTransport = HttpRpcType | 'websocket' | 'grpc';

export interface RelayClientOptions {
  transport: ClientTransport;
  /** HTTP(S) URL of the relay listener; for grpc, host:port of the relayer's gRPC listener. */
  relayer: string;
  grpcAddress: string;
  rpcUrl: string;
  /** TLS to the node: true, false or auto (port 443); default auto. */
  nodeTls?: NodeTls;
  /** A CA file to trust for the node. */
  nodeCaFile?: string;
  /** The app's key, or a delegated gateway's key (then `app` names the application). */
  key: string;
  /** Instead of `key`: that key of a pocketd keyring (`passphrase` for the file backend). */
  keyring?: { name: string; home: string; backend: string; passphrase?: string | undefined };
  app?: string;
  service: string;
  supplier: string;
  method: string;
  path: string;
  /** HTTP body; the WebSocket frame; for grpc, the request message as hex. */
  data: string;
  /** Relays to send; for websocket, signed messages to receive per connection. */
  count: number;
  /** Relays in flight; for websocket, connections. */
  concurrency: number;
  /** 0: as fast as the concurrency allows. */
  rps: number;
  /** grpc: call SendStreamingRelay (a server-streaming backend method). */
  stream?: boolean;
  /**
   * Simulated relays (the relayer's `relayer.simulation`): signed as the pinned identity `keyId` whose
   * application public key is `appPublicKey`, over the ring [that key, `key`'s public key]; no session is read.
   */
  simulate?: { keyId: string; appPublicKey: string };
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

/** Latency percentiles and the summary line every transport prints. */
function report(o: RelayClientOptions, sent: number, latencies: number[], failed: { index: number; why: string }[], elapsedMs: number, unit = 'relays'): RelayClientReport {
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * q) / 100))] ?? NaN;
  const r: RelayClientReport = { sent, ok: sent - failed.length, failed, relaysPerSecond: (sent / elapsedMs) * 1000, p50: p(50), p95: p(95), p99: p(99) };
  for (const f of failed.slice(0, 50)) o.out(`${unit.replace(/s$/, '')} ${f.index}: ${f.why}`);
  if (failed.length > 50) o.out(`… and ${failed.length - 50} more failures`);
  // Latencies are of the answers that verified: with none, there is nothing to say of them.
  o.out(
    r.ok === 0
      ? `0/${r.sent} ok`
      : `${r.ok}/${r.sent} ok, signatures verified; ${r.relaysPerSecond.toFixed(0)} ${unit}/s; ` + `p50 ${r.p50.toFixed(2)} ms, p95 ${r.p95.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`,
  );
  return r;
}

/** Runs `send(i)` for i in [0, count) with `concurrency` in flight and an optional rate. */
async function drive(o: RelayClientOptions, send: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency, o.count) }, async () => {
      while (next < o.count) {
        const i = next++;
        if (o.rps > 0) {
          const wait = began + (i * 1000) / o.rps - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        await send(i);
      }
    }),
  );
  return performance.now() - began;
}

/** Relays signed ahead of sending: at most this many are held signed at once. */
const SIGNED_AHEAD = 1000;

/**
 * The relay bodies of a run, signed before they are needed so signing stays out of the measured time: the first
 * SIGNED_AHEAD at once, and each later one when one is taken, so a large `--count` neither waits for all of its
 * signatures before the first send nor holds them all.
 */
export function signedAhead<T>(count: number, sign: () => T): { take(i: number): T; ahead: number; said: string } {
  const ahead = Math.min(count, SIGNED_AHEAD);
  const held = new Map<number, T>();
  for (let i = 0; i < ahead; i++) held.set(i, sign());
  let signed = ahead;
  return {
    ahead,
    said: `${ahead} relay(s) signed${ahead < count ? `, the other ${count - ahead} as they go` : ''}`,
    take(i) {
      const body = held.get(i) ?? sign();
      held.delete(i);
      if (signed < count) held.set(signed++, sign());
      return body;
    },
  };
}

interface Prepared {
  supplierPub: Uint8Array;
  sign: (payload: Uint8Array) => Uint8Array;
  handshake: () => Record<string, string>;
  /** The simulation header's value, for simulated relays. */
  simulationKeyId?: string;
}

/**
 * `relayminer relay`: builds real relays (session from the chain, ring from the app's delegations),
 * signs them ahead of sending (signedAhead) so signing stays out of the measured latency, sends them and
 * verifies the supplier signature on every answer.
 */
export async function runRelayClient(o: RelayClientOptions): Promise<RelayClientReport> {
  const signerKey = checkArguments(o);
  const app = o.app ?? addressFromPublicKey(publicKeyFromPrivateKey(signerKey));
  const node = { rpc_url: o.rpcUrl, grpc_address: o.grpcAddress, tls: o.nodeTls ?? ('auto' as const), ca_file: o.nodeCaFile };
  const endpoints = nodeEndpoints(node);
  const query = new ChainQueryClient({ ...node, query_timeout_ms: 5000 });
  try {
    // First, for simulated relays too: a node that does not answer is said as its CometBFT RPC's one line.
    const height = BigInt((await new CometClient(endpoints.rpcUrl, 5000, endpoints.ca).status()).latest.height);
    // The supplier's key comes from the chain even for simulated relays: an answer is only worth its verified signature.
    const supplierKey = async () => {
      const pub = await query.accountPublicKey(o.supplier);
      if (!pub) throw new OperatorError('INVALID_ARGUMENT', `supplier ${o.supplier} has no public key on chain: its signatures cannot be checked`);
      return pub;
    };
    if (o.simulate) {
      const supplierPub = await supplierKey();
      const appPublicKey = Uint8Array.from(Buffer.from(o.simulate.appPublicKey.replace(/^0x/, ''), 'hex'));
      const ring = [appPublicKey, publicKeyFromPrivateKey(signerKey)];
      o.out(`simulated relays as identity ${o.simulate.keyId} (application ${addressFromPublicKey(appPublicKey)})`);
      // A fresh session id (signed time and nonce) for each: the relayer admits each signature once.
      const sign = (payload: Uint8Array) =>
        encodeRelayRequest(buildRelayRequest({ header: simulatedSessionHeader({ appPublicKey, serviceId: o.service }), supplierAddress: o.supplier, payload, signerKey, ring }));
      // WebSocket: an unsigned upgrade naming the identity; each request frame is signed as above.
      const handshake = () => ({ 'Target-Service-Id': o.service, 'Pocket-Supplier-Address': o.supplier, 'Rpc-Type': '2', [SIMULATION_HEADER]: o.simulate!.keyId });
      const p: Prepared = { supplierPub, sign, handshake, simulationKeyId: o.simulate.keyId };
      if (o.transport === 'websocket') return await runWebSocket(o, p);
      return o.transport === 'grpc' ? await runGrpc(o, p) : await runHttp(o, p);
    }
    const chain = new RelayChainState({ query, keys: new KeyBuilder('client'), log: pino({ level: 'silent' }), currentHeight: () => height });
    const session = await chain.session(app, o.service, height);
    const ring = await chain.ringPublicKeys(app, session.header.session_end_block_height);
    const supplierPub = await supplierKey();
    o.out(`session ${session.sessionId} [${session.header.session_start_block_height}, ${session.header.session_end_block_height}]`);
    const p: Prepared = {
      supplierPub,
      sign: (payload) => encodeRelayRequest(buildRelayRequest({ header: session.header, supplierAddress: o.supplier, payload, signerKey, ring })),
      handshake: () => websocketHandshakeHeaders({ header: session.header, supplierAddress: o.supplier, signerKey, ring }),
    };
    if (o.transport === 'websocket') return await runWebSocket(o, p);
    if (o.transport === 'grpc') return await runGrpc(o, p);
    return await runHttp(o, p);
  } finally {
    query.close();
  }
}

/**
 * What can be told wrong without the network, before any query: the key (its error never echoes it), the
 * relayer's address and a gRPC message. Returns the key's bytes.
 */
function checkArguments(o: RelayClientOptions): Uint8Array {
  const bad = (message: string) => new OperatorError('INVALID_ARGUMENT', `relay ${o.transport}: ${message}`);
  let key: Uint8Array;
  if (o.keyring) key = keyringKey(o.keyring, o.key, bad);
  else {
    try {
      key = parsePrivateKeyHex(o.key);
    } catch (err) {
      throw bad(`--key: ${(err as Error).message}`);
    }
  }
  if (o.simulate) {
    if (!/^(0x)?0[23][0-9a-fA-F]{64}$/.test(o.simulate.appPublicKey)) throw bad('--sim-app-pubkey must be the pinned application public key: 66 hex characters starting 02 or 03');
  }
  if (o.transport === 'grpc') {
    if (!/^[^\s/]+:\d+$/.test(o.relayer.replace(/^[a-z]+:\/\//, '').replace(/\/$/, ''))) throw bad(`--relayer must be host:port of the relayer's gRPC listener (got "${o.relayer}")`);
    if (!/^([0-9a-fA-F]{2})*$/.test(o.data)) throw bad('--data must be the request message as hex (e.g. 0a0568656c6c6f)');
    if (!/^\/[^/?#\s]+\/[^/?#\s]+$/.test(o.path)) throw bad(`--path must name the method, /package.Service/Method (got "${o.path}")`);
  } else {
    const schemes = o.transport === 'websocket' ? ['http:', 'https:', 'ws:', 'wss:'] : ['http:', 'https:'];
    let url: URL | undefined;
    try {
      url = new URL(o.relayer);
    } catch {
      // reported below
    }
    if (!url || !schemes.includes(url.protocol)) throw bad(`--relayer must be a URL (${schemes.map((s) => `${s}//`).join(', ')}) of the relay listener (got "${o.relayer}")`);
  }
  return key;
}

async function runHttp(o: RelayClientOptions, p: Prepared): Promise<RelayClientReport> {
  const payload = encodeHttpPayload({ method: o.method, url: o.path, headers: { 'content-type': 'application/json' }, body: o.data });
  const bodies = signedAhead(o.count, () => p.sign(payload));
  o.out(bodies.said);
  const url = new URL(o.relayer);
  const pool = new Pool(url.origin, { connections: o.concurrency });
  const latencies: number[] = [];
  const failed: { index: number; why: string }[] = [];
  const elapsed = await drive(o, async (i) => {
    const request = Buffer.from(bodies.take(i));
    const started = performance.now();
    try {
      const res = await pool.request({
        method: 'POST',
        path: url.pathname + url.search,
        headers: { 'content-type': 'application/json', 'rpc-type': String(RPC_TYPE_CODES[o.transport]), ...(p.simulationKeyId && { [SIMULATION_HEADER]: p.simulationKeyId }) },
        body: request,
      });
      const body = new Uint8Array(await res.body.arrayBuffer());
      latencies.push(performance.now() - started);
      if (res.statusCode !== 200) return void failed.push({ index: i, why: `HTTP ${res.statusCode}: ${Buffer.from(body).toString().slice(0, 200)}` });
      const check = checkRelayResponse(body, p.supplierPub);
      if (!check.ok) return void failed.push({ index: i, why: check.why });
      if (o.count === 1) o.out(Buffer.from(POKTHTTPResponseCodec.decode(check.response.payload).body_bz).toString());
    } catch (err) {
      failed.push({ index: i, why: (err as Error).message });
    }
  });
  await pool.close();
  return report(o, o.count, latencies, failed, elapsed);
}

/** gRPC: the payload wraps `POST <path>` with the hex message as one gRPC frame; each answer must verify and carry grpc-status 0. */
async function runGrpc(o: RelayClientOptions, p: Prepared): Promise<RelayClientReport> {
  const payload = encodeHttpPayload({ method: 'POST', url: o.path, headers: { 'content-type': 'application/grpc', te: 'trailers' }, body: grpcFrame(Buffer.from(o.data, 'hex')) });
  const bodies = signedAhead(o.count, () => Buffer.from(p.sign(payload)));
  o.out(bodies.said);
  const client = new grpc.Client(o.relayer.replace(/^[a-z]+:\/\//, '').replace(/\/$/, ''), grpc.credentials.createInsecure());
  const id = (b: Buffer) => b;
  const metadata = new grpc.Metadata();
  if (p.simulationKeyId) metadata.set(SIMULATION_HEADER, p.simulationKeyId);
  const latencies: number[] = [];
  const failed: { index: number; why: string }[] = [];
  const verify = (b: Buffer): { ok: true; http: ReturnType<typeof POKTHTTPResponseCodec.decode> } | { ok: false; why: string } => {
    const check = checkRelayResponse(b, p.supplierPub);
    if (!check.ok) return { ok: false, why: check.why };
    return { ok: true, http: POKTHTTPResponseCodec.decode(check.response.payload) };
  };
  const grpcStatusOf = (h: ReturnType<typeof POKTHTTPResponseCodec.decode>) => h.header.get('grpc-status')?.values[0];
  const elapsed = await drive(o, async (i) => {
    const body = bodies.take(i);
    const started = performance.now();
    try {
      const answers = o.stream
        ? await new Promise<Buffer[]>((resolve, reject) => {
            const out: Buffer[] = [];
            const call = client.makeServerStreamRequest(RELAY_SERVICE_PATHS.SendStreamingRelay, id, id, body, metadata);
            call.on('data', (b: Buffer) => out.push(b));
            call.on('error', reject);
            call.on('end', () => resolve(out));
          })
        : [await new Promise<Buffer>((resolve, reject) => client.makeUnaryRequest(RELAY_SERVICE_PATHS.SendRelay, id, id, body, metadata, (err, res) => (err ? reject(err) : resolve(res!))))];
      latencies.push(performance.now() - started);
      const checked = answers.map(verify);
      const bad = checked.find((c) => !c.ok);
      if (bad && !bad.ok) return void failed.push({ index: i, why: bad.why });
      const last = checked.at(-1);
      if (!last || !last.ok) return void failed.push({ index: i, why: 'no answer' });
      if (last.http.status_code !== 200 || grpcStatusOf(last.http) !== '0') {
        return void failed.push({ index: i, why: `HTTP ${last.http.status_code}, grpc-status ${grpcStatusOf(last.http)} ${last.http.header.get('grpc-message')?.values[0] ?? ''}` });
      }
      if (o.count === 1) for (const c of checked) if (c.ok && c.http.body_bz.length) o.out(Buffer.from(c.http.body_bz).toString('hex'));
    } catch (err) {
      const e = err as grpc.ServiceError;
      failed.push({ index: i, why: e.code !== undefined ? `${grpc.status[e.code]}: ${e.details}` : e.message });
    }
  });
  client.close();
  return report(o, o.count, latencies, failed, elapsed);
}

/**
 * WebSocket: `concurrency` connections, each with PATH's signed handshake (unsigned, naming the identity, for
 * simulated relays), sends `data` once (e.g.
 * eth_subscribe) and waits for `count` signed messages, verifying each. Latency: request → each message.
 */
async function runWebSocket(o: RelayClientOptions, p: Prepared): Promise<RelayClientReport> {
  const url = o.relayer.replace(/^http/, 'ws');
  const latencies: number[] = [];
  const failed: { index: number; why: string }[] = [];
  let received = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: o.concurrency }, (_, conn) =>
      new Promise<void>((resolve) => {
        const ws = new WebSocket(url, { headers: p.handshake(), skipUTF8Validation: true });
        let got = 0;
        let sentAt = 0;
        const fail = (why: string) => {
          failed.push({ index: conn * o.count + got, why });
          got = o.count; // counted here; the close that follows adds nothing
          ws.terminate();
          resolve();
        };
        ws.on('unexpected-response', (_req, res) => fail(`connection ${conn}: HTTP ${res.statusCode}`));
        ws.on('error', (err) => fail(`connection ${conn}: ${err.message}`));
        ws.on('close', (code, reason) => {
          if (got < o.count) {
            for (let k = got; k < o.count; k++) failed.push({ index: conn * o.count + k, why: `connection ${conn} closed (${code} ${reason.toString()}) after ${got} message(s)` });
          }
          resolve();
        });
        ws.on('open', () => {
          sentAt = performance.now();
          ws.send(p.sign(Buffer.from(o.data)), { binary: false });
        });
        ws.on('message', (data: Buffer) => {
          latencies.push(performance.now() - sentAt);
          const check = checkRelayResponse(data, p.supplierPub);
          if (!check.ok) failed.push({ index: conn * o.count + got, why: check.why });
          else if (o.count === 1 && o.concurrency === 1) o.out(Buffer.from(check.response.payload).toString());
          got++;
          received++;
          if (got >= o.count) ws.close(1000);
        });
      }),
    ),
  );
  const elapsed = performance.now() - began;
  o.out(`${received} message(s) on ${o.concurrency} connection(s)`);
  return report(o, o.concurrency * o.count, latencies, failed, elapsed, 'messages');
}

function keyringKey(keyring: NonNullable<RelayClientOptions['keyring']>, hexKey: string, bad: (message: string) => OperatorError): Uint8Array {
  if (hexKey) throw bad('give --key or --key-name, not both');
  const backend = keyring.backend as KeyringBackend;
  if (!KEYRING_BACKENDS.includes(backend)) throw bad(`--keyring-backend must be ${KEYRING_BACKENDS.join(' or ')} (got "${keyring.backend}")`);
  if (backend === 'file' && !keyring.passphrase) throw bad('--key-name: the file keyring needs its passphrase in $RELAY_KEYRING_PASSPHRASE');
  const read = readKeyring({ home: keyring.home, backend, passphrase: keyring.passphrase, keyNames: [keyring.name] });
  const found = read.keys[0];
  if (read.problems.length > 0 || !found) throw bad(`--key-name: ${read.problems.join('; ')}`);
  return found.privateKey;
}
