import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { WebSocket, WebSocketServer } from 'ws';
import { encodeHttpPayload, buildRelayRequest, encodeRelayRequest, grpcFrame, publicKeyFromPrivateKey, websocketHandshakeHeaders, type SessionHeader } from 'relayminer';
import { startWebSocketBackend } from '../../examples/backends/websocket-jsonrpc.js';
import { startGrpcBackend } from '../../examples/backends/grpc-demo.js';
import { until } from '../helpers/until.js';
import { ADDR, KEYS, key } from '../helpers/localnet-client.js';
import { freePort } from '../helpers/ports.js';
import { startRelayer } from '../helpers/relayer.js';
import { RELAY_SERVICE } from '../../plugins/transport-grpc/index.js';

const RING = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));

/** A signed WebSocket handshake to the relay listener; resolves with the close code the relayer ends it with, or 'open'. */
function handshake(url: string, header: SessionHeader): Promise<number | 'open'> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers: websocketHandshakeHeaders({ header, supplierAddress: ADDR.supplier1, signerKey: key(KEYS.gateway1), ring: RING }) });
  ws.on('error', () => {});
  return new Promise((resolve) => {
    // The backend is dialled once the handshake is admitted: a dead one closes the gateway with 4003.
    const opened = setTimeout(() => (ws.close(), resolve('open')), 1500);
    ws.on('close', (code) => (clearTimeout(opened), resolve(code)));
  });
}

/** A signed gRPC relay of an Echo call through SendRelay: its status code and details (0 and '' when it succeeds). */
async function grpcRelay(t: Test, address: string, header: SessionHeader): Promise<{ code: number; details: string }> {
  const relay = encodeRelayRequest(
    buildRelayRequest({
      header,
      supplierAddress: ADDR.supplier1,
      payload: encodeHttpPayload({ method: 'POST', url: '/demo.v1.Demo/Echo', headers: { 'content-type': 'application/grpc' }, body: grpcFrame(new Uint8Array(0)) }),
      signerKey: key(KEYS.gateway1),
      ring: RING,
    }),
  );
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  return new Promise((resolve) =>
    client.makeUnaryRequest(RELAY_SERVICE.SendRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(relay), (err) => resolve({ code: err?.code ?? 0, details: err?.details ?? '' })),
  );
}

/** A signed WebSocket handshake's HTTP status when the upgrade is refused, or 101. */
function upgradeStatus(url: string, header: SessionHeader): Promise<number> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers: websocketHandshakeHeaders({ header, supplierAddress: ADDR.supplier1, signerKey: key(KEYS.gateway1), ring: RING }) });
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.on('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), res.resume(), ws.terminate()));
    ws.on('upgrade', () => (resolve(101), ws.terminate()));
  });
}

