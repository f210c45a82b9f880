import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Comet38Client, HttpClient, WebsocketClient } from '@cosmjs/tendermint-rpc';
import { ConfigError } from '../../core/config/problems.js';
import { sessionId } from '../../core/session/index.js';
import { LocalChain, parseGenesis, startLocalnet } from '../../localnet/index.js';
import { captureLogs } from '../helpers/logs.js';
import { until } from '../helpers/until.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DEFAULT_GENESIS = readFileSync(join(ROOT, 'examples/localnet/genesis.yaml'), 'utf8');
const manualGenesis = () =>
  parseGenesis(DEFAULT_GENESIS.replace('genesis_time: now', 'genesis_time: "2026-01-01T00:00:00Z"').replace('block_interval_ms: 1000', 'block_interval_ms: 0'));

async function start(t: Test) {
  const { logger } = captureLogs();
  const net = await startLocalnet(manualGenesis(), { rpcAddress: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', log: logger });
  t.teardown(() => net.stop());
  return net;
}

async function advance(rpcAddress: string, blocks: number) {
  const res = await fetch(`http://${rpcAddress}/localnet/advance?blocks=${blocks}`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as { height: number; hash: string } };
}

t.test('@cosmjs/tendermint-rpc reads status, blocks and block results over HTTP', async (t) => {
  const net = await start(t);
  await advance(net.rpcAddress, 4);
  const client = Comet38Client.create(new HttpClient(`http://${net.rpcAddress}`));
  t.teardown(() => client.disconnect());
  const status = await client.status();
  t.equal(status.nodeInfo.network, 'pocket');
  t.equal(status.syncInfo.latestBlockHeight, 5);
  t.equal(Buffer.from(status.syncInfo.latestBlockHash).toString('hex'), Buffer.from(net.chain.latest.hash).toString('hex'));
  t.equal(status.syncInfo.latestBlockTime.toISOString(), '2026-01-01T00:00:05.000Z', 'time = genesis + height × 1 s');

  const b3 = await client.block(3);
  t.equal(b3.block.header.height, 3);
  t.equal(b3.block.header.chainId, 'pocket');
  const b2 = await client.block(2);
  t.same(b3.block.header.lastBlockId?.hash, b2.blockId.hash, 'blocks chain by hash');
  t.equal((await client.block(1)).block.header.lastBlockId, null, 'block 1 has no parent');
  const latest = await client.block();
  t.equal(latest.block.header.height, 5);
  const results = await client.blockResults(5);
  t.equal(results.height, 5);
  t.same(results.finalizeBlockEvents, []);
  const info = await client.abciInfo();
  t.equal(info.lastBlockHeight, 5);
  await t.rejects(client.block(99), /height 99 must be less than or equal to the current blockchain height 5/);
});

t.test('@cosmjs/tendermint-rpc subscribes to new block headers and blocks over the WebSocket', async (t) => {
  const net = await start(t);
  // cosmjs appends /websocket to the base URL, as with a real node.
  const socket = new WebsocketClient(`ws://${net.rpcAddress}`);
  const client = Comet38Client.create(socket);
  const headers: number[] = [];
  const blocks: number[] = [];
  const gotHeaders = new Promise<void>((resolve, reject) => {
    client.subscribeNewBlockHeader().subscribe({
      next: (h) => {
        headers.push(h.height);
        if (headers.length === 3) resolve();
      },
      error: reject,
    });
  });
  const gotBlocks = new Promise<void>((resolve, reject) => {
    client.subscribeNewBlock().subscribe({
      next: (b) => {
        blocks.push(b.header.height);
        if (blocks.length === 3) resolve();
      },
      error: reject,
    });
  });
  // Requests on one WebSocket are answered in order: once this one is, both subscribe requests sent before it were handled.
  t.equal((await client.status()).syncInfo.latestBlockHeight, 1, 'no block produced before the subscriptions were in place');
  for (let i = 0; i < 3; i++) await advance(net.rpcAddress, 1);
  await Promise.all([gotHeaders, gotBlocks]);
  t.same(headers, [2, 3, 4]);
  t.same(blocks, [2, 3, 4]);
  const status = await client.status();
  t.equal(status.syncInfo.latestBlockHeight, 4, 'plain requests work over the WebSocket too');
  // cosmjs's ReconnectingSocket schedules a reconnect whenever its socket closes, disconnect() included, and
  // reconnects to a node still running (whose close then waits for it) or keeps retrying one that is gone
  // (a cosmjs quirk, not the node's): its reconnect is made a no-op first, however late the close comes.
  (socket as unknown as { socket: { socket: { reconnect(): void } } }).socket.socket.reconnect = () => {};
  client.disconnect();
});

t.test('raw JSON-RPC: URI form, errors, subscription management', async (t) => {
  const net = await start(t);
  const uri = (await (await fetch(`http://${net.rpcAddress}/block?height=1`)).json()) as { result: { block: { header: { height: string } } } };
  t.equal(uri.result.block.header.height, '1');
  const post = async (body: string) => (await (await fetch(`http://${net.rpcAddress}/`, { method: 'POST', body })).json()) as Record<string, unknown>;
  t.same((await post('{"jsonrpc":"2.0","id":3,"method":"nope","params":{}}')).error, { code: -32601, message: 'Method not found', data: '' });
  t.same((await post('{not json')).error, { code: -32700, message: 'Parse error', data: '' });
  t.match((await post('{"jsonrpc":"2.0","id":4,"method":"block","params":{"height":"-1"}}')).error, { code: -32602 });

  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://${net.rpcAddress}/websocket`);
  t.teardown(() => ws.close());
  await new Promise((r) => ws.once('open', r));
  const next = () => new Promise<Record<string, unknown>>((r) => ws.once('message', (d) => r(JSON.parse(String(d)) as Record<string, unknown>)));
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscribe', params: { query: "tm.event='Tx'" } }));
  t.match((await next()).error, { code: -32602, data: /unsupported query/ });
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'subscribe', params: { query: "tm.event='NewBlockHeader'" } }));
  t.same((await next()).result, {});
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'unsubscribe', params: { query: "tm.event='NewBlockHeader'" } }));
  t.same((await next()).result, {});
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'unsubscribe', params: { query: "tm.event='NewBlockHeader'" } }));
  t.match((await next()).error, { data: 'subscription not found' });
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'unsubscribe_all', params: {} }));
  t.same((await next()).result, {});
});

