import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { buildRelayRequest, checkRelayResponse, encodeRelayRequest, POKTHTTPResponseCodec, publicKeyFromPrivateKey, RelayCodec, type SessionHeader, simulatedSessionHeader, websocketHandshakeHeaders } from 'relayminer';
import { startWebSocketBackend, type WebSocketBackend } from '../../../examples/backends/websocket-jsonrpc.js';
import { ADDR, KEYS, key } from '../../../test/helpers/localnet-client.js';
import { freePort } from '../../../test/helpers/ports.js';
import { startRelayer } from '../../../test/helpers/relayer.js';
import { rejectionCloseCode } from '../close-codes.js';

const RING = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));

/** A gateway-signed RelayRequest whose payload is the raw client frame (docs/spec/wire.md §4.2). */
function frame(header: SessionHeader, json: unknown, signer: string = KEYS.gateway1, ring = RING): Buffer {
  const payload = Buffer.from(typeof json === 'string' ? json : JSON.stringify(json));
  return Buffer.from(encodeRelayRequest(buildRelayRequest({ header, supplierAddress: ADDR.supplier1, payload, signerKey: key(signer), ring })));
}

/** The handshake headers PATH sends (core's helper), optionally unsigned or with a corrupted signature. */
function pathHeaders(header: SessionHeader, o: { sign?: boolean; tamper?: boolean } = {}): Record<string, string> {
  const h = websocketHandshakeHeaders({ header, supplierAddress: ADDR.supplier1, ...(o.sign === false ? {} : { signerKey: key(KEYS.gateway1), ring: RING }) });
  if (o.tamper) {
    const sig = Buffer.from(h['Pocket-Signature']!, 'base64');
    sig[sig.length - 1] = sig[sig.length - 1]! ^ 1;
    h['Pocket-Signature'] = sig.toString('base64');
  }
  return h;
}

interface Client {
  ws: WebSocket;
  frames: { data: Buffer; binary: boolean }[];
  closed: Promise<{ code: number; reason: string }>;
  next: (n?: number, ms?: number) => Promise<{ data: Buffer; binary: boolean }[]>;
}

