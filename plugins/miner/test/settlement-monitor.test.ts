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

t.test("a block that settles every owned supplier's session: recorded 16 at a time, said as one line per kind when many", async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.port);
  t.teardown(() => redis.disconnect());
  const keys = new KeyBuilder('ha');
  const store = new SessionStore(keys, () => redis);
  const settled = Array.from({ length: 40 }, (_, i) => `pokt1settled${String(i).padStart(3, '0')}`);
  const expired = ['pokt1expired000', 'pokt1expired001'];
  const owned = new Map([...settled, ...expired].map((s) => [s, '7']));
  for (const s of owned.keys()) {
    await redis.set(keys.supplierLeaseFence(s), '7');
    const bytes = Buffer.from(`the relay of ${s}`);
    await store.ingest(s, '7', [{ entryId: '0-1', relay: { relay_hash: bytes.subarray(0, 32), relay: bytes, compute_units: 42n, session_id: `${s}-s`, session_start_block_height: 11n, session_end_block_height: 20n, supplier_operator_address: s, service_id: 'anvil', application_address: ADDR.app1, arrival_block_height: 12n, published_at_ms: 1n } }]);
  }
  const event = (type: string, supplier: string, extra: Record<string, string>) => ({
    type,
    attributes: Object.entries({ supplier_operator_address: supplier, service_id: 'anvil', session_end_block_height: '20', num_relays: '1', claimed_upokt: '42upokt', ...extra }).map(([key, value]) => ({ key, value: JSON.stringify(value) })),
  });
  const events = [
    ...settled.map((s) => event('pocket.tokenomics.EventClaimSettled', s, {})),
    ...expired.map((s) => event('pocket.tokenomics.EventClaimExpired', s, { expiration_reason: 'PROOF_MISSING' })),
  ];
  const comet = { blockResults: async (h: number) => ({ finalizeBlockEvents: h === 30 ? events : [] }) } as unknown as CometClient;
  const query = { call: async () => ({ balance: { amount: '1000000000' } }), supplier: async () => ({ stakeUpokt: 10n ** 12n, unstakeSessionEndHeight: 0n }) } as unknown as ChainQueryClient;
  const reads = { proofParams: async () => ({}), supplierMinStake: async () => 0n, sharedParams: async () => ({ num_blocks_per_session: 10 }) } as unknown as ChainReads;
  let [inFlight, most] = [0, 0];
  const sessionIds = store.sessionIds.bind(store);
  store.sessionIds = async (...args: Parameters<typeof sessionIds>) => {
    most = Math.max(most, ++inFlight);
    try {
      return await sessionIds(...args);
    } finally {
      inFlight--;
    }
  };
  const logs = captureLogs('debug');
  // One supplier's lease was taken over since: this replica's token for it is stale, and it must write nothing there.
  await redis.set(keys.supplierLeaseFence(settled[39]!), '8');
  await redis.config('RESETSTAT');
  const monitor = new SettlementMonitor({ comet, query, store, keys, redis: () => redis, owned: () => owned, reads, lastFee: () => 0n, metrics: new MinerMetrics(new Registry()), log: logs.logger, alerts: { balanceTransactions: 20, missedProofsLeft: 3 }, signals: new StateSignals(15 * 60_000) });
  await monitor.onBlock({ height: 30, hash: new Uint8Array(32), timeMs: Date.now() });

  t.equal(most, 16, 'sessions looked up 16 at a time');
  const commands = await redis.info('commandstats');
  // Commands run by scripts count too: one transition script per event, whose HSET sets the state and the outcome's fields.
  t.same(
    ['eval', 'hset', 'hgetall'].map((c) => Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(commands)?.[1] ?? 0)),
    [42, 41, 42],
    "42 transitions (the stale lease's refused before any write), one HSET per session moved (its fields in the fenced script, not a write of their own), one record read per event",
  );
  const states = await Promise.all([...owned.keys()].map((s) => store.session(s, `${s}-s`)));
  const fields = await Promise.all([...owned.keys()].map((s) => redis.hmget(keys.minerSession(s, `${s}-s`), 'settled_height', 'expired_upokt', 'reason')));
  t.same(
    states.map((r, i) => [r?.state, r?.settledUpokt, ...fields[i]!]),
    [
      ...settled.slice(0, 39).map(() => ['settled', '42', '30', null, null]),
      ['active', undefined, null, null, null],
      ...expired.map(() => ['expired', undefined, null, '42', 'PROOF_MISSING']),
    ],
    'every session moved to its outcome with its fields, but the one whose lease moved on',
  );
  const claims = (level: number) => logs.lines.filter((l) => l.level === level && String(l.msg).startsWith('claim '));
  t.same(claims(30).map((l) => [l.msg, l.suppliers, l.first, l.upokt]), [['claim settled: 40 sessions', 40, settled.slice(0, 5), '1680']], 'forty settlements: one line, 40 × 42 uPOKT');
  t.same(claims(50).map((l) => [l.msg, l.supplier, l.reason, l.upokt]), [
    ['claim expired', expired[0], 'PROOF_MISSING', '42'],
    ['claim expired', expired[1], 'PROOF_MISSING', '42'],
  ], 'two expiries: a line each, by name');
  t.equal(claims(20).filter((l) => l.msg === 'claim settled').length, 40, 'each settlement at debug');
});
