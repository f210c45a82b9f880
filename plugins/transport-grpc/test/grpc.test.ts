import t, { type Test } from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { buildRelayRequest, checkRelayResponse, ConfigError, simulatedSessionHeader, encodeHttpPayload, encodeRelayRequest, grpcFrame, grpcFrames, type HttpRelayPayload, PLACEHOLDER_RING_PUBLIC_KEY, POKTHTTPResponseCodec, publicKeyFromPrivateKey, RelayCodec, relayResponseSignableHash, type SessionHeader, splitGrpcFrames, verifySupplierResponse } from 'relayminer';
import * as grpc from '@grpc/grpc-js';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { demo, startGrpcBackend } from '../../../examples/backends/grpc-demo.js';
import { ADDR, KEYS, key } from '../../../test/helpers/localnet-client.js';
import { gatewayRelay, startRelayer } from '../../../test/helpers/relayer.js';
import { freePort } from '../../../test/helpers/ports.js';
import { until } from '../../../test/helpers/until.js';
import { RELAY_SERVICE } from '../index.js';

const echo = (message: string) => ({
  method: 'POST',
  url: demo.echoPath,
  headers: { 'content-type': 'application/grpc', te: 'trailers' },
  body: grpcFrame(demo.encodeEcho({ message })),
});

async function setup(t: Test, relayerYaml?: string) {
  const backend = await startGrpcBackend();
  t.teardown(() => backend.close());
  const r = await startRelayer(t, {
    ...(relayerYaml !== undefined && { relayerYaml }),
    plugins: ['name: transport-grpc\n    options: { listen_address: "127.0.0.1:0" }'],
    services: (httpUrl) => `  anvil:\n    backends:\n      grpc: { url: "${backend.url}", headers: { x-api-key: secret } }\n  rest:\n    backends:\n      jsonrpc: { url: "${httpUrl}" }`,
  });
  const client = new grpc.Client(r.runtime.addresses.grpc!, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
  t.teardown(() => client.close());
  const unary = (body: Uint8Array, metadata = new grpc.Metadata()) =>
    new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(RELAY_SERVICE.SendRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(body), metadata, (err, res) => (err ? reject(err) : resolve(res!))),
    );
  const streaming = (body: Uint8Array) =>
    new Promise<Buffer[]>((resolve, reject) => {
      const out: Buffer[] = [];
      const call = client.makeServerStreamRequest(RELAY_SERVICE.SendStreamingRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(body));
      call.on('data', (b: Buffer) => out.push(b));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });
  return { r, backend, unary, streaming, header: await r.header() };
}

async function messages(body: Uint8Array): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const f of grpcFrames((async function* () { yield Buffer.from(body); })(), 1 << 20)) out.push(f.subarray(5));
  return out;
}

t.test('a unary gRPC relay: signed, trailers folded in, mined, metered', async (t) => {
  const { r, backend, unary, header } = await setup(t);
  const check = checkRelayResponse(await unary(gatewayRelay(header, echo('hello'))), r.supplierPublicKey);
  t.ok(check.ok, check.ok ? 'verifies' : check.why);
  const http = POKTHTTPResponseCodec.decode(check.response!.payload);
  t.equal(http.status_code, 200);
  t.same(http.header.get('grpc-status')?.values, ['0'], 'trailer grpc-status folded into the headers');
  t.same(http.header.get('content-type')?.values, ['application/grpc+proto'], "the backend's own headers");
  const [reply] = await messages(http.body_bz);
  t.same(demo.decodeEcho(reply!), { message: 'hello', supplier: ADDR.supplier1 }, 'the backend saw Pocket-Supplier');
  t.same(backend.calls, ['Echo']);
  const mined = await r.stream();
  t.equal(mined.length, 1);
  t.equal(Buffer.from(RelayCodec.decode(mined[0]!.relay).req!.payload).length > 0, true);
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '42');
});

t.test('a simulated relay (pocket-simulation-key-id metadata): admitted by its pinned identity, signed, not mined or metered', async (t) => {
  const hex = (k: string) => Buffer.from(publicKeyFromPrivateKey(key(k))).toString('hex');
  const { r, backend, unary } = await setup(
    t,
    `  simulation:\n    enabled: true\n    identities:\n      - { key_id: health, enabled: true, app_pubkey_hex: "${hex(KEYS.app2)}", gateway_pubkeys_hex: ["${hex(KEYS.gateway1)}"] }`,
  );
  const simulated = () =>
    encodeRelayRequest(
      buildRelayRequest({
        header: simulatedSessionHeader({ appPublicKey: publicKeyFromPrivateKey(key(KEYS.app2)), serviceId: 'anvil' }),
        supplierAddress: ADDR.supplier1,
        payload: encodeHttpPayload(echo('health')),
        signerKey: key(KEYS.gateway1),
        ring: [KEYS.app2, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k))),
      }),
    );
  const metadata = (keyId: string) => {
    const m = new grpc.Metadata();
    m.set('pocket-simulation-key-id', keyId);
    return m;
  };
  const check = checkRelayResponse(await unary(simulated(), metadata('health')), r.supplierPublicKey);
  t.ok(check.ok, check.ok ? 'signed by the supplier' : check.why);
  const [reply] = await messages(POKTHTTPResponseCodec.decode(check.response!.payload).body_bz);
  t.same(demo.decodeEcho(reply!), { message: 'health', supplier: ADDR.supplier1 }, "the backend's answer");
  t.same(backend.calls, ['Echo']);
  const refused = await unary(simulated(), metadata('nobody')).then(
    () => 'served',
    (err: grpc.ServiceError) => `${grpc.status[err.code]}: ${err.details}`,
  );
  t.equal(refused, 'PERMISSION_DENIED: simulation rejected: unknown key_id "nobody"');
  const once = simulated();
  await unary(once, metadata('health'));
  const replayed = await unary(once, metadata('health')).then(
    () => 'served',
    (err: grpc.ServiceError) => `${grpc.status[err.code]}: ${err.details}`,
  );
  t.equal(replayed, 'ALREADY_EXISTS: simulation rejected: replay: this signed request was already admitted', 'the same signed request again: a replay');
  t.equal((await r.stream()).length, 0, 'nothing mined');
  t.same(await r.redis.keys(r.keys.meterPattern(ADDR.supplier1)), [], 'nothing metered');
  const lines = (await r.metrics()).split('\n').filter((l) => l.startsWith('relayminer_simulated_relays_total')).sort();
  t.same(lines, [
    'relayminer_simulated_relays_total{service="anvil",rpc_type="grpc",result="served"} 2',
    'relayminer_simulated_relays_total{service="anvil",rpc_type="grpc",result="simulation_rejected"} 1',
    'relayminer_simulated_relays_total{service="anvil",rpc_type="grpc",result="simulation_replay"} 1',
  ]);
});