async function connect(url: string, headers: Record<string, string>, opts: { autoPong?: boolean } = {}): Promise<Client> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers, skipUTF8Validation: true, autoPong: opts.autoPong ?? true });
  const frames: Client['frames'] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (data, binary) => frames.push({ data: data as Buffer, binary }));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
  let seen = 0;
  const next = async (n = 1, ms = 5000) => {
    const end = Date.now() + ms;
    while (frames.length < seen + n) {
      if (Date.now() > end) throw new Error(`expected ${n} more frames, got ${frames.length - seen}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const got = frames.slice(seen, seen + n);
    seen += n;
    return got;
  };
  return { ws, frames, closed, next };
}

async function setup(t: Test, o: { backend?: Parameters<typeof startWebSocketBackend>[0]; options?: string; relayerYaml?: string; backendKeys?: string } = {}) {
  const backend = await startWebSocketBackend({ intervalMs: 50, ...o.backend });
  t.teardown(() => backend.close());
  const plugin = o.options ? `name: transport-websocket\n    options: ${o.options}` : 'transport-websocket';
  const r = await startRelayer(t, {
    ...(o.relayerYaml !== undefined && { relayerYaml: o.relayerYaml }),
    plugins: [plugin],
    services: (httpUrl) => `  anvil:\n    backends:\n      websocket: { url: "${backend.url}", headers: { x-api-key: secret }${o.backendKeys ? `, ${o.backendKeys}` : ''} }\n  rest:\n    backends:\n      jsonrpc: { url: "${httpUrl}" }`,
  });
  return { r, backend, header: await r.header() };
}

const until = async (what: string, fn: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** PATH sends protobuf in text frames, as its JSON-RPC clients do (docs/spec/wire.md §4.2). */
const TEXT = { binary: false };

const json = (payload: Uint8Array) => JSON.parse(Buffer.from(payload).toString());

t.test('simulated relays (Pocket-Simulation-Key-Id on the upgrade): each frame admitted by the pinned identity, each event signed, nothing mined, metered or rolled over', async (t) => {
  const hex = (k: string) => Buffer.from(publicKeyFromPrivateKey(key(k))).toString('hex');
  const { r, backend } = await setup(t, {
    options: '{ rollover_check_ms: 100 }',
    relayerYaml: `  simulation:\n    enabled: true\n    identities:\n      - { key_id: health, enabled: true, app_pubkey_hex: "${hex(KEYS.app2)}", gateway_pubkeys_hex: ["${hex(KEYS.gateway1)}"] }`,
  });
  const simRing = [KEYS.app2, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));
  const simulated = (json: unknown) => frame(simulatedSessionHeader({ appPublicKey: simRing[0]!, serviceId: 'anvil' }), json, KEYS.gateway1, simRing);
  const upgrade = (keyId: string) => ({ 'Target-Service-Id': 'anvil', 'Pocket-Supplier-Address': ADDR.supplier1, 'Rpc-Type': '2', 'Pocket-Simulation-Key-Id': keyId });
  const c = await connect(r.url, upgrade('health'));
  c.ws.send(simulated({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }), TEXT);
  const frames = await c.next(4);
  // Past several rollover checks: a simulated session (heights 1 and 2) is no chain session to expire.
  await new Promise((res) => setTimeout(res, 400));
  t.equal(c.ws.readyState, WebSocket.OPEN, 'not closed as an expired session');
  const payloads = frames.map((f) => {
    const check = checkRelayResponse(f.data, r.supplierPublicKey);
    t.ok(check.ok, check.ok ? 'signed by the supplier' : check.why);
    return json(check.response!.payload);
  });
  t.same(payloads[0], { jsonrpc: '2.0', id: 1, result: '0x1' });
  t.same(payloads.slice(1).map((p) => p.params.result.number), ['0x1', '0x2', '0x3']);
  t.same(backend.received.map((x) => JSON.parse(x).method), ['eth_subscribe']);
  c.ws.send(simulated({ jsonrpc: '2.0', id: 2, method: 'eth_unsubscribe', params: ['0x1'] }), TEXT);
  await until('the unsubscribe', () => backend.received.length === 2);
  c.ws.close(1000);
  await c.closed;
  t.equal((await r.stream()).length, 0, 'nothing mined');
  t.same(await r.redis.keys(r.keys.meterPattern(ADDR.supplier1)), [], 'nothing metered');
  const metrics = await r.metrics();
  t.notMatch(metrics, /relayminer_relays_total\{[^}]*rpc_type="websocket"/, 'the relay counters never saw them');
  const served = Number(/^relayminer_simulated_relays_total\{service="anvil",rpc_type="websocket",result="served"\} (\d+)$/m.exec(metrics)?.[1]);
  t.ok(served >= 5, `every signed answer counted as a simulated relay (${served})`);

  // A frame signed as an identity the relayer does not pin closes the connection as any refused frame.
  const stranger = await connect(r.url, upgrade('nobody'));
  stranger.ws.send(simulated({ jsonrpc: '2.0', id: 1, method: 'eth_chainId' }), TEXT);
  t.same(await stranger.closed, { code: 4001, reason: 'simulation rejected: unknown key_id "nobody"' });
});

t.test('refused simulated frames: try again later (1013) when rate limited or the replay check is down, else 4001', async (t) => {
  const reasons = ['simulation_rate_limited', 'simulation_unavailable', 'simulation_replay', 'simulation_malformed', 'simulation_rejected'] as const;
  t.same(reasons.map(rejectionCloseCode), [1013, 1013, 4001, 4001, 4001]);
});

t.test('refused for the chain: try again later (1013) when node queries are at their bound, 1011 when the node cannot be asked', async (t) => {
  t.same((['chain_busy', 'chain_unavailable', 'invalid_session'] as const).map(rejectionCloseCode), [1013, 1011, 4001]);
});

t.test('a subscription: N events become N signed relays, each mined and metered', async (t) => {
  const { r, backend, header } = await setup(t);
  const c = await connect(r.url, pathHeaders(header));
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }), TEXT);
  const frames = await c.next(6);
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 2, method: 'eth_unsubscribe', params: ['0x1'] }), TEXT);
  // Events the backend sent before it read the unsubscribe (50 ms apart; more on a loaded machine) come first.
  let late = 0;
  for (;;) {
    const [f] = await c.next(1);
    if (json(checkRelayResponse(f!.data, r.supplierPublicKey).response!.payload).id === 2) break;
    late++;
  }
  const payloads = frames.map((f) => {
    const check = checkRelayResponse(f.data, r.supplierPublicKey);
    t.ok(check.ok, check.ok ? 'verifies' : check.why);
    t.equal(f.binary, false, 'sent with the backend frame type (text)');
    t.equal(check.response!.meta.session_header?.session_id, header.session_id);
    return json(check.response!.payload);
  });
  t.same(payloads[0], { jsonrpc: '2.0', id: 1, result: '0x1' }, 'the subscribe answer, raw (no POKTHTTPResponse)');
  t.same(
    payloads.slice(1).map((p) => p.params.result.number),
    ['0x1', '0x2', '0x3', '0x4', '0x5'],
    'then every event in order',
  );
  t.same(backend.received.map((x) => JSON.parse(x).method), ['eth_subscribe', 'eth_unsubscribe'], 'the backend got the raw payloads');
  t.equal(backend.handshakes[0]!['x-api-key'], 'secret');
  t.equal(backend.handshakes[0]!['pocket-supplier'], ADDR.supplier1);
  t.equal(backend.handshakes[0]!['pocket-service'], 'anvil');

  c.ws.close(1000);
  t.equal((await c.closed).code, 1000);
  await until('backend closed', () => backend.closes.length === 1);
  t.same(backend.closes, [1000], 'a normal close reaches the backend as 1000');
  const frameCount = 7 + late;
  t.equal(backend.eventsSent(), 5 + late, 'every event the backend sent reached the client');
  const mined = await r.stream();
  t.equal(mined.length, frameCount, `every backend frame (1 + ${5 + late} events + unsubscribe answer) is a mined relay`);
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), String(frameCount * 42), 'metered per message (42 uPOKT each)');
  const metrics = await r.metrics();
  t.match(metrics, new RegExp(`relayminer_websocket_frames_relayed_total\\{service="anvil"\\} ${frameCount}\\b`));
  t.match(metrics, new RegExp(`relayminer_relays_published_total\\{service="anvil"\\} ${frameCount}\\b`));
});

/** Sends `call` on the bridge and returns the answer's payload, checked signed and in the request's frame type. */
function answersOn(t: Test, c: Awaited<ReturnType<typeof connect>>, r: Awaited<ReturnType<typeof setup>>['r'], header: Parameters<typeof frame>[0]) {
  return async (call: unknown) => {
    c.ws.send(frame(header, call), TEXT);
    const [f] = await c.next(1);
    const check = checkRelayResponse(f!.data, r.supplierPublicKey);
    t.ok(check.ok, check.ok ? 'signed by the supplier' : check.why);
    t.equal(f!.binary, false, 'in the frame type of the request');
    return json(check.response!.payload);
  };
}

t.test('calls the operator denies are answered on the bridge, signed and mined, and never reach the backend; the bridge stays open', async (t) => {
  const { r, backend, header } = await setup(t, { backend: { intervalMs: 60_000 } });
  const c = await connect(r.url, pathHeaders(header));
  const answerTo = answersOn(t, c, r, header);
  t.same(await answerTo({ jsonrpc: '2.0', id: 1, method: 'admin_addPeer', params: ['enode://x'] }), { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'the method admin_addPeer does not exist/is not available' } }, 'admin_* by default');
  t.same(await answerTo({ jsonrpc: '2.0', id: 2, METHOD: 'unsafe_flush_mempool' }), { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'the method unsafe_flush_mempool does not exist/is not available' } }, "CometBFT's unsafe_* too, the key in any case");
  t.same(await answerTo([{ jsonrpc: '2.0', id: 3, method: 'eth_chainId' }, { jsonrpc: '2.0', id: 4, method: 'personal_sign' }]), [
    { jsonrpc: '2.0', id: 3, error: { code: -32600, message: 'not served: the batch holds a method this supplier does not serve' } },
    { jsonrpc: '2.0', id: 4, error: { code: -32601, message: 'the method personal_sign does not exist/is not available' } },
  ], 'a batch holding one');
  t.same(backend.received, [], 'none reached the backend');
  t.same(await answerTo({ jsonrpc: '2.0', id: 5, method: 'eth_chainId' }), { jsonrpc: '2.0', id: 5, result: 'answer to eth_chainId' }, 'an allowed call on the same bridge reaches the backend');
  t.same(backend.received.map((x) => JSON.parse(x).method), ['eth_chainId']);
  t.equal((await r.stream()).length, 4, 'the answers given here are mined, as the backend’s');
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_websocket_refused_calls_total\{service="anvil",method="admin_addPeer"\} 1/);
  t.match(metrics, /relayminer_websocket_refused_calls_total\{service="anvil",method="unsafe_flush_mempool"\} 1/);
  t.match(metrics, /relayminer_websocket_refused_calls_total\{service="anvil",method="personal_sign"\} 1/);
  c.ws.close(1000);

  const { r: open, backend: openBackend, header: openHeader } = await setup(t, { backend: { intervalMs: 60_000 }, options: '{ deny_methods: [] }' });
  const o = await connect(open.url, pathHeaders(openHeader));
  o.ws.send(frame(openHeader, { jsonrpc: '2.0', id: 1, method: 'admin_nodeInfo' }), TEXT);
  await o.next(1);
  t.same(openBackend.received.map((x) => JSON.parse(x).method), ['admin_nodeInfo'], 'deny_methods: [] forwards every call');
  o.ws.close(1000);
});

t.test('a frame of notifications alone, which a node runs and answers with nothing, is answered on the bridge and paid for, never forwarded', async (t) => {
  const { r, backend, header } = await setup(t, { backend: { intervalMs: 60_000 } });
  const c = await connect(r.url, pathHeaders(header));
  const answerTo = answersOn(t, c, r, header);
  const refusal = { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'notifications are not served: a call without an id gets no answer, and a relay is paid for by its answer' } };
  t.same(await answerTo({ jsonrpc: '2.0', method: 'debug_traceBlockByNumber', params: ['latest', {}] }), refusal, 'one notification');
  t.same(await answerTo([{ jsonrpc: '2.0', method: 'eth_getLogs', params: [{ fromBlock: '0x0' }] }, { jsonrpc: '2.0', method: 'eth_call', params: [{}, 'latest'] }]), refusal, 'a batch of them');
  t.same(backend.received, [], 'neither reached the backend');
  t.same(await answerTo({ jsonrpc: '2.0', ID: 7, method: 'eth_chainId' }), { jsonrpc: '2.0', id: null, result: 'answer to eth_chainId' }, 'an id under another spelling is an id (Go reads keys in any case): forwarded');
  await answerTo([{ jsonrpc: '2.0', id: 8, method: 'eth_chainId' }, { jsonrpc: '2.0', method: 'eth_blockNumber' }]);
  t.equal(backend.received.length, 2, 'a batch with a call in it is forwarded: the node answers it');
  t.equal((await r.stream()).length, 4, 'both refusals are mined relays, as the answers of the backend are');
  t.match(await r.metrics(), /relayminer_websocket_refused_notifications_total\{service="anvil"\} 2\b/);
  c.ws.close(1000);
});

t.test('a gateway that leaves with a call at the backend pays for it: the answer is mined as it comes, then the backend is closed', async (t) => {
  const { r, backend, header } = await setup(t, { backend: { intervalMs: 50 }, backendKeys: 'timeout_ms: 5000' });
  // A mined relay keeps its answer's hash: the demo backend's answers to demo_sleep, as it writes them.
  const sleptHash = (id: number, ms: number) => createHash('sha256').update(JSON.stringify({ jsonrpc: '2.0', id, result: `slept ${ms} ms` })).digest();
  const answered = async () => {
    const mined = (await r.stream()).map((m) => Buffer.from(RelayCodec.decode(m.relay).res!.payload_hash));
    return mined.filter((h) => h.equals(sleptHash(2, 400)) || h.equals(sleptHash(3, 60_000))).length;
  };
  const c = await connect(r.url, pathHeaders(header));
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }), TEXT);
  await c.next(2); // the subscription's id and an event
  // The subscription's events keep coming while the call runs: they are not its answer.
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 2, method: 'demo_sleep', params: [400] }), TEXT);
  await until('the call at the backend', () => backend.received.length === 2);
  c.ws.close(1000);
  await c.closed;
  await until('the backend closed', () => backend.closes.length === 1);
  await until('the answer mined', async () => (await answered()) > 0).catch(() => {});
  t.equal(await answered(), 1, 'the answer that came after the gateway left is a mined relay');
  t.same(backend.closes, [1000], 'the backend is closed, with the gateway’s code, once it has answered');
  const relayed = Number(/relayminer_websocket_frames_relayed_total\{service="anvil"\} (\d+)/.exec(await r.metrics())?.[1]);
  // About eight events came while the call ran after the gateway left; at most the two signed as it left are mined unsent.
  t.ok((await r.stream()).length <= relayed + 3, 'the events that came after the gateway left are not mined');
  t.match(await r.metrics(), /relayminer_websocket_connections\{service="anvil"\} 0\b/);

  // A backend that does not answer within its timeout_ms is closed then: the wait is bounded.
  const slow = await connect(r.url, pathHeaders(header));
  slow.ws.send(frame(header, { jsonrpc: '2.0', id: 3, method: 'demo_sleep', params: [60_000] }), TEXT);
  await until('the slow call at the backend', () => backend.received.length === 3);
  slow.ws.close(1000);
  await until('the backend closed after its timeout', () => backend.closes.length === 2, 10_000);
  t.same(backend.closes, [1000, 1000]);
  t.equal(await answered(), 1, 'nothing more mined');

  // With nothing waiting at the backend, it is closed at once.
  const idle = await connect(r.url, pathHeaders(header));
  idle.ws.send(frame(header, { jsonrpc: '2.0', id: 4, method: 'eth_chainId' }), TEXT);
  await idle.next(1);
  idle.ws.close(1000);
  await until('the backend closed before a wait for answers would end', () => backend.closes.length === 3, 2_500);
});

t.test('refused before the upgrade: unknown service, bad handshake signature, no backend, no service', async (t) => {
  const { r, backend, header } = await setup(t);
  const refused = async (headers: Record<string, string>) => {
    const err = (await connect(r.url, headers).then(
      () => t.fail('upgraded'),
      (e: unknown) => e,
    )) as { status: number; body: string };
    return [err.status, JSON.parse(err.body).error];
  };
  t.same(await refused({ ...pathHeaders(header, { sign: false }), 'Target-Service-Id': 'nope' }), [404, 'unknown service: nope']);
  t.same(await refused({ 'Rpc-Type': '2' }), [400, 'missing service ID in relay request: send Target-Service-Id']);
  t.same(await refused(pathHeaders(header, { tamper: true })), [403, 'relay validation failed: invalid ring signature: not a ring signature of at most 256 members'], 'a present, invalid Pocket-Signature is refused, the reason said once');
  t.same(await refused({ ...pathHeaders(header, { sign: false }), 'Target-Service-Id': 'rest' }), [503, 'service temporarily unavailable: service rest has no websocket backend configured']);
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    t.same(await refused({ ...pathHeaders(header, { sign: false }), 'Target-Service-Id': name }), [404, `unknown service: ${name}`], `${name}: 404, not 500`);
    const ready = await fetch(`http://${r.runtime.addresses.health}/ready/${name}`);
    t.equal(ready.status, 404, `/ready/${name}: 404`);
  }
  t.equal(backend.handshakes.length, 0, 'no refused handshake dialled the backend');
  t.match(await r.metrics(), /relayminer_websocket_handshake_refusals_total\{reason="unknown_service"\} 5/);
});

