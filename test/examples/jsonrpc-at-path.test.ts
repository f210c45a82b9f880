import { join } from 'node:path';
import t from 'tap';
import { checkRelayResponse, POKTHTTPResponseCodec, relayHash, RelayResponseCodec } from 'relayminer';
import { ROOT } from '../helpers/cli.js';
import { ADDR } from '../helpers/localnet-client.js';
import { gatewayRelay, startRelayer } from '../helpers/relayer.js';

// The third-party transport in examples/plugins, loaded by path from a config as an operator would,
// serving a real gateway-signed relay end to end: ring signature, session, meter, backend, supplier
// signature, stream entry.
const PLUGIN = join(ROOT, 'examples/plugins/jsonrpc-at-path/index.js');

t.test('a transport written only against the public API serves a signed relay, and the miner gets it', async (t) => {
  const r = await startRelayer(t, {
    plugins: [`name: ${PLUGIN}\n    options: { path: /v1/jsonrpc, timeout_ms: 2000 }`],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`,
  });
  const header = await r.header();
  const request = gatewayRelay(header, { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}') });
  const res = await fetch(`${r.url}/v1/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(request) });
  t.equal(res.status, 200);
  const check = checkRelayResponse(new Uint8Array(await res.arrayBuffer()), r.supplierPublicKey);
  t.ok(check.ok, 'signed by the supplier');
  const http = POKTHTTPResponseCodec.decode(check.response!.payload);
  t.same([http.status_code, Buffer.from(http.body_bz).toString()], [200, '{"jsonrpc":"2.0","id":1,"result":"answer to eth_blockNumber"}']);
  t.same(http.header.get('content-type')?.values, ['application/json']);

  t.equal(r.backend.calls.length, 1);
  t.equal(r.backend.calls[0]!.headers['pocket-supplier'], ADDR.supplier1, 'the Pocket-* headers reached the backend');
  t.equal(r.backend.calls[0]!.body, '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}');

  const mined = await r.stream();
  t.equal(mined.length, 1, 'the relay is in the supplier stream for the miner');
  t.equal(mined[0]!.session_id, header.session_id);
  t.equal(Buffer.from(mined[0]!.relay_hash).toString('hex'), Buffer.from(relayHash(mined[0]!.relay)).toString('hex'));
  t.match(await r.metrics(), /relayminer_relays_total\{[^}]*service="anvil"[^}]*rpc_type="jsonrpc"[^}]*outcome="served"[^}]*\} 1/);

  // Refusals go through the same pipeline: a relay for another supplier, with the reason gateways read.
  const wrong = gatewayRelay(header, { method: 'POST', url: '/', body: Buffer.from('{}') }, { supplier: ADDR.supplier2 });
  const refused = await fetch(`${r.url}/v1/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(wrong) });
  t.equal(refused.status, 200, 'the poktroll error model (the default): 200 with a RelayMinerError');
  const error = RelayResponseCodec.decode(new Uint8Array(await refused.arrayBuffer())).relay_miner_error;
  t.same([error?.codespace, error?.code], ['relayer_proxy', 9], 'supplier not loaded');
  t.equal(r.backend.calls.length, 1, 'nothing forwarded');
  t.match(await r.metrics(), /relayminer_relay_rejections_total\{service="anvil",rpc_type="jsonrpc",reason="supplier_not_loaded"\} 1/);
});