t.test('a server-streaming call: one signed response per message, then the trailers; mined once', async (t) => {
  const { r, streaming, header } = await setup(t);
  const payload = { method: 'POST', url: demo.countPath, headers: { 'content-type': 'application/grpc' }, body: grpcFrame(demo.encodeCount({ to: 3, interval_ms: 30 })) };
  const responses = await streaming(gatewayRelay(header, payload));
  t.equal(responses.length, 4, '3 messages + the status');
  const https = responses.map((b) => {
    const check = checkRelayResponse(b, r.supplierPublicKey);
    t.ok(check.ok, check.ok ? 'each verifies' : check.why);
    return POKTHTTPResponseCodec.decode(check.response!.payload);
  });
  const counts = await Promise.all(https.slice(0, 3).map(async (h) => demo.decodeCount((await messages(h.body_bz))[0]!).n));
  t.same(counts, [1, 2, 3]);
  t.same(https[3]!.header.get('grpc-status')?.values, ['0']);
  t.equal(https[3]!.body_bz.length, 0);
  const mined = await r.stream();
  t.equal(mined.length, 1, 'the whole stream is one relay');
  const minedRes = RelayCodec.decode(mined[0]!.relay).res!;
  t.equal(minedRes.payload.length, 0, 'dehydrated: the response is in the hash, not the entry');
  // The whole answer: the headers of the first response, the trailers of the last, every message.
  const whole = POKTHTTPResponseCodec.encode({ status_code: 200, header: new Map([...https[0]!.header, ...https[3]!.header]), body_bz: Buffer.concat(https.slice(0, 3).map((h) => h.body_bz)) });
  t.equal(Buffer.from(minedRes.payload_hash).toString('hex'), Buffer.from(sha256(whole)).toString('hex'), 'mined over the whole answer');
  t.ok(verifySupplierResponse(relayResponseSignableHash(minedRes), minedRes.meta.supplier_operator_signature, r.supplierPublicKey), 'its signature verifies');
});

t.test('a server stream cut by the backend deadline ends DEADLINE_EXCEEDED, not OK; not mined, refunded', async (t) => {
  const backend = await startGrpcBackend();
  t.teardown(() => backend.close());
  const r = await startRelayer(t, {
    plugins: ['name: transport-grpc\n    options: { listen_address: "127.0.0.1:0" }'],
    services: () => `  anvil:\n    backends:\n      grpc: { url: "${backend.url}", timeout_ms: 600 }`,
  });
  const header = await r.header();
  const client = new grpc.Client(r.runtime.addresses.grpc!, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const payload = { method: 'POST', url: demo.countPath, headers: { 'content-type': 'application/grpc' }, body: grpcFrame(demo.encodeCount({ to: 1000, interval_ms: 20 })) };
  const call = client.makeServerStreamRequest(RELAY_SERVICE.SendStreamingRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(gatewayRelay(header, payload)));
  const received: Buffer[] = [];
  call.on('data', (b: Buffer) => received.push(b));
  const outcome = await new Promise<string>((resolve) => {
    call.on('error', (err: grpc.ServiceError) => resolve(`${grpc.status[err.code]}: ${err.details}`));
    call.on('end', () => resolve('OK'));
  });
  t.equal(outcome, 'DEADLINE_EXCEEDED: backend timeout: no answer within 600 ms', 'the gateway learns the answer is truncated');
  t.ok(received.length > 5 && received.length < 1000, `${received.length} messages before the cut, each signed`);
  t.ok(received.every((b) => checkRelayResponse(b, r.supplierPublicKey).ok));
  t.equal((await r.stream()).length, 0, 'not mined');
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '0', 'and refunded');
  t.match(await r.metrics(), /relayminer_relay_rejections_total\{service="anvil",rpc_type="grpc",reason="backend_timeout"\} 1/);
});

t.test('backend errors: INTERNAL is signed but not mined (refunded); INVALID_ARGUMENT is a billable answer', async (t) => {
  const { r, unary, header } = await setup(t);
  const crash = checkRelayResponse(await unary(gatewayRelay(header, echo('crash'))), r.supplierPublicKey);
  t.ok(crash.ok);
  t.same(POKTHTTPResponseCodec.decode(crash.response!.payload).header.get('grpc-status')?.values, ['13']);
  t.equal((await r.stream()).length, 0, 'INTERNAL is not mined');
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '0', 'and refunded');
  const fail = checkRelayResponse(await unary(gatewayRelay(header, echo('fail'))), r.supplierPublicKey);
  const http = POKTHTTPResponseCodec.decode(fail.response!.payload);
  t.same([http.header.get('grpc-status')?.values, http.header.get('grpc-message')?.values], [['3'], ['you%20asked%20for%20it']], 'trailers as on the wire (grpc-message percent-encoded)');
  t.equal((await r.stream()).length, 1, 'INVALID_ARGUMENT is mined');
});

t.test('rejections carry gRPC status codes and never reach the backend', async (t) => {
  const { backend, unary, streaming, header, r } = await setup(t);
  const code = (body: Uint8Array) => unary(body).then(() => 'OK', (err: grpc.ServiceError) => grpc.status[err.code]);
  const outsider = [KEYS.app1, KEYS.app2].map((k) => publicKeyFromPrivateKey(key(k)));
  const relay = (h: SessionHeader, o: { signer?: string; ring?: Uint8Array[]; supplier?: string } = {}) =>
    encodeRelayRequest(
      buildRelayRequest({
        header: h,
        supplierAddress: o.supplier ?? ADDR.supplier1,
        payload: encodeHttpPayload(echo('x')),
        signerKey: key(o.signer ?? KEYS.gateway1),
        ring: o.ring ?? [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k))),
      }),
    );
  t.equal(await code(Buffer.from('not protobuf at all')), 'INVALID_ARGUMENT');
  t.equal(await code(relay(header, { signer: KEYS.app2, ring: outsider })), 'PERMISSION_DENIED', 'signer outside the ring');
  t.equal(await code(relay({ ...header, service_id: 'nope' })), 'NOT_FOUND', 'unknown service');
  const streamed = await streaming(relay({ ...header, service_id: 'nope' })).then(() => 'OK', (err: grpc.ServiceError) => grpc.status[err.code]);
  t.equal(streamed, 'NOT_FOUND', 'a refused streaming call ends with its status too');
  t.equal(await code(relay(header, { supplier: ADDR.supplier2 })), 'FAILED_PRECONDITION', 'supplier key not loaded');
  const restHeader = await r.header('rest', ADDR.app2);
  t.equal(await code(relay(restHeader, { signer: KEYS.app2, ring: [PLACEHOLDER_RING_PUBLIC_KEY, publicKeyFromPrivateKey(key(KEYS.app2))] })), 'UNAVAILABLE', 'no grpc backend');
  t.same(backend.calls, [], 'nothing reached the backend');
});