t.test('an application holds at most max_connections_per_application connections: a handshake past it is refused 503, an unsigned connection closed 1013 at its first relay', async (t) => {
  const { r, backend, header } = await setup(t, { options: '{ max_connections_per_application: 2 }' });
  const held = [await connect(r.url, pathHeaders(header)), await connect(r.url, pathHeaders(header))];
  await until('both dialled', () => backend.handshakes.length === 2);
  const refused = (await connect(r.url, pathHeaders(header)).then(
    () => t.fail('upgraded'),
    (e: unknown) => e,
  )) as { status: number; body: string };
  const full = `application ${ADDR.app1} holds 2 WebSocket connections here, at most 2`;
  t.same([refused.status, JSON.parse(refused.body).error], [503, `relayer busy, retry later: ${full}`], 'a third signed handshake: refused before the upgrade');
  const unsigned = await connect(r.url, pathHeaders(header, { sign: false }));
  unsigned.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_blockNumber' }), TEXT);
  t.same(await unsigned.closed, { code: 1013, reason: full }, 'an unsigned one: closed at its first relay, which never reaches the backend');
  t.equal(backend.handshakes.length, 2, 'neither dialled the backend');
  held[0]!.ws.close(1000);
  await held[0]!.closed;
  await until('the first bridge gone', async () => /relayminer_websocket_connections\{service="anvil"\} 1$/m.test(await r.metrics()));
  const again = await connect(r.url, pathHeaders(header));
  await until('a new one dialled', () => backend.handshakes.length === 3);
  t.equal(again.ws.readyState, WebSocket.OPEN, 'a closed connection gives its place back');
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_websocket_handshake_refusals_total\{reason="relayer_busy"\} 1/);
  t.match(metrics, /relayminer_websocket_refused_frames_total\{service="anvil",reason="relayer_busy"\} 1/);
  for (const c of [held[1]!, again]) c.ws.close(1000);
});

