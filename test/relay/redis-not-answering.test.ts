import t, { type Test } from 'tap';
import type { Cluster } from 'ioredis';
import { ADDR } from '../helpers/localnet-client.js';
import { RelayResponseCodec } from '../../core/protocol/index.js';
import { gatewayRelay, postRelay, startRelayer } from '../helpers/relayer.js';
import { until } from '../helpers/until.js';

const CALL = { method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' };
const TIMEOUT_MS = 1000;
const REFUSED = '5: relay metering unavailable';

async function hungRelayer(t: Test, failMode: 'open' | 'closed', cluster = false) {
  const r = await startRelayer(t, {
    cluster,
    plugins: ['transport-jsonrpc'],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`,
    redisPool: `{ command_timeout_ms: ${TIMEOUT_MS} }`,
    meterFailMode: failMode,
  });
  const header = await r.header();
  /** 'served', or what a refusal says (the poktroll error model: HTTP 200, a RelayMinerError). */
  const send = async () => {
    const res = await postRelay(r.url, gatewayRelay(header, CALL));
    const refused = RelayResponseCodec.decode(res.body).relay_miner_error;
    return res.status !== 200 ? `HTTP ${res.status}` : refused ? `${refused.code}: ${refused.message.split(':')[0]}` : 'served';
  };
  const metric = async (name: string) => Number(new RegExp(`^${name}\\{service="anvil"\\} (\\d+)$`, 'm').exec(await r.metrics())?.[1] ?? 0);
  const said = (msg: RegExp) => r.logs.lines.filter((l) => msg.test(String(l.msg))).map((l) => l.level as number);
  /** The server holding `key`: the one server, or the Cluster master for its slot. */
  const serverOf = async (key: string) => {
    if (!cluster) return r.redisServer;
    const client = r.redis as Cluster;
    const slot = Number(await client.cluster('KEYSLOT', key));
    const port = (await client.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to)![2]![1];
    return r.cluster!.nodes.find((n) => n.port === port)!;
  };
  return { ...r, send, metric, said, serverOf };
}

t.test('Redis hangs (fail_mode open): one relay waits out the command timeout, the next are served at once, and it all works again when Redis answers', async (t) => {
  const r = await hungRelayer(t, 'open');
  t.equal(await r.send(), 'served', 'warm: caches filled, published');
  t.equal((await r.stream()).length, 1);
  r.redisServer.pause();
  t.teardown(() => r.redisServer.resume());
  t.equal(await r.send(), 'served', 'the first relay of the hang: served after its meter call timed out');
  const began = Date.now();
  const statuses: string[] = [];
  for (let i = 0; i < 20; i++) statuses.push(await r.send());
  const took = Date.now() - began;
  t.same(statuses, Array(20).fill('served'), 'served, unmetered');
  t.ok(took < 5 * TIMEOUT_MS, `20 relays in ${took} ms: none waited for Redis (each waited ${TIMEOUT_MS} ms twice before)`);
  t.equal(r.backend.calls.length, 22);
  t.equal(await r.metric('relayminer_meter_fail_open_total'), 21, 'every relay of the hang served unmetered, counted');
  t.equal(await r.metric('relayminer_relay_publish_failures_total'), 21, 'and counted as possibly not published');
  t.match(await r.metrics(), /^relayminer_redis_answering 0$/m);
  const circuits = r.runtime.context.relay!.redisCircuits;
  const stream = r.keys.relayStream(ADDR.supplier1);
  t.match([circuits.answersFor(stream), circuits.skipped(stream)?.code], [false, 'REDIS_NOT_ANSWERING'], "a plugin's own Redis calls can skip it too (relay.redisCircuits)");
  t.same(r.said(/^Redis does not answer/), [40], 'said once');
  r.redisServer.resume();
  await until('Redis answers again', () => r.said(/^Redis answers again/).length === 1);
  t.match(await r.metrics(), /^relayminer_redis_answering 1$/m);
  t.equal(circuits.answersFor(stream), true);
  t.equal(await r.send(), 'served');
  // Relays served while it did not answer were never sent to it: the first one's meter call timing out opened the circuit.
  t.equal((await r.stream()).length, 2, 'the warm relay and the one after');
  t.equal(await r.metric('relayminer_relay_publish_failures_total'), 21, 'the one after published');
});

t.test('Redis hangs (fail_mode closed): relays are refused at once, before the backend', async (t) => {
  const r = await hungRelayer(t, 'closed');
  t.equal(await r.send(), 'served');
  r.redisServer.pause();
  t.teardown(() => r.redisServer.resume());
  t.equal(await r.send(), REFUSED, 'the first relay of the hang: refused once its meter call timed out');
  const began = Date.now();
  const statuses: string[] = [];
  for (let i = 0; i < 20; i++) statuses.push(await r.send());
  const took = Date.now() - began;
  t.same(statuses, Array(20).fill(REFUSED));
  t.ok(took < 5 * TIMEOUT_MS, `20 relays in ${took} ms: none waited for Redis`);
  t.equal(r.backend.calls.length, 1, 'the backend ran none of them');
  r.redisServer.resume();
  await until('Redis answers again', () => r.said(/^Redis answers again/).length === 1);
  t.equal(await r.send(), 'served');
  t.equal((await r.stream()).length, 2);
});

t.test('a meter call that timed out and that Redis runs once it answers again charges nothing: the meter holds only what was served metered', async (t) => {
  // A new lease's first call too: its server's clock is known from the leases before (on a Cluster, its master's).
  const cases = [
    ['the same lease', 'open', false],
    ['the same lease', 'closed', false],
    ['a new lease', 'open', false],
    ['a new lease', 'closed', false],
    ['a new lease', 'open', true],
  ] as const;
  for (const [lease, failMode, cluster] of cases) {
    await t.test(`${lease}, fail_mode ${failMode}${cluster ? ', Redis Cluster' : ''}`, async (t) => {
      const r = await hungRelayer(t, failMode, cluster);
      const header = await r.header();
      const meterKey = r.keys.meter(ADDR.supplier1, header.session_id);
      const meter = async () => Number((await r.redis.get(meterKey)) ?? 0);
      t.equal(await r.send(), 'served');
      const one = await meter();
      t.ok(one > 0, 'the served relay charged');
      // Unused for `lease_idle_ms` (2 s), a lease goes back to Redis: the next relay's call is then a new lease's first.
      if (lease === 'a new lease') await new Promise((resolve) => setTimeout(resolve, 3_500));
      const server = await r.serverOf(meterKey);
      server.pause();
      t.teardown(() => server.resume());
      // Its meter call is sent, times out, and waits in Redis's socket: Redis runs it when it answers again.
      t.equal(await r.send(), failMode === 'open' ? 'served' : REFUSED, 'the relay of the hang, not metered');
      server.resume();
      await until('Redis answers again', () => r.said(/^Redis answers again/).length === 1);
      // The next relay's meter call follows the late one on the relayer's connection to that server.
      t.equal(await r.send(), 'served');
      t.equal(await meter(), 2 * one, "the late call charged nothing: the meter holds the two metered relays' cost");
    });
  }
});

t.test("Redis Cluster: the master holding the supplier's keys hangs; its relays are served at once after the first, and it all works again", async (t) => {
  const r = await hungRelayer(t, 'open', true);
  t.equal(await r.send(), 'served');
  const master = await r.serverOf(r.keys.relayStream(ADDR.supplier1));
  master.pause();
  t.teardown(() => master.resume());
  t.equal(await r.send(), 'served', 'the first relay of the hang: served after its meter call timed out');
  const began = Date.now();
  const statuses: string[] = [];
  for (let i = 0; i < 20; i++) statuses.push(await r.send());
  const took = Date.now() - began;
  t.same(statuses, Array(20).fill('served'));
  t.ok(took < 5 * TIMEOUT_MS, `20 relays in ${took} ms: none waited for the silent master`);
  t.equal(await r.metric('relayminer_relay_publish_failures_total'), 21);
  t.match(await r.metrics(), /^relayminer_redis_answering 0$/m);
  t.same(r.said(/^Redis does not answer for some keys/), [40], 'said once');
  master.resume();
  await until('Redis answers again', () => r.said(/^Redis answers again/).length === 1);
  t.equal(await r.send(), 'served');
  t.equal((await r.stream()).length, 2, 'the warm relay and the one after');
});
