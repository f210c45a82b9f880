import * as grpc from '@grpc/grpc-js';
import { WebSocket } from 'ws';
import { ChainQueryClient } from '../core/chain/query-client.js';
import { publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { grpcFrame, RELAY_SERVICE_PATHS } from '../core/protocol/grpc-wire.js';
import type { SessionHeader } from '../core/protocol/messages.js';
import type { RedisClient } from '../core/redis/connection.js';
import type { KeyBuilder } from '../core/redis/key-builder.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest, websocketHandshakeHeaders } from '../core/relay/relay-client.js';
import { SessionStore } from '../plugins/index.js';

/**
 * `npm start`'s traffic: the localnet genesis's gateway sends signed relays for app1 on JSON-RPC (every
 * second), REST and CometBFT (every two seconds), keeps a WebSocket subscription open (an event a second,
 * re-subscribing after each session rollover) and calls gRPC Echo (every two seconds); every answer's signature is checked. A status
 * line every five seconds: height, verified relays per transport, sessions by state, settled uPOKT.
 */

// Public test keys of examples/localnet/genesis.yaml: never stake real funds with them.
const GATEWAY_KEY = Uint8Array.from(Buffer.from('cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177', 'hex'));
const APP1_KEY = Uint8Array.from(Buffer.from('2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a', 'hex'));
const APP1 = 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4';
const RING = [APP1_KEY, GATEWAY_KEY].map((k) => publicKeyFromPrivateKey(k));

export interface DevnetTraffic {
  stop(): Promise<void>;
}

export function startDevnetTraffic(o: {
  grpcAddress: string;
  height: () => number;
  relayUrl: string;
  relayGrpc: string;
  supplier: string;
  supplierPublicKey: Uint8Array;
  redis: RedisClient;
  keys: KeyBuilder;
  out: (line: string) => void;
}): DevnetTraffic {
  const query = new ChainQueryClient({ grpc_address: o.grpcAddress, tls: false, query_timeout_ms: 3000 });
  const counts = { jsonrpc: 0, rest: 0, cometbft: 0, websocket: 0, grpc: 0, failed: 0 };
  const seen = { ...counts };
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  let ws: WebSocket | undefined;
  const client = new grpc.Client(o.relayGrpc, grpc.credentials.createInsecure());

  const header = async (): Promise<SessionHeader> => (await query.session(APP1, 'anvil', BigInt(o.height()))).header;
  const sign = (h: SessionHeader, payload: Uint8Array) => Buffer.from(encodeRelayRequest(buildRelayRequest({ header: h, supplierAddress: o.supplier, payload, signerKey: GATEWAY_KEY, ring: RING })));
  const verified = (body: Uint8Array, kind: 'jsonrpc' | 'rest' | 'cometbft' | 'websocket' | 'grpc') => {
    if (checkRelayResponse(body, o.supplierPublicKey).ok) counts[kind]++;
    else counts.failed++;
  };

  const http = async (kind: 'jsonrpc' | 'rest' | 'cometbft', rpcType: string, request: Parameters<typeof encodeHttpPayload>[0]) => {
    const body = sign(await header(), encodeHttpPayload(request));
    const res = await fetch(o.relayUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'rpc-type': rpcType }, body });
    verified(new Uint8Array(await res.arrayBuffer()), kind);
  };
  const jsonrpc = () => http('jsonrpc', '3', { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' });
  const rest = () => http('rest', '4', { method: 'GET', url: '/v1/height' });
  const cometbft = () => http('cometbft', '5', { method: 'GET', url: '/status' });
  const grpcEcho = async () => {
    // demo.v1.Demo/Echo with EchoRequest{message: "devnet"}.
    const payload = encodeHttpPayload({ method: 'POST', url: '/demo.v1.Demo/Echo', headers: { 'content-type': 'application/grpc' }, body: grpcFrame(Buffer.from('0a066465766e6574', 'hex')) });
    const body = sign(await header(), payload);
    const res = await new Promise<Buffer>((resolve, reject) => client.makeUnaryRequest(RELAY_SERVICE_PATHS.SendRelay, (b: Buffer) => b, (b: Buffer) => b, body, (err, r) => (err ? reject(err) : resolve(r!))));
    verified(res, 'grpc');
  };
  const subscribe = async () => {
    if (stopped) return;
    const h = await header();
    ws = new WebSocket(o.relayUrl.replace(/^http/, 'ws'), { headers: websocketHandshakeHeaders({ header: h, supplierAddress: o.supplier, signerKey: GATEWAY_KEY, ring: RING }), skipUTF8Validation: true });
    ws.on('open', () => ws!.send(sign(h, Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')), { binary: false }));
    ws.on('message', (data: Buffer, isBinary) => (isBinary ? undefined : verified(data, 'websocket'))); // the binary frame is the signed 410 at rollover
    ws.on('error', () => {});
    // A session rollover closes with 4000 (as PATH expects): subscribe again in the new session.
    ws.on('close', () => void (stopped ? undefined : setTimeout(() => void subscribe().catch(() => {}), 1000)));
  };

  const every = (ms: number, fn: () => Promise<void>) => {
    const t = setInterval(() => void fn().catch(() => counts.failed++), ms);
    timers.push(t);
  };
  every(1000, jsonrpc);
  every(2000, rest);
  every(2000, cometbft);
  every(2000, grpcEcho);
  void subscribe().catch(() => counts.failed++);
  const store = new SessionStore(o.keys, () => o.redis);
  every(5000, async () => {
    const rate = (k: keyof typeof counts) => ((counts[k] - seen[k]) / 5).toFixed(1);
    const states = new Map<string, number>();
    let settled = 0n;
    for (const id of await store.sessionIds(o.supplier)) {
      const s = await store.session(o.supplier, id);
      if (!s) continue;
      states.set(s.state, (states.get(s.state) ?? 0) + 1);
      if (s.state === 'settled') settled += BigInt((await o.redis.hget(o.keys.minerSession(o.supplier, id), 'settled_upokt')) ?? '0');
    }
    const lease = (await o.redis.get(o.keys.supplierLease(o.supplier)))?.split(' ')[0] ?? 'none';
    o.out(
      `devnet: height ${o.height()} | lease: ${lease} | verified relays/s: jsonrpc ${rate('jsonrpc')}, rest ${rate('rest')}, cometbft ${rate('cometbft')}, websocket ${rate('websocket')}, grpc ${rate('grpc')} (failed ${counts.failed}) | ` +
        `sessions: ${[...states].map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet'} | settled ${settled} uPOKT`,
    );
    Object.assign(seen, counts);
  });

  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      ws?.terminate();
      client.close();
      query.close();
    },
  };
}
