import { request } from 'node:http';
import t from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { checkRelayResponse, POKTHTTPResponseCodec, RelayCodec, relayResponseSignableHash, STREAM_DELIMITER, verifySupplierResponse } from 'relayminer';
import { ADDR } from '../../../test/helpers/localnet-client.js';
import { gatewayRelay, startRelayer } from '../../../test/helpers/relayer.js';
import { until } from '../../../test/helpers/until.js';

/** PATH sends REST relays with the client's method, GET included, and the relay as the body. */
function send(url: string, method: string, body: Uint8Array): Promise<{ status: number; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { 'content-type': 'application/json', 'rpc-type': '4', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(Buffer.from(body));
  });
}

t.test('REST relays (Rpc-Type 4): GET with a body, method and path from the relay', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-rest-sse'], services: (url) => `  anvil:\n    backends:\n      rest: { url: "${url}/api" }` });
  const header = await r.header();
  for (const outer of ['GET', 'POST']) {
    const res = await send(`${r.url}/`, outer, gatewayRelay(header, { method: 'GET', url: '/v1/blocks/latest?full=true' }));
    t.equal(res.status, 200, `outer ${outer}`);
    const check = checkRelayResponse(res.body, r.supplierPublicKey);
    t.ok(check.ok);
    t.equal(POKTHTTPResponseCodec.decode(check.response!.payload).status_code, 200);
  }
  t.same(
    r.backend.calls.map((c) => [c.method, c.url]),
    [
      ['GET', '/api/v1/blocks/latest?full=true'],
      ['GET', '/api/v1/blocks/latest?full=true'],
    ],
  );
  const del = await send(`${r.url}/anything`, 'DELETE', gatewayRelay(header, { method: 'DELETE', url: '/v1/item/7', body: 'x' }));
  t.equal(del.status, 200);
  t.same([r.backend.calls[2]!.method, r.backend.calls[2]!.url, r.backend.calls[2]!.body], ['DELETE', '/api/v1/item/7', 'x']);
  t.equal((await r.stream()).length, 3);
});

t.test('SSE answer: streamed in signed batches framed by ||POKT_STREAM||, mined once as the whole', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-rest-sse'], services: (url) => `  anvil:\n    backends:\n      rest: { url: "${url}" }` });
  r.backend.state.mode = 'sse';
  const header = await r.header();
  const res = await fetch(r.url, { method: 'POST', headers: { 'content-type': 'application/json', 'rpc-type': '4' }, body: Buffer.from(gatewayRelay(header, { method: 'POST', url: '/v1/chat' })) });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8', "the backend's content type");
  const raw = Buffer.from(await res.arrayBuffer());
  const parts: Buffer[] = [];
  let rest = raw;
  for (let at = rest.indexOf(STREAM_DELIMITER); at >= 0; at = rest.indexOf(STREAM_DELIMITER)) {
    parts.push(rest.subarray(0, at));
    rest = rest.subarray(at + STREAM_DELIMITER.length);
  }
  t.equal(rest.length, 0, 'every batch ends with the delimiter');
  t.ok(parts.length >= 2, `several batches (${parts.length})`);
  let text = '';
  for (const part of parts) {
    const check = checkRelayResponse(part, r.supplierPublicKey);
    t.ok(check.ok, 'each batch is signed on its own');
    const http = POKTHTTPResponseCodec.decode(check.response!.payload);
    t.equal(http.status_code, 200);
    text += Buffer.from(http.body_bz).toString();
  }
  const whole = 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\n';
  t.equal(text, whole, 'the batches concatenate to the backend body, blank lines kept');

  const entries = await r.stream();
  t.equal(entries.length, 1, 'the whole stream is one mined relay');
  const minedRes = RelayCodec.decode(entries[0]!.relay).res!;
  const wholePayload = POKTHTTPResponseCodec.encode({ status_code: 200, header: new Map(), body_bz: Buffer.from(whole) });
  t.equal(Buffer.from(minedRes.payload_hash).toString('hex'), Buffer.from(sha256(wholePayload)).toString('hex'), 'mined over the whole body');
  t.ok(verifySupplierResponse(relayResponseSignableHash(minedRes), minedRes.meta.supplier_operator_signature, r.supplierPublicKey));
});

