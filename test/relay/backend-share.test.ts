import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest, PLACEHOLDER_RING_PUBLIC_KEY, publicKeyFromPrivateKey } from 'relayminer';
import { ADDR, KEYS, key, TEST_GENESIS } from '../helpers/localnet-client.js';
import { gatewayRelay, postRelay, startRelayer } from '../helpers/relayer.js';
import { until } from '../helpers/until.js';

const RPC = { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"debug_traceBlockByNumber"}' };

t.test("one application's relays its backend holds take at most its application_share of the connections: another application's relays to the same service are served meanwhile", async (t) => {
  // app2 staked for anvil too, so both applications' relays share one backend.
  const genesis = TEST_GENESIS.replace('    service_id: rest\n\ngateways:', '    service_id: anvil\n\ngateways:');
  const held: ServerResponse[] = [];
  const seen: string[] = [];
  const node = createServer((req, res) => {
    req.resume();
    const app = String(req.headers['pocket-application']);
    seen.push(app);
    if (app === ADDR.app1) held.push(res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":"0x1"}');
  });
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', r));
  t.teardown(() => (node.closeAllConnections(), new Promise<void>((r) => node.close(() => r()))));
  const url = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], genesis, services: () => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}", connections: 2, timeout_ms: 10000 }` });
  const app1 = await r.header('anvil', ADDR.app1);
  const app2 = await r.header('anvil', ADDR.app2);
  t.equal(app2.service_id, 'anvil');
  // Three relays of app1 that its node takes long to answer: with 2 connections, its share (0.5) is one of them.
  const slow = [0, 1, 2].map(() => postRelay(r.url, gatewayRelay(app1, RPC)));
  await until("app1's first relay at the node", () => held.length === 1);
  await until('the other two waiting, counted', async () => /relayminer_backend_share_waits_total\{service="anvil",rpc_type="jsonrpc"\} 2\n/.test(await r.metrics()));
  const own = encodeRelayRequest(
    buildRelayRequest({ header: app2, supplierAddress: ADDR.supplier1, payload: encodeHttpPayload({ ...RPC, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' }), signerKey: key(KEYS.app2), ring: [PLACEHOLDER_RING_PUBLIC_KEY, publicKeyFromPrivateKey(key(KEYS.app2))] }),
  );
  const served = await postRelay(r.url, own);
  const check = checkRelayResponse(served.body, r.supplierPublicKey);
  t.ok(check.ok && !check.response!.relay_miner_error, "app2's relay is served while app1's are held");
  t.same(seen, [ADDR.app1, ADDR.app2], "and only one of app1's reached the node");
  for (let answered = 0; answered < 3; answered++) {
    await until(`app1's relay ${answered + 1} at the node`, () => held.length === 1);
    held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{}}');
  }
  for (const res of await Promise.all(slow)) t.ok(checkRelayResponse(res.body, r.supplierPublicKey).ok, "app1's relays are each served in turn");
});