t.test("metadata grpc-js does not accept: the call is served, and nothing a client sent is logged or written to stderr", async (t) => {
  const { r, header } = await setup(t);
  const stderr = t.capture(console, 'error');
  const { connect } = await import('node:http2');
  const session = connect(`http://${r.runtime.addresses.grpc}`);
  t.teardown(() => session.close());
  const call = session.request({ ':method': 'POST', ':path': RELAY_SERVICE.SendRelay.path, 'content-type': 'application/grpc', te: 'trailers', 'x!token': 'secret-one', 'x-note': 'caf\u00e9 secret-two' });
  call.end(grpcFrame(gatewayRelay(header, echo('odd headers'))));
  const chunks: Buffer[] = [];
  call.on('data', (c: Buffer) => chunks.push(c));
  const trailers = await new Promise<Record<string, unknown>>((resolve) => call.on('trailers', resolve));
  t.equal(trailers['grpc-status'], '0', 'answered OK');
  const [answer] = splitGrpcFrames(Buffer.concat(chunks), 1 << 20);
  const check = checkRelayResponse(answer!.subarray(5), r.supplierPublicKey);
  t.ok(check.ok, 'a signed answer');
  t.notMatch(r.logs.text(), /secret-one|secret-two/, 'no header value in the logs');
  t.same(stderr().map((c) => String(c.args[0]).slice(0, 40)), [], 'nothing on stderr');
});

t.test('a signed relay whose inner request cannot be sent: INVALID_ARGUMENT, the backend untouched, valid relays still served', async (t) => {
  const { backend, unary, header, r } = await setup(t);
  const code = (body: Uint8Array) => unary(body).then(() => 'OK', (err: grpc.ServiceError) => `${grpc.status[err.code]}: ${err.details}`);
  const bad: HttpRelayPayload[] = [
    { ...echo('x'), headers: { 'bad header': 'v' } },
    { ...echo('x'), headers: { 'content-type': 'application/grpc\r\nx: y' } },
    { ...echo('x'), url: 'http://[' },
    { ...echo('x'), headers: { 'x-large': 'a'.repeat(70_000) } }, // too large for one HTTP/2 header block (about 64 KiB)
  ];
  for (const payload of bad) t.match(await code(gatewayRelay(header, payload)), /^INVALID_ARGUMENT: invalid relay payload: not a usable request for the backend: /);
  t.same(backend.calls, [], 'none reached the backend');
  t.equal(await code(gatewayRelay(header, echo('fine'))), 'OK');
  t.same(backend.calls, ['Echo']);
  t.match(await r.metrics(), /relayminer_meter_refunds_total\{service="anvil",reason="malformed_payload"\} 4/);
  t.notMatch(await r.metrics(), /reason="backend_error"/, 'none counted against the backend');
});

t.test('over the stake meter: RESOURCE_EXHAUSTED, the backend is not called', async (t) => {
  const { backend, unary, header, r } = await setup(t);
  await r.redis.set(r.keys.meter(ADDR.supplier1, header.session_id), '1000000000'); // the whole budget used
  const err = (await unary(gatewayRelay(header, echo('x'))).catch((e: unknown) => e)) as grpc.ServiceError;
  t.equal(grpc.status[err.code], 'RESOURCE_EXHAUSTED');
  t.equal(err.details, 'session relay limit reached: claimable portion fully consumed');
  t.same(backend.calls, []);
});

t.test('a gzip-compressed RelayRequest (grpc-encoding: gzip, compressed flag set) is read and answered', async (t) => {
  const { r, header } = await setup(t);
  const { connect } = await import('node:http2');
  const { gzipSync } = await import('node:zlib');
  const relay = Buffer.from(gatewayRelay(header, echo('zipped')));
  const zipped = gzipSync(relay);
  const frame = Buffer.alloc(5 + zipped.length);
  frame[0] = 1; // compressed
  frame.writeUInt32BE(zipped.length, 1);
  zipped.copy(frame, 5);
  const session = connect(`http://${r.runtime.addresses.grpc}`);
  t.teardown(() => session.close());
  const stream = session.request({ ':method': 'POST', ':path': RELAY_SERVICE.SendRelay.path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-encoding': 'gzip', 'grpc-accept-encoding': 'identity' });
  const chunks: Buffer[] = [];
  let trailers: Record<string, unknown> = {};
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('trailers', (h) => (trailers = h));
  stream.end(frame);
  await new Promise((res) => stream.on('close', res));
  t.equal(trailers['grpc-status'], '0', `grpc-status ${String(trailers['grpc-status'])} ${String(trailers['grpc-message'] ?? '')}`);
  const body = Buffer.concat(chunks);
  t.equal(body[0], 0, 'answered uncompressed, as the client accepts only identity');
  const check = checkRelayResponse(body.subarray(5, 5 + body.readUInt32BE(1)), r.supplierPublicKey);
  t.ok(check.ok, check.ok ? 'the answer verifies' : check.why);
  const [reply] = await messages(POKTHTTPResponseCodec.decode(check.response!.payload).body_bz);
  t.equal(demo.decodeEcho(reply!).message, 'zipped');
});

t.test('limits: advertised max concurrent streams, half-sent calls end DEADLINE_EXCEEDED, connections capped', async (t) => {
  const backend = await startGrpcBackend();
  t.teardown(() => backend.close());
  const r = await startRelayer(t, {
    plugins: ['name: transport-grpc\n    options: { listen_address: "127.0.0.1:0", max_concurrent_streams: 8, call_timeout_ms: 500, max_connections: 3 }'],
    services: () => `  anvil:\n    backends:\n      grpc: { url: "${backend.url}" }`,
  });
  const { connect } = await import('node:http2');
  const session = connect(`http://${r.runtime.addresses.grpc}`);
  t.teardown(() => session.close());
  await new Promise((res) => session.once('remoteSettings', res));
  t.equal(session.remoteSettings.maxConcurrentStreams, 8, 'SETTINGS_MAX_CONCURRENT_STREAMS as configured');

  // Eight calls that send their headers and half a message, then nothing.
  const started = Date.now();
  const halfSent = Array.from({ length: 8 }, () => {
    const stream = session.request({ ':method': 'POST', ':path': RELAY_SERVICE.SendRelay.path, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => {});
    stream.write(Buffer.from([0, 0, 0, 1, 0, 1, 2, 3])); // a frame announcing 256 bytes, 3 sent
    return new Promise<string>((resolve) => {
      let status = 'none';
      stream.on('trailers', (h) => (status = String(h['grpc-status'])));
      stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      });
      stream.on('close', () => resolve(status));
      stream.resume();
    });
  });
  const statuses = await Promise.all(halfSent);
  t.same(statuses, Array(8).fill(String(grpc.status.DEADLINE_EXCEEDED)), 'every half-sent call ends DEADLINE_EXCEEDED');
  t.ok(Date.now() - started < 3000, `within the call deadline (${Date.now() - started} ms)`);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="call_timeout"\} 8/);

  // The streams are free again: a whole call on the same connection is served.
  const header = await r.header();
  const frame = grpcFrame(Buffer.from(gatewayRelay(header, echo('after'))));
  const ok = session.request({ ':method': 'POST', ':path': RELAY_SERVICE.SendRelay.path, 'content-type': 'application/grpc', te: 'trailers' });
  let trailers: Record<string, unknown> = {};
  ok.on('trailers', (h) => (trailers = h));
  ok.resume();
  ok.end(frame);
  await new Promise((res) => ok.on('close', res));
  t.equal(trailers['grpc-status'], '0', 'a whole call after them is answered OK');

  // Two more connections fill the cap of three; the fourth is closed on arrival.
  const more = [connect(`http://${r.runtime.addresses.grpc}`), connect(`http://${r.runtime.addresses.grpc}`)];
  t.teardown(() => more.forEach((s) => s.close()));
  await Promise.all(more.map((s) => new Promise((res) => s.once('remoteSettings', res))));
  const fourth = connect(`http://${r.runtime.addresses.grpc}`);
  fourth.on('error', () => {});
  const outcome = await new Promise<string>((resolve) => {
    fourth.once('remoteSettings', () => resolve('served'));
    fourth.once('close', () => resolve('closed'));
  });
  t.equal(outcome, 'closed', 'the connection past max_connections is closed');
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="max_connections"\} 1/);
});

