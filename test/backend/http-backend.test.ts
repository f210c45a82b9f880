import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { Test } from 'tap';
import { HttpBackend, type BackendRequest, type HealthChange } from '../../core/backend/http-backend.js';
import type { ResolvedBackend } from '../../core/config/load.js';
import { BackendError } from '../../core/backend/backend-error.js';
import { until } from '../helpers/until.js';

/** A backend whose answer each test decides; it records what it received. */
async function backend(t: Test, answer: (res: ServerResponse, path: string) => void) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${body}`);
      answer(res, req.url!);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/base?key=k`, seen };
}

function open(t: Test, url: string, o: Partial<ResolvedBackend> = {}, onCircuit?: (change: HealthChange) => void): HttpBackend {
  const b = new HttpBackend(
    {
      urls: [url],
      headers: {},
      timeout_ms: 300,
      max_body_bytes: 1024,
      load_balancing: 'round_robin',
      connections: 1,
      application_share: 0.5,
      pipelining: 1,
      keep_alive_ms: 10_000,
      circuit_breaker: { failures: 100, cooldown_ms: 5000 },
      ...o,
    },
    { onCircuit },
  );
  t.teardown(() => b.close());
  return b;
}

/** How a call ended: 'answered', or the backend error's code and detail. */
const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => 'answered',
    (err: unknown) => (BackendError.is(err) ? `${err.code}: ${err.detail}` : `not a BackendError: ${String(err)}`),
  );