t.test('/ready/<service> and relayminer_backend_urls_healthy count WebSocket and gRPC backends, as far as their connections tell', async (t) => {
  const live = await startWebSocketBackend();
  t.teardown(() => live.close());
  const [deadGrpc, deadWs] = [await freePort(), await freePort()];
  const r = await startRelayer(t, {
    plugins: ['name: transport-grpc\n    options: { listen_address: "127.0.0.1:0", backend_probe_interval_ms: 200 }', 'name: transport-websocket\n    options: { backend_probe_interval_ms: 200 }'],
    services: () =>
      `  anvil:\n    backends:\n      grpc: { url: "http://127.0.0.1:${deadGrpc}" }\n      websocket: { url: "ws://127.0.0.1:${deadWs}" }\n  wsonly:\n    backends:\n      websocket: { url: "${live.url}" }`,
  });
  const ready = async (service: string) => {
    const res = await fetch(`http://${r.runtime.addresses.health}/ready/${service}`);
    return { status: res.status, body: (await res.json()) as { ready: boolean; backends: Record<string, unknown> } };
  };

  t.same(await ready('wsonly'), { status: 200, body: { service: 'wsonly', ready: true, height: 12, backends: { websocket: { healthy: 1, total: 1, transport_enabled: true } } } }, 'a service served over WebSocket alone is ready');
  t.same((await ready('anvil')).body.backends, { grpc: { healthy: 1, total: 1, transport_enabled: true }, websocket: { healthy: 1, total: 1, transport_enabled: true } }, 'no connection has failed yet');

  // A gRPC relay whose backend cannot be reached, and a WebSocket bridge whose dial fails.
  const header = await r.header();
  const { code } = await grpcRelay(t, r.runtime.addresses.grpc!, header);
  t.not(code, 0, 'the gRPC relay fails');
  t.equal(await handshake(r.url, header), 4003, 'the bridge is closed: backend connection failed');

  const after = await ready('anvil');
  t.equal(after.status, 503);
  t.same(after.body.backends, { grpc: { healthy: 0, total: 1, transport_enabled: true }, websocket: { healthy: 0, total: 1, transport_enabled: true } });
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_backend_urls_healthy\{service="anvil",rpc_type="grpc"\} 0\n/);
  t.match(metrics, /relayminer_backend_urls_healthy\{service="anvil",rpc_type="websocket"\} 0\n/);
  t.match(metrics, /relayminer_backend_urls_healthy\{service="wsonly",rpc_type="websocket"\} 1\n/);

  // Both nodes come up. No relay tries them (a load balancer routing by /ready/anvil would send none): the probes
  // of URLs that cannot be reached bring them back.
  const revivedWs = await startWebSocketBackend({ port: deadWs });
  t.teardown(() => revivedWs.close());
  const revivedGrpc = await startGrpcBackend({ port: deadGrpc });
  t.teardown(() => revivedGrpc.close());
  await until('the service to be ready again', async () => (await ready('anvil')).status === 200, 5000);
  t.same((await ready('anvil')).body.backends, { grpc: { healthy: 1, total: 1, transport_enabled: true }, websocket: { healthy: 1, total: 1, transport_enabled: true } }, 'both URLs back, no relay sent');
  t.ok(r.logs.lines.some((l) => l.msg === 'gRPC backend URL answers again'), 'the gRPC URL coming back is said');
  t.equal(await handshake(r.url, header), 'open', 'and a bridge opens');
});

t.test('a WebSocket backend that greets with a frame larger than its probe reads is found back all the same, and nothing fails', async (t) => {
  const port = await freePort();
  const r = await startRelayer(t, {
    plugins: ['name: transport-websocket\n    options: { backend_probe_interval_ms: 200 }'],
    services: () => `  anvil:\n    backends:\n      websocket: { url: "ws://127.0.0.1:${port}" }`,
  });
  t.equal(await handshake(r.url, await r.header()), 4003, 'the dial fails: the URL is out');
  // The node comes back and greets every connection at once, in the packets after its 101.
  const greeter = new WebSocketServer({ host: '127.0.0.1', port });
  greeter.on('connection', (ws) => ws.send('x'.repeat(4096)));
  t.teardown(() => new Promise<void>((resolve) => greeter.close(() => resolve())));
  await until('the URL to be back', async () => {
    const res = await fetch(`http://${r.runtime.addresses.health}/ready/anvil`);
    return res.status === 200;
  }, 5000);
  const ready = (await (await fetch(`http://${r.runtime.addresses.health}/ready/anvil`)).json()) as { backends: unknown };
  t.same(ready.backends, { websocket: { healthy: 1, total: 1, transport_enabled: true } }, 'a probe opened it; its greeting, over what a probe reads, failed nothing');
});