/**
 * A SendRelay call from a raw HTTP/2 client: `bytes` sent (and the request ended, unless `end` is false), and the
 * call's grpc-status and message once its stream has closed (['none', ''] if it closed without one).
 */
function rawCall(session: import('node:http2').ClientHttp2Session, bytes: Uint8Array, o: { headers?: Record<string, string>; end?: boolean } = {}) {
  const stream = session.request({ ':method': 'POST', ':path': RELAY_SERVICE.SendRelay.path, 'content-type': 'application/grpc', te: 'trailers', ...o.headers });
  stream.on('error', () => {});
  let got: [string, string] = ['none', ''];
  const status = (h: Record<string, unknown>) => {
    if (h['grpc-status'] !== undefined) got = [String(h['grpc-status']), decodeURIComponent(String(h['grpc-message']))];
  };
  stream.on('response', status);
  stream.on('trailers', status);
  const closed = new Promise<[string, string]>((resolve) => stream.on('close', () => resolve(got)));
  stream.resume();
  if (o.end === false) stream.write(bytes);
  else stream.end(bytes);
  return { stream, closed };
}

/** A relayer serving only gRPC (the demo backend) with the given `relayer.limits`. */
async function limitedRelayer(t: Test, limitsYaml: string, grpcOptions = '') {
  const backend = await startGrpcBackend();
  t.teardown(() => backend.close());
  return startRelayer(t, {
    plugins: [`name: transport-grpc\n    options: { listen_address: "127.0.0.1:0"${grpcOptions} }`],
    services: () => `  anvil:\n    backends:\n      grpc: { url: "${backend.url}" }`,
    relayerYaml: limitsYaml,
  });
}

t.test('large request messages share relayer.limits.large_bodies_bytes: one announced past it ends UNAVAILABLE unread, small calls are served, every end gives the bytes back', async (t) => {
  const r = await limitedRelayer(t, '  limits: { large_body_bytes: 1024, large_bodies_bytes: 1048576 }');
  const held = r.largeBodyBytes;
  const { connect } = await import('node:http2');
  const session = connect(`http://${r.runtime.addresses.grpc}`);
  session.on('error', () => {});
  t.teardown(() => session.close());
  // A call announcing a 600,000-byte message and sending part of it, the announcement in two pieces.
  const call = () => {
    const stream = session.request({ ':method': 'POST', ':path': RELAY_SERVICE.SendRelay.path, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => {});
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(600_000, 1);
    stream.write(prefix.subarray(0, 3));
    setTimeout(() => stream.write(Buffer.concat([prefix.subarray(3), Buffer.alloc(100_000, 1)])), 50);
    const status = new Promise<[string, string]>((resolve) => {
      let got: [string, string] = ['none', ''];
      stream.on('trailers', (h) => (got = [String(h['grpc-status']), String(h['grpc-message'])]));
      stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) got = [String(h['grpc-status']), decodeURIComponent(String(h['grpc-message']))];
      });
      stream.on('close', () => resolve(got));
      stream.resume();
    });
    return { stream, status };
  };
  const first = call();
  await until('the first message drawn', async () => (await held()) === 600_005);
  const second = call();
  t.same(await second.status, [String(grpc.status.UNAVAILABLE), 'relayer busy, retry later: 600005 bytes of large requests held'], 'the second: UNAVAILABLE');
  t.equal(await held(), 600_005, 'only the first is held');
  const header = await r.header();
  const client = new grpc.Client(r.runtime.addresses.grpc!, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const answer = await new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest(RELAY_SERVICE.SendRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(gatewayRelay(header, echo('small'))), (err, res) => (err ? reject(err) : resolve(res!))),
  );
  t.ok(checkRelayResponse(answer, r.supplierPublicKey).ok, 'a small call is served meanwhile');
  first.stream.close();
  await first.status;
  await until('nothing held', async () => (await held()) === 0);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="relayer_busy"\} 1/);
});

t.test('a compressed request draws max_message_bytes until it is decompressed (a few KB of gzip can become that much): one that does not fit ends UNAVAILABLE before grpc-js reads it', async (t) => {
  const r = await limitedRelayer(t, '  limits: { large_body_bytes: 1024, large_bodies_bytes: 1048576 }', ', max_message_bytes: 600000');
  const held = r.largeBodyBytes;
  const { connect } = await import('node:http2');
  const zlib = (await import('node:zlib')).default;
  const gunzips = t.capture(zlib, 'createGunzip', zlib.createGunzip);
  const session = connect(`http://${r.runtime.addresses.grpc}`);
  session.on('error', () => {});
  t.teardown(() => session.close());
  const zipped = zlib.gzipSync(Buffer.from(gatewayRelay(await r.header(), echo('zipped'))));
  const frame = Buffer.concat([Buffer.from([1, 0, 0, 0, 0]), zipped]);
  frame.writeUInt32BE(zipped.length, 1);
  const call = (bytes: Buffer, end: boolean) => rawCall(session, bytes, { headers: { 'grpc-encoding': 'gzip' }, end });
  const pending = call(frame.subarray(0, 20), false);
  await until('the unfinished compressed call draws max_message_bytes', async () => (await held()) === 600_000);
  t.same(await call(frame, true).closed, [String(grpc.status.UNAVAILABLE), 'relayer busy, retry later: 600000 bytes of large requests held'], `a second one (${frame.length} bytes on the wire) does not fit`);
  t.equal(gunzips().length, 0, 'and grpc-js never decompressed it');
  pending.stream.close();
  await pending.closed;
  await until('nothing held', async () => (await held()) === 0);
  t.same(await call(frame, true).closed, ['0', 'OK'], 'alone, the same call is served');
  t.equal(gunzips().length, 1, 'decompressed once');
  t.equal(await held(), 0, 'decompressed, it holds its real size (under large_body_bytes: nothing)');
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="relayer_busy"\} 1/);
});