t.test('an unsigned probe connects and closes without dialling the backend', async (t) => {
  const { r, backend, header } = await setup(t);
  const c = await connect(r.url, pathHeaders(header, { sign: false }));
  c.ws.close(1000);
  t.equal((await c.closed).code, 1000);
  await new Promise((res) => setTimeout(res, 200));
  t.equal(backend.handshakes.length, 0, 'the backend was never dialled');
});

t.test('unsigned connections that send nothing are closed after first_frame_timeout_ms (1008), pings or not', async (t) => {
  const { r, backend, header } = await setup(t, { options: '{ first_frame_timeout_ms: 600, ping_interval_ms: 100 }' });
  const started = Date.now();
  const idle = await Promise.all(Array.from({ length: 20 }, () => connect(r.url, pathHeaders(header, { sign: false }))));
  const closes = await Promise.all(idle.map((c) => c.closed));
  t.same(new Set(closes.map((c) => `${c.code} ${c.reason}`)), new Set(['1008 no relay within 600 ms']), 'all twenty closed with 1008');
  t.ok(Date.now() - started < 3000, `closed within the deadline (${Date.now() - started} ms for all twenty)`);
  t.equal(backend.handshakes.length, 0, 'the backend was never dialled');
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="relay",reason="first_frame_timeout"\} 20/);
  // A connection that does send a relay in time stays open past the deadline.
  const active = await connect(r.url, pathHeaders(header, { sign: false }));
  active.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }), TEXT);
  await active.next(1);
  await new Promise((res) => setTimeout(res, 900));
  t.equal(active.ws.readyState, WebSocket.OPEN, 'a bridge with a relay is not cut by the first-frame deadline');
  active.ws.close(1000);
});

