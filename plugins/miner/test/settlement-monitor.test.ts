import t from 'tap';
import { status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { ChainQueryClient, ChainQueryError, CometClient, KeyBuilder, StateSignals } from 'relayminer';
import { startTestLocalnet, ADDR } from '../../../test/helpers/localnet-client.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { captureLogs } from '../../../test/helpers/logs.js';
import { ChainReads } from '../chain-reads.js';
import { MinerMetrics } from '../metrics.js';
import { SessionStore } from '../session-store.js';
import { SettlementMonitor } from '../settlement-monitor.js';
import { Redis } from 'ioredis';

t.test('stake and balance reads failing for owned suppliers (the node\'s gRPC queries down): one warning per read while any fails, one end; a failing supplier taken over by another replica ends it here', async (t) => {
  const net = await startTestLocalnet(t);
  const server = await startRedis(t);
  const redis = new Redis(server.port);
  t.teardown(() => redis.disconnect());
  const query = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 3000 });
  t.teardown(() => query.close());
  const call = query.call.bind(query);
  let failing = new Set<string>([ADDR.supplier1, ADDR.supplier2]);
  let refused = 0;
  query.call = ((service, method, request) => {
    const supplier = String(request.address ?? request.operator_address);
    if ((method === 'Balance' || method === 'Supplier') && failing.has(supplier)) {
      refused++;
      return Promise.reject(new ChainQueryError(`${service}/${method}`, status.UNAVAILABLE, 'connect ECONNREFUSED'));
    }
    return call(service, method, request);
  }) as typeof query.call;
  const comet = new CometClient(`http://${net.rpcAddress}`);
  const keys = new KeyBuilder('ha');
  const logs = captureLogs();
  let owned = new Map([
    [ADDR.supplier1, '1'],
    [ADDR.supplier2, '1'],
  ]);
  const monitor = new SettlementMonitor({
    comet,
    query,
    store: new SessionStore(keys, () => redis),
    keys,
    redis: () => redis,
    owned: () => owned,
    reads: new ChainReads(query, comet),
    lastFee: () => 0n,
    metrics: new MinerMetrics(new Registry()),
    log: logs.logger,
    alerts: { balanceTransactions: 20, missedProofsLeft: 3 },
    signals: new StateSignals(15 * 60_000),
  });
  /** Blocks one by one: each supplier's stake and balance are read once in a session's 10 blocks. */
  const session = async () => {
    for (let i = 0; i < 10; i++) {
      net.chain.advance(1);
      await monitor.onBlock({ height: net.chain.height, hash: new Uint8Array(32), timeMs: Date.now() });
    }
  };
  const said = () => logs.lines.filter((l) => /^(stake|balance) query/.test(String(l.msg))).map((l) => [l.level, l.msg, l.failing]);

  await session();
  await session();
  t.equal(refused, 8, 'two sessions: both reads of both suppliers refused twice');
  t.same(said(), [
    [40, 'balance query failed', 1],
    [40, 'stake query failed', 1],
  ]);
  failing = new Set<string>();
  await session();
  t.same(said().slice(2), [
    [30, 'balance query works again', undefined],
    [30, 'stake query works again', undefined],
  ], 'once both suppliers are read again');

  // A supplier whose reads fail and that another replica takes over: its failure is not this replica's to keep.
  failing = new Set<string>([ADDR.supplier2]);
  await session();
  owned = new Map([[ADDR.supplier1, '1']]);
  net.chain.advance(1);
  await monitor.onBlock({ height: net.chain.height, hash: new Uint8Array(32), timeMs: Date.now() });
  t.same(said().slice(4), [
    [40, 'balance query failed', 1],
    [40, 'stake query failed', 1],
    [30, 'balance query: no owned supplier left failing', undefined],
    [30, 'stake query: no owned supplier left failing', undefined],
  ]);
});
