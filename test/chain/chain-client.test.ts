import t from 'tap';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { Redis } from 'ioredis';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { BlockFollower, ChainQueryClient, ChainQueryError, CometClient, type BlockInfo } from '../../core/chain/index.js';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { KeyBuilder } from '../../core/redis/key-builder.js';
import { sessionId } from '../../core/session/index.js';
import { captureLogs } from '../helpers/logs.js';
import { ADDR, KEYS, key, startTestLocalnet } from '../helpers/localnet-client.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { freePort } from '../helpers/ports.js';

t.test('query client: sessions, applications, account keys, params, compute units, difficulty', async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(12);
  const q = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 2000 });
  t.teardown(() => q.close());
  const comet = new CometClient(`http://${net.rpcAddress}`);
  const s = await q.session(ADDR.app1, 'anvil', 13n);
  t.equal(s.header.session_start_block_height, 11n);
  t.equal(s.sessionId, sessionId((await comet.block(11)).hash, 'anvil', ADDR.app1, 11n), 'session id from block_id.hash');
  t.same(s.supplierOperatorAddresses, [ADDR.supplier2, ADDR.supplier1]);
  const app = await q.application(ADDR.app1);
  t.same(app.delegateeGatewayAddresses, [ADDR.gateway1]);
  t.equal(app.stakeUpokt, 100_000_000_000n);
  t.equal(Buffer.from((await q.accountPublicKey(ADDR.gateway1))!).toString('hex'), Buffer.from(publicKeyFromPrivateKey(key(KEYS.gateway1))).toString('hex'));
  t.equal((await q.sharedParams()).num_blocks_per_session, 10n);
  t.equal((await q.sharedParams(5n)).claim_window_close_offset_blocks, 4n);
  t.equal(await q.serviceComputeUnitsPerRelay('rest', 5n), 2n);
  t.equal(Buffer.from(await q.difficultyTarget('anvil', 5n)).toString('hex'), 'ff'.repeat(32));
  const err = (await q.application(ADDR.supplier1).catch((e: unknown) => e)) as ChainQueryError;
  t.ok(err instanceof ChainQueryError);
  t.equal(err.code, status.NOT_FOUND);
  t.ok(err.notFound);
  t.equal(err.details, `app address: ${ADDR.supplier1}: application not found`);
  const status0 = await comet.status();
  t.same([status0.chainId, status0.latest.height], ['pocket', 13]);
});