t.test('with a health_check, WebSocket and gRPC URLs are probed while nothing fails: a node that goes away is out before any relay finds it, and back once it answers', async (t) => {
  const [grpcPort, wsPort] = [await freePort(), await freePort()];
  const nodes = { ws: await startWebSocketBackend({ port: wsPort }), grpc: await startGrpcBackend({ port: grpcPort }) };
  t.teardown(async () => (await nodes.ws.close(), await nodes.grpc.close()));
  const hc = 'health_check: { interval_ms: 500, timeout_ms: 500, unhealthy_threshold: 2, healthy_threshold: 2 }';
  const r = await startRelayer(t, {
    plugins: ['name: transport-grpc\n    options: { listen_address: "127.0.0.1:0" }', 'name: transport-websocket'],
    services: () => `  anvil:\n    backends:\n      grpc: { url: "http://127.0.0.1:${grpcPort}", ${hc} }\n      websocket: { url: "ws://127.0.0.1:${wsPort}", ${hc} }`,
  });
  const ready = async () => {
    const res = await fetch(`http://${r.runtime.addresses.health}/ready/anvil`);
    return { status: res.status, backends: ((await res.json()) as { backends: unknown }).backends };
  };
  t.same(await ready(), { status: 200, backends: { grpc: { healthy: 1, total: 1, transport_enabled: true }, websocket: { healthy: 1, total: 1, transport_enabled: true } } });

  await nodes.ws.close();
  await nodes.grpc.close();
  // The service is out (503) once either URL is; each leaves on its own second failed probe.
  const healthy = (b: unknown, kind: string) => (b as Record<string, { healthy: number }>)[kind]?.healthy;
  let seen = await ready();
  await until('both URLs out of rotation', async () => ((seen = await ready()), healthy(seen.backends, 'grpc') === 0 && healthy(seen.backends, 'websocket') === 0), 10_000);
  t.same(seen, { status: 503, backends: { grpc: { healthy: 0, total: 1, transport_enabled: true }, websocket: { healthy: 0, total: 1, transport_enabled: true } } }, 'both URLs out, no relay sent');
  await until('both URLs said out', () => r.logs.lines.filter((l) => /backend URL cannot be reached/.test(String(l.msg))).length === 2, 5000);
  t.same(
    r.logs.lines.filter((l) => /backend URL cannot be reached/.test(String(l.msg))).map((l) => [l.msg, l.url, l.reason]).sort(),
    [
      ['gRPC backend URL cannot be reached; its calls fail until it answers', `http://127.0.0.1:${grpcPort}`, 'connection refused (ECONNREFUSED)'],
      ['websocket backend URL cannot be reached; new gateway connections dial the others first', `ws://127.0.0.1:${wsPort}`, 'connection refused (ECONNREFUSED)'],
    ],
    'said once each, with the reason and no more',
  );
  t.notOk((await r.metrics()).includes('relayminer_relays_total{'), 'no relay was sent');

  // Every URL failed its health checks: calls fail at once, as an HTTP backend's do, without a dial or a verification.
  const header = await r.header();
  t.equal(await upgradeStatus(r.url, header), 503, 'a WebSocket handshake is refused at the upgrade');
  t.match(await grpcRelay(t, r.runtime.addresses.grpc!, header), { code: grpc.status.UNAVAILABLE, details: /every backend URL fails its health checks/ }, 'a gRPC relay ends UNAVAILABLE');

  nodes.ws = await startWebSocketBackend({ port: wsPort });
  nodes.grpc = await startGrpcBackend({ port: grpcPort });
  await until('the service back', async () => (await ready()).status === 200, 10_000);
  t.same((await ready()).backends, { grpc: { healthy: 1, total: 1, transport_enabled: true }, websocket: { healthy: 1, total: 1, transport_enabled: true } });
  t.ok(r.logs.lines.some((l) => l.msg === 'websocket backend URL answers again'), 'the WebSocket URL coming back is said');
  t.equal(await handshake(r.url, header), 'open', 'and a bridge opens');
  t.equal((await grpcRelay(t, r.runtime.addresses.grpc!, header)).code, 0, 'and a gRPC relay is served');
});