t.test("answers are asked for uncompressed whatever the relay's client accepts; a backend's configured headers can say otherwise", async (t) => {
  const accepted: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    accepted.push(req.headers['accept-encoding']);
    req.resume();
    req.on('end', () => res.writeHead(200).end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const relay = (headers: Record<string, string[]>) => ({ method: 'POST', url: '/', headers, body: Buffer.from('{}') });
  await open(t, url).send(relay({ 'Accept-Encoding': ['gzip, deflate, br, zstd'] }), {});
  await open(t, url).send(relay({}), {});
  await open(t, url, { headers: { 'accept-encoding': 'gzip' } }).send(relay({ 'accept-encoding': ['br'] }), {});
  t.same(accepted, ['identity', 'identity', 'gzip']);
});

t.test('a whole answer: status, headers without hop-by-hop ones, body; the relay path joins the backend path and query', async (t) => {
  const b = await backend(t, (res) => res.writeHead(201, { 'content-type': 'application/json', 'x-node': 'n1', connection: 'keep-alive' }).end('{"result":1}'));
  const backendApi = open(t, b.url);
  for (let i = 0; i < 2; i++) {
    const res = await backendApi.send({ method: 'post', url: '/eth?block=1', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"id":1}') }, {});
    t.same([res.status, Buffer.from(res.body).toString(), res.headers['x-node'], res.headers.connection, res.stream], [201, '{"result":1}', ['n1'], undefined, undefined]);
  }
  t.same(b.seen, ['POST /base/eth?key=k&block=1 {"id":1}', 'POST /base/eth?key=k&block=1 {"id":1}'], 'the same joined path both times');
});

t.test('an answer over max_body_bytes is refused, not buffered', async (t) => {
  const b = await backend(t, (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('x'.repeat(4096)));
  t.equal(await failureOf(open(t, b.url).send({ method: 'POST', url: '', headers: {} }, {})), 'BACKEND_RESPONSE_TOO_LARGE: backend response larger than max_body_bytes (1024)');
});

t.test('a backend that never answers times out; so does a request still queued behind it for the one connection', async (t) => {
  const b = await backend(t, () => undefined);
  const api = open(t, b.url);
  const started = performance.now();
  const [first, queued] = await Promise.all([failureOf(api.send({ method: 'POST', url: '', headers: {} }, {})), failureOf(api.send({ method: 'POST', url: '', headers: {} }, {}))]);
  t.same([first, queued], ['BACKEND_TIMEOUT: no answer within 300 ms', 'BACKEND_TIMEOUT: no answer within 300 ms']);
  t.ok(performance.now() - started < 2000, 'both within about the deadline');
});

t.test('an SSE answer comes as a stream, chunk by chunk, and the deadline still bounds it', async (t) => {
  const b = await backend(t, (res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: 1\n\n');
    setTimeout(() => res.write('data: 2\n\n'), 50);
    setTimeout(() => res.end('data: 3\n\n'), 100);
  });
  const res = await open(t, b.url, { timeout_ms: 2000 }).send({ method: 'GET', url: '/events', headers: {} }, {});
  t.same([res.status, res.body.length], [200, 0]);
  const chunks: string[] = [];
  for await (const c of res.stream!) chunks.push(c.toString());
  t.equal(chunks.join(''), 'data: 1\n\ndata: 2\n\ndata: 3\n\n');
  t.ok(chunks.length >= 2, `arrived in ${chunks.length} chunks`);

  const endless = await backend(t, (r) => {
    r.writeHead(200, { 'content-type': 'text/event-stream' });
    const tick = setInterval(() => r.write('data: tick\n\n'), 50);
    r.on('close', () => clearInterval(tick));
  });
  const long = await open(t, endless.url, { timeout_ms: 400 }).send({ method: 'GET', url: '', headers: {} }, {});
  const ended = await (async () => {
    try {
      for await (const _ of long.stream!) void _;
      return 'ended';
    } catch (err) {
      return (err as Error).name;
    }
  })();
  t.equal(ended, 'TimeoutError', 'a stream past the deadline is cut');
});

t.test('a consumer that stops reading a stream releases the backend connection', async (t) => {
  const endless = await backend(t, (r) => {
    r.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const tick = setInterval(() => r.write('{"tick":1}\n'), 20);
    r.on('close', () => clearInterval(tick));
  });
  const api = open(t, endless.url, { timeout_ms: 60_000 });
  const res = await api.send({ method: 'GET', url: '', headers: {} }, {});
  for await (const chunk of res.stream!) {
    t.equal(chunk.toString(), '{"tick":1}\n');
    break; // leaving the loop destroys the stream
  }
  const started = performance.now();
  await api.close(); // waits for in-flight requests: only returns if the exchange was aborted
  t.ok(performance.now() - started < 1000, 'closed at once, not after the 60 s deadline');
});

t.test('a request no HTTP client could send is the relay’s fault: refused, the URL not called and its breaker untouched', async (t) => {
  const b = await backend(t, (res) => res.writeHead(200).end('ok'));
  const api = open(t, b.url, { circuit_breaker: { failures: 2, cooldown_ms: 60_000 } });
  const bad: BackendRequest[] = [
    { method: 'GET\r\nX: y', url: '/', headers: {} },
    { method: 'POST', url: '/', headers: { 'bad header': 'v' } },
    { method: 'POST', url: '/', headers: { 'x-ok': 'a\r\nInjected: 1' } },
    { method: 'CONNECT', url: '/', headers: {} },
    { method: 'connect', url: '/', headers: {} },
    // nginx decodes a path before it resolves it: each is /internal to a proxy serving the backend at /base.
    { method: 'GET', url: '/..%2Finternal/x', headers: {} },
    { method: 'GET', url: '/a%2F..%2F..%2Finternal', headers: {} },
    { method: 'GET', url: '/%252e%252e%252Finternal', headers: {} },
    { method: 'GET', url: '/..;/internal', headers: {} },
    { method: 'GET', url: '/..%5Cinternal', headers: {} },
  ];
  for (let round = 0; round < 3; round++) {
    for (const req of bad) {
      const why = await failureOf(api.send(req, {}));
      t.match(why, /^BACKEND_REQUEST_INVALID: (method|header|url|path)/i, `${JSON.stringify(req)} refused as an invalid request`);
    }
  }
  t.equal(api.healthy, 1, 'thirty malformed requests later the URL is still in rotation');
  t.same(b.seen, [], 'none of them reached the backend');
  const res = await api.send({ method: 'POST', url: '/', headers: {} }, {});
  t.equal(res.status, 200, 'a valid request is served');
});

t.test('only failures of the backend move the breaker: 502/503/504 and dead connections do, a 500 does not, and not while the URL answers others', async (t) => {
  let status = 500;
  const b = await backend(t, (res, path) => res.writeHead(path.includes('/ok') ? 200 : status).end('x'));
  const api = open(t, b.url, { circuit_breaker: { failures: 2, cooldown_ms: 60_000 } });
  const send = (path: string) => api.send({ method: 'POST', url: path, headers: {} }, {});
  for (let i = 0; i < 5; i++) t.equal((await send('/crash')).status, 500);
  t.equal(api.healthy, 1, 'five 500s (an answer to what was asked) leave the URL in rotation');
  status = 503;
  t.equal((await send('/x')).status, 503);
  t.equal(api.healthy, 1, 'one 503: below the threshold of 2');
  t.equal((await send('/ok')).status, 200, 'an answer resets the count');
  t.equal((await send('/x')).status, 503);
  t.equal(api.healthy, 1, 'one 503 since the last answer');
  t.equal((await send('/x')).status, 503);
  t.equal(api.healthy, 0, 'two 503s in a row open the circuit');
  t.equal(await failureOf(send('/ok')), 'BACKEND_UNAVAILABLE: every backend URL is failing');
});

t.test('a URL whose circuit opens is said once, however many trial requests fail, and once when it answers again', async (t) => {
  let status = 503;
  const b = await backend(t, (res) => res.writeHead(status).end('x'));
  const changes: HealthChange[] = [];
  const api = open(t, b.url, { circuit_breaker: { failures: 2, cooldown_ms: 50 } }, (c) => changes.push(c));
  const send = () => api.send({ method: 'POST', url: '/', headers: {} }, {}).then((r) => r.status, () => 'refused');
  t.same([await send(), await send()], [503, 503]);
  t.equal(api.healthy, 0, 'two 503s in a row open the circuit');
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 60));
    t.equal(await send(), 503, `trial ${i + 1} fails and reopens the circuit`);
  }
  await new Promise((r) => setTimeout(r, 60));
  status = 200;
  t.equal(await send(), 200);
  t.same(changes, [
    { url: `http://127.0.0.1:${new URL(b.url).port}/…`, up: false, reason: '2 failures in a row; a trial request every 50 ms until one is answered' },
    { url: `http://127.0.0.1:${new URL(b.url).port}/…`, up: true, reason: 'answers again' },
  ]);
});

