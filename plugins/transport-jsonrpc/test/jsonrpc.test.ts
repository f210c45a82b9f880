import t from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest, minedRelayBytes, PLACEHOLDER_RING_PUBLIC_KEY, POKTHTTPResponseCodec, publicKeyFromPrivateKey, RelayCodec, RelayRequestCodec, RelayResponseCodec } from 'relayminer';
import { ADDR, KEYS, key } from '../../../test/helpers/localnet-client.js';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';

const RPC = { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' };
const anvil = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}/rpc", headers: { x-api-key: secret }, circuit_breaker: { failures: 2, cooldown_ms: 60000 } }`;

t.test('a valid JSON-RPC relay end to end: signed answer, backend headers, stream entry, meter', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil });
  const header = await r.header();
  const body = gatewayRelay(header, RPC);
  const res = await postRelay(r.url, body);
  t.equal(res.status, 200);
  const check = checkRelayResponse(res.body, r.supplierPublicKey);
  t.ok(check.ok, check.ok ? 'verifies' : check.why);
  const http = POKTHTTPResponseCodec.decode(check.response!.payload);
  t.equal(http.status_code, 200);
  t.equal(Buffer.from(http.body_bz).toString(), '{"jsonrpc":"2.0","id":1,"result":"answer to eth_blockNumber"}');
  t.same(http.header.get('content-type')?.values, ['application/json']);

  t.equal(r.backend.calls.length, 1);
  const call = r.backend.calls[0]!;
  t.same([call.method, call.url, call.body], ['POST', '/rpc', RPC.body]);
  t.same(
    [call.headers['pocket-supplier'], call.headers['pocket-service'], call.headers['pocket-application'], call.headers['x-api-key']],
    [ADDR.supplier1, 'anvil', ADDR.app1, 'secret'],
  );

  const [entry] = await r.stream();
  const expected = minedRelayBytes(RelayRequestCodec.decode(body), RelayResponseCodec.decode(res.body));
  t.equal(Buffer.from(entry!.relay).toString('hex'), Buffer.from(expected).toString('hex'), 'the stream holds the relay that was served');
  t.equal(Buffer.from(entry!.relay_hash).toString('hex'), Buffer.from(sha256(expected)).toString('hex'));
  t.equal(RelayCodec.decode(entry!.relay).res!.payload.length, 0);
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '42', 'meter charged 42 uPOKT');
  t.match(await r.metrics(), /relayminer_relays_total\{service="anvil",rpc_type="jsonrpc",outcome="served"\} 1/);
  t.match(await r.metrics(), /relayminer_relays_published_total\{service="anvil"\} 1/);
});

t.test('the stake meter with leases (the default): charged in batches, and a shutdown gives back what was not served', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil, meterLeaseRelays: 'default' });
  const header = await r.header();
  const meterKey = r.keys.meter(ADDR.supplier1, header.session_id);
  for (let i = 0; i < 3; i++) t.equal((await postRelay(r.url, gatewayRelay(header, RPC))).status, 200);
  t.equal(await r.redis.get(meterKey), String(16 * 42), 'one lease of sixteen relays (42 uPOKT each)');
  t.match(await r.metrics(), /relayminer_meter_leases_total\{service="anvil"\} 1/);
  await r.runtime.shutdown();
  t.equal(await r.redis.get(meterKey), String(3 * 42), 'the three relays served stay charged; the rest is back');
});

t.test('rejections over HTTP (poktroll error model, the default) never reach the backend', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil });
  const header = await r.header();
  const minerError = (b: Uint8Array) => RelayResponseCodec.decode(b).relay_miner_error;
  const cases: [string, Uint8Array, number][] = [
    ['garbage body', Buffer.from('{"jsonrpc":"2.0"}'), 14],
    ['unknown service', gatewayRelay({ ...header, service_id: 'solana' }, RPC), 3],
    ['supplier not loaded', gatewayRelay(header, RPC, { supplier: ADDR.supplier2 }), 9],
    ['key outside the ring', gatewayRelay(header, RPC, { signer: 'ab'.repeat(32) }), 1],
    ['body too large', Buffer.alloc(10 * 1024 * 1024 + 1), 11],
  ];
  for (const [name, body, code] of cases) {
    const res = await postRelay(r.url, body);
    t.equal(res.status, 200, `${name}: 200 (poktroll model)`);
    t.equal(minerError(res.body)?.code, code, `${name}: RelayMinerError code`);
    t.equal(minerError(res.body)?.codespace, 'relayer_proxy');
  }
  t.equal(r.backend.calls.length, 0);
  t.match(await r.metrics(), /relayminer_relay_rejections_total\{service="unknown",rpc_type="jsonrpc",reason="body_too_large"\} 1/);
});

