import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { buildRelayRequest, checkRelayResponse, encodeRelayRequest, grpcFrame, publicKeyFromPrivateKey, websocketHandshakeHeaders, type HealthChange, type SessionHeader } from 'relayminer';
import { startWebSocketBackend } from '../../examples/backends/websocket-jsonrpc.js';
import { demo, startGrpcBackend } from '../../examples/backends/grpc-demo.js';
import { ADDR, KEYS, key } from '../helpers/localnet-client.js';
import { gatewayRelay, postRelay, startRelayer } from '../helpers/relayer.js';
import { H2Backend } from '../../plugins/transport-grpc/h2-backend.js';
import { withoutTapHook } from '../helpers/child-env.js';

const RING = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));

/** A host that takes connections and never says a word: a hung node, or one behind a firewall that drops its answers. */
async function silentHost(t: Test): Promise<{ url: (scheme: string) => string; connections: () => number }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;
  return { url: (scheme) => `${scheme}://127.0.0.1:${port}`, connections: () => accepted };
}

/**
 * A host whose connections never open: a listener whose process is stopped, its accept queue filled, so the kernel
 * drops every further SYN (as a firewall dropping packets, or a host gone, does: nothing ever refuses).
 */
async function droppingHost(t: Test): Promise<string> {
  const child = spawn(...withoutTapHook(process.execPath, ['-e', "const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => process.stdout.write(s.address().port + '\\n'))"]), { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  process.kill(child.pid!, 'SIGSTOP');
  const fillers = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1');
          s.once('connect', () => resolve(s)).once('error', reject);
        }),
    ),
  );
  t.teardown(() => fillers.forEach((s) => s.destroy()));
  return `http://127.0.0.1:${port}`;
}

t.test('an HTTP backend URL whose connections never open is failed over within half the deadline, not waited on past it', async (t) => {
  const dropping = await droppingHost(t);
  // timeout_ms 4000: undici's own connect timeout (10 s) would outlast the deadline, and the relay fail.
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc'],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { urls: ["${dropping}", "${url}"], timeout_ms: 4000, load_balancing: first_healthy }`,
  });
  const relay = gatewayRelay(await r.header(), { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' });
  const res = await postRelay(r.url, relay);
  t.equal(res.status, 200);
  const checked = checkRelayResponse(res.body, r.supplierPublicKey);
  t.ok(checked.ok, 'a signed answer');
  t.equal(r.backend.calls.length, 1, 'from the second URL');
  t.equal((await r.stream()).length, 1, 'and mined');
});

t.test('a gRPC backend URL that takes connections and never opens one is failed over within half the deadline, and tried last from then on', async (t) => {
  const silent = await silentHost(t);
  const live = await startGrpcBackend();
  t.teardown(() => live.close());
  const changes: HealthChange[] = [];
  // timeout_ms 4000: a connection has 2 s to open.
  const backend = new H2Backend({ urls: [silent.url('grpc'), `grpc://${live.address}`], timeout_ms: 4000, headers: {} } as never, { onReach: (c) => changes.push(c), probeIntervalMs: 600_000 });
  t.teardown(() => backend.close());
  const call = () =>
    backend.call({ path: demo.echoPath, headers: {}, body: grpcFrame(new Uint8Array(0)) }, {}).then(
      (res) => res.read(1 << 20).then((a) => a.trailers['grpc-status']?.[0]),
      (err: Error) => err.message,
    );
  t.equal(await call(), '0', 'the first call: the silent URL given up on, the next one answered');
  t.same(backend.health, { healthy: 1, total: 2 }, 'the silent URL is out');
  t.same(
    changes.map((c) => [c.up, c.reason]),
    [[false, 'connection timed out (ETIMEDOUT)']],
    'and said once',
  );
  const results = await Promise.all(Array.from({ length: 5 }, call));
  t.same(results, ['0', '0', '0', '0', '0'], 'the calls after it go to the URL that answers');
  t.equal(silent.connections(), 1, 'the silent URL is not dialled again by calls while another answers');

  // Only silent URLs: the call fails as a backend error once each had its wait, not at its deadline's end.
  const alone = new H2Backend({ urls: [silent.url('grpc')], timeout_ms: 4000, headers: {} } as never, { probeIntervalMs: 600_000 });
  t.teardown(() => alone.close());
  const failure = await alone.call({ path: demo.echoPath, headers: {}, body: grpcFrame(new Uint8Array(0)) }, {}).then(
    () => undefined,
    (e: { reason?: string; message: string }) => ({ reason: e.reason, message: e.message }),
  );
  t.same(failure, { reason: 'backend_error', message: 'backend error: connection timed out (ETIMEDOUT)' });
});

/** A signed WebSocket handshake; resolves once a request frame's answer came back, with the close code instead if it closed. */
function bridgeAnswers(url: string, header: SessionHeader): Promise<'answered' | number> {
  const headers = websocketHandshakeHeaders({ header, supplierAddress: ADDR.supplier1, signerKey: key(KEYS.gateway1), ring: RING });
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers });
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.on('message', () => (ws.close(), resolve('answered')));
    ws.on('close', (code) => resolve(code));
    const payload = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}');
    ws.on('open', () => ws.send(encodeRelayRequest(buildRelayRequest({ header, supplierAddress: ADDR.supplier1, payload, signerKey: key(KEYS.gateway1), ring: RING }))));
  });
}

t.test('a WebSocket backend URL that never answers its upgrade is failed over, and tried last by the dials after', async (t) => {
  const silent = await silentHost(t);
  const live = await startWebSocketBackend();
  t.teardown(() => live.close());
  const r = await startRelayer(t, {
    plugins: ['name: transport-websocket\n    options: { backend_probe_interval_ms: 600000 }'],
    services: () => `  anvil:\n    backends:\n      websocket: { urls: ["${silent.url('ws')}", "${live.url}"], timeout_ms: 4000 }`,
  });
  const header = await r.header();
  t.equal(await bridgeAnswers(r.url, header), 'answered', 'the first bridge: the silent URL given up on, the next one opened');
  t.equal(silent.connections(), 1);
  for (let i = 0; i < 3; i++) t.equal(await bridgeAnswers(r.url, header), 'answered', `bridge ${i + 2}`);
  t.equal(silent.connections(), 1, 'the bridges after it dial the URL that answers first');
  const ready = (await (await fetch(`http://${r.runtime.addresses.health}/ready/anvil`)).json()) as { backends: unknown };
  t.same(ready.backends, { websocket: { healthy: 1, total: 2, transport_enabled: true } });
});