t.test('a slow answer to one request does not open the circuit while the URL answers other requests', async (t) => {
  const b = await backend(t, (res, path) => {
    if (!path.includes('/slow')) res.writeHead(200).end('ok');
  });
  const api = open(t, b.url, { timeout_ms: 400, connections: 4, circuit_breaker: { failures: 2, cooldown_ms: 60_000 } });
  const slow = [0, 1, 2].map(() => failureOf(api.send({ method: 'POST', url: '/slow', headers: {} }, {})));
  for (let i = 0; i < 3; i++) t.equal((await api.send({ method: 'POST', url: '/fast', headers: {} }, {})).status, 200);
  t.same(await Promise.all(slow), Array(3).fill('BACKEND_TIMEOUT: no answer within 400 ms'));
  t.equal(api.healthy, 1, 'three timeouts, but the URL answered meanwhile: still in rotation');
  t.notOk(b.seen.some((r) => r.startsWith('GET ')), 'and it was not asked on its own connection');
});

t.test("requests that take longer than timeout_ms, enough to fill the pool, do not open the circuit of a URL that answers: it is asked on a connection of its own", async (t) => {
  const b = await backend(t, (res, path) => {
    if (!path.includes('/slow')) res.writeHead(200).end('ok');
  });
  const changes: HealthChange[] = [];
  const api = open(t, b.url, { timeout_ms: 400, connections: 2, circuit_breaker: { failures: 2, cooldown_ms: 60_000 } }, (c) => changes.push(c));
  // Four requests its backend never answers on two connections, and two relays queued behind them: nothing is answered for 400 ms.
  const held = [0, 1, 2, 3].map(() => failureOf(api.send({ method: 'POST', url: '/slow', headers: {} }, {})));
  const queued = [0, 1].map(() => failureOf(api.send({ method: 'POST', url: '/fast', headers: {} }, {})));
  t.same(await Promise.all(held), Array(4).fill('BACKEND_TIMEOUT: no answer within 400 ms'));
  t.same(await Promise.all(queued), Array(2).fill('BACKEND_TIMEOUT: no answer within 400 ms'), 'the queued ones time out too');
  await until('the URL asked on its own connection', () => b.seen.filter((r) => r.startsWith('GET ')).length === 1);
  t.same(b.seen.filter((r) => r.startsWith('GET ')), ['GET /base?key=k '], 'one GET of its path, whatever the number of timeouts');
  t.equal(api.healthy, 1, 'it answered: still in rotation');
  t.same(changes, []);
  t.equal((await api.send({ method: 'POST', url: '/fast', headers: {} }, {})).status, 200, 'and relays are served');
});