t.test("a WebSocket health check with a body: a node that takes handshakes but does not answer, or answers with an error, is out; its answer brings it back", async (t) => {
  const port = await freePort();
  let answer: 'none' | 'error' | 'result' = 'none';
  const requests: string[] = [];
  const node = new WebSocketServer({ host: '127.0.0.1', port });
  node.on('connection', (ws) => {
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'eth_subscription', params: { result: 'a greeting the probe skips' } }));
    ws.on('message', (data) => {
      const req = JSON.parse(data.toString()) as { id: number };
      requests.push(data.toString());
      if (answer === 'result') ws.send(JSON.stringify({ jsonrpc: '2.0', id: req.id, result: '0x10' }));
      if (answer === 'error') ws.send(JSON.stringify({ jsonrpc: '2.0', id: req.id, error: { code: -32000, message: 'header not found' } }));
    });
  });
  t.teardown(() => new Promise<void>((resolve) => node.close(() => resolve())));
  const r = await startRelayer(t, {
    plugins: ['name: transport-websocket'],
    services: () =>
      `  anvil:\n    backends:\n      websocket:\n        url: "ws://127.0.0.1:${port}"\n        health_check: { body: '{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber"}', interval_ms: 500, timeout_ms: 400, unhealthy_threshold: 2, healthy_threshold: 1 }`,
  });
  const ready = async () => (await fetch(`http://${r.runtime.addresses.health}/ready/anvil`)).status;
  const out = () => r.logs.lines.filter((l) => l.msg === 'websocket backend URL failed its health checks; new gateway connections dial the others first').map((l) => l.reason);

  await until('the silent node out', async () => (await ready()) === 503, 10_000);
  t.same(out(), ['health check not answered (HEALTH_CHECK_UNANSWERED)'], 'its handshakes open, its silence takes it out');
  t.same(JSON.parse(requests[0]!), { jsonrpc: '2.0', id: 7, method: 'eth_blockNumber' }, 'the body sent as it is configured');

  answer = 'result';
  await until('the node back', async () => (await ready()) === 200, 10_000);
  t.ok(r.logs.lines.some((l) => l.msg === 'websocket backend URL answers again'), 'an answer with its id brings it back');

  answer = 'error';
  await until('the erring node out', async () => (await ready()) === 503, 10_000);
  t.same(out().at(-1), 'health check answered with an error (HEALTH_CHECK_ERROR)', 'a JSON-RPC error answer takes it out');
});

t.test('a WebSocket health check whose body is not a JSON-RPC call: its first answer saying the node is still syncing takes it out, as an HTTP probe\'s would', async (t) => {
  const port = await freePort();
  let syncing = false;
  const node = new WebSocketServer({ host: '127.0.0.1', port });
  node.on('connection', (ws) => ws.on('message', () => ws.send(JSON.stringify({ syncing }))));
  t.teardown(() => new Promise<void>((resolve) => node.close(() => resolve())));
  const r = await startRelayer(t, {
    plugins: ['name: transport-websocket'],
    services: () =>
      `  anvil:\n    backends:\n      websocket:\n        url: "ws://127.0.0.1:${port}"\n        health_check: { body: '{"subscribe":"sync"}', interval_ms: 500, timeout_ms: 400, unhealthy_threshold: 1, healthy_threshold: 1 }`,
  });
  const ready = async () => (await fetch(`http://${r.runtime.addresses.health}/ready/anvil`)).status;
  t.equal(await ready(), 200);
  syncing = true;
  await until('the syncing node out', async () => (await ready()) === 503, 10_000);
  t.same(
    r.logs.lines.filter((l) => l.msg === 'websocket backend URL failed its health checks; new gateway connections dial the others first').map((l) => l.reason),
    ['health check answered still syncing (HEALTH_CHECK_SYNCING)'],
  );
  syncing = false;
  await until('the node back', async () => (await ready()) === 200, 10_000);
});