t.test('stopping the node closes its WebSocket subscribers instead of waiting for them', async (t) => {
  const { logger } = captureLogs();
  const net = await startLocalnet(manualGenesis(), { rpcAddress: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', log: logger });
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://${net.rpcAddress}/websocket`);
  t.teardown(() => ws.terminate());
  await new Promise((r) => ws.once('open', r));
  const subscribed = new Promise((r) => ws.once('message', r));
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscribe', params: { query: "tm.event='NewBlock'" } }));
  await subscribed;
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  // A subscriber that never leaves held the server's close (and `relayminer localnet`'s exit) open for good.
  const stopped = await Promise.race([net.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000).unref())]);
  t.equal(stopped, 'stopped');
  t.equal(await closed, 1006, 'the subscriber is cut off (no close frame)');
});

t.test('session ids come from the block hash the RPC serves, as the chain derives them', async (t) => {
  const net = await start(t);
  await advance(net.rpcAddress, 12); // height 13: the second session (11–20) has started
  const client = Comet38Client.create(new HttpClient(`http://${net.rpcAddress}`));
  t.teardown(() => client.disconnect());
  const state = (await (await fetch(`http://${net.rpcAddress}/localnet/state`)).json()) as {
    height: number;
    sessions: { application: string; service: string; session_id: string; start: number; end: number; number: number; suppliers: string[] }[];
  };
  t.equal(state.height, 13);
  const anvil = state.sessions.find((s) => s.service === 'anvil')!;
  t.same([anvil.start, anvil.end, anvil.number], [11, 20, 2]);
  const startBlock = await client.block(11);
  t.equal(anvil.session_id, sessionId(startBlock.blockId.hash, 'anvil', anvil.application, 11n));
  t.same(anvil.suppliers, ['pokt1rw3xgea5j4mfuux64ds7en4fhuyc3h3zus5wkv', 'pokt1tt7l5gu99zdpc7qnaty77xspta94dprls4xwz7'], 'both anvil suppliers, address order');
  const rest = state.sessions.find((s) => s.service === 'rest')!;
  t.same(rest.suppliers, ['pokt1tt7l5gu99zdpc7qnaty77xspta94dprls4xwz7'], 'only the supplier staked for rest');
});

t.test('hashes are deterministic for one genesis and history', async (t) => {
  const a = new LocalChain(manualGenesis());
  const b = new LocalChain(manualGenesis());
  a.advance(20);
  b.advance(20);
  t.equal(Buffer.from(a.latest.hash).toString('hex'), Buffer.from(b.latest.hash).toString('hex'));
  const other = new LocalChain(parseGenesis(DEFAULT_GENESIS.replace('genesis_time: now', 'genesis_time: "2026-01-02T00:00:00Z"').replace('block_interval_ms: 1000', 'block_interval_ms: 0')));
  other.advance(20);
  t.not(Buffer.from(other.latest.hash).toString('hex'), Buffer.from(a.latest.hash).toString('hex'), 'another genesis time, other hashes');
  t.throws(() => a.getSession('pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4', 'anvil', 99), /not yet available; latest height is 21/);
  t.throws(() => a.getSession('pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4', 'rest', 5), /not staked for service rest/);
});

t.test('advance is for manual mode; the timer produces blocks otherwise', async (t) => {
  const { logger } = captureLogs();
  const genesis = parseGenesis(DEFAULT_GENESIS.replace('block_interval_ms: 1000', 'block_interval_ms: 200'));
  const net = await startLocalnet(genesis, { rpcAddress: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', log: logger });
  t.teardown(() => net.stop());
  t.equal((await advance(net.rpcAddress, 1)).status, 409);
  await until('the timer to produce two blocks', () => net.chain.height >= 3);
  t.ok(net.chain.height >= 3, `timer produced blocks (height ${net.chain.height})`);
  const manual = await start(t);
  t.equal((await advance(manual.rpcAddress, 0)).status, 400);
  t.same((await advance(manual.rpcAddress, 2)).body.height, 3);
});

t.test('genesis errors name their YAML path', async (t) => {
  const bad = (text: string) => {
    try {
      parseGenesis(text);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    throw new Error('expected a ConfigError');
  };
  t.match(bad('chain_id: x\nblock_intervall_ms: 5\n')[0], { path: 'block_intervall_ms', line: 2, column: 1, message: /did you mean "block_interval_ms"/ });
  t.match(bad('services: [{ id: anvil }]\napplications: [{ address: pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4, stake_upokt: 1, service_id: nope }]\n')[0], {
    path: 'applications[0].service_id',
    message: 'unknown service "nope"',
  });
  t.match(bad('params: { shared: { num_blocks_per_session: -1 } }\n')[0], { path: 'params.shared.num_blocks_per_session', message: 'must be >= 0, got -1' });
});