t.test('requests that time out at a URL that does not answer a GET of its path either, or answers it 502/503/504, open its circuit', async (t) => {
  const silent = await backend(t, () => {});
  const changes: HealthChange[] = [];
  const hung = open(t, silent.url, { timeout_ms: 400, connections: 2, circuit_breaker: { failures: 5, cooldown_ms: 60_000 } }, (c) => changes.push(c));
  t.equal(await failureOf(hung.send({ method: 'POST', url: '/', headers: {} }, {})), 'BACKEND_TIMEOUT: no answer within 400 ms');
  await until('the circuit opened', () => hung.healthy === 0);
  t.match(changes, [{ up: false, reason: 'requests time out and a GET of its path is not answered within 200 ms; a trial request every 60000 ms until one is answered' }], 'after one timeout, not five');
  t.equal(await failureOf(hung.send({ method: 'POST', url: '/', headers: {} }, {})), 'BACKEND_UNAVAILABLE: every backend URL is failing');

  const proxied = await backend(t, (res, path) => {
    if (path.startsWith('/base?')) res.writeHead(503).end('no upstream');
  });
  const behindProxy = open(t, proxied.url, { timeout_ms: 400, circuit_breaker: { failures: 5, cooldown_ms: 60_000 } });
  t.equal(await failureOf(behindProxy.send({ method: 'POST', url: '/call', headers: {} }, {})), 'BACKEND_TIMEOUT: no answer within 400 ms');
  await until('the circuit of the URL whose path answers 503 opened', () => behindProxy.healthy === 0);
});

