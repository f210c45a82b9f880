import t from 'tap';
import { Registry } from 'prom-client';
import { ChainPace } from '../../core/chain/chain-pace.js';
import { Runtime } from '../../core/runtime/runtime.js';
import { captureLogs } from '../helpers/logs.js';
import { relayerConfig } from '../helpers/config.js';
import { TEST_GENESIS, startTestLocalnet } from '../helpers/localnet-client.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

t.test('staleness follows the chain’s own pace: ready across 70-second blocks, halted after 3 of them, one log line per change', async (t) => {
  let now = 1_000_000;
  const logs = captureLogs('info');
  const pace = new ChainPace({ staleAfterBlocks: 3, staleAfterMs: 0, log: logs.logger, now: () => now });
  t.equal(pace.health(), 'unknown');
  t.throws(() => pace.assertFresh(), /no block height from the node yet/);
  const header0 = Date.parse('2026-01-01T00:00:00Z');
  for (let h = 1; h <= 5; h++) {
    pace.saw(h, header0 + h * 70_000);
    now += 1_000; // produced fast here; the chain's clock says 70 s
  }
  t.equal(pace.medianIntervalMs(), 70_000, 'the median of header-time intervals, not of arrivals');
  t.equal(pace.staleAfterMs(), 210_000, '3 × 70 s');
  now += 70_000;
  t.doesNotThrow(() => pace.assertFresh(), 'a 70-second gap is a normal block here');
  t.equal(pace.health(), 'ok');
  now += 40_000; // 111 s: late
  t.equal(pace.health(), 'slow');
  now += 100_000; // 211 s
  t.throws(() => pace.assertFresh(), /no new block for 211 s \(latest 5; stale after 210 s\)/);
  t.equal(pace.health(), 'halted');
  pace.saw(6, header0 + 6 * 70_000 + 211_000);
  t.doesNotThrow(() => pace.assertFresh());
  const fixed = new ChainPace({ staleAfterBlocks: 3, staleAfterMs: 5_000, now: () => now });
  fixed.saw(1, header0);
  t.equal(fixed.staleAfterMs(), 5_000, 'stale_after_ms overrides the derived bound');
  const unknownPace = new ChainPace({ staleAfterBlocks: 3, staleAfterMs: 0, now: () => now });
  unknownPace.saw(1, header0);
  t.equal(unknownPace.staleAfterMs(), 180_000, 'one block seen: mainnet’s 60 s interval is assumed');
  pace.close();
});

t.test('health changes are logged once each, checked every second', async (t) => {
  let now = 0;
  const logs = captureLogs('info');
  const pace = new ChainPace({ staleAfterBlocks: 3, staleAfterMs: 0, log: logs.logger, now: () => now, registry: new Registry() });
  t.teardown(() => pace.close());
  pace.saw(1, 0);
  pace.saw(2, 1000);
  now = 1600; // past 1.5 intervals
  await new Promise((r) => setTimeout(r, 1200));
  now = 3500; // past 3
  await new Promise((r) => setTimeout(r, 2200)); // two checks while halted
  pace.saw(3, 2000);
  const lines = logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('chain'));
  t.same(lines.map((l) => l.msg), ['chain blocks are late', 'chain halted: no new block within the staleness bound', 'chain blocks resumed']);
});

t.test('a relayer’s /ready and metrics follow the node’s pace (70-second block headers, a fixed override)', async (t) => {
  const genesis = TEST_GENESIS.replace('block_interval_ms: 0', 'block_interval_ms: 0\nblock_time_ms: 70000');
  const net = await startTestLocalnet(t, genesis);
  net.chain.advance(3);
  const redis = await startRedis(t);
  const logs = captureLogs();
  const config = relayerConfig(redis.url, '', { node: net });
  config.relayer!.pocket_node.stale_after_ms = 1500;
  const runtime = await Runtime.start({ config, roles: ['relayer'], builtins: {}, version: 'test', logger: logs.logger });
  t.teardown(() => runtime.shutdown());
  const ready = async () => (await fetch(`http://${runtime.addresses.health}/ready`)).status;
  const metrics = async () => (await fetch(`http://${runtime.addresses.metrics}/metrics`)).text();
  // A block every 300 ms until the relayer has followed two in a row (its subscription may still be opening).
  await until('two consecutive blocks followed', async () => {
    if (/^relayminer_chain_block_interval_seconds 70$/m.test(await metrics())) return true;
    net.chain.advance(1);
    await new Promise((r) => setTimeout(r, 300));
    return false;
  });
  t.equal(await ready(), 200);
  await until('stale after 1.5 s without a block', async () => (await ready()) === 503, 10_000);
  t.match(await metrics(), /^relayminer_chain_halted 1$/m);
  // The once-a-second health check logs the change.
  await until('halt logged', () => logs.lines.some((l) => l.msg === 'chain halted: no new block within the staleness bound'), 10_000);
  net.chain.advance(1);
  await until('ready again', async () => (await ready()) === 200, 10_000);
  await until('resumed logged', () => logs.lines.some((l) => l.msg === 'chain blocks resumed'));
  t.equal(logs.lines.filter((l) => l.msg === 'chain halted: no new block within the staleness bound').length, 1, 'logged once, not every second');
});

t.test('gRPC reachability for readiness: unreachable after the grace, reachable again on any answer', async (t) => {
  const { ChainQueryClient } = await import('../../core/chain/query-client.js');
  const down = new ChainQueryClient({ grpc_address: '127.0.0.1:1', tls: false, query_timeout_ms: 500 });
  t.teardown(() => down.close());
  t.doesNotThrow(() => down.assertReachable(0), 'no call yet: no verdict');
  await t.rejects(down.call('pocket.shared.Query', 'Params', {}), /UNAVAILABLE|DEADLINE_EXCEEDED/);
  t.doesNotThrow(() => down.assertReachable(60_000), 'within the grace');
  t.throws(() => down.assertReachable(0), /^gRPC queries to 127\.0\.0\.1:1 fail: /);
  const net = await startTestLocalnet(t);
  const up = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 2000 });
  t.teardown(() => up.close());
  await up.call('pocket.shared.Query', 'Params', {});
  await t.rejects(up.call('pocket.application.Query', 'Application', { address: 'pokt1notthere' }));
  t.doesNotThrow(() => up.assertReachable(0), 'an error status is still an answer');
});
