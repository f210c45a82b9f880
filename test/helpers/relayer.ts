import type { LocalRedisOptions } from '../../core/redis/local-server.js';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { Cluster, Redis } from 'ioredis';
import { parseConfig } from '../../core/config/load.js';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { Runtime } from '../../core/runtime/runtime.js';
import { MinedRelayCodec, type MinedRelay, type SessionHeader } from '../../core/protocol/index.js';
import { KeyBuilder } from '../../core/redis/key-builder.js';
import { buildRelayRequest, encodeHttpPayload, encodeRelayRequest, type HttpRelayPayload } from '../../core/relay/relay-client.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { ADDR, KEYS, key, startTestLocalnet } from './localnet-client.js';
import { captureLogs } from './logs.js';
import { startRedis, startRedisCluster } from './redis.js';

export interface BackendCall {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/**
 * A local HTTP backend for relays. `mode` changes its behaviour between requests: `ok` answers a
 * JSON-RPC result echoing the method, `5xx` answers 503, `gzip` gzips the answer, `slow` never answers,
 * `sse` streams three server-sent events, `sse-long` twenty larger ones (6 KB), `large` answers a
 * JSON-RPC result of `largeBytes` bytes.
 */
export async function startBackend(t: Test) {
  const calls: BackendCall[] = [];
  const state = { mode: 'ok' as 'ok' | '5xx' | 'gzip' | 'slow' | 'sse' | 'sse-long' | 'large', largeBytes: 400_000 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      calls.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (state.mode === 'slow') return;
      if (state.mode === 'sse') {
        // Three events 400 ms apart: well over a batch's 100 ms, so each is flushed on its own.
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
        const events = ['data: {"n":1}\n\n', 'data: {"n":2}\n\n', 'data: {"n":3}\n\n'];
        events.forEach((e, i) => setTimeout(() => (i === events.length - 1 ? res.end(e) : res.write(e)), i * 400));
        return;
      }
      if (state.mode === 'sse-long') {
        // Twenty 300-byte events 30 ms apart: 6 KB in all, batched a few events at a time.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const event = `data: ${'x'.repeat(292)}\n\n`;
        let sent = 0;
        const tick = setInterval(() => (++sent === 20 ? (clearInterval(tick), res.end(event)) : res.write(event)), 30);
        res.on('close', () => clearInterval(tick));
        return;
      }
      if (state.mode === 'large') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`{"jsonrpc":"2.0","id":1,"result":"${'x'.repeat(state.largeBytes - 36)}"}`);
        return;
      }
      if (state.mode === '5xx') {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"node syncing"}');
        return;
      }
      const method = (() => {
        try {
          return (JSON.parse(body) as { method?: string }).method ?? 'none';
        } catch {
          return 'none';
        }
      })();
      const answer = JSON.stringify({ jsonrpc: '2.0', id: 1, result: `answer to ${method}` });
      if (state.mode === 'gzip') res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(answer));
      else res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, state };
}