t.test("one application's relays hold at most its application_share of a URL's requests in flight: past it they wait for its own, and other applications' relays go through", async (t) => {
  const held: (() => void)[] = [];
  const b = await backend(t, (res, path) => {
    if (path.includes('/slow')) held.push(() => res.writeHead(200).end('slow'));
    else if (path.includes('/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
    } else res.writeHead(200).end('fast');
  });
  let waits = 0;
  const api = new HttpBackend(
    { urls: [b.url], headers: {}, timeout_ms: 600, max_body_bytes: 1024, load_balancing: 'round_robin', connections: 4, application_share: 0.5, pipelining: 1, keep_alive_ms: 10_000, circuit_breaker: { failures: 2, cooldown_ms: 60_000 } },
    { onShareFull: () => waits++ },
  );
  t.teardown(() => api.close());
  const send = (path: string, app: string) => api.send({ method: 'POST', url: path, headers: {} }, {}, app);
  const slowOf = (app: string) => b.seen.filter((r) => r.includes('/slow') && r.includes(app)).length;
  // Four relays of a on four connections: two reach the backend, two wait.
  const a = [0, 1, 2, 3].map((i) => send(`/slow?app=a&i=${i}`, 'pokt1a').then((r) => r.status));
  await until("two of a's four at the backend", () => slowOf('app=a') === 2);
  t.equal(waits, 2, "the other two wait for a's own (counted)");
  t.equal((await send('/fast', 'pokt1b')).status, 200, "b's relay is answered meanwhile, on the pool's other half");
  held.shift()!();
  await until("a's third at the backend once one of its own ended", () => slowOf('app=a') === 3);
  t.equal(slowOf('app=a'), 3, 'and only the third');
  held.shift()!();
  await until("a's fourth at the backend", () => slowOf('app=a') === 4);
  for (const answer of held.splice(0)) answer();
  t.same(await Promise.all(a), [200, 200, 200, 200]);

  // A stream holds its place until it ends.
  const streams = await Promise.all([send('/events', 'pokt1d'), send('/events', 'pokt1d')]);
  const third = send('/fast?app=d', 'pokt1d').then((r) => r.status);
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(b.seen.some((r) => r.includes('/fast?app=d')), "d's third waits while its two streams are open");
  streams[0]!.stream!.destroy();
  t.equal(await third, 200, 'and goes once one of them ends');
  streams[1]!.stream!.destroy();
});

t.test('a dead backend: the client is told what failed, never the address', async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  const api = open(t, `http://127.0.0.1:${port}/v3/secret-key`);
  const why = await failureOf(api.send({ method: 'POST', url: '/', headers: {} }, {}));
  t.equal(why, 'BACKEND_FAILED: connection refused (ECONNREFUSED)');
  t.notMatch(why, /127\.0\.0\.1|secret-key/);
});

t.test('redactUrl keeps scheme and host only', async (t) => {
  const { redactUrl } = await import('../../core/backend/http-backend.js');
  t.equal(redactUrl(new URL('https://user:pw@eth.example:8443/v3/abcdef?key=1')), 'https://eth.example:8443/…');
  t.equal(redactUrl(new URL('http://10.0.0.7:8545')), 'http://10.0.0.7:8545');
  t.equal(redactUrl(new URL('http://10.0.0.7:8545/?k=1')), 'http://10.0.0.7:8545/…');
});

t.test('relay paths never change the backend host, never climb above its path, never answer 500; runs of slashes are one', async (t) => {
  const { joinUrl } = await import('../../core/backend/http-backend.js');
  const base = new URL('http://10.0.0.7:8545/v1/key?k=1');
  const cases: [string, string][] = [
    ['//', '/v1/key?k=1'],
    ['//evil.example/x', '/v1/key/evil.example/x?k=1'],
    ['/cosmos//bank/v1beta1///balances/', '/v1/key/cosmos/bank/v1beta1/balances/?k=1'],
    ['/../../etc/passwd', '/v1/key/etc/passwd?k=1'],
    ['/a/../b?q=2', '/v1/key/b?k=1&q=2'],
    ['http://other.example:9/p?z=1', '/v1/key/p?k=1&z=1'],
    ['rel/path', '/v1/key/rel/path?k=1'],
    ['', '/v1/key?k=1'],
    ['/', '/v1/key?k=1'],
  ];
  for (const [relay, want] of cases) t.equal(joinUrl(base, relay), want, JSON.stringify(relay));

  // Through a real backend: the request reaches the configured host with the joined path.
  const b = await backend(t, (res) => res.writeHead(200).end('ok'));
  const api = open(t, b.url);
  for (const url of ['//', '//evil.example/x', '/../x', '/ibc%2F2739/x', '/a/b/..%2Fc']) t.equal((await api.send({ method: 'GET', url, headers: {} }, {})).status, 200, `${url}: served by the backend`);
  t.same(b.seen, ['GET /base?key=k ', 'GET /base/evil.example/x?key=k ', 'GET /base/x?key=k ', 'GET /base/ibc%2F2739/x?key=k ', 'GET /base/a/b/..%2Fc?key=k '], 'an encoded slash, and a decoded `..` that stays inside the relay\'s path, pass as sent');
});

