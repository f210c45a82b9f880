import t from 'tap';
import { createServer, type Server } from 'node:http';
import { HttpBackend, type HealthChange } from '../../core/backend/http-backend.js';
import type { ResolvedBackend } from '../../core/config/load.js';
import { BackendError } from '../../core/backend/backend-error.js';

interface Node {
  url: string;
  server: Server;
  healthy: boolean;
  probes: string[];
  relays: number;
}

async function node(): Promise<Node> {
  const n = { healthy: true, probes: [] as string[], relays: 0 } as Node;
  n.server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/health?deep=1') {
        n.probes.push(`${req.method} ${req.headers.authorization} ${req.headers['content-type']} ${body}`);
        res.writeHead(n.healthy ? 200 : 503).end();
      } else {
        n.relays++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":1}');
      }
    });
  });
  await new Promise<void>((r) => n.server.listen(0, '127.0.0.1', r));
  n.url = `http://127.0.0.1:${(n.server.address() as { port: number }).port}/v1`;
  return n;
}

function config(urls: string[]): ResolvedBackend {
  return {
    urls,
    headers: {},
    auth: { bearer_token: 'secret-token' },
    timeout_ms: 2000,
    max_body_bytes: 1 << 20,
    load_balancing: 'round_robin',
    connections: 4,
    application_share: 0.5,
    pipelining: 1,
    keep_alive_ms: 10_000,
    circuit_breaker: { failures: 5, cooldown_ms: 5000 },
    health_check: {
      path: '/health?deep=1',
      method: 'POST',
      body: '{"ping":1}',
      expected_status: [],
      interval_ms: 500,
      timeout_ms: 500,
      unhealthy_threshold: 2,
      healthy_threshold: 1,
    },
  };
}