t.test('an unsigned connection whose first frame is still being validated at the first-frame deadline is not cut', async (t) => {
  const backend = await startWebSocketBackend({ intervalMs: 50 });
  t.teardown(() => backend.close());
  // Validation that outlasts the deadline: a hook taking 500 ms against a 200 ms deadline (a cold cache
  // asking a slow node does the same).
  const slow = `name: ${JSON.stringify(new URL('../../../test/fixtures/plugins/slow-validation.js', import.meta.url).pathname)}\n    options: { delay_ms: 500 }`;
  const r = await startRelayer(t, {
    plugins: ['name: transport-websocket\n    options: { first_frame_timeout_ms: 200 }', slow],
    services: () => `  anvil:\n    backends:\n      websocket: { url: "${backend.url}" }`,
  });
  const header = await r.header();
  const c = await connect(r.url, pathHeaders(header, { sign: false }));
  const sent = Date.now();
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' }), TEXT);
  const [answer] = await c.next(1);
  t.ok(Date.now() - sent >= 500, `answered after the validation's ${Date.now() - sent} ms, past the 200 ms deadline`);
  t.ok(checkRelayResponse(answer!.data, r.supplierPublicKey).ok, 'a signed answer');
  t.equal(c.ws.readyState, WebSocket.OPEN, 'the connection is still open');
  t.notMatch(await r.metrics(), /reason="first_frame_timeout"\} [1-9]/, 'no first-frame refusal counted');
  // A silent connection next to it is still cut.
  const silent = await connect(r.url, pathHeaders(header, { sign: false }));
  t.same((await silent.closed).code, 1008);
  c.ws.close(1000);
});

t.test('a bridge opened with a signed handshake and no frame rolls over with its handshake session: 410, 4000, backend closed', async (t) => {
  const { r, backend, header } = await setup(t, { options: '{ rollover_check_ms: 100, first_frame_timeout_ms: 200 }' });
  const c = await connect(r.url, pathHeaders(header));
  await until('backend dialled', () => backend.handshakes.length === 1);
  await new Promise((res) => setTimeout(res, 400));
  t.equal(c.ws.readyState, WebSocket.OPEN, 'a signed handshake is not bound by the first-frame deadline');
  r.net.chain.advance(10); // height 22: the handshake's session [11, 20] ended, grace over
  const closed = await c.closed;
  t.same([closed.code, closed.reason], [4000, 'session expired']);
  const check = checkRelayResponse(c.frames.at(-1)!.data, r.supplierPublicKey);
  t.same(check.response?.relay_miner_error?.code, 410, 'the signed 410 envelope, signed against the handshake');
  await until('backend closed', () => backend.closes.length === 1);
  t.same(backend.closes, [1001], 'the backend connection is released');
});