t.test('request metadata over max_metadata_bytes ends RESOURCE_EXHAUSTED before the message is read; at the limit a call is served', async (t) => {
  const r = await limitedRelayer(t, '', ', max_metadata_bytes: 2048');
  const { connect } = await import('node:http2');
  const session = connect(`http://${r.runtime.addresses.grpc}`);
  session.on('error', () => {});
  t.teardown(() => session.close());
  const relay = grpcFrame(gatewayRelay(await r.header(), echo('headers')));
  const call = (headers: Record<string, string>) => rawCall(session, relay, { headers }).closed;
  // grpc-js's own user agent is not sent by a raw client: the metadata is `x-pad` alone (name, value, 32).
  t.same(await call({ 'x-pad': 'a'.repeat(2048 - 5 - 32) }), ['0', 'OK'], '2,048 bytes: served');
  t.same(await call({ 'x-pad': 'a'.repeat(2048 - 5 - 32 + 1) }), [String(grpc.status.RESOURCE_EXHAUSTED), 'request metadata of 2049 bytes is over 2048'], 'one byte more: refused');
  t.equal((await r.stream()).length, 1, 'only the call within the limit was mined');
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="metadata_too_large"\} 1/);
});

t.test("a request grpc-js would refuse in its own words is refused with the relay's reason, counted as a rejection: too large, cut short, a second message, not decompressable", async (t) => {
  const r = await limitedRelayer(t, '', ', max_message_bytes: 2048');
  const { connect } = await import('node:http2');
  const { gzipSync } = await import('node:zlib');
  const session = connect(`http://${r.runtime.addresses.grpc}`);
  session.on('error', () => {});
  t.teardown(() => session.close());
  const relay = grpcFrame(gatewayRelay(await r.header(), echo('one')));
  const call = (bytes: Buffer, headers?: Record<string, string>) => rawCall(session, bytes, { headers }).closed;
  const prefix = (length: number, compressed = false) => {
    const p = Buffer.from([compressed ? 1 : 0, 0, 0, 0, 0]);
    p.writeUInt32BE(length, 1);
    return p;
  };
  const malformed = (detail: string) => [String(grpc.status.INVALID_ARGUMENT), `invalid relay request: body must be a valid RelayRequest protobuf: ${detail}`];
  t.same(await call(Buffer.concat([prefix(2049), Buffer.alloc(100)])), [String(grpc.status.RESOURCE_EXHAUSTED), 'request body too large: a message of 2049 bytes is over max_message_bytes 2048'], 'announced one byte past max_message_bytes');
  t.same(await call(Buffer.concat([prefix(16), Buffer.from('abc')])), malformed('the call ended without a whole RelayRequest message'), 'a message cut short (grpc-js: UNIMPLEMENTED)');
  t.same(await call(Buffer.alloc(0)), malformed('the call ended without a whole RelayRequest message'), 'no message at all');
  t.same(await call(Buffer.concat([relay, relay])), malformed('a call carries one RelayRequest; a second message came'), 'two messages (grpc-js: UNIMPLEMENTED)');
  const garbage = Buffer.from('not gzip at all');
  t.same((await call(Buffer.concat([prefix(garbage.length, true), garbage]), { 'grpc-encoding': 'gzip' }))[0], String(grpc.status.INTERNAL), 'a message grpc-js cannot decompress: its status');
  const bomb = gzipSync(Buffer.alloc(3000));
  t.same((await call(Buffer.concat([prefix(bomb.length, true), bomb]), { 'grpc-encoding': 'gzip' }))[0], String(grpc.status.RESOURCE_EXHAUSTED), `${bomb.length} bytes of gzip that become 3,000: its status`);
  t.same(await call(relay), ['0', 'OK'], 'a whole relay on the same connection is served');
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_relay_rejections_total\{service="unknown",rpc_type="grpc",reason="body_too_large"\} 2\n/, 'announced and decompressed past the limit');
  t.match(metrics, /relayminer_relay_rejections_total\{service="unknown",rpc_type="grpc",reason="malformed_request"\} 4\n/, 'cut short, empty, doubled, not decompressable');
  t.equal((await r.stream()).length, 1, 'only the whole relay was mined');
});

t.test('calls open at once are capped by max_calls over all connections: past it UNAVAILABLE before the message is read; every end frees its place', async (t) => {
  const r = await limitedRelayer(t, '', ', max_calls: 2');
  const { connect } = await import('node:http2');
  const relay = grpcFrame(gatewayRelay(await r.header(), echo('capped')));
  const sessions = [0, 1].map(() => {
    const session = connect(`http://${r.runtime.addresses.grpc}`);
    session.on('error', () => {});
    t.teardown(() => session.destroy());
    return session;
  });
  const call = (session: (typeof sessions)[number], bytes: Buffer, end: boolean) => rawCall(session, bytes, { end });
  // Two half-sent calls, one on each connection, hold both places.
  const open = async () => Number(/^relayminer_grpc_calls_open (\d+)$/m.exec(await r.metrics())?.[1]);
  const held = [call(sessions[0]!, relay.subarray(0, 10), false), call(sessions[1]!, relay.subarray(0, 10), false)];
  await until('two calls open', async () => (await open()) === 2);
  t.same(await call(sessions[0]!, relay, true).closed, [String(grpc.status.UNAVAILABLE), 'relayer busy: 2 calls open, retry later'], 'a third, on either connection, is refused');
  held[0]!.stream.close();
  await held[0]!.closed;
  t.same(await call(sessions[1]!, relay, true).closed, ['0', 'OK'], 'one ended: a call is served');
  held[1]!.stream.close();
  await held[1]!.closed;
  // Every place is free again: two more can be held and a third is refused.
  await until('none open', async () => (await open()) === 0);
  const again = [call(sessions[0]!, relay.subarray(0, 10), false), call(sessions[0]!, relay.subarray(0, 10), false)];
  await until('two calls open again', async () => (await open()) === 2);
  t.same((await call(sessions[1]!, relay, true).closed)[0], String(grpc.status.UNAVAILABLE), 'with two held again, the next is refused');
  for (const c of again) c.stream.close();
  await Promise.all(again.map((c) => c.closed));
  t.same(await call(sessions[1]!, relay, true).closed, ['0', 'OK'], 'and served once they end');
  await until('none open at the end', async () => (await open()) === 0);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="max_calls"\} 2/);
});