const until = async (what: string, fn: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

t.test('a URL failing its probes leaves rotation, comes back when they pass, and relays follow', async (t) => {
  const [a, b] = [await node(), await node()];
  b.healthy = false;
  const backend = new HttpBackend(config([a.url, b.url]));
  const changes: HealthChange[] = [];
  backend.startHealthChecks((c) => changes.push(c));
  t.teardown(async () => {
    await backend.close();
    a.server.close();
    b.server.close();
  });
  t.equal(backend.healthy, 2, 'URLs start in rotation');
  await until('b out of rotation', () => backend.healthy === 1);
  t.same(changes, [{ url: b.url.replace('/v1', '/…'), up: false, reason: 'status 503' }], 'the URL in the log shows no path (API keys live there)');
  t.equal(b.probes.length, 2, 'two failed probes (unhealthy_threshold) took it out');
  t.equal(a.probes[0], 'POST Bearer secret-token application/json {"ping":1}', 'probe carries method, auth, body, path+query');
  for (let i = 0; i < 6; i++) await backend.send({ method: 'POST', url: '/', headers: {}, body: Buffer.from('{}') }, {});
  t.same([a.relays, b.relays], [6, 0], 'every relay goes to the healthy URL');

  b.healthy = true;
  await until('b back', () => backend.healthy === 2);
  t.same(changes.at(-1), { url: b.url.replace('/v1', '/…'), up: true, reason: 'probes pass' });
  for (let i = 0; i < 4; i++) await backend.send({ method: 'POST', url: '/', headers: {}, body: Buffer.from('{}') }, {});
  t.same([a.relays, b.relays], [8, 2], 'round robin over both again');
});

t.test('every URL failing its probes: fast 503 without dialing the backend', async (t) => {
  const a = await node();
  a.healthy = false;
  const backend = new HttpBackend(config([a.url]));
  backend.startHealthChecks();
  t.teardown(async () => {
    await backend.close();
    a.server.close();
  });
  await until('a out of rotation', () => backend.healthy === 0);
  const err = await backend.send({ method: 'POST', url: '/', headers: {}, body: Buffer.from('{}') }, {}).catch((e: unknown) => e);
  t.ok(BackendError.is(err), 'a backend error');
  t.equal((err as BackendError).code, 'BACKEND_UNAVAILABLE');
  t.equal(a.relays, 0, 'the backend never saw the relay');
});

t.test('a probe that times out counts as failed; no health_check means no probes', async (t) => {
  const silent = createServer(() => {}); // accepts, never answers
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}/v1`;
  const backend = new HttpBackend(config([url]));
  const changes: HealthChange[] = [];
  backend.startHealthChecks((c) => changes.push(c));
  const plain = new HttpBackend({ ...config([url]), health_check: undefined });
  plain.startHealthChecks(() => t.fail('no probes without health_check'));
  t.teardown(async () => {
    await Promise.all([backend.close(), plain.close()]);
    silent.closeAllConnections();
    silent.close();
  });
  await until('timed out probes', () => changes.length === 1);
  t.equal(changes[0]!.up, false);
  t.match(changes[0]!.reason, /timeout|aborted/i);
  t.equal(plain.healthy, 1);
});

t.test('probes go on a connection of their own: a pool full of relays its backend never answers does not fail them', async (t) => {
  const held: (() => void)[] = [];
  let probes = 0;
  const server = createServer((req, res) => {
    req.resume();
    if (req.url === '/v1/health?deep=1') return void (probes++, res.writeHead(200).end());
    held.push(() => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
  const cfg = config([url]);
  const backend = new HttpBackend({ ...cfg, connections: 1, timeout_ms: 5000, health_check: { ...cfg.health_check!, interval_ms: 100, timeout_ms: 200 } });
  const changes: HealthChange[] = [];
  backend.startHealthChecks((c) => changes.push(c));
  t.teardown(async () => {
    await backend.close();
    server.closeAllConnections();
    server.close();
  });
  const relay = backend.send({ method: 'POST', url: '/', headers: {}, body: Buffer.from('{}') }, {}).then((r) => r.status);
  await until('the relay at the backend', () => held.length === 1);
  const before = probes;
  await until('five probes answered while the pool is held', () => probes >= before + 5);
  t.equal(backend.healthy, 1, 'still in rotation');
  t.same(changes, []);
  held[0]!();
  t.equal(await relay, 200);
});

t.test('a JSON-RPC health check body: an answer with a JSON-RPC error (which a node sends with 200), not JSON, or eth_syncing saying syncing takes the URL out; a result brings it back', async (t) => {
  // What the node answers each call with: a result, an error (the node's own text with it), or an HTML error page;
  // a body that is no call at all is answered with an error too, as a JSON-RPC server would.
  const node = { eth_blockNumber: 'result', eth_syncing: 'result', syncing: 'false' } as Record<string, 'result' | 'error' | 'html' | 'object' | 'false'>;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { id: number; method: string } | { id: number; method: string }[];
      const calls = Array.isArray(parsed) ? parsed : [parsed];
      if (calls.some((c) => node[c.method] === 'html')) return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>502 Bad Gateway</html>');
      const answers = calls.map((c) =>
        node[c.method] === 'error' || c.method === undefined
          ? { jsonrpc: '2.0', id: c.id, error: { code: -32000, message: `${c.method}: header not found` } }
          : { jsonrpc: '2.0', id: c.id, result: c.method === 'eth_syncing' ? (node.syncing === 'object' ? { startingBlock: '0x0', currentBlock: '0x10', highestBlock: '0x20' } : false) : '0x10' },
      );
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(Array.isArray(parsed) ? answers : answers[0]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const jsonRpc = (body: string): ResolvedBackend => ({ ...config([url]), health_check: { ...config([url]).health_check!, path: '/', body, unhealthy_threshold: 1 } });
  const single = new HttpBackend(jsonRpc('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'));
  const batch = new HttpBackend(jsonRpc('[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_syncing"}]'));
  const notJsonRpc = new HttpBackend(jsonRpc('{"ping":1,"eth_blockNumber":true}'));
  const changes = { single: [] as HealthChange[], batch: [] as HealthChange[], notJsonRpc: [] as HealthChange[] };
  single.startHealthChecks((c) => changes.single.push(c));
  batch.startHealthChecks((c) => changes.batch.push(c));
  notJsonRpc.startHealthChecks((c) => changes.notJsonRpc.push(c));
  t.teardown(async () => {
    await Promise.all([single.close(), batch.close(), notJsonRpc.close()]);
    server.close();
  });
  await new Promise((r) => setTimeout(r, 700));
  t.same([single.healthy, batch.healthy, notJsonRpc.healthy], [1, 1, 1], 'results: in');

  node.eth_blockNumber = 'error';
  await until('the error taking both out', () => single.healthy === 0 && batch.healthy === 0);
  t.same(changes.single, [{ url, up: false, reason: 'the health check was answered with a JSON-RPC error -32000' }], "the error's code, not the node's text");
  t.same(changes.batch.map((c) => c.reason), ['the health check was answered with a JSON-RPC error -32000']);

  node.eth_blockNumber = 'result';
  node.eth_syncing = 'error';
  await until('the single call back', () => single.healthy === 1);
  t.equal(batch.healthy, 0, "an error to one call of a batch keeps it out");

  node.eth_blockNumber = 'html';
  await until('an answer that is not JSON taking the single call out', () => single.healthy === 0);
  t.equal(changes.single.at(-1)!.reason, 'the health check was answered with something other than JSON');

  node.eth_blockNumber = 'result';
  node.eth_syncing = 'result';
  await until('both back', () => single.healthy === 1 && batch.healthy === 1);
  t.same(changes.batch.at(-1), { url, up: true, reason: 'probes pass' });
  t.same([notJsonRpc.healthy, changes.notJsonRpc], [1, []], 'a body that is not a JSON-RPC call is judged by its status alone');

  // eth_syncing's result: false once synced, an object while syncing (as geth, erigon and reth answer it).
  node.syncing = 'object';
  await until('the batch out: its eth_syncing says syncing', () => batch.healthy === 0);
  t.same(changes.batch.at(-1), { url, up: false, reason: 'the node answered eth_syncing: still syncing' });
  t.equal(single.healthy, 1, "eth_blockNumber's answer says nothing of it");
  node.syncing = 'false';
  await until('the batch back', () => batch.healthy === 1);
});

t.test("a probe of CometBFT's /status or the Cosmos REST syncing route: a node still syncing is out, and back once synced", async (t) => {
  let syncing = false;
  const server = createServer((req, res) => {
    const body =
      req.url === '/status'
        ? { jsonrpc: '2.0', id: -1, result: { node_info: { network: 'pocket' }, sync_info: { latest_block_height: '99', catching_up: syncing } } }
        : { syncing };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const probing = (path: string): ResolvedBackend => ({ ...config([url]), health_check: { ...config([url]).health_check!, path, method: 'GET', body: undefined, unhealthy_threshold: 1 } });
  const comet = new HttpBackend(probing('/status'));
  const rest = new HttpBackend(probing('/cosmos/base/tendermint/v1beta1/syncing'));
  const reasons: string[] = [];
  comet.startHealthChecks((c) => reasons.push(`status ${c.up} ${c.reason}`));
  rest.startHealthChecks((c) => reasons.push(`rest ${c.up} ${c.reason}`));
  t.teardown(async () => {
    await Promise.all([comet.close(), rest.close()]);
    server.close();
  });
  await new Promise((r) => setTimeout(r, 700));
  t.same([comet.healthy, rest.healthy, reasons], [1, 1, []], 'synced: in');
  syncing = true;
  await until('both out', () => comet.healthy === 0 && rest.healthy === 0);
  syncing = false;
  await until('both back', () => comet.healthy === 1 && rest.healthy === 1);
  t.same(reasons.sort(), [
    'rest false the node answered that it is still syncing',
    'rest true probes pass',
    'status false the node answered that it is still syncing',
    'status true probes pass',
  ]);
});