t.test('a backend that cannot be reached: every gateway closed with 4003 and counted, the log says it once, and once when it answers', async (t) => {
  const port = await freePort();
  const r = await startRelayer(t, { plugins: ['transport-websocket'], services: () => `  anvil:\n    backends:\n      websocket: { url: "ws://127.0.0.1:${port}" }` });
  const header = await r.header();
  for (let i = 0; i < 3; i++) {
    const c = await connect(r.url, pathHeaders(header));
    t.same(await c.closed, { code: 4003, reason: 'backend connection failed' }, `gateway ${i + 1}: 4003`);
  }
  t.match(await r.metrics(), /relayminer_websocket_backend_connect_failures_total\{service="anvil"\} 3\b/, 'every failed dial counted');
  const backend = await startWebSocketBackend({ port, intervalMs: 50 });
  t.teardown(() => backend.close());
  for (let i = 0; i < 2; i++) {
    const c = await connect(r.url, pathHeaders(header));
    await until('backend dialled', () => backend.handshakes.length === i + 1);
    c.ws.close(1000);
    t.equal((await c.closed).code, 1000, `gateway ${i + 4}: bridged`);
  }
  const said = r.logs.lines.filter((l) => /^websocket backend/.test(String(l.msg))).map((l) => [l.level, String(l.msg).split(';')[0], l.service]);
  t.same(said, [
    [40, 'websocket backend connection failed', 'anvil'],
    [30, 'websocket backend answers again', 'anvil'],
  ]);
});

/** A raw WebSocket client that upgrades (unsigned) and starts one binary frame of `length` bytes, sending `send` of them. */
/** A client frame's header, mask key 0 (so the payload goes as it is). */
function frameHead(opcode: number, fin: boolean, length: number): Buffer {
  const head = Buffer.alloc(length > 65_535 ? 14 : length > 125 ? 8 : 6);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (length > 65_535) (head[1] = 0x80 | 127), head.writeBigUInt64BE(BigInt(length), 2);
  else if (length > 125) (head[1] = 0x80 | 126), head.writeUInt16BE(length, 2);
  else head[1] = 0x80 | length;
  return head;
}

/** An unsigned WebSocket connection on a raw socket, its first message's header sent with `send` of its `length` bytes. */
async function partialFrame(url: string, length: number, send: number) {
  const c = await rawConnection(url);
  c.socket.write(frameHead(0x2, true, length));
  c.socket.write(Buffer.alloc(send, 1));
  return c;
}