t.test('a connection with no call open is closed after idle_timeout_ms: silent sockets cannot hold max_connections for good; a longer call is not cut; clients reconnect', async (t) => {
  const r = await limitedRelayer(t, '', ', max_connections: 2, idle_timeout_ms: 2000');
  const header = await r.header();
  const [host, port] = [r.runtime.addresses.grpc!.split(':')[0]!, Number(r.runtime.addresses.grpc!.split(':')[1])];
  const { connect: tcp } = await import('node:net');
  const opened = Date.now();
  // Sockets that never send a byte; each is accepted (and counted) once the relayer's HTTP/2 SETTINGS arrive on it.
  const silent = [0, 1].map(() => {
    const socket = tcp(port, host);
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
    const accepted = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.resume();
    return { accepted, closed: new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - opened))) };
  });
  await Promise.all(silent.map((s) => s.accepted));
  const unary = (client: grpc.Client, deadlineMs: number) =>
    new Promise<string>((resolve) =>
      client.makeUnaryRequest(RELAY_SERVICE.SendRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(gatewayRelay(header, echo('idle'))), { deadline: Date.now() + deadlineMs }, (err) => resolve(err ? grpc.status[err.code] : 'OK')),
    );
  // Each its own connection (grpc-js shares one per target between clients, in backoff after a refusal).
  const gateway = () => {
    const client = new grpc.Client(r.runtime.addresses.grpc!, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    t.teardown(() => client.close());
    return client;
  };
  t.equal(await unary(gateway(), 300), 'UNAVAILABLE', 'while the silent connections are open, a gateway cannot connect');
  const closedAfter = await Promise.all(silent.map((s) => s.closed));
  t.ok(closedAfter.every((ms) => ms >= 2000 && ms < 8000), `the silent connections closed after ${closedAfter.join(' and ')} ms (idle_timeout_ms 2000)`);
  const client = gateway();
  t.equal(await unary(client, 5000), 'OK', 'then a gateway can');
  const stream = client.makeServerStreamRequest(RELAY_SERVICE.SendStreamingRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(gatewayRelay(header, { method: 'POST', url: demo.countPath, headers: { 'content-type': 'application/grpc' }, body: grpcFrame(demo.encodeCount({ to: 3, interval_ms: 1200 })) })));
  const began = Date.now();
  const messages = await new Promise<number>((resolve, reject) => {
    let n = 0;
    stream.on('data', () => n++);
    stream.on('error', reject);
    stream.on('end', () => resolve(n));
  });
  t.equal(messages, 4, `a call of ${Date.now() - began} ms on it is not cut: 3 messages and the status`);
  await new Promise((res) => setTimeout(res, 2500));
  t.equal(await unary(client, 5000), 'OK', 'after an idle close, the client reconnects for its next call');
});

t.test('large unary answers share large_bodies_bytes until their clients take them: one that does not fit ends UNAVAILABLE unsigned and refunded; a call whose client does not take its answer within answer_timeout_ms is reset', async (t) => {
  const r = await limitedRelayer(t, '  limits: { large_body_bytes: 1024, large_bodies_bytes: 1600000, answer_timeout_ms: 2000 }');
  const held = r.largeBodyBytes;
  const header = await r.header();
  const big = Buffer.from(gatewayRelay(header, echo('x'.repeat(300_000))));
  const { connect } = await import('node:http2');
  // Clients that ask for a 300,000-byte echo and never read: a 1 KB window leaves the answer with the relayer.
  const nonReader = () => {
    const session = connect(`http://${r.runtime.addresses.grpc}`, { settings: { initialWindowSize: 1024 } });
    session.on('error', () => {});
    t.teardown(() => session.destroy());
    const stream = session.request({ ':method': 'POST', ':path': RELAY_SERVICE.SendRelay.path, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => {});
    stream.pause();
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(big.length, 1);
    stream.end(Buffer.concat([prefix, big]));
    return new Promise<number>((resolve) => stream.on('close', () => resolve(stream.rstCode ?? -1)));
  };
  // The echo's frame: its message (tag, 3-byte length, 300,000 bytes) and the supplier it names (tag, length, address).
  const answerBytes = 5 + (1 + 3 + 300_000) + (2 + ADDR.supplier1.length);
  // grpc-js sends a unary call's status once its message is written, so a call whose answer waits holds its request too.
  const callBytes = big.length + 5 + answerBytes;
  const first = nonReader();
  await until('the first answer held', async () => (await held()) === callBytes);
  // Before the second call: its answer is held, and its timeout starts, after this.
  const secondSentAt = Date.now();
  const second = nonReader();
  await until('the second answer held', async () => (await held()) === 2 * callBytes);
  const client = new grpc.Client(r.runtime.addresses.grpc!, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const unary = (body: Uint8Array) =>
    new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(RELAY_SERVICE.SendRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(body), (err, res) => (err ? reject(err) : resolve(res!))),
    );
  // A third: its request fits, its answer does not.
  const refused = await unary(big).then(
    () => undefined,
    (err: grpc.ServiceError) => err,
  );
  t.equal(refused?.code, grpc.status.UNAVAILABLE, 'the third ends UNAVAILABLE');
  // Its own request (drawn until its call ends) is held too when its answer is refused.
  t.equal(refused?.details, `relayer busy, retry later: an answer of ${answerBytes} bytes: ${2 * callBytes + big.length + 5} bytes of large bodies held`);
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_relay_rejections_total\{service="anvil",rpc_type="grpc",reason="relayer_busy"\} 1/);
  t.match(metrics, /relayminer_meter_refunds_total\{service="anvil",reason="relayer_busy"\} 1/);
  t.equal(await held(), 2 * callBytes, 'the refused call holds nothing');
  t.ok(checkRelayResponse(await unary(gatewayRelay(header, echo('small'))), r.supplierPublicKey).ok, 'a small call is served meanwhile');
  // The two that never read are reset once their answers are 2 s old, and give their bytes back.
  t.same(await Promise.all([first, second]), [8, 8], 'both reset (CANCEL)');
  // answer_timeout_ms or more after the second call was sent (less only by the event loop's cached clock); how much
  // later depends on how busy the machine is.
  const resetAfter = Date.now() - secondSentAt;
  t.ok(resetAfter >= 1900 && resetAfter < 7000, `reset ${resetAfter} ms after the second call was sent`);
  await until('nothing held', async () => (await held()) === 0);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="answer_timeout"\} 2/);
  // A client that reads takes its large answer whole, and its bytes come back.
  const check = checkRelayResponse(await unary(big), r.supplierPublicKey);
  t.ok(check.ok, 'a large answer read whole verifies');
  await until('the read answer released', async () => (await held()) === 0);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="answer_timeout"\} 2\n/, 'a reading client is not reset');
});

t.test('a streamed answer whose client stops reading is reset after answer_timeout_ms', async (t) => {
  const r = await limitedRelayer(t, '  limits: { answer_timeout_ms: 1000 }');
  const header = await r.header();
  const { connect } = await import('node:http2');
  const session = connect(`http://${r.runtime.addresses.grpc}`, { settings: { initialWindowSize: 1024 } });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const stream = session.request({ ':method': 'POST', ':path': RELAY_SERVICE.SendStreamingRelay.path, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => {});
  let received = 0;
  stream.on('data', (d: Buffer) => {
    received += d.length;
    stream.pause(); // the first bytes, then nothing more is read
  });
  // As many counts as the backend can send: only the client's window holds them back.
  const payload = { method: 'POST', url: demo.countPath, headers: { 'content-type': 'application/grpc' }, body: grpcFrame(demo.encodeCount({ to: 1_000_000, interval_ms: 0 })) };
  const body = Buffer.from(gatewayRelay(header, payload));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  const start = Date.now();
  stream.end(Buffer.concat([prefix, body]));
  const rstCode = await new Promise<number | undefined>((resolve) => stream.on('close', () => resolve(stream.rstCode)));
  const after = Date.now() - start;
  t.equal(rstCode, 8, 'reset (CANCEL)');
  t.ok(after >= 1000 && after < 5000, `reset ${after} ms after the call (answer_timeout_ms 1000)`);
  t.ok(received > 0 && received <= 1024, `only what the window let through arrived (${received} bytes)`);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="grpc",reason="answer_timeout"\} 1/);
});

