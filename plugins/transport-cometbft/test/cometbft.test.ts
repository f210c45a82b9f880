import { gzipSync } from 'node:zlib';
import t from 'tap';
import { checkRelayResponse, POKTHTTPResponseCodec } from 'relayminer';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';

t.test('CometBFT relays (Rpc-Type 5): URI GET and JSON-RPC POST reach the cometbft backend only', async (t) => {
  const r = await startRelayer(t, {
    plugins: ['transport-cometbft'],
    services: (url) => `  anvil:\n    backends:\n      cometbft: { url: "${url}/comet?token=abc" }\n      jsonrpc: { url: "http://127.0.0.1:1" }`,
  });
  const header = await r.header();
  const uri = await postRelay(r.url, gatewayRelay(header, { method: 'GET', url: 'http://gateway.example/status?height=5' }), '5');
  t.equal(uri.status, 200);
  const check = checkRelayResponse(uri.body, r.supplierPublicKey);
  t.ok(check.ok);
  t.equal(POKTHTTPResponseCodec.decode(check.response!.payload).status_code, 200);
  t.same([r.backend.calls[0]!.method, r.backend.calls[0]!.url, r.backend.calls[0]!.body], ['GET', '/comet/status?token=abc&height=5', ''], 'path and query from POKTHTTPRequest.url, joined to the backend URL');

  const rpc = await postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":1,"method":"status"}' }), 'cometbft');
  t.equal(rpc.status, 200);
  t.same([r.backend.calls[1]!.method, r.backend.calls[1]!.url], ['POST', '/comet?token=abc']);

  const jsonrpc = await postRelay(r.url, gatewayRelay(header, { body: '{}' }), '3');
  t.equal(jsonrpc.status, 200);
  t.match(checkRelayResponse(jsonrpc.body, r.supplierPublicKey), { ok: false, why: /relay miner error 5: service temporarily unavailable: no transport enabled for Rpc-Type jsonrpc/ }, 'JSON-RPC is not enabled here');
  t.equal(r.backend.calls.length, 2);
  t.equal((await r.stream()).length, 2, 'both CometBFT relays mined');
});

t.test('routes the operator denies are answered here in both forms; the rest reach the node, counted by route and form', async (t) => {
  const r = await startRelayer(t, { plugins: ['{ name: transport-cometbft, options: { deny_methods: [dial_seeds, "unsafe_*", broadcast_tx_commit] } }'], services: (url) => `  anvil:\n    backends:\n      cometbft: { url: "${url}/comet" }` });
  const header = await r.header();
  const answer = async (relay: Parameters<typeof gatewayRelay>[1]) => {
    const res = await postRelay(r.url, gatewayRelay(header, relay), '5');
    t.equal(res.status, 200);
    const check = checkRelayResponse(res.body, r.supplierPublicKey);
    t.ok(check.ok, check.ok ? 'signed' : check.why);
    return JSON.parse(Buffer.from(POKTHTTPResponseCodec.decode(check.response!.payload).body_bz).toString()) as unknown;
  };
  t.same(await answer({ method: 'GET', url: '/dial_seeds?seeds=["a@1.2.3.4:26656"]' }), { jsonrpc: '2.0', id: -1, error: { code: -32601, message: 'Method not found', data: 'dial_seeds' } }, 'URI form: CometBFT\'s error, id -1');
  t.same(await answer({ method: 'GET', url: '/dial%5Fseeds' }), { jsonrpc: '2.0', id: -1, error: { code: -32601, message: 'Method not found', data: 'dial_seeds' } }, 'a percent-encoded route is the route the node would serve');
  t.same(await answer({ method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":"x","method":"unsafe_flush_mempool"}' }), { jsonrpc: '2.0', id: 'x', error: { code: -32601, message: 'Method not found', data: 'unsafe_flush_mempool' } }, 'JSON-RPC form, a prefix pattern');
  t.same(await answer({ method: 'POST', url: '/', body: '[{"jsonrpc":"2.0","id":1,"method":"status"},{"jsonrpc":"2.0","id":2,"method":"broadcast_tx_commit","params":{"tx":"AA=="}}]' }), [
    { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'Method not found', data: 'not served: the batch holds broadcast_tx_commit' } },
    { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'Method not found', data: 'broadcast_tx_commit' } },
  ], 'a batch holding a denied route');
  // CometBFT reads requests with Go's encoding/json, which matches keys whatever their case (test/vectors/jsonrpc).
  t.same(await answer({ method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":4,"METHOD":"dial_seeds","params":{"seeds":["a@1.2.3.4:26656"]}}' }), { jsonrpc: '2.0', id: 4, error: { code: -32601, message: 'Method not found', data: 'dial_seeds' } }, 'the method key in capitals');
  t.same(await answer({ method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":5,"method":"status","Method":"unsafe_flush_mempool"}' }), { jsonrpc: '2.0', id: 5, error: { code: -32601, message: 'Method not found', data: 'unsafe_flush_mempool' } }, 'a second spelling of the key after an allowed method (the node reads the last)');
  t.same(await answer({ method: 'POST', url: '/', headers: { 'Content-Encoding': 'gzip' }, body: gzipSync('{"jsonrpc":"2.0","id":6,"method":"dial_seeds","params":{"seeds":[]}}') }), { jsonrpc: '2.0', id: 6, error: { code: -32601, message: 'Method not found', data: 'dial_seeds' } }, 'a gzipped body, read as a node behind a decompressing proxy reads it');
  t.equal(r.backend.calls.length, 0, 'none reached the node');

  t.equal((await postRelay(r.url, gatewayRelay(header, { method: 'GET', url: '/block?height=5' }), '5')).status, 200);
  t.equal((await postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":"5"}}' }), '5')).status, 200);
  t.same(r.backend.calls.map((c) => [c.method, c.url, c.headers['content-type']]), [['GET', '/comet/block?height=5', undefined], ['POST', '/comet', 'application/json']], 'the URI form as it came, the JSON-RPC form with its content type');
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_cometbft_calls_total\{service="anvil",method="dial_seeds",form="uri",outcome="refused"\} 2/);
  t.match(metrics, /relayminer_cometbft_calls_total\{service="anvil",method="dial_seeds",form="jsonrpc",outcome="refused"\} 2/);
  t.match(metrics, /relayminer_cometbft_calls_total\{service="anvil",method="block",form="uri",outcome="forwarded"\} 1/);
  t.match(metrics, /relayminer_cometbft_calls_total\{service="anvil",method="block",form="jsonrpc",outcome="forwarded"\} 1/);
  t.match(metrics, /relayminer_cometbft_calls_total\{service="anvil",method="status",form="jsonrpc",outcome="refused"\} 1/);
});
