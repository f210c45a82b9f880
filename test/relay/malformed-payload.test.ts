import t from 'tap';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { POKTHTTPRequestCodec, type HttpHeader } from '../../core/protocol/index.js';
import { buildRelayRequest, checkRelayResponse, encodeRelayRequest } from '../../core/relay/relay-client.js';
import type { SessionHeader } from '../../core/protocol/index.js';
import { ADDR, KEYS, key } from '../helpers/localnet-client.js';
import { postRelay, startRelayer } from '../helpers/relayer.js';

const anvil = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}/rpc", circuit_breaker: { failures: 5, cooldown_ms: 60000 } }`;
const RING = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));

/** A correctly signed relay whose inner POKTHTTPRequest is whatever the attacker wrote. */
function signedRelay(header: SessionHeader, signer: string, http: { method: string; url: string; headers?: Record<string, string>; body?: string }): Uint8Array {
  const header_ = new Map<string, HttpHeader>(Object.entries(http.headers ?? {}).map(([k, v]) => [k, { key: k, values: [v] }]));
  const payload = POKTHTTPRequestCodec.encode({ method: http.method, url: http.url, header: header_, body_bz: Buffer.from(http.body ?? '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}') });
  return encodeRelayRequest(buildRelayRequest({ header, supplierAddress: ADDR.supplier1, payload, signerKey: key(signer), ring: RING }));
}

t.test('malformed inner requests from one client are refused and never switch the service off for another', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil, relayerYaml: '  error_model: http' });
  const header = await r.header();
  const attacks: { method: string; url: string; headers?: Record<string, string> }[] = [
    { method: 'POST', url: 'http://[' },
    { method: 'GET\r\nX: y', url: '/' },
    { method: 'POST', url: '/', headers: { 'bad header': 'v' } },
    { method: 'POST', url: '/', headers: { 'x-forwarded-for': '1.2.3.4\r\nInjected: yes' } },
    // A Node backend closes a CONNECT's connection unanswered, which reads as the backend failing.
    { method: 'CONNECT', url: '/' },
    { method: 'connect', url: '/' },
    // nginx in front of the backend would decode and resolve it: another of its locations.
    { method: 'GET', url: '/..%2Finternal/' },
  ];
  let served = 0;
  for (let burst = 0; burst < 4; burst++) {
    // Five of each, more than the breaker's threshold, then a relay of another client (the app itself).
    for (const attack of attacks) {
      for (let i = 0; i < 5; i++) {
        const res = await postRelay(r.url, signedRelay(header, KEYS.gateway1, attack));
        t.equal(res.status, 400, `${JSON.stringify(attack)}: 400`);
        t.match(JSON.parse(Buffer.from(res.body).toString()), { error: /^invalid relay payload: not a usable request for the backend: / });
      }
    }
    const res = await postRelay(r.url, signedRelay(header, KEYS.app1, { method: 'POST', url: '/' }));
    t.equal(res.status, 200, `burst ${burst}: the other client's relay is served`);
    const check = checkRelayResponse(res.body, r.supplierPublicKey);
    if (check.ok) served += 1;
  }
  t.equal(served, 4, 'every valid relay was served and signed');
  t.equal(r.backend.calls.length, 4, 'only the valid relays reached the backend');
  const ready = await fetch(`http://${r.runtime.addresses.health}/ready/anvil`);
  t.equal(ready.status, 200, '/ready/anvil stays 200');
  t.match(await ready.json(), { ready: true, backends: { jsonrpc: { healthy: 1, total: 1 } } });
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_relay_rejections_total\{service="anvil",rpc_type="jsonrpc",reason="malformed_payload"\} 140/);
  // Not billed: nothing was served; the charge taken while the signature was checked goes back.
  t.match(metrics, /relayminer_meter_refunds_total\{service="anvil",reason="malformed_payload"\} 140/);
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), String(4 * 42), 'the meter holds the four served relays only');
});