/** localnet + redis-server + a backend + one relayer (Runtime) with the given transports and YAML. */
export async function startRelayer(
  t: Test,
  o: {
    /** Plugin entries; none: the file has no plugins list (the runtime implies them). */
    plugins: string[];
    services: (backendUrl: string) => string;
    relayerYaml?: string;
    genesis?: string;
    redis?: LocalRedisOptions;
    cluster?: boolean;
    /** relayer.meter.lease_relays: 1 (every relay charged in Redis, so meters read exactly) unless a test is about leases. */
    meterLeaseRelays?: number | 'default';
    /** relayer.meter.fail_mode (the default, open, unless given). */
    meterFailMode?: 'open' | 'closed';
    /** YAML flow mapping for `relayer.redis.pool`, e.g. `{ command_timeout_ms: 1000 }`. */
    redisPool?: string;
  },
) {
  const net = await startTestLocalnet(t, o.genesis);
  net.chain.advance(11); // height 12: session [11, 20]
  // On a cluster, `redisServer` is its first node and `redisUrl` the redis-cluster:// URL.
  const cluster = o.cluster ? await startRedisCluster(t) : undefined;
  const redisServer = cluster ? cluster.nodes[0]! : await startRedis(t, o.redis);
  const redisUrl = cluster ? cluster.url : redisServer.url;
  const backend = await startBackend(t);
  const yaml = `
relayer:
  listen_address: "127.0.0.1:0"
  health_address: "127.0.0.1:0"
  metrics_address: "127.0.0.1:0"
  redis: { url: "${redisUrl}", namespace: ha${o.redisPool ? `, pool: ${o.redisPool}` : ''} }
  pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }
  supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }]
  meter: { ${[o.meterLeaseRelays === 'default' ? '' : `lease_relays: ${o.meterLeaseRelays ?? 1}`, o.meterFailMode ? `fail_mode: ${o.meterFailMode}` : ''].filter(Boolean).join(', ')} }
${o.relayerYaml ?? ''}
services:
${o.services(backend.url)}
${o.plugins.length ? `plugins:\n${o.plugins.map((p) => `  - ${p}`).join('\n')}` : '# no plugins list: the runtime runs the transports of the backends named'}
logging: { level: info }
shutdown: { readiness_delay_ms: 0, drain_timeout_ms: 2000 }
`;
  const logs = captureLogs();
  const runtime = await Runtime.start({ config: parseConfig(yaml), roles: ['relayer'], builtins: BUILTIN_PLUGINS, version: 'test', logger: logs.logger });
  t.teardown(() => runtime.shutdown());
  const redis: Redis | Cluster = cluster ? new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }))) : new Redis(redisServer.url);
  redis.on('error', () => {}); // a test that restarts redis-server sees reconnects, not crashes
  t.teardown(() => redis.disconnect());
  const keys = new KeyBuilder('ha');
  const url = `http://${runtime.addresses.relay}`;
  return {
    net,
    runtime,
    backend,
    redis,
    redisServer,
    redisUrl,
    /** With `cluster`: every node. */
    cluster,
    keys,
    logs,
    url,
    supplierPublicKey: publicKeyFromPrivateKey(key(KEYS.supplier1)),
    /** The current session of app1 (gateway-signed) on `service`. */
    header: async (service = 'anvil', app: string = ADDR.app1): Promise<SessionHeader> => {
      const s = await runtime.context.relay!.chain.session(app, service, BigInt(net.chain.height));
      return s.header;
    },
    stream: async (): Promise<MinedRelay[]> =>
      (await redis.xrangeBuffer(keys.relayStream(ADDR.supplier1), '-', '+')).map(([, fields]) => MinedRelayCodec.decode(fields[1]!)),
    metrics: async () => (await fetch(`http://${runtime.addresses.metrics}/metrics`)).text(),
    /** relayminer_relay_large_body_bytes: what large bodies and messages hold of relayer.limits.large_bodies_bytes now. */
    largeBodyBytes: async () => Number(/^relayminer_relay_large_body_bytes (\d+)$/m.exec(await (await fetch(`http://${runtime.addresses.metrics}/metrics`)).text())?.[1]),
  };
}

/** A gateway-signed relay for app1 (ring [app1, gateway1]) as bytes. */
export function gatewayRelay(header: SessionHeader, payload: HttpRelayPayload, o: { signer?: string; supplier?: string } = {}): Uint8Array {
  const signer = o.signer ?? KEYS.gateway1;
  return encodeRelayRequest(
    buildRelayRequest({
      header,
      supplierAddress: o.supplier ?? ADDR.supplier1,
      payload: encodeHttpPayload(payload),
      signerKey: key(signer),
      ring: [KEYS.app1, signer].map((k) => publicKeyFromPrivateKey(key(k))),
    }),
  );
}

/** POSTs relay bytes the way PATH does (Content-Type application/json, Rpc-Type header). */
export async function postRelay(url: string, body: Uint8Array, rpcType: string | undefined = '3', method = 'POST') {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (rpcType !== undefined) headers['rpc-type'] = rpcType;
  const res = await fetch(url, { method, headers, body: Buffer.from(body) });
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
}
