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