t.test('http error model; Rpc-Type routing; backend 5xx, gzip, timeout and down', async (t) => {
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc'],
    services: (url) => `${anvil(url)}\n  rest:\n    backends:\n      rest: { url: "${url}" }`,
    relayerYaml: '  error_model: http',
  });
  const header = await r.header();
  const errorOf = (b: Uint8Array) => (JSON.parse(Buffer.from(b).toString()) as { error: string }).error;

  const readyOf = async (service: string) => {
    const res = await fetch(`http://${r.runtime.addresses.health}/ready/${service}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  t.same(await readyOf('anvil'), {
    status: 200,
    body: { service: 'anvil', ready: true, height: 12, backends: { jsonrpc: { healthy: 1, total: 1, transport_enabled: true } } },
  });
  t.same((await readyOf('solana')).status, 404);

  const noTransport = await postRelay(r.url, gatewayRelay(header, RPC), '4');
  t.same([noTransport.status, errorOf(noTransport.body)], [503, 'service temporarily unavailable: no transport enabled for Rpc-Type rest']);
  const bogus = await postRelay(r.url, gatewayRelay(header, RPC), '99');
  t.equal(bogus.status, 503);
  const implicit = await postRelay(r.url, gatewayRelay(header, RPC), undefined);
  t.equal(implicit.status, 200, 'no Rpc-Type header: JSON-RPC');
  const anyPath = await postRelay(`${r.url}/some/path?x=1`, gatewayRelay(header, RPC));
  t.equal(anyPath.status, 200, 'any path is accepted');

  r.backend.state.mode = 'gzip';
  const gz = await postRelay(r.url, gatewayRelay(header, RPC));
  const gzCheck = checkRelayResponse(gz.body, r.supplierPublicKey);
  t.ok(gzCheck.ok);
  const gzHttp = POKTHTTPResponseCodec.decode(gzCheck.response!.payload);
  t.equal(Buffer.from(gzHttp.body_bz).toString(), '{"jsonrpc":"2.0","id":1,"result":"answer to eth_blockNumber"}', 'decompressed before signing');
  t.equal(gzHttp.header.has('content-encoding'), false);

  const minedBefore = (await r.stream()).length;
  r.backend.state.mode = '5xx';
  const five = await postRelay(r.url, gatewayRelay(header, RPC));
  t.equal(five.status, 200);
  const fiveCheck = checkRelayResponse(five.body, r.supplierPublicKey);
  t.ok(fiveCheck.ok, 'a backend 5xx is returned signed');
  t.equal(POKTHTTPResponseCodec.decode(fiveCheck.response!.payload).status_code, 503);
  t.equal((await r.stream()).length, minedBefore, 'and not mined');
  const meterBefore = await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id));

  // Second consecutive failure opens the circuit (failures: 2): the next relay fails fast.
  await postRelay(r.url, gatewayRelay(header, RPC));
  const callsBefore = r.backend.calls.length;
  const open = await postRelay(r.url, gatewayRelay(header, RPC));
  t.same([open.status, errorOf(open.body)], [503, 'service temporarily unavailable: every backend URL is failing']);
  t.equal(r.backend.calls.length, callsBefore, 'fast fail: the open circuit is not even tried');
  t.match(await readyOf('anvil'), { status: 503, body: { ready: false, backends: { jsonrpc: { healthy: 0, total: 1 } } } }, '/ready/<service> shows the open circuit');
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), meterBefore, 'failed relays are refunded');
});

t.test('backend timeout and backend down', async (t) => {
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc'],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}", timeout_ms: 300 }\n  rest:\n    backends:\n      jsonrpc: { url: "http://127.0.0.1:1" }`,
    relayerYaml: '  error_model: http',
  });
  const header = await r.header();
  r.backend.state.mode = 'slow';
  const slow = await postRelay(r.url, gatewayRelay(header, RPC));
  t.same([slow.status, JSON.parse(Buffer.from(slow.body).toString()).error], [504, 'backend timeout: no answer within 300 ms']);
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '0', 'timeout refunded');
  t.equal((await r.stream()).length, 0);

  const restHeader = await r.header('rest', ADDR.app2);
  const down = await postRelay(
    r.url,
    encodeRelayRequest(
      buildRelayRequest({
        header: restHeader,
        supplierAddress: ADDR.supplier1,
        payload: encodeHttpPayload(RPC),
        signerKey: key(KEYS.app2),
        ring: [PLACEHOLDER_RING_PUBLIC_KEY, publicKeyFromPrivateKey(key(KEYS.app2))],
      }),
    ),
  );
  t.equal(down.status, 502);
  t.match(JSON.parse(Buffer.from(down.body).toString()).error, /^backend error: /);
});

t.test('a dead first URL: retried on the next one, answered signed with Backend-Retries: 1', async (t) => {
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc'],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { urls: ["http://127.0.0.1:1", "${url}/rpc"], load_balancing: first_healthy }`,
  });
  const header = await r.header();
  const res = await postRelay(r.url, gatewayRelay(header, RPC));
  t.equal(res.status, 200);
  t.equal(res.headers.get('backend-retries'), '1');
  const check = checkRelayResponse(res.body, r.supplierPublicKey);
  t.ok(check.ok, check.ok ? 'verifies' : check.why);
  t.equal(POKTHTTPResponseCodec.decode(check.response!.payload).status_code, 200);
  t.equal(r.backend.calls.length, 1, 'the live URL answered');
  const direct = await postRelay(r.url, gatewayRelay(header, RPC));
  t.equal(direct.headers.get('backend-retries'), '1', 'the dead URL is still tried first until its circuit opens');
});