t.test("keep_alive_ms bounds an idle connection's life; a backend announcing a shorter keep-alive is left 2 s before it says", async (t) => {
  /** Connections a backend with this keep-alive (Node announces it as `Keep-Alive: timeout=N`) opened for two requests 2.5 s apart. */
  const connectionsFor = async (backendKeepAliveMs: number, keepAliveMs: number) => {
    let connections = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('ok'));
    });
    server.keepAliveTimeout = backendKeepAliveMs;
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const api = open(t, `http://127.0.0.1:${(server.address() as { port: number }).port}`, { keep_alive_ms: keepAliveMs, timeout_ms: 1000 });
    t.equal((await api.send({ method: 'GET', url: '/', headers: {} }, {})).status, 200);
    await new Promise((r) => setTimeout(r, 2500));
    t.equal((await api.send({ method: 'GET', url: '/', headers: {} }, {})).status, 200);
    return connections;
  };
  t.equal(await connectionsFor(120_000, 1000), 2, 'a backend that keeps connections 120 s: closed after keep_alive_ms (1 s) idle');
  t.equal(await connectionsFor(3000, 60_000), 2, 'a backend that keeps them 3 s: closed 2 s before it would');
  t.equal(await connectionsFor(120_000, 60_000), 1, 'idle less than both: reused');
});

t.test("a URL's own user and password are sent as basic auth, decoded, to that URL only; the backend's auth to every URL", async (t) => {
  // Two backends recording the Authorization header of each request; the first answers 503, so each relay tries both.
  const servers = await Promise.all(
    [503, 200].map(async (status) => {
      const seen: (string | undefined)[] = [];
      const server = createServer((req, res) => {
        seen.push(req.headers.authorization);
        req.resume();
        req.on('end', () => res.writeHead(status).end('x'));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      t.teardown(() => {
        server.closeAllConnections();
        return new Promise<void>((r) => server.close(() => r()));
      });
      return { port: (server.address() as { port: number }).port, seen };
    }),
  );
  const [first, second] = servers as [(typeof servers)[0], (typeof servers)[0]];
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  const relay = (headers: Record<string, string[]>) => ({ method: 'POST', url: '/', headers, body: Buffer.from('{}') });

  const urls = [`http://node%40provider:p%3Ass@127.0.0.1:${first.port}/`, `http://127.0.0.1:${second.port}/`];
  const withUser = open(t, urls[0]!, { urls, load_balancing: 'first_healthy' });
  t.equal((await withUser.send(relay({}), {})).status, 200);
  // The relay's own Authorization header goes to a URL without credentials, and never the other URL's.
  t.equal((await withUser.send(relay({ authorization: ['Bearer from-the-relay'] }), {})).status, 200);
  t.same(first.seen, [basic('node@provider:p:ss'), basic('node@provider:p:ss')]);
  t.same(second.seen, [undefined, 'Bearer from-the-relay']);

  first.seen.length = second.seen.length = 0;
  const withAuth = open(t, urls[1]!, { urls: [`http://127.0.0.1:${first.port}/`, urls[1]!], load_balancing: 'first_healthy', auth: { username: 'u', password: 'pw' } });
  await withAuth.send(relay({ authorization: ['Bearer from-the-relay'] }), {});
  t.same([first.seen, second.seen], [[basic('u:pw')], [basic('u:pw')]]);
});