t.test('a gRPC port already in use stops start-up with one line naming the option, and nothing stays bound', async (t) => {
  const taken = createNetServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  const err = await startRelayer(t, {
    plugins: ['transport-jsonrpc', `name: transport-grpc\n    options: { listen_address: "127.0.0.1:${port}" }`],
    services: (url) => `  anvil: { backends: { jsonrpc: { urls: ["${url}"] }, grpc: { urls: ["${url}"] } } }`,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ConfigError, 'a configuration error (the CLI prints it as one line)');
  t.match((err as Error).message, `cannot listen on 127.0.0.1:${port}: address already in use`);
});

t.test("a backend URL's path prefixes every call's path, on the first call and the ones after it", async (t) => {
  const { createServer } = await import('node:http2');
  const { H2Backend } = await import('../h2-backend.js');
  const paths: string[] = [];
  const server = createServer();
  server.on('stream', (stream, headers) => {
    paths.push(String(headers[':path']));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(grpcFrame(new Uint8Array(0)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const backend = new H2Backend({ urls: [`grpc://127.0.0.1:${port}/base/v1/`], timeout_ms: 2000, headers: {} } as never);
  for (const path of [demo.echoPath, demo.countPath, demo.echoPath]) {
    const res = await backend.call({ path, headers: {}, body: grpcFrame(new Uint8Array(0)) }, {});
    for await (const chunk of res.body) void chunk;
    t.same(await res.trailers(), { 'grpc-status': ['0'] });
  }
  backend.close();
  t.same(paths, [`/base/v1${demo.echoPath}`, `/base/v1${demo.countPath}`, `/base/v1${demo.echoPath}`]);
});

t.test('a backend URL that cannot be reached is said once, however many calls fail, and once when it answers again', async (t) => {
  const { createServer } = await import('node:http2');
  const { H2Backend } = await import('../h2-backend.js');
  const port = await freePort(); // nothing listens there yet
  const changes: { url: string; up: boolean; reason: string }[] = [];
  const backend = new H2Backend({ urls: [`grpc://127.0.0.1:${port}/secret/path`], timeout_ms: 2000, headers: {} } as never, { onReach: (c) => changes.push(c) });
  const call = () => backend.call({ path: demo.echoPath, headers: {}, body: grpcFrame(new Uint8Array(0)) }, {}).then((res) => res.read(1 << 20)).then(() => 'answered', (err: Error) => err.message);
  for (let i = 0; i < 3; i++) t.match(await call(), /backend/, `call ${i + 1} fails`);
  const server = createServer();
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(grpcFrame(new Uint8Array(0)));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  t.teardown(() => (backend.close(), new Promise<void>((r) => server.close(() => r()))));
  t.equal(await call(), 'answered');
  t.equal(await call(), 'answered');
  t.same(changes, [
    { url: `http://127.0.0.1:${port}/…`, up: false, reason: 'connection refused (ECONNREFUSED)' },
    { url: `http://127.0.0.1:${port}/…`, up: true, reason: 'answers again' },
  ]);
});

/** A raw HTTP/2 backend answering each call with `answer`, and an H2Backend in front of it. */
async function rawBackend(t: Test, answer: (stream: import('node:http2').ServerHttp2Stream) => void, timeoutMs = 2000) {
  const { createServer } = await import('node:http2');
  const { H2Backend } = await import('../h2-backend.js');
  const server = createServer();
  server.on('stream', (stream) => answer(stream));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const backend = new H2Backend({ urls: [`grpc://127.0.0.1:${(server.address() as AddressInfo).port}`], timeout_ms: timeoutMs, headers: {} } as never);
  t.teardown(() => (backend.close(), new Promise<void>((r) => server.close(() => r()))));
  return (maxBytes = 1 << 20) => backend.call({ path: demo.echoPath, headers: {}, body: grpcFrame(new Uint8Array(0)) }, {}).then((res) => res.read(maxBytes));
}

const grpcReply = (stream: import('node:http2').ServerHttp2Stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });

t.test('a unary backend answer read whole: every chunk, then the trailers', async (t) => {
  const [a, b] = [grpcFrame(Buffer.from('first')), grpcFrame(Buffer.alloc(70_000, 7))];
  const read = await rawBackend(t, (stream) => {
    grpcReply(stream);
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }));
    stream.write(a);
    setTimeout(() => stream.end(b), 20);
  });
  const answer = await read();
  t.equal(Buffer.compare(answer.body, Buffer.concat([a, b])), 0, `${answer.body.length} bytes, both messages in order`);
  t.same(answer.trailers, { 'grpc-status': ['0'], 'grpc-message': ['fine'] });
  t.same(splitGrpcFrames(answer.body, 1 << 20).map((f) => f.length), [a.length, b.length]);
});

t.test('a unary backend answer that fails is a rejection: too large, reset before its trailers, past the deadline', async (t) => {
  const big = await rawBackend(t, (stream) => {
    grpcReply(stream);
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(grpcFrame(Buffer.alloc(5000)));
  });
  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: { reason?: string; message: string }) => ({ reason: e.reason, message: e.message }));
  t.same(await refusal(big(4096)), { reason: 'backend_error', message: 'backend error: backend answer over 4096 bytes' });
  const reset = await rawBackend(t, (stream) => {
    stream.on('error', () => {}); // the server's own side of the reset it sends
    grpcReply(stream);
    stream.write(grpcFrame(Buffer.from('half')), () => stream.close(2));
  });
  t.same(await refusal(reset()), { reason: 'backend_error', message: 'backend error: stream: backend request failed (ERR_HTTP2_STREAM_ERROR)' });
  const silent = await rawBackend(t, (stream) => (grpcReply(stream), stream.write(grpcFrame(Buffer.from('and then nothing')))), 300);
  t.same(await refusal(silent()), { reason: 'backend_timeout', message: 'backend timeout: no answer within 300 ms' });
});

t.test("a backend's SETTINGS_MAX_CONCURRENT_STREAMS full of slow calls: the next call goes on a new connection, which closes once idle", async (t) => {
  const { createServer } = await import('node:http2');
  const { H2Backend } = await import('../h2-backend.js');
  const server = createServer({ settings: { maxConcurrentStreams: 2 } });
  let opened = 0;
  const open = new Set<unknown>();
  server.on('session', (s) => (opened++, open.add(s), s.once('close', () => open.delete(s))));
  const held: (() => void)[] = [];
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const answer = () => {
      grpcReply(stream);
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(grpcFrame(Buffer.from(String(headers[':path']))));
    };
    if (headers[':path'] === '/slow') held.push(answer);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const backend = new H2Backend({ urls: [`grpc://127.0.0.1:${(server.address() as AddressInfo).port}`], timeout_ms: 10_000, headers: {} } as never, { spareIdleMs: 200 });
  t.teardown(() => (backend.close(), new Promise<void>((r) => server.close(() => r()))));
  const call = (path: string) => backend.call({ path, headers: {}, body: grpcFrame(new Uint8Array(0)) }, {}).then((res) => res.read(1 << 20)).then((a) => a.body.subarray(5).toString());
  t.equal(await call('/fast'), '/fast', 'a first call opens a connection');
  let slowAnswered = 0;
  const slow = [call('/slow'), call('/slow')].map((p) => p.then((body) => (slowAnswered++, body)));
  await until('both slow calls at the backend', async () => held.length === 2);
  t.equal(await call('/fast'), '/fast', 'with both streams the backend allows held, another call is answered');
  t.equal(slowAnswered, 0, 'before either slow call');
  t.equal(opened, 2, 'on a second connection');
  for (const answer of held.splice(0)) answer();
  t.same(await Promise.all(slow), ['/slow', '/slow']);
  await until('the spare connection closed once idle', async () => open.size === 1);
  t.equal(await call('/fast'), '/fast', 'the first connection stays and serves');
  t.equal(opened, 2, 'no connection opened for it');
});