t.test('a streamed answer past max_body_bytes ends after its last whole batch, is not mined, and is counted', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-rest-sse'], services: (url) => `  anvil:\n    backends:\n      rest: { url: "${url}", max_body_bytes: 2048 }` });
  r.backend.state.mode = 'sse-long';
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const header = await r.header();
  const res = await fetch(r.url, { method: 'POST', headers: { 'content-type': 'application/json', 'rpc-type': '4' }, body: Buffer.from(gatewayRelay(header, { method: 'POST', url: '/v1/chat' })) });
  t.equal(res.status, 200, 'the status was sent before the stream grew too large');
  const raw = Buffer.from(await res.arrayBuffer());
  const parts = raw.toString('latin1').split(STREAM_DELIMITER.toString('latin1'));
  t.equal(parts.pop(), '', 'the stream ends on a delimiter: no half batch');
  let body = 0;
  for (const part of parts) {
    const check = checkRelayResponse(Buffer.from(part, 'latin1'), r.supplierPublicKey);
    t.ok(check.ok, 'each batch sent is signed');
    body += POKTHTTPResponseCodec.decode(check.response!.payload).body_bz.length;
  }
  t.ok(parts.length >= 1 && body <= 2048 && body % 300 === 0, `${parts.length} whole batches, ${body} of 6,000 bytes, within the limit`);
  await new Promise((r) => setTimeout(r, 100));
  t.same(await r.stream(), [], 'not mined');
  t.match(await r.metrics(), /relayminer_relay_rejections_total\{service="anvil",rpc_type="rest",reason="backend_error"\} 1/);
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '0', 'the charge is given back');
  // A second one, cut the same way: counted, not said again (a client can ask for such streams relay after relay).
  const again = await fetch(r.url, { method: 'POST', headers: { 'content-type': 'application/json', 'rpc-type': '4' }, body: Buffer.from(gatewayRelay(header, { method: 'POST', url: '/v1/chat' })) });
  await again.arrayBuffer();
  await until('counted', async () => /relayminer_relay_rejections_total\{service="anvil",rpc_type="rest",reason="backend_error"\} 2/.test(await r.metrics()));
  const said = r.logs.lines.filter((l) => String(l.msg).startsWith('streamed answer cut short; relay not mined'));
  t.equal(said.length, 1, 'said once');
  t.match(said[0]?.err, /backend stream larger than max_body_bytes \(2048\)/);
  t.same(unhandled, [], 'no unhandled rejection');
});

t.test('a streamed answer still running at the backend deadline ends there, is not mined, and counts as backend_timeout', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-rest-sse'], services: (url) => `  anvil:\n    backends:\n      rest: { url: "${url}", timeout_ms: 250 }` });
  r.backend.state.mode = 'sse-long'; // 600 ms of events
  const header = await r.header();
  const res = await fetch(r.url, { method: 'POST', headers: { 'content-type': 'application/json', 'rpc-type': '4' }, body: Buffer.from(gatewayRelay(header, { method: 'POST', url: '/v1/chat' })) });
  t.equal(res.status, 200);
  const parts = Buffer.from(await res.arrayBuffer()).toString('latin1').split(STREAM_DELIMITER.toString('latin1'));
  t.equal(parts.pop(), '', 'whole batches only');
  t.ok(parts.every((p) => checkRelayResponse(Buffer.from(p, 'latin1'), r.supplierPublicKey).ok), `${parts.length} signed batches before the deadline`);
  await new Promise((r) => setTimeout(r, 100));
  t.same(await r.stream(), [], 'not mined');
  t.match(await r.metrics(), /relayminer_relay_rejections_total\{service="anvil",rpc_type="rest",reason="backend_timeout"\} 1/);
});

