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
