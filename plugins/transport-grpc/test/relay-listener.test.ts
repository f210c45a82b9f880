import t, { type Test } from 'tap';
import { checkRelayResponse, grpcFrame, grpcFrames, POKTHTTPResponseCodec } from 'relayminer';
import * as grpc from '@grpc/grpc-js';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { demo, startGrpcBackend } from '../../../examples/backends/grpc-demo.js';
import { ADDR } from '../../../test/helpers/localnet-client.js';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';
import { until } from '../../../test/helpers/until.js';
import { RELAY_SERVICE } from '../index.js';

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
/** An empty SETTINGS frame: what a client sends right after the preface. */
const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

async function setup(t: Test, grpcOptions = '') {
  const backend = await startGrpcBackend();
  t.teardown(() => backend.close());
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc', `name: transport-grpc\n    options: { listen_address: "127.0.0.1:0"${grpcOptions} }`],
    services: (httpUrl) => `  anvil:\n    backends:\n      grpc: { url: "${backend.url}" }\n      jsonrpc: { url: "${httpUrl}" }`,
    relayerYaml: '  limits: { request_timeout_ms: 1000 }',
  });
  const unary = (address: string, body: Uint8Array) => {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    return new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(RELAY_SERVICE.SendRelay.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(body), (err, res) => (err ? reject(err) : resolve(res!))),
    ).finally(() => client.close());
  };
  const echo = (message: string) =>
    gatewayRelay(header, { method: 'POST', url: demo.echoPath, headers: { 'content-type': 'application/grpc', te: 'trailers' }, body: grpcFrame(demo.encodeEcho({ message })) });
  const header = await r.header();
  return { r, backend, unary, echo, header };
}

/** A raw connection to `address` that writes `parts` a little apart and collects what comes back until it closes or `ms` pass. */
async function raw(address: string, parts: (string | Buffer)[], ms: number): Promise<{ received: Buffer; closed: boolean }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const socket: Socket = connect({ host, port, noDelay: true });
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await new Promise((resolve) => socket.once('connect', resolve));
  for (const part of parts) {
    socket.write(part);
    await sleep(50);
  }
  await until('the connection to close', () => closed, ms).catch(() => {});
  socket.destroy();
  return { received: Buffer.concat(chunks), closed };
}

t.test('RelayService on the HTTP relay listener: gRPC and HTTP/1.1 relays on one port, told apart by their first bytes', async (t) => {
  const { r, backend, unary, echo, header } = await setup(t, ', idle_timeout_ms: 1000');
  const relayAddress = r.runtime.addresses.relay!;

  const check = checkRelayResponse(await unary(relayAddress, echo('one port')), r.supplierPublicKey);
  t.ok(check.ok, check.ok ? 'a gRPC relay sent to the relay listener verifies' : check.why);
  const http = POKTHTTPResponseCodec.decode(check.response!.payload);
  t.same(http.header.get('grpc-status')?.values, ['0']);
  const [message] = await (async () => {
    const out: Buffer[] = [];
    for await (const f of grpcFrames((async function* () { yield Buffer.from(http.body_bz); })(), 1 << 20)) out.push(f.subarray(5));
    return out;
  })();
  t.same(demo.decodeEcho(message!), { message: 'one port', supplier: ADDR.supplier1 });
  t.same(backend.calls, ['Echo']);

  const json = await postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' }));
  t.equal(json.status, 200, 'an HTTP/1.1 relay on the same port is served as before');
  t.ok(checkRelayResponse(json.body, r.supplierPublicKey).ok, 'and signed');

  // The gRPC port of its own still serves.
  t.ok(checkRelayResponse(await unary(r.runtime.addresses.grpc!, echo('own port')), r.supplierPublicKey).ok, 'the gRPC listener still serves');
  t.equal((await r.stream()).length, 3, 'all three relays mined');

  // The preface split over several segments: its first bytes decide nothing until they differ from HTTP/1.1's.
  const split = await raw(relayAddress, ['PRI', PREFACE.slice(3, 10), Buffer.concat([Buffer.from(PREFACE.slice(10)), SETTINGS])], 3000);
  t.ok(split.received.length >= 9 && split.received[3] === 4, `a preface sent in three pieces is answered with HTTP/2 SETTINGS (got ${split.received.subarray(0, 9).toString('hex')})`);
  t.ok(split.closed, "that connection, which opened no call, is closed at the plugin's idle_timeout_ms as on the gRPC port");
  // An HTTP/1.1 request whose first segment is "P" (a prefix of the preface too) still reaches HTTP/1.1.
  const post = await raw(relayAddress, ['P', 'OST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'], 2000);
  t.match(post.received.toString("latin1"), /^HTTP\/1\.1 \d{3} /, 'a "P" alone is not taken for HTTP/2: the request is answered by HTTP/1.1');

  // A connection that sends nothing is closed at relayer.limits.request_timeout_ms, and counted.
  const silent = await raw(relayAddress, [], 3000);
  t.ok(silent.closed, 'a silent connection is closed');
  t.equal(silent.received.length, 0);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="relay",reason="request_timeout"\} 1\b/);
  t.equal(r.logs.lines.filter((l) => l.msg === 'gRPC RelayService listening')[0]?.relay_listener, true, 'the start-up line says it');

  // A client that hangs up before its first byte: closed at once, not at the timeout; a reset is no crash.
  const [host, port] = relayAddress.split(':');
  const ended = connect({ host, port: Number(port) });
  ended.on('error', () => {});
  const began = Date.now();
  ended.once('connect', () => ended.end());
  await new Promise((resolve) => ended.once('close', resolve));
  t.ok(Date.now() - began < 900, `a connection ended before its first byte is closed at once (${Date.now() - began} ms)`);
  const reset = connect({ host, port: Number(port) });
  reset.on('error', () => {});
  await new Promise((resolve) => reset.once('connect', resolve));
  reset.resetAndDestroy();
  await sleep(100);
  t.ok(checkRelayResponse(await unary(relayAddress, echo('after a reset')), r.supplierPublicKey).ok, 'a connection reset before its first byte harms nothing');
});

t.test('relay_listener false: the relay listener stays HTTP/1.1 only', async (t) => {
  const { r, unary, echo } = await setup(t, ', relay_listener: false');
  const err = await unary(r.runtime.addresses.relay!, echo('refused')).then(
    () => undefined,
    (e: grpc.ServiceError) => e,
  );
  t.not(err?.code, undefined, 'a gRPC call to the relay listener fails');
  t.not(err?.code, grpc.status.OK);
  t.equal((await r.stream()).length, 0, 'nothing mined');
  t.ok(checkRelayResponse(await unary(r.runtime.addresses.grpc!, echo('own port')), r.supplierPublicKey).ok, 'its own port serves');
  t.equal(r.logs.lines.filter((l) => l.msg === 'gRPC RelayService listening')[0]?.relay_listener, false);
});