t.test('by default CometBFT\'s node-changing routes are denied as paths (a rest backend may be a CometBFT RPC port); others pass', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-rest-sse'], services: (url) => `  anvil:\n    backends:\n      rest: { url: "${url}/api" }` });
  const header = await r.header();
  const statusOf = async (url: string) => {
    const res = await send(`${r.url}/`, 'POST', gatewayRelay(header, { method: 'GET', url }));
    return POKTHTTPResponseCodec.decode(checkRelayResponse(res.body, r.supplierPublicKey).response!.payload).status_code;
  };
  t.same([await statusOf('/dial_seeds?seeds=["a@1.2.3.4:26656"]'), await statusOf('/unsafe_flush_mempool'), await statusOf('/dial%5Fpeers')], [403, 403, 403]);
  t.equal(r.backend.calls.length, 0);
  t.equal(await statusOf('/status'), 200);
  t.same(r.backend.calls.map((c) => c.url), ['/api/status']);
});

t.test('denied paths are answered 403 here (after dot segments are resolved); requests counted by method', async (t) => {
  const r = await startRelayer(t, { plugins: ['{ name: transport-rest-sse, options: { deny_paths: ["/admin/*", /cosmos/tx/v1beta1/txs] } }'], services: (url) => `  anvil:\n    backends:\n      rest: { url: "${url}/api" }` });
  const header = await r.header();
  const statusOf = async (method: string, url: string) => {
    const res = await send(`${r.url}/`, 'POST', gatewayRelay(header, { method, url }));
    const check = checkRelayResponse(res.body, r.supplierPublicKey);
    t.ok(check.ok, check.ok ? 'signed' : check.why);
    const http = POKTHTTPResponseCodec.decode(check.response!.payload);
    return [http.status_code, Buffer.from(http.body_bz).toString()];
  };
  t.same(await statusOf('POST', '/admin/reset'), [403, '{"error":"path /admin/reset is not served by this supplier"}']);
  t.same(await statusOf('GET', '/v1/../admin/keys'), [403, '{"error":"path /admin/keys is not served by this supplier"}'], 'a dot segment does not get around it');
  t.same(await statusOf('GET', '/adm%69n/keys'), [403, '{"error":"path /admin/keys is not served by this supplier"}'], 'nor does percent-encoding');
  t.same(await statusOf('GET', '//admin/keys'), [403, '{"error":"path /admin/keys is not served by this supplier"}'], 'nor a doubled slash (nginx merges them)');
  t.same(await statusOf('GET', '/%2Fadmin/keys'), [403, '{"error":"path /admin/keys is not served by this supplier"}'], 'nor an encoded one');
  t.same(await statusOf('GET', '/v1/..%2Fadmin/keys'), [403, '{"error":"path /admin/keys is not served by this supplier"}'], 'nor a dot segment made by an encoded slash (nginx decodes, then resolves)');
  t.same(await statusOf('POST', '/cosmos/tx/v1beta1/txs'), [403, '{"error":"path /cosmos/tx/v1beta1/txs is not served by this supplier"}']);
  t.equal(r.backend.calls.length, 0);
  t.equal((await statusOf('GET', '/cosmos/tx/v1beta1/txs/ABCD'))[0], 200, 'an exact path denies only itself');
  t.same(r.backend.calls.map((c) => [c.method, c.url]), [['GET', '/api/cosmos/tx/v1beta1/txs/ABCD']]);
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_rest_requests_total\{service="anvil",method="POST",outcome="refused"\} 2/);
  t.match(metrics, /relayminer_rest_requests_total\{service="anvil",method="GET",outcome="refused"\} 5/);
  t.match(metrics, /relayminer_rest_requests_total\{service="anvil",method="GET",outcome="forwarded"\} 1/);
});
