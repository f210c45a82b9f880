import { request } from 'node:http';
import t from 'tap';
import { POKTHTTPResponseCodec } from '../../../core/protocol/index.js';
import { checkRelayResponse } from '../../../core/relay/relay-client.js';
import { gatewayRelay, startRelayer } from '../../../test/helpers/relayer.js';

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