t.test('a backend that allows one stream per connection gets at most 64 connections from a URL; calls past them wait on the least busy', async (t) => {
  const { createServer } = await import('node:http2');
  const { H2Backend } = await import('../h2-backend.js');
  const server = createServer({ settings: { maxConcurrentStreams: 1 } });
  let opened = 0;
  server.on('session', () => opened++);
  const held: (() => void)[] = [];
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    held.push(() => {
      grpcReply(stream);
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(grpcFrame(Buffer.from('ok')));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const backend = new H2Backend({ urls: [`grpc://127.0.0.1:${(server.address() as AddressInfo).port}`], timeout_ms: 20_000, headers: {} } as never);
  t.teardown(() => (backend.close(), new Promise<void>((r) => server.close(() => r()))));
  const call = () => backend.call({ path: demo.echoPath, headers: {}, body: grpcFrame(new Uint8Array(0)) }, {}).then((res) => res.read(1 << 20)).then(() => 'answered');
  // One call first, so the peer's SETTINGS (one stream) are known before the rest arrive.
  const first = call();
  await until('the first call at the backend', () => held.length === 1);
  const rest = Array.from({ length: 65 }, () => call());
  await until('64 calls at the backend', () => held.length === 64);
  t.equal(opened, 64, 'on 64 connections, one call each');
  while (held.length) held.shift()!();
  await until('the two calls that waited at the backend in turn', async () => {
    while (held.length) held.shift()!();
    return (await Promise.race([Promise.all([first, ...rest]).then(() => true), new Promise((r) => setTimeout(() => r(false), 50))])) as boolean;
  });
  t.same(await Promise.all([first, ...rest]), Array(66).fill('answered'));
  t.equal(opened, 64, 'and no connection more');
});

t.test('splitGrpcFrames: whole messages only, each within the limit', async (t) => {
  const [a, b] = [grpcFrame(Buffer.from('one')), grpcFrame(Buffer.from('two!'))];
  t.same(splitGrpcFrames(Buffer.concat([a, b]), 16).map((f) => f.toString('hex')), [a.toString('hex'), b.toString('hex')]);
  t.same(splitGrpcFrames(Buffer.alloc(0), 16), [], 'an empty body has no messages');
  t.throws(() => splitGrpcFrames(Buffer.concat([a, b.subarray(0, 7)]), 16), { message: 'gRPC body ends inside a message (7 bytes left over)' });
  t.throws(() => splitGrpcFrames(Buffer.concat([a, grpcFrame(Buffer.alloc(17))]), 16), { message: 'gRPC message of 17 bytes is over the 16-byte limit' });
});

t.test('through the relayer: a unary answer cut inside a message, or over max_message_bytes, is UNAVAILABLE, not mined, refunded', async (t) => {
  const { createServer } = await import('node:http2');
  const whole = grpcFrame(Buffer.from('a whole message'));
  const answers: Record<string, Buffer> = { '/cut': whole.subarray(0, whole.length - 3), '/big': grpcFrame(Buffer.alloc(2048)) };
  const server = createServer();
  server.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(answers[String(headers[':path'])] ?? whole);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `grpc://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const r = await startRelayer(t, {
    plugins: ['name: transport-grpc\n    options: { listen_address: "127.0.0.1:0", max_message_bytes: 1024 }'],
    services: () => `  anvil:\n    backends:\n      grpc: { url: "${url}" }`,
  });
  const header = await r.header();
  const client = new grpc.Client(r.runtime.addresses.grpc!, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const call = (path: string) =>
    new Promise<string>((resolve) =>
      client.makeUnaryRequest(RELAY_SERVICE.SendRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(gatewayRelay(header, { ...echo('x'), url: path })), (err) =>
        resolve(err ? `${grpc.status[err.code]}: ${err.details}` : 'OK'),
      ),
    );
  t.equal(await call('/cut'), 'UNAVAILABLE: backend error: gRPC body ends inside a message (17 bytes left over)');
  t.equal(await call('/big'), 'UNAVAILABLE: backend error: backend answer over 1024 bytes');
  t.equal(await call('/whole'), 'OK', 'a whole answer from the same backend is served');
  t.equal((await r.stream()).length, 1, 'only the whole answer is mined');
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '42', 'the two refused relays were refunded: one charge of 42 remains');
});

t.test('shutdown: calls in flight have until shutdown.drain_timeout_ms; one that ends by then is answered and mined, one that does not is cancelled', async (t) => {
  // startRelayer sets drain_timeout_ms 2000.
  const { r, header } = await setup(t);
  const client = new grpc.Client(r.runtime.addresses.grpc!, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const count = (to: number, interval_ms: number) => {
    const payload = { method: 'POST', url: demo.countPath, headers: { 'content-type': 'application/grpc' }, body: grpcFrame(demo.encodeCount({ to, interval_ms })) };
    const call = client.makeServerStreamRequest(RELAY_SERVICE.SendStreamingRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(gatewayRelay(header, payload)));
    const c = { received: 0, ended: undefined as unknown as Promise<string> };
    c.ended = new Promise<string>((resolve) => {
      call.on('data', () => c.received++);
      call.on('error', (err: grpc.ServiceError) => resolve(grpc.status[err.code]));
      call.on('end', () => resolve('OK'));
    });
    return c;
  };
  const short = count(4, 250); // about a second
  const long = count(100, 100); // ten seconds
  await until('both calls under way', () => short.received >= 1 && long.received >= 1);
  const order: string[] = [];
  void short.ended.then(() => order.push('short call ended'));
  const stopped = r.runtime.shutdown().then(() => order.push('shutdown done'));
  t.equal(await short.ended, 'OK', 'the call that ends within the bound is answered whole');
  t.equal(short.received, 5, 'its four messages and the trailers');
  t.equal(await long.ended, 'CANCELLED', 'the one that does not is cancelled at the bound');
  t.ok(long.received > 5 && long.received < 40, `after ${long.received} of its 101 responses (one each 100 ms): served until the 2 s bound, not cut at once nor let run`);
  await stopped;
  t.same(order, ['short call ended', 'shutdown done'], 'the shutdown waited for it: a process exits once its shutdown is done');
  t.same(
    r.logs.lines.filter((l) => String(l.msg).startsWith('shutdown: the ')).map((l) => l.msg),
    [],
    'the plugin let go at the drain bound: nothing still waited a second later, so Redis was not cut under it',
  );
  t.equal((await r.stream()).length, 1, 'the call answered during the drain was mined; the cancelled one was not');
});