t.test('a query to a node that is down fails within the deadline', async (t) => {
  const q = new ChainQueryClient({ grpc_address: '127.0.0.1:1', tls: false, query_timeout_ms: 300 });
  t.teardown(() => q.close());
  const started = Date.now();
  const err = (await q.sharedParams().catch((e: unknown) => e)) as ChainQueryError;
  t.ok(err instanceof ChainQueryError);
  t.ok([status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(err.code), `code ${err.code}`);
  t.ok(Date.now() - started < 2000);
});

t.test('maxInFlight: that many queries at the node at once, four times as many waiting, the rest refused unsent; each wait sent as one ends', async (t) => {
  // A node whose GetSession answers only when the test says so.
  const held: (() => void)[] = [];
  const server = new Server();
  const raw = (b: Buffer) => b;
  server.addService({ GetSession: { path: '/pocket.session.Query/GetSession', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } }, {
    GetSession: (_call: unknown, cb: (err: null, res: Buffer) => void) => void held.push(() => cb(null, Buffer.alloc(0))),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const q = new ChainQueryClient({ grpc_address: `127.0.0.1:${port}`, tls: false, query_timeout_ms: 10_000, maxInFlight: 2 });
  t.teardown(() => q.close());
  const outcomes = Array.from({ length: 12 }, () =>
    q.call('pocket.session.Query', 'GetSession', { application_address: ADDR.app1, service_id: 'anvil', block_height: 1n }).then(
      () => 'answered',
      (err: ChainQueryError) => status[err.code],
    ),
  );
  t.same(await Promise.all(outcomes.slice(10).map((o) => Promise.race([o, new Promise((r) => setTimeout(() => r('pending'), 100))]))), ['RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED'], 'past 2 sent and 8 waiting: refused at once');
  await until('two at the node', () => held.length === 2);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(held.length, 2, 'and no more while they are out');
  held.shift()!();
  await until('a waiting one sent as one ends', () => held.length === 2);
  while (held.length) {
    held.shift()!();
    await new Promise((r) => setTimeout(r, 20));
  }
  t.same(await Promise.all(outcomes), [...Array(10).fill('answered'), 'RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED'], 'ten answered, in turn');
});

t.test('lanes: open queries hold at most half the slots and wait in a line of their own; expected ones take the rest and are resumed first', async (t) => {
  // A node that holds every GetSession until the test answers it, and says which application each asked for.
  const held: { app: string; answer: () => void }[] = [];
  const server = new Server();
  const raw = (b: Buffer) => b;
  server.addService({ GetSession: { path: '/pocket.session.Query/GetSession', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } }, {
    GetSession: (call: { request: Buffer }, cb: (err: null, res: Buffer) => void) =>
      void held.push({ app: /(open|expected)-\d+/.exec(call.request.toString('latin1'))![0], answer: () => cb(null, Buffer.alloc(0)) }),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const q = new ChainQueryClient({ grpc_address: `127.0.0.1:${port}`, tls: false, query_timeout_ms: 10_000, maxInFlight: 4 });
  t.teardown(() => q.close());
  const ask = (app: string, lane: 'open' | 'expected') =>
    q.call('pocket.session.Query', 'GetSession', { application_address: app, service_id: 'anvil', block_height: 1n }, lane).then(
      () => 'answered',
      (err: ChainQueryError) => err.details,
    );
  const open = Array.from({ length: 12 }, (_, i) => ask(`open-${i}`, 'open'));
  const settled = (p: Promise<string>) => Promise.race([p, new Promise((r) => setTimeout(() => r('pending'), 100))]);
  t.same(await Promise.all(open.slice(10).map(settled)), Array(2).fill('not sent: 2 queries in flight to the node for relays of applications or heights not seen in use and 8 waiting'), 'past 2 sent and 8 waiting: refused at once');
  await until('two at the node', () => held.length === 2);
  const expected = Array.from({ length: 3 }, (_, i) => ask(`expected-${i}`, 'expected'));
  await until('the expected ones in the free slots', () => held.length === 4);
  await new Promise((r) => setTimeout(r, 200));
  t.same(held.map((h) => h.app), ['open-0', 'open-1', 'expected-0', 'expected-1'], 'two open, then two expected: four in all, the third expected waits');
  held.splice(0, 1)[0]!.answer();
  await until('a slot handed on', () => held.length === 4);
  t.equal(held[3]!.app, 'expected-2', 'the slot an open query gave back went to the waiting expected query, not to the open line');
  held.splice(1, 2).forEach((h) => h.answer());
  await until('the open line moves', () => held.length === 3);
  await new Promise((r) => setTimeout(r, 200));
  t.same(held.map((h) => h.app), ['open-1', 'expected-2', 'open-2'], 'with slots free, open queries still hold at most two');
  while (held.length) {
    held.shift()!.answer();
    await new Promise((r) => setTimeout(r, 20));
  }
  t.same(await Promise.all(expected), Array(3).fill('answered'));
  t.same(await Promise.all(open), [...Array(10).fill('answered'), ...open.slice(10).map(() => 'not sent: 2 queries in flight to the node for relays of applications or heights not seen in use and 8 waiting')], 'ten open ones answered, in turn');
});

const nextBlock = (f: BlockFollower, minHeight: number) =>
  new Promise<[BlockInfo, string]>((resolve) => {
    const on = (b: BlockInfo, source: string) => {
      if (b.height >= minHeight) {
        f.off('block', on);
        resolve([b, source]);
      }
    };
    f.on('block', on);
  });

t.test('block follower: WebSocket, then Redis from another replica, then polling when both are silent', async (t) => {
  const net = await startTestLocalnet(t);
  const redis = await startRedis(t);
  const { logger, lines } = captureLogs();
  const channel = new KeyBuilder('test').blockEventsChannel();
  const conns = Array.from({ length: 3 }, () => new Redis(redis.url));
  t.teardown(() => conns.forEach((c) => c.disconnect()));
  const comet = new CometClient(`http://${net.rpcAddress}`);
  // A follows the node itself and publishes; B has no WebSocket and listens on Redis.
  const a = new BlockFollower({ comet, log: logger, redis: { subscriber: conns[0]!, publisher: conns[1]!, channel }, staleAfterMs: 60_000 });
  const b = new BlockFollower({ comet, log: logger, websocket: false, redis: { subscriber: conns[2]!, channel }, staleAfterMs: 800, pollIntervalMs: 100 });
  const aSubscribed = once(a, 'subscribed');
  await a.start();
  await b.start();
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  await aSubscribed; // the node has A's subscription: the next block reaches A over the WebSocket
  t.equal(lines.filter((l) => l.msg === 'block follower: subscribed to new block headers').length, 1, 'logged once the node confirmed it');
  const gotA = nextBlock(a, 2);
  const gotB = nextBlock(b, 2);
  net.chain.advance(1);
  const [blockA, sourceA] = await gotA;
  const [blockB, sourceB] = await gotB;
  t.same([blockA.height, sourceA], [2, 'websocket']);
  t.same([blockB.height, sourceB], [2, 'redis']);
  t.equal(Buffer.from(blockB.hash).toString('hex'), Buffer.from(net.chain.blockHash(2)).toString('hex'), 'block_id.hash travels intact');

  await a.stop(); // nobody publishes any more: B must notice and poll the node
  const gotPoll = nextBlock(b, 3);
  net.chain.advance(1);
  const [blockP, sourceP] = await gotPoll;
  t.same([blockP.height, sourceP], [3, 'poll']);
  t.equal(b.latest?.height, 3);
});

t.test('block follower: Redis down when it starts: it follows the node by polling, says so once, and subscribes once Redis is back', async (t) => {
  const net = await startTestLocalnet(t);
  const redis = await startRedis(t);
  await redis.stopProcess(); // a process started before its Redis, as a pod may be
  const { logger, lines } = captureLogs();
  const channel = new KeyBuilder('test').blockEventsChannel();
  // As the relayer's and miner's connections are made: a bounded number of retries per command, reconnecting.
  const subscriber = new Redis(redis.url, { maxRetriesPerRequest: 2, retryStrategy: () => 100 });
  subscriber.on('error', () => {});
  t.teardown(() => subscriber.disconnect());
  let attempts = 0;
  const subscribe = subscriber.subscribe.bind(subscriber);
  subscriber.subscribe = ((...args: Parameters<typeof subscribe>) => (attempts++, subscribe(...args))) as typeof subscriber.subscribe;
  const f = new BlockFollower({ comet: new CometClient(`http://${net.rpcAddress}`), log: logger, websocket: false, redis: { subscriber, channel }, staleAfterMs: 500, pollIntervalMs: 100 });
  t.teardown(() => f.stop());
  await f.start();
  const first = f.latest!.height;
  const polled = nextBlock(f, first + 1);
  net.chain.advance(1);
  t.same((await polled).map((v) => (typeof v === 'string' ? v : v.height)), [first + 1, 'poll'], 'the next block, from the node');
  const failed = lines.filter((l) => String(l.msg).startsWith('block follower: could not subscribe'));
  t.same(
    failed.map((l) => [l.level, l.msg]),
    [[40, 'block follower: could not subscribe to the block channel in Redis; following the node meanwhile, retrying']],
    'said once, as a warning',
  );
  t.match(failed[0]!.err, /max retries per request/);

  await until('a retry has failed too', () => attempts >= 3);
  await redis.startProcess();
  await until('subscribed after Redis returned', () => lines.some((l) => l.msg === 'block follower: subscribed to the block channel in Redis'), 15_000);
  t.equal(lines.filter((l) => String(l.msg).startsWith('block follower: could not subscribe')).length, 1, 'the retries before it said nothing more');
  // Another replica's block (a height the node does not have yet, so only Redis can bring it).
  const publisher = new Redis(redis.url);
  t.teardown(() => publisher.disconnect());
  const ahead = f.latest!.height + 100;
  const fromRedis = nextBlock(f, ahead);
  await publisher.publish(channel, JSON.stringify({ height: ahead, hash: 'ab'.repeat(32), time: new Date().toISOString() }));
  t.same((await fromRedis).map((v) => (typeof v === 'string' ? v : v.height)), [ahead, 'redis']);
});

t.test('block follower: a node that refuses the subscription is logged once, as a warning, and never counted as subscribed', async (t) => {
  // A node at its max_subscriptions_per_client answers the subscribe request with an error.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/websocket' });
  await once(wss, 'listening');
  t.teardown(() => new Promise((r) => wss.close(r)));
  const answered = new Promise<void>((resolve) =>
    wss.on('connection', (ws) =>
      ws.on('message', (data) => {
        const { id } = JSON.parse(String(data)) as { id: unknown };
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32603, message: 'Internal error', data: 'max_subscriptions_per_client reached' } }), () => resolve());
      }),
    ),
  );
  const { logger, lines } = captureLogs();
  const port = (wss.address() as { port: number }).port;
  const f = new BlockFollower({ comet: new CometClient(`http://127.0.0.1:${port}`), log: logger, staleAfterMs: 60_000 });
  let subscribed = 0;
  f.on('subscribed', () => subscribed++);
  await f.start();
  t.teardown(() => f.stop());
  await answered;
  await until('the refusal logged', () => lines.some((l) => String(l.msg).includes('refused')));
  const refused = lines.filter((l) => String(l.msg).includes('refused the block subscription'));
  t.same(
    refused.map((l) => [l.level, l.err]),
    [[40, 'max_subscriptions_per_client reached']],
  );
  t.equal(subscribed, 0);
  t.notOk(lines.some((l) => l.msg === 'block follower: subscribed to new block headers'));
});

t.test('one "not found" test for chain answers', async (t) => {
  const { ChainQueryError, chainNotFound } = await import('relayminer');
  const { status } = await import('@grpc/grpc-js');
  t.same(
    [chainNotFound(new ChainQueryError('Claim', status.NOT_FOUND, 'claim not found')), chainNotFound(new ChainQueryError('Claim', status.UNAVAILABLE, 'down')), chainNotFound(new ChainQueryError('GetSession', status.INVALID_ARGUMENT, 'bad')), chainNotFound(new Error('claim not found'))],
    [true, false, false, false],
  );
});

t.test("comet client: a block's id and time come from its meta (blockchain), the same as block's, without its txs; a node without blockchain is asked with block", async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(30);
  const comet = new CometClient(`http://${net.rpcAddress}`);
  for (const h of [1, 17, 31]) {
    const full = await comet.call<{ block_id: { hash: string }; block: { header: { time: string } } }>('block', { height: String(h) });
    const b = await comet.block(h);
    t.equal(Buffer.from(b.hash).toString('hex').toUpperCase(), full.block_id.hash, `block ${h}: block_id.hash`);
    t.equal(b.timeMs, Date.parse(full.block.header.time), `block ${h}: time`);
    t.equal(b.height, h);
  }
  t.equal((await comet.block()).height, 31, 'the latest');
  const metas = await comet.call<{ last_height: string; block_metas: { header: { height: string }; num_txs: string }[] }>('blockchain', { minHeight: '1', maxHeight: '31' });
  t.equal(metas.last_height, '31');
  t.same(metas.block_metas.map((m) => Number(m.header.height)), Array.from({ length: 20 }, (_, i) => 31 - i), 'at most 20, newest first');
  t.notOk('data' in metas.block_metas[0]!, 'no transactions');
  const clamped = await comet.call<{ block_metas: { header: { height: string } }[] }>('blockchain', { minHeight: '30', maxHeight: '99' });
  t.same(clamped.block_metas.map((m) => Number(m.header.height)), [31, 30], 'a maxHeight past the latest is the latest');
  await t.rejects(comet.block(40), /min height 40 can't be greater than max height 31/, 'a height not produced yet is refused, not answered with another block');

  // A node that does not serve blockchain: one refusal, then block every time.
  const asked: string[] = [];
  const { createServer } = await import('node:http');
  const node = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const { id, method } = JSON.parse(body) as { id: number; method: string };
      asked.push(method);
      const result = method === 'block' ? { block_id: { hash: 'AB'.repeat(32) }, block: { header: { height: '7', time: '2026-01-01T00:00:07Z' } } } : undefined;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(result ? { jsonrpc: '2.0', id, result } : { jsonrpc: '2.0', id, error: { code: -32601, message: 'Method not found', data: '' } }));
    });
  });
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', r));
  t.teardown(() => node.close());
  const old = new CometClient(`http://127.0.0.1:${(node.address() as { port: number }).port}`);
  for (let i = 0; i < 3; i++) t.same(await old.block(7), { height: 7, hash: Uint8Array.from(Buffer.from('AB'.repeat(32), 'hex')), timeMs: Date.parse('2026-01-01T00:00:07Z') });
  t.same(asked, ['blockchain', 'block', 'block', 'block']);
});

t.test("comet client: rpc_url's user and password go as basic auth (fetch refuses them in a URL), and never into an error", async (t) => {
  const { createServer } = await import('node:http');
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{"ok":true}}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  t.same(await new CometClient(`http://node%40provider:s%3Acret@127.0.0.1:${port}`).call('health'), { ok: true });
  t.same(seen, [`Basic ${Buffer.from('node@provider:s:cret').toString('base64')}`]);
  const closed = await freePort();
  const err = (await new CometClient(`http://node:s3cret@127.0.0.1:${closed}`).call('health').catch((e: unknown) => e)) as Error;
  t.equal(err.message, `health: http://node:***@127.0.0.1:${closed} did not answer (ECONNREFUSED)`);
  t.notMatch(err.message, 's3cret');
});
