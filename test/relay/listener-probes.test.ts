import t from 'tap';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkRelayResponse } from 'relayminer';
import { gatewayRelay, startRelayer } from '../helpers/relayer.js';
import { freePort } from '../helpers/ports.js';
import { until } from '../helpers/until.js';

const anvil = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`;

/** A request with a body whatever the method (fetch refuses a GET with one; PATH sends REST relays so). */
function send(url: string, method: string, body?: Uint8Array): Promise<{ status: number; body: Buffer; type?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { 'content-type': 'application/json', 'rpc-type': '3', ...(body && { 'content-length': String(body.length) }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), type: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end(body && Buffer.from(body));
  });
}

t.test("load balancers' probes on the relay listener: /health, /healthz, /ready answered as the Go relay miner answers them, relays to those paths still relays", async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil });
  let failing = false;
  let evaluated = 0;
  r.runtime.context.readiness.add('probe_test', () => {
    evaluated++;
    if (failing) throw new Error('node at 10.0.0.7:26657 unreachable');
  });

  for (const path of ['/health', '/healthz']) {
    const res = await send(`${r.url}${path}`, 'GET');
    t.same([res.status, JSON.parse(res.body.toString())], [200, { status: 'ok' }], `GET ${path}`);
  }
  const ready = await send(`${r.url}/ready`, 'GET');
  t.same([ready.status, JSON.parse(ready.body.toString())], [200, { status: 'ready' }], 'GET /ready: ready, no checks named');
  const head = await send(`${r.url}/ready`, 'HEAD');
  t.same([head.status, head.body.length], [200, 0], 'HEAD /ready');

  failing = true;
  await sleep(1100);
  const probes = await Promise.all(Array.from({ length: 50 }, () => send(`${r.url}/ready`, 'GET')));
  t.same(new Set(probes.map((p) => p.status)), new Set([503]), 'not ready: 503 to each of 50 probes at once');
  t.same(JSON.parse(probes[0]!.body.toString()), { status: 'not_ready' }, "the failing check's message (an address here) is not on the public port");
  t.ok(evaluated <= 3, `readiness evaluated ${evaluated} times for 52 probes`);
  const health = await fetch(`http://${r.runtime.addresses.health}/ready`);
  t.match(await health.json(), { status: 'not_ready', checks: { probe_test: { ok: false, error: /unreachable/ } } }, 'the health listener has the detail');

  // A relay is never a probe: it has a body, whatever its method and path.
  const header = await r.header();
  const relay = gatewayRelay(header, { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' });
  for (const method of ['GET', 'POST']) {
    const res = await send(`${r.url}/health`, method, relay);
    t.equal(res.status, 200, `${method} /health with a relay body`);
    t.ok(checkRelayResponse(new Uint8Array(res.body), r.supplierPublicKey).ok, 'is served as a relay, signed');
  }
  const empty = await send(`${r.url}/`, 'GET');
  t.equal(empty.type, 'application/x-protobuf', 'a GET / without a body is not a probe: it is refused as a relay (the poktroll error model: a RelayResponse with its error)');
});

t.test('/ready/<service> on the relay listener: each service by its own backends, as the health listener says it, with no detail', async (t) => {
  const dead = await freePort();
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc'],
    services: (url) => `${anvil(url)}\n  dead:\n    backends:\n      jsonrpc: { url: "http://127.0.0.1:${dead}", health_check: { interval_ms: 500, unhealthy_threshold: 1 } }`,
  });
  const probe = async (path: string, method = 'GET') => {
    const res = await send(`${r.url}${path}`, method);
    return [res.status, res.body.length ? JSON.parse(res.body.toString()) : undefined];
  };
  t.same(await probe('/ready/anvil'), [200, { service: 'anvil', ready: true }]);
  t.same(await probe('/ready/anvil', 'HEAD'), [200, undefined], 'HEAD');
  await until('the dead backend out of rotation', async () => (await probe('/ready/dead'))[0] === 503, 5000);
  t.same(await probe('/ready/dead'), [503, { service: 'dead', ready: false }], 'a service whose only backend is down');
  const health = await fetch(`http://${r.runtime.addresses.health}/ready/dead`);
  t.match(await health.json(), { ready: false, backends: { jsonrpc: { healthy: 0, total: 1 } } }, 'the health listener has the detail');
  t.same(await probe('/ready/elsewhere'), [404, { error: 'service not served here' }], 'a service not configured: its id not echoed');
  t.same(await probe('/ready/'), [400, { error: 'name one service: /ready/<service id>' }]);
  t.same(await probe('/ready/anvil%2Fx'), [400, { error: 'name one service: /ready/<service id>' }]);
  t.equal((await probe('/ready/%E0%A4%A'))[0], 400, 'a malformed escape (refused by the router before any handler)');

  // A relay to such a path is still a relay.
  const relay = gatewayRelay(await r.header(), { method: 'GET', url: '/ready/anvil', headers: {}, body: '' });
  const res = await send(`${r.url}/ready/anvil`, 'GET', relay);
  t.equal(res.status, 200);
  t.ok(checkRelayResponse(new Uint8Array(res.body), r.supplierPublicKey).ok, 'GET /ready/anvil with a relay body is served as a relay, signed');
  t.equal(r.backend.calls.at(-1)?.url, '/ready/anvil', 'and reached the backend');
});