t.test('a gRPC health check with a path calls that method with an empty message: a node that answers it is in, one that refuses it is out', async (t) => {
  const port = await freePort();
  const node = await startGrpcBackend({ port });
  t.teardown(() => node.close());
  const hc = (path: string) => `health_check: { path: ${path}, interval_ms: 500, timeout_ms: 1000, unhealthy_threshold: 1, healthy_threshold: 1 }`;
  const r = await startRelayer(t, {
    plugins: ['name: transport-grpc\n    options: { listen_address: "127.0.0.1:0" }'],
    services: () =>
      `  anvil:\n    backends:\n      grpc: { url: "http://127.0.0.1:${port}", ${hc('/demo.v1.Demo/Echo')} }\n  other:\n    backends:\n      grpc: { url: "http://127.0.0.1:${port}", ${hc('/demo.v1.Demo/NoSuchMethod')} }`,
  });
  const ready = async (service: string) => (await fetch(`http://${r.runtime.addresses.health}/ready/${service}`)).status;
  await until('the node out for the method it does not serve', async () => (await ready('other')) === 503, 10_000);
  t.equal(await ready('anvil'), 200, 'the same node in for the method it answers');
  t.same(
    r.logs.lines.filter((l) => l.msg === 'gRPC backend URL failed its health checks; out of rotation').map((l) => [l.service, l.reason]),
    [['other', 'health check answered with an error (HEALTH_CHECK_ERROR)']],
    'said once, for that service',
  );
});

t.test("a gRPC health check of the gRPC health service or a Cosmos node's GetSyncing reads the answer: NOT_SERVING or syncing is out, SERVING and synced in", async (t) => {
  // A node serving both methods, its answers laid out by hand from the field numbers (field 1, varint).
  const node = { status: 1, syncing: false };
  const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b, requestStream: false, responseStream: false };
  const server = new grpc.Server();
  server.addService({ Check: { ...raw, path: '/grpc.health.v1.Health/Check' } } as grpc.ServiceDefinition, {
    Check: (_call: unknown, done: grpc.sendUnaryData<Buffer>) => done(null, Buffer.from([0x08, node.status])),
  });
  server.addService({ GetSyncing: { ...raw, path: '/cosmos.base.tendermint.v1beta1.Service/GetSyncing' } } as grpc.ServiceDefinition, {
    GetSyncing: (_call: unknown, done: grpc.sendUnaryData<Buffer>) => done(null, node.syncing ? Buffer.from([0x08, 0x01]) : Buffer.alloc(0)),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const hc = (path: string) => `health_check: { path: ${path}, interval_ms: 500, timeout_ms: 1000, unhealthy_threshold: 1, healthy_threshold: 1 }`;
  const r = await startRelayer(t, {
    plugins: ['name: transport-grpc\n    options: { listen_address: "127.0.0.1:0" }'],
    services: () =>
      `  anvil:\n    backends:\n      grpc: { url: "http://127.0.0.1:${port}", ${hc('/grpc.health.v1.Health/Check')} }\n  other:\n    backends:\n      grpc: { url: "http://127.0.0.1:${port}", ${hc('/cosmos.base.tendermint.v1beta1.Service/GetSyncing')} }`,
  });
  const ready = async (service: string) => (await fetch(`http://${r.runtime.addresses.health}/ready/${service}`)).status;
  const outLines = () =>
    r.logs.lines.filter((l) => l.msg === 'gRPC backend URL failed its health checks; out of rotation').map((l) => [l.service, l.reason]);
  await until('both in', async () => (await ready('anvil')) === 200 && (await ready('other')) === 200, 10_000);

  node.status = 2; // NOT_SERVING
  await until('the health service out', async () => (await ready('anvil')) === 503, 10_000);
  t.equal(await ready('other'), 200, 'GetSyncing still says synced');
  node.syncing = true;
  await until('the syncing node out', async () => (await ready('other')) === 503, 10_000);
  t.same(outLines(), [
    ['anvil', 'health check answered not serving (HEALTH_CHECK_NOT_SERVING)'],
    ['other', 'health check answered still syncing (HEALTH_CHECK_SYNCING)'],
  ], 'each said once, with what the node answered');
  t.match(await grpcRelay(t, r.runtime.addresses.grpc!, await r.header()), { code: grpc.status.UNAVAILABLE, details: /every backend URL fails its health checks/ }, 'a relay fails at once');

  node.status = 1;
  node.syncing = false;
  await until('both back', async () => (await ready('anvil')) === 200 && (await ready('other')) === 200, 10_000);
});
