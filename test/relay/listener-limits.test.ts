import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import { ADDR } from '../helpers/localnet-client.js';
import { until } from '../helpers/until.js';
import { gatewayRelay, postRelay, startRelayer } from '../helpers/relayer.js';
import { OPERATOR_MAX_CONNECTIONS } from '../../core/observability/servers.js';

const anvil = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`;
const RPC = { method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' };

/** A raw connection: what it received and when it was closed (ms after `start`). */
function rawClient(address: string, start: number) {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const socket: Socket = connect(port, host);
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - start)));
  return { socket, closed, received: () => received };
}

t.test('slow uploads: a dripping chunked body and a body shorter than its Content-Length get 408 within request_timeout_ms', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil, relayerYaml: '  limits: { request_timeout_ms: 1000 }' });
  const start = Date.now();
  const drips = Array.from({ length: 10 }, () => rawClient(r.runtime.addresses.relay!, start));
  const shorts = Array.from({ length: 10 }, () => rawClient(r.runtime.addresses.relay!, start));
  const timers: NodeJS.Timeout[] = [];
  for (const c of drips) {
    c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nTransfer-Encoding: chunked\r\n\r\n');
    timers.push(setInterval(() => c.socket.writable && c.socket.write('1\r\na\r\n'), 200));
  }
  for (const c of shorts) c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nContent-Length: 1000\r\n\r\nabc');
  const closedAt = await Promise.all([...drips, ...shorts].map((c) => c.closed));
  for (const timer of timers) clearInterval(timer);
  for (const c of [...drips, ...shorts]) t.match(c.received(), /^HTTP\/1\.1 408 Request Timeout\r\n/, 'answered 408');
  // The deadline is 1 s, checked every 250 ms.
  t.ok(Math.max(...closedAt) < 2500, `every connection closed by ${Math.max(...closedAt)} ms`);
  t.ok(Math.min(...closedAt) >= 900, `none before the deadline (first at ${Math.min(...closedAt)} ms)`);
  t.equal(r.backend.calls.length, 0);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="relay",reason="request_timeout"\} 20/);
  const header = await r.header();
  t.equal((await postRelay(r.url, gatewayRelay(header, RPC), '3')).status, 200, 'a relay that arrives in time is served');
});

t.test('idle_timeout_ms: a kept-alive connection is closed after it, and each answer announces it; by default 120 s, past the 90 s Go clients keep theirs', async (t) => {
  /** One relay over a raw connection: its answer's Keep-Alive header, and how long after the request the idle connection was closed. */
  const idleClose = async (r: Awaited<ReturnType<typeof startRelayer>>) => {
    const body = Buffer.from(gatewayRelay(await r.header(), RPC));
    const c = rawClient(r.runtime.addresses.relay!, Date.now());
    // Before the request: the answer, and the idle timeout that starts with it, come after this (the test may see
    // the answer late on a busy machine, so its own time is no lower bound).
    const sentAt = Date.now();
    c.socket.write(`POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    c.socket.write(body);
    await until('the answer', () => /\r\n\r\n/.test(c.received()));
    const keepAlive = /\r\nkeep-alive: ([^\r]*)\r\n/i.exec(c.received())?.[1];
    const stillOpen = await Promise.race([c.closed.then(() => false), new Promise<boolean>((res) => setTimeout(() => res(true), 800))]);
    return { status: c.received().slice(0, 15), keepAlive, stillOpen, close: () => c.closed.then(() => Date.now() - sentAt), socket: c.socket };
  };
  const short = await idleClose(await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil, relayerYaml: '  limits: { idle_timeout_ms: 1500 }' }));
  t.same([short.status, short.keepAlive, short.stillOpen], ['HTTP/1.1 200 OK', 'timeout=1', true]);
  const closedAfter = await short.close();
  t.ok(closedAfter >= 1400 && closedAfter < 5000, `closed ${closedAfter} ms after its request was sent`);
  const byDefault = await idleClose(await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil }));
  t.same([byDefault.status, byDefault.keepAlive, byDefault.stillOpen], ['HTTP/1.1 200 OK', 'timeout=120', true]);
  byDefault.socket.destroy();
});