async function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket = netConnect(Number(port), hostname.replace(/^\[|\]$/g, ''));
  socket.on('error', () => {});
  let received = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nTarget-Service-Id: anvil\r\nRpc-Type: 2\r\n\r\n`);
  await until('upgraded', () => received.includes('\r\n\r\n'));
  /** The close frame's code, once the relayer sent one. */
  const closeCode = () => {
    const at = received.indexOf('\r\n\r\n') + 4;
    return received[at] === 0x88 ? received.readUInt16BE(at + 2) : undefined;
  };
  /** Pong frames the relayer sent (empty ones, as answers to empty pings). */
  const pongs = () => received.subarray(received.indexOf('\r\n\r\n') + 4).toString('latin1').split('\x8a\x00').length - 1;
  return { socket, closed, closeCode, pongs, upgrade: () => received.subarray(0, received.indexOf('\r\n')).toString() };
}

/** A relayer whose large-message budget is 1 MiB (messages over 1 KiB draw on it), and the gauge of what it holds. */
async function budgetRelayer(t: Test) {
  const backend = await startWebSocketBackend({ intervalMs: 50 });
  t.teardown(() => backend.close());
  const r = await startRelayer(t, {
    plugins: ['transport-websocket'],
    services: () => `  anvil:\n    backends:\n      websocket: { url: "${backend.url}" }`,
    relayerYaml: '  limits: { large_body_bytes: 1024, large_bodies_bytes: 1048576 }',
  });
  return { r, held: r.largeBodyBytes };
}

t.test('messages being received share relayer.limits.large_bodies_bytes: one that does not fit closes its connection with 1013, and every end gives its bytes back', async (t) => {
  const { r, held } = await budgetRelayer(t);
  // A: 600,000 bytes of a 700,000-byte message (plus its 14-byte header) held.
  const a = await partialFrame(r.url, 700_000, 600_000);
  t.equal(a.upgrade(), 'HTTP/1.1 101 Switching Protocols');
  await until('A held', async () => (await held()) === 600_014);
  // B: its message passes what is left: closed with 1013, nothing of it held.
  const b = await partialFrame(r.url, 700_000, 600_000);
  await b.closed;
  t.equal(b.closeCode(), 1013, 'B closed with 1013 (try again later)');
  t.equal(await held(), 600_014, 'only A is held');
  // A signed subscription with small frames goes on meanwhile.
  const header = await r.header();
  const c = await connect(r.url, pathHeaders(header));
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }), TEXT);
  t.equal((await c.next(3)).length, 3, 'a subscription is served');
  c.ws.close(1000);
  // A finishes its message (not a relay: closed 4001); its bytes are given back.
  a.socket.write(Buffer.alloc(100_000, 1));
  await a.closed;
  t.equal(a.closeCode(), 4001);
  await until('nothing held', async () => (await held()) === 0);
  t.match(await r.metrics(), /relayminer_websocket_closes_total\{service="anvil",code="1013",by="relayer"\} 1/);
});

t.test('pings between the fragments of a message do not start its count again: the fragments ws holds stay drawn', async (t) => {
  const { r, held } = await budgetRelayer(t);
  const c = await rawConnection(r.url);
  // Two fragments of 300,000 bytes (14-byte headers) of one unfinished binary message, a ping after each.
  for (const opcode of [0x2, 0x0]) {
    c.socket.write(Buffer.concat([frameHead(opcode, false, 300_000), Buffer.alloc(300_000, 1), frameHead(0x9, true, 0)]));
  }
  await until('a pong for each ping', () => c.pongs() === 2);
  await until('both fragments held', async () => (await held()) === 600_028);
  c.socket.destroy();
  await until('nothing held', async () => (await held()) === 0);
});

t.test('a forged or malformed frame closes with 4001 and never reaches the backend', async (t) => {
  const { r, backend, header } = await setup(t);
  const outsider = [KEYS.app1, KEYS.app2].map((k) => publicKeyFromPrivateKey(key(k)));
  for (const [what, bytes] of [
    ['signed by a key outside the ring', frame(header, { id: 1, method: 'eth_blockNumber' }, KEYS.app2, outsider)],
    ['not a RelayRequest', Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}')],
  ] as const) {
    const c = await connect(r.url, pathHeaders(header));
    c.ws.send(bytes);
    const closed = await c.closed;
    t.equal(closed.code, 4001, `${what}: 4001`);
    t.equal(c.frames.length, 0);
  }
  t.same(backend.received, [], 'nothing was forwarded');
  t.equal((await r.stream()).length, 0);
});

t.test('a backend frame before any request is dropped and counted', async (t) => {
  const { r, backend, header } = await setup(t, { backend: { greeting: true } });
  const c = await connect(r.url, pathHeaders(header)); // signed: the backend is dialled at once
  await until('backend connected', () => backend.handshakes.length === 1);
  await until('greeting dropped', async () => /relayminer_websocket_dropped_backend_frames_total\{service="anvil"\} 1/.test(await r.metrics()));
  t.equal(c.frames.length, 0, 'the gateway got nothing for it');
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 7, method: 'eth_chainId' }), TEXT);
  const [answer] = await c.next(1);
  const check = checkRelayResponse(answer!.data, r.supplierPublicKey);
  t.ok(check.ok);
  t.same(json(check.response!.payload), { jsonrpc: '2.0', id: 7, result: 'answer to eth_chainId' });
  c.ws.close();
});

t.test('session rollover without a next-session request: signed 410, then 4000; the backend gets 1001', async (t) => {
  const { r, backend, header } = await setup(t, { options: '{ rollover_check_ms: 100 }' });
  const c = await connect(r.url, pathHeaders(header));
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }), TEXT);
  await c.next(2);
  r.net.chain.advance(10); // height 22: session [11, 20] ended, grace (1 block) over
  const closed = await c.closed;
  t.same([closed.code, closed.reason], [4000, 'session expired']);
  const last = c.frames.at(-1)!;
  t.equal(last.binary, true, 'the 410 envelope is a binary frame');
  const check = checkRelayResponse(last.data, r.supplierPublicKey);
  t.notOk(check.ok, 'it carries a relay miner error');
  t.same([check.response!.relay_miner_error!.code, check.response!.relay_miner_error!.description], [410, 'session expired']);
  const envelope = POKTHTTPResponseCodec.decode(check.response!.payload);
  t.same([envelope.status_code, Buffer.from(envelope.body_bz).toString()], [410, '{"error":"session expired"}']);
  await until('backend closed', () => backend.closes.length === 1);
  t.same(backend.closes, [1001]);
});

t.test('session rollover with a request for the next session: the subscription continues', async (t) => {
  const { r, backend, header } = await setup(t, { options: '{ rollover_check_ms: 100 }' });
  const c = await connect(r.url, pathHeaders(header));
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }), TEXT);
  await c.next(2);
  r.net.chain.advance(9); // height 21: the next session [21, 30] starts; the old one is in grace
  await until('relayer at 21', () => r.runtime.context.relay!.chain.currentHeight() === 21n);
  const next = await r.header();
  t.not(next.session_id, header.session_id);
  c.ws.send(frame(next, { jsonrpc: '2.0', id: 2, method: 'eth_chainId' }), TEXT);
  await until('the next-session request answered', () =>
    c.frames.some((f) => Buffer.from(checkRelayResponse(f.data, r.supplierPublicKey).response?.payload ?? []).toString().includes('answer to eth_chainId')),
  );
  r.net.chain.advance(2); // height 23: the first session's grace is over
  await until('relayer at 23', () => r.runtime.context.relay!.chain.currentHeight() === 23n);
  const before = c.frames.length;
  await new Promise((res) => setTimeout(res, 400));
  t.equal(c.ws.readyState, WebSocket.OPEN, 'still open after the old session expired');
  if (c.ws.readyState !== WebSocket.OPEN) t.comment(JSON.stringify(await c.closed));
  t.ok(c.frames.length > before, 'events keep coming');
  const sessions = c.frames.slice(before).map((f) => checkRelayResponse(f.data, r.supplierPublicKey).response!.meta.session_header?.session_id);
  t.same([...new Set(sessions)], [next.session_id], 'new relays carry the new session');
  t.equal(backend.handshakes.length, 1, 'same backend connection');
  t.same(backend.closes, []);
  c.ws.close();
});

t.test('an oversized frame closes with 1009', async (t) => {
  const { r, backend, header } = await setup(t, { options: '{ max_frame_bytes: 4096 }' });
  const c = await connect(r.url, pathHeaders(header));
  c.ws.send(frame(header, { id: 1, method: 'x', params: ['y'.repeat(5000)] }), TEXT);
  t.equal((await c.closed).code, 1009);
  t.same(backend.received, []);
});

t.test('a gateway that stops answering pings is closed', async (t) => {
  const { r, header } = await setup(t, { options: '{ ping_interval_ms: 100, pong_timeout_ms: 300 }' });
  const c = await connect(r.url, pathHeaders(header), { autoPong: false });
  const started = Date.now();
  const closed = await c.closed;
  t.equal(closed.code, 1001);
  t.equal(closed.reason, 'ping timeout');
  t.ok(Date.now() - started < 3000, 'within a few ping intervals');
  const alive = await connect(r.url, pathHeaders(header));
  await new Promise((res) => setTimeout(res, 800));
  t.equal(alive.ws.readyState, WebSocket.OPEN, 'a client that answers pings stays');
  alive.ws.close();
});

t.test('a slow reader pauses the backend and is closed after write_timeout_ms, without buffering everything', async (t) => {
  // demo_flood sends events and no answer: the backend is closed when its timeout_ms is up.
  const { r, backend, header } = await setup(t, { options: '{ max_buffered_bytes: 65536, write_timeout_ms: 500 }', backendKeys: 'timeout_ms: 1000' });
  const c = await connect(r.url, pathHeaders(header));
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'demo_flood', params: [400, 64 * 1024] }), TEXT);
  (c.ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stop reading: the kernel buffers fill, then ours
  await until('slow reader closed', async () => /relayminer_websocket_slow_reader_closes_total\{service="anvil"\} 1/.test(await r.metrics()), 15_000);
  const relayed = Number(/relayminer_websocket_frames_relayed_total\{service="anvil"\} (\d+)/.exec(await r.metrics())?.[1] ?? 0);
  t.ok(relayed < 400, `stopped signing after ${relayed} of 400 frames (26 MB offered)`);
  await until('backend closed', () => backend.closes.length === 1);
  c.ws.terminate();
});

t.test('an application whose budget is used up gets nothing more run: a request is refused (4002) before the backend, a signed handshake 429', async (t) => {
  const { r, backend, header } = await setup(t);
  const meter = r.keys.meter(ADDR.supplier1, header.session_id);
  await r.redis.set(meter, '1000000000'); // the whole budget of app1 for this supplier and session, charged
  const c = await connect(r.url, pathHeaders(header, { sign: false }));
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'debug_traceBlockByNumber', params: ['latest'] }), TEXT);
  const closed = await c.closed;
  t.equal(closed.code, 4002);
  t.equal(closed.reason, 'session relay limit reached: claimable portion fully consumed');
  const refused = (await connect(r.url, pathHeaders(header)).then(
    () => t.fail('upgraded'),
    (e: unknown) => e,
  )) as { status: number; body: string };
  t.same([refused.status, JSON.parse(refused.body).error], [429, 'session relay limit reached: claimable portion fully consumed'], 'a signed handshake of the same session');
  t.same(backend.received, [], 'nothing reached the backend');
  t.equal((await r.stream()).length, 0, 'nothing mined');
  t.equal(await r.redis.get(meter), '1000000000', 'nothing charged or given back');
  t.match(await r.metrics(), /relayminer_websocket_refused_frames_total\{service="anvil",reason="over_servicing"\} 1\b/);
});

t.test('the stake meter runs out mid-subscription: close 4002, nothing unpaid is sent', async (t) => {
  const { r, header } = await setup(t);
  // The app's budget for this supplier and session is 1e9 units at 42 a relay: leave room for two.
  await r.redis.set(r.keys.meter(ADDR.supplier1, header.session_id), String(1_000_000_000 - 2 * 42));
  const c = await connect(r.url, pathHeaders(header));
  c.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }), TEXT);
  const closed = await c.closed;
  t.equal(closed.code, 4002);
  t.equal(c.frames.length, 2, 'the two paid messages, then the close');
  t.ok(c.frames.every((f) => checkRelayResponse(f.data, r.supplierPublicKey).ok));
  t.equal((await r.stream()).length, 2);
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '1000000000');
});

t.test('shutdown: a call at the backend has until shutdown.drain_timeout_ms to be answered, and its answer is mined; one that takes longer is let go', async (t) => {
  // startRelayer sets drain_timeout_ms 2000.
  const { r, backend, header } = await setup(t, { backendKeys: 'timeout_ms: 30000' });
  const sleptHash = (id: number, ms: number) => createHash('sha256').update(JSON.stringify({ jsonrpc: '2.0', id, result: `slept ${ms} ms` })).digest();
  const mined = async () => (await r.stream()).map((m) => Buffer.from(RelayCodec.decode(m.relay).res!.payload_hash));
  const quick = await connect(r.url, pathHeaders(header));
  const slow = await connect(r.url, pathHeaders(header));
  quick.ws.send(frame(header, { jsonrpc: '2.0', id: 1, method: 'demo_sleep', params: [700] }), TEXT);
  slow.ws.send(frame(header, { jsonrpc: '2.0', id: 2, method: 'demo_sleep', params: [20_000] }), TEXT);
  await until('both calls at the backend', () => backend.received.length === 2);
  const began = Date.now();
  await r.runtime.shutdown();
  const took = Date.now() - began;
  const hashes = await mined();
  t.equal(hashes.filter((h) => h.equals(sleptHash(1, 700))).length, 1, 'the answer that came during the drain is a mined relay');
  t.equal(hashes.filter((h) => h.equals(sleptHash(2, 20_000))).length, 0, 'the call past the bound is not');
  t.ok(took < 2000 + 1500, `shutdown took ${took} ms: the call past the bound was let go at the 2 s bound, not waited for`);
  t.same(
    r.logs.lines.filter((l) => String(l.msg).startsWith('shutdown: the ')).map((l) => l.msg),
    [],
    'nothing still waited past the bound, so Redis was not cut under it',
  );
});
