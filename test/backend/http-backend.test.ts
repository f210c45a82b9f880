import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { Test } from 'tap';
import { HttpBackend } from '../../core/backend/http-backend.js';
import type { ResolvedBackend } from '../../core/config/load.js';
import { RelayRejection } from '../../core/relay/reasons.js';

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

function open(t: Test, url: string, o: Partial<ResolvedBackend> = {}): HttpBackend {
  const b = new HttpBackend({
    urls: [url],
    headers: {},
    timeout_ms: 300,
    max_body_bytes: 1024,
    load_balancing: 'round_robin',
    connections: 1,
    pipelining: 1,
    keep_alive_ms: 10_000,
    circuit_breaker: { failures: 100, cooldown_ms: 5000 },
    ...o,
  });
  t.teardown(() => b.close());
  return b;
}

const rejectionOf = (p: Promise<unknown>) =>
  p.then(
    () => 'answered',
    (err: RelayRejection) => `${err.reason}: ${err.message}`,
  );

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
  t.equal(await rejectionOf(open(t, b.url).send({ method: 'POST', url: '', headers: {} }, {})), 'backend_error: backend error: backend response larger than max_body_bytes (1024)');
});

t.test('a backend that never answers times out; so does a request still queued behind it for the one connection', async (t) => {
  const b = await backend(t, () => undefined);
  const api = open(t, b.url);
  const started = performance.now();
  const [first, queued] = await Promise.all([rejectionOf(api.send({ method: 'POST', url: '', headers: {} }, {})), rejectionOf(api.send({ method: 'POST', url: '', headers: {} }, {}))]);
  t.same([first, queued], ['backend_timeout: backend timeout: no answer within 300 ms', 'backend_timeout: backend timeout: no answer within 300 ms']);
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