t.test('max_connections: connections past the cap are closed on arrival; the held ones still work', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil, relayerYaml: '  limits: { max_connections: 5 }' });
  const start = Date.now();
  const held = Array.from({ length: 5 }, () => rawClient(r.runtime.addresses.relay!, start));
  await Promise.all(held.map((c) => new Promise((res) => c.socket.once('connect', res))));
  await new Promise((res) => setTimeout(res, 100));
  const extra = Array.from({ length: 3 }, () => rawClient(r.runtime.addresses.relay!, start));
  const closedAt = await Promise.all(extra.map((c) => c.closed));
  t.ok(Math.max(...closedAt) < 1000, 'the three past the cap are closed at once');
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="relay",reason="max_connections"\} 3/);
  const header = await r.header();
  const body = Buffer.from(gatewayRelay(header, RPC));
  held[0]!.socket.write(`POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  held[0]!.socket.write(body);
  await until('an answer on the held connection', () => held[0]!.received().length > 0);
  t.match(held[0]!.received(), /^HTTP\/1\.1 200 OK\r\n/, 'a connection under the cap is served');
  for (const c of held) c.socket.destroy();
  await Promise.all(held.map((c) => c.closed));
  await new Promise((res) => setTimeout(res, 100));
  t.equal((await postRelay(r.url, gatewayRelay(header, RPC), '3')).status, 200, 'once they close, new connections are accepted');
});

t.test('a client that hangs up before its relay is forwarded: the backend never sees it, and it is not billed', async (t) => {
  const plugin = `name: ${JSON.stringify(new URL('../fixtures/plugins/slow-validation.js', import.meta.url).pathname)}\n    options: { delay_ms: 400 }`;
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc', plugin], services: anvil });
  const header = await r.header();
  const aborted = await fetch(r.url, { method: 'POST', headers: { 'rpc-type': '3' }, body: Buffer.from(gatewayRelay(header, RPC)), signal: AbortSignal.timeout(100) }).then(
    () => 'answered',
    (err: Error) => err.name,
  );
  t.equal(aborted, 'TimeoutError', 'the client gave up after 100 ms');
  const gone = /relayminer_relay_rejections_total\{service="anvil",rpc_type="jsonrpc",reason="client_gone"\} 1/;
  await until('the relay refused as client_gone', async () => gone.test(await r.metrics()));
  t.equal(r.backend.calls.length, 0, 'not forwarded');
  t.equal(await r.redis.get(r.keys.meter(ADDR.supplier1, header.session_id)), '0', 'not billed');
  t.equal((await postRelay(r.url, gatewayRelay(header, RPC), '3')).status, 200, 'a client that waits is served');
  t.equal(r.backend.calls.length, 1);
});

t.test('a relayer file without a plugins list serves the RPC types of its backends', async (t) => {
  const r = await startRelayer(t, { plugins: [], services: anvil });
  t.ok(r.logs.lines.some((l) => l.msg === 'no plugins list in the configuration: running what its sections describe' && JSON.stringify(l.plugins) === '["transport-jsonrpc"]'));
  const header = await r.header();
  t.equal((await postRelay(r.url, gatewayRelay(header, RPC), '3')).status, 200, 'a JSON-RPC relay is served');
  t.equal(r.backend.calls.length, 1);
});

t.test('operator listeners: connections past OPERATOR_MAX_CONNECTIONS are closed on arrival and counted; /ready still answers', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil });
  const health = r.runtime.addresses.health!;
  const start = Date.now();
  const held = Array.from({ length: OPERATOR_MAX_CONNECTIONS }, () => rawClient(health, start));
  await Promise.all(held.map((c) => new Promise((res) => c.socket.once('connect', res))));
  await new Promise((res) => setTimeout(res, 100));
  const extra = Array.from({ length: 2 }, () => rawClient(health, start));
  const closedAt = await Promise.all(extra.map((c) => c.closed));
  t.ok(Math.max(...closedAt) < 1000, 'the two past the cap are closed at once');
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="health",reason="max_connections"\} 2/);
  held[0]!.socket.write('GET /ready HTTP/1.1\r\nHost: x\r\n\r\n');
  await until('an answer on a held connection', () => held[0]!.received().length > 0);
  t.match(held[0]!.received(), /^HTTP\/1\.1 200 OK\r\n/, 'a connection under the cap is served');
  for (const c of held) c.socket.destroy();
  await Promise.all(held.map((c) => c.closed));
});

t.test('large bodies share large_bodies_bytes: one past it is answered 503 relayer_busy before it is read; small relays are still served; every way a relay ends gives its bytes back', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil, relayerYaml: '  limits: { large_body_bytes: 1024, large_bodies_bytes: 1048576 }' });
  const relay = r.runtime.addresses.relay!;
  const held = r.largeBodyBytes;
  const start = Date.now();
  // Two bodies of 400,000 bytes announced and partly sent: 800,000 held of 1,048,576; a third does not fit.
  const senders = Array.from({ length: 3 }, () => rawClient(relay, start));
  for (const c of senders) {
    await new Promise((res) => (c.socket.readyState === 'open' ? res(null) : c.socket.once('connect', res)));
    c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nContent-Length: 400000\r\n\r\n' + 'x'.repeat(1000));
    if (c !== senders[2]) await until('the body drawn from the budget', async () => (await held()) === 400_000 * (senders.indexOf(c) + 1));
  }
  await senders[2]!.closed;
  // The default error model (poktroll's): 200 with a RelayResponse whose relay_miner_error carries the reason.
  t.match(senders[2]!.received(), /^HTTP\/1\.1 200 OK\r\n[^]*content-type: application\/x-protobuf\r\n/i, 'the third is refused at once');
  t.match(senders[2]!.received(), /relayer busy, retry later: 800000 bytes of large bodies held/);
  t.match(senders[2]!.received(), /\r\nconnection: close\r\n/i, 'and its connection closed');
  const chunked = rawClient(relay, start);
  chunked.socket.write('POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  await chunked.closed;
  t.match(chunked.received(), /relayer busy, retry later/, 'a chunked body (its size unknown, counted at the largest max_body_bytes) does not fit either');
  t.equal(await held(), 800_000, 'refused bodies hold nothing');
  const header = await r.header();
  t.equal((await postRelay(r.url, gatewayRelay(header, RPC), '3')).status, 200, 'a small relay is served meanwhile');
  // A client that hangs up mid-body gives its bytes back; so does a large relay that is answered.
  senders[0]!.socket.destroy();
  await until('the first body released', async () => (await held()) === 400_000);
  const big = { ...RPC, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: ['x'.repeat(2000)] }) };
  t.equal((await postRelay(r.url, gatewayRelay(header, big), '3')).status, 200, 'a large relay that fits is served');
  await until('the large relay released', async () => (await held()) === 400_000);
  senders[1]!.socket.destroy();
  await until('nothing held', async () => (await held()) === 0);
  t.match(await r.metrics(), /relayminer_relay_rejections_total\{service="unknown",rpc_type="jsonrpc",reason="relayer_busy"\} 2/);
  t.equal(r.backend.calls.length, 2, 'the backend saw only the two relays served');
});

t.test('a large body cut off by request_timeout_ms (408) gives its bytes back', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil, relayerYaml: '  limits: { request_timeout_ms: 1000, large_body_bytes: 1024 }' });
  const held = r.largeBodyBytes;
  const c = rawClient(r.runtime.addresses.relay!, Date.now());
  c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nContent-Length: 500000\r\n\r\nabc');
  await until('the body drawn from the budget', async () => (await held()) === 500_000);
  await c.closed;
  t.match(c.received(), /^HTTP\/1\.1 408 /);
  await until('the body released', async () => (await held()) === 0);
});

/**
 * Room for two answers of 9 MB, held 2 s at most; its backend answers that much. Larger than loopback's
 * socket buffers take (up to 4 MB sent and 6 MB received by default), so an answer its client does not
 * read stays in the relayer.
 */
async function largeAnswerRelayer(t: Test) {
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc'],
    services: anvil,
    relayerYaml: '  limits: { large_body_bytes: 1024, large_bodies_bytes: 20000000, answer_timeout_ms: 2000 }',
  });
  r.backend.state.mode = 'large';
  r.backend.state.largeBytes = 9_000_000;
  return r;
}

/** A raw connection that sends one relay and never reads its answer. */
async function nonReader(address: string, body: Uint8Array) {
  const c = rawClient(address, Date.now());
  c.socket.pause();
  await new Promise((res) => c.socket.once('connect', res));
  c.socket.write(`POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nContent-Length: ${body.length}\r\n\r\n`);
  c.socket.write(body);
  return c;
}

t.test('large answers share large_bodies_bytes until their clients take them; a client that does not take its answer within answer_timeout_ms is closed', async (t) => {
  const r = await largeAnswerRelayer(t);
  const held = r.largeBodyBytes;
  const header = await r.header();
  const address = r.runtime.addresses.relay!;
  const readers = [await nonReader(address, gatewayRelay(header, RPC))];
  await until('the first answer held', async () => (await held()) === 9_000_000);
  // Before the second relay is sent: its answer is held, and its timeout starts, after this.
  const secondSentAt = Date.now();
  readers.push(await nonReader(address, gatewayRelay(header, RPC)));
  await until('the second answer held', async () => (await held()) === 18_000_000);
  // A third does not fit: refused before it is signed or mined, its charge refunded.
  const third = await postRelay(r.url, gatewayRelay(header, RPC), '3');
  t.equal(third.status, 200, 'the poktroll error model: 200 with a RelayMinerError');
  t.match(Buffer.from(third.body).toString(), /relayer busy, retry later: an answer of 9000000 bytes: 18000000 bytes of large bodies held/);
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_relay_rejections_total\{service="anvil",rpc_type="jsonrpc",reason="relayer_busy"\} 1/);
  t.match(metrics, /relayminer_meter_refunds_total\{service="anvil",reason="relayer_busy"\} 1/);
  t.equal(await held(), 18_000_000, 'the refused answer holds nothing');
  r.backend.state.mode = 'ok';
  t.equal((await postRelay(r.url, gatewayRelay(header, RPC), '3')).status, 200, 'a small answer is served meanwhile');
  // The two that never read are closed once their answers are 2 s old, and give their bytes back.
  await until('both closed', async () => /reason="answer_timeout"\} 2/.test(await r.metrics()), 5000);
  // Seen closed answer_timeout_ms or more after the second relay was sent (less only by the event loop's cached
  // clock, a few ms at most); how much later depends on how busy the machine is, hence the wide upper bound.
  const closedAfter = Date.now() - secondSentAt;
  t.ok(closedAfter >= 1900 && closedAfter < 7000, `closed ${closedAfter} ms after the second relay was sent`);
  t.equal(await held(), 0, 'nothing held');
  for (const c of readers) {
    c.socket.resume();
    await c.closed;
    t.ok(c.received().length < 9_000_000, `what the relayer had handed to the kernel, then the end (${c.received().length} bytes)`);
  }
  // A client that reads takes its large answer whole, and its bytes come back.
  r.backend.state.mode = 'large';
  const read = await postRelay(r.url, gatewayRelay(header, RPC), '3');
  t.equal(read.status, 200);
  t.ok(read.body.length > 9_000_000, `the whole answer read (${read.body.length} bytes)`);
  await until('the read answer released', async () => (await held()) === 0);
  t.match(await r.metrics(), /relayminer_listener_refusals_total\{listener="relay",reason="answer_timeout"\} 2\n/, 'a reading client is not closed');
});

t.test('pipelined requests on one connection that never reads: each large answer draws, the connection is closed once, everything given back', async (t) => {
  const r = await largeAnswerRelayer(t);
  const held = r.largeBodyBytes;
  const header = await r.header();
  const c = rawClient(r.runtime.addresses.relay!, Date.now());
  c.socket.pause();
  await new Promise((res) => c.socket.once('connect', res));
  // Three requests in one write: the second and third answers wait behind the first, which is never read.
  const request = (body: Uint8Array) => Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nRpc-Type: 3\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
  c.socket.write(Buffer.concat([0, 1, 2].map(() => request(gatewayRelay(header, RPC)))));
  await until('two answers held, the third refused', async () => (await held()) === 18_000_000 && /reason="relayer_busy"\} 1/.test(await r.metrics()));
  await until('the connection closed', async () => /relayminer_listener_refusals_total\{listener="relay",reason="answer_timeout"\} 1/.test(await r.metrics()), 5000);
  await until('nothing held', async () => (await held()) === 0);
  t.equal(r.backend.calls.length, 3, 'all three forwarded');
  t.match(await r.metrics(), /reason="answer_timeout"\} 1\n/, 'counted once for the connection');
});
