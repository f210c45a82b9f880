import type { FastifyBaseLogger } from 'fastify';
import { BlockFollower, type BlockInfo, type SupplierKey, type ChainPace, ChainQueryClient, CometClient, type KeyBuilder, nodeEndpoints, type RedisPool, type ResolvedMiner, sessionEndHeight, sessionStartHeight, type StateSignals, type TransactionConfig, TxClient } from 'relayminer';
import { LeaseManager } from './leases.js';
import { SessionLifecycle, type MinerAlerts, type SubmissionPolicy } from './session-lifecycle.js';
import { SettlementMonitor } from './settlement-monitor.js';
import type { MinerMetrics } from './metrics.js';
import { FINAL_STATES, SessionStore } from './session-store.js';
import { StreamReader } from './stream-reader.js';
import { ChainReads } from './chain-reads.js';

export interface MinerServiceOptions {
  miner: ResolvedMiner;
  redis: RedisPool;
  keys: KeyBuilder;
  metrics: MinerMetrics;
  log: FastifyBaseLogger;
  submission: SubmissionPolicy;
  alerts: MinerAlerts;
  /** Warnings logged on change of condition. */
  signals: StateSignals;
  /** Fed with every block the miner follows (readiness and block health). */
  pace: ChainPace;
  /** Suppliers whose block pass runs at the same time. */
  concurrency: number;
  /** Relay streams read on one blocking Redis connection. */
  streamsPerConnection: number;
  /** This replica's consumer name on the relay streams and its identity in leases. */
  instanceId: string;
  leaseTtlMs: number;
  consume: { batch: number; blockMs: number; reclaimIdleMs: number };
  transaction: TransactionConfig;
}

/**
 * One miner replica: leases decide which suppliers it owns; for each owned supplier a consumer moves
 * relays from the stream into the session store under the lease's fencing token.
 */
export class MinerService {
  readonly store: SessionStore;
  readonly leases: LeaseManager;
  readonly lifecycle: SessionLifecycle;
  readonly monitor: SettlementMonitor;
  readonly #reader: StreamReader;
  readonly #query: ChainQueryClient;
  readonly #comet: CometClient;
  readonly #follower: BlockFollower;
  readonly #o: MinerServiceOptions;
  /** Supplier keys this replica works with, by address: the configuration's, and those a reload added. */
  readonly #suppliers: Map<string, SupplierKey>;
  /** Keys a reload removed, worked with until every session of theirs is final and their relay stream empty. */
  readonly #removed = new Set<string>();
  /** Removed keys found done with, whose lease this replica gives back at its next lease round. */
  readonly #lettingGo = new Set<string>();
  #checkingRemoved = false;

  constructor(o: MinerServiceOptions) {
    this.#o = o;
    this.#suppliers = new Map(o.miner.suppliers.map((k) => [k.address, k]));
    this.store = new SessionStore(o.keys, () => o.redis.next());
    const leaseConnection = o.redis.dedicated('miner-leases');
    this.leases = new LeaseManager({
      keys: o.keys,
      redis: () => leaseConnection,
      instanceId: o.instanceId,
      suppliers: o.miner.suppliers.map((s) => s.address),
      ttlMs: o.leaseTtlMs,
      log: o.log,
      signals: o.signals,
    });
    const node = o.miner.pocket_node;
    const endpoints = nodeEndpoints(node);
    this.#query = new ChainQueryClient(node);
    const comet = new CometClient(endpoints.rpcUrl, node.query_timeout_ms, endpoints.ca);
    this.#comet = comet;
    // Heights go both ways on Redis: miners follow blocks relayers saw first-hand, and the reverse.
    this.#follower = new BlockFollower({
      comet,
      log: o.log as never,
      redis: { subscriber: o.redis.dedicated('miner-block-events', { blocking: true }), publisher: o.redis.next(), channel: o.keys.blockEventsChannel() },
    });
    const reads = new ChainReads(this.#query, comet);
    this.lifecycle = new SessionLifecycle({
      reads,
      concurrency: o.concurrency,
      store: this.store,
      keys: o.keys,
      redis: () => o.redis.next(),
      query: this.#query,
      comet,
      tx: new TxClient(this.#query, o.transaction, node.chain_id),
      suppliers: this.#suppliers,
      owned: () => this.leases.owned,
      metrics: o.metrics,
      log: o.log,
      submission: o.submission,
      signals: o.signals,
    });
    const tx = this.lifecycle.tx;
    this.monitor = new SettlementMonitor({
      comet,
      query: this.#query,
      store: this.store,
      keys: o.keys,
      redis: () => o.redis.next(),
      owned: () => this.leases.owned,
      reads,
      lastFee: () => tx.lastFee,
      metrics: o.metrics,
      log: o.log,
      alerts: o.alerts,
      signals: o.signals,
    });
    // Settlement events first, so a session the chain settled or expired is recorded as such.
    this.#follower.on('block', (b: BlockInfo) => {
      o.pace.saw(b.height, b.timeMs);
      void this.monitor
        .onBlock(b)
        .catch((err: Error) => o.log.warn({ height: b.height, err: err.message }, 'settlement monitor failed'))
        .then(() => this.lifecycle.onBlock(b))
        .then(() =>
          this.#letGoOfDone().then(
            () => o.signals.clear('removed_keys_check') && o.log.info('removed supplier keys are checked again'),
            (err: Error) => o.signals.update('removed_keys_check', true, () => o.log.warn({ height: b.height, err: err.message }, 'could not check whether removed supplier keys are done')),
          ),
        );
    });
    this.#reader = new StreamReader({
      consumerName: o.instanceId,
      keys: o.keys,
      store: this.store,
      redis: () => o.redis.next(),
      dedicated: (purpose) => o.redis.dedicated(purpose, { blocking: true }),
      batch: o.consume.batch,
      blockMs: o.consume.blockMs,
      reclaimIdleMs: o.consume.reclaimIdleMs,
      streamsPerConnection: o.streamsPerConnection,
      metrics: o.metrics,
      log: o.log,
      signals: o.signals,
      onFenced: (supplier) => o.metrics.leases.set({ supplier }, 0),
    });
    this.leases.on('acquired', (supplier, token) => this.#startConsumer(supplier, token));
    this.leases.on('lost', (supplier) => {
      this.#stopConsumer(supplier);
      if (this.#lettingGo.delete(supplier)) this.#suppliers.delete(supplier);
    });
    this.leases.on('leader', (leader) => {
      o.metrics.leader.set(leader ? 1 : 0);
      o.log.info({ instance: o.instanceId }, leader ? 'became the global leader' : 'no longer the global leader');
    });
  }

  /** For `/ready`: the node's gRPC (queries, transactions) answers, judged at the chain's own pace. */
  assertNodeQueries(): void {
    this.#query.assertReachable(this.#o.pace.staleAfterMs());
  }

  /** Latest block height this replica knows (0 before the first). */
  get height(): number {
    return this.#follower.latest?.height ?? 0;
  }

  /** The dashboard's miner part: leases of every configured supplier and the latest sessions among them. */
  async dashboardState(): Promise<unknown> {
    const { keys, redis } = this.#o;
    const r = redis.next();
    const suppliers = [...this.#suppliers.keys()];
    const [leader, owners, latest] = await Promise.all([
      r.get(keys.globalLeader()).then((v) => v?.split(' ')[0]),
      Promise.all(suppliers.map((a) => r.get(keys.supplierLease(a)))),
      this.store.latestSessions(suppliers, 50),
    ]);
    const leases = suppliers.map((supplier, i) => {
      const [owner, token] = (owners[i] ?? '').split(' ');
      return { supplier, owner: owner || undefined, token, leader: owner !== '' && owner === leader };
    });
    const sessions = latest.map(({ supplier, record: s }) => ({ supplier, session: s.sessionId, service: s.serviceId, end: Number(s.endHeight), relays: s.count, compute_units: Number(s.computeUnits), state: s.state, upokt: s.settledUpokt ?? s.claimedUpokt ?? '', proof: s.proof ?? '' }));
    return { height: this.height, leader, leases, sessions };
  }

  /** Starts following blocks and resolves once the first lease round has ended (so `started` means leases are held). */
  async start(): Promise<void> {
    this.#o.log.info({ instance: this.#o.instanceId, suppliers: this.#suppliers.size }, 'miner started');
    if (this.#o.submission.handoverHeight > 0n) void this.#sayHandover(this.#o.submission.handoverHeight);
    this.#follower.start().catch((err: Error) => this.#o.log.error({ err: err.message }, 'miner block follower failed to start'));
    await this.leases.start();
  }

  /** What `submission.handover_height` leaves to the other relay miner, and a warning when it is not a session start. */
  async #sayHandover(handover: bigint): Promise<void> {
    const log = this.#o.log;
    try {
      const params = await this.#query.sharedParams();
      const [start, end] = [sessionStartHeight(params, handover), sessionEndHeight(params, handover)];
      if (start === handover) log.info({ handover_height: String(handover) }, `handing over: sessions that start below ${handover} are left to the relay miner taken over from`);
      else
        log.warn(
          { handover_height: String(handover), session_start: String(start), session_end: String(end) },
          `submission.handover_height ${handover} is inside session [${start}, ${end}]: that session is left to the other relay miner whole, and relays served here for it go unpaid; sessions start at ${start} and ${end + 1n}`,
        );
    } catch (err) {
      log.warn({ err: (err as Error).message }, `handing over sessions that start below ${handover}; whether that is a session start could not be read from the node`);
    }
  }

  /**
   * A reload of the keys: suppliers added are leased (and their streams read) from the next lease round.
   * A key no longer in the configuration stays until the process restarts: its sessions may still need
   * claims and proofs, and dropping it would leave them unpaid. Returns the addresses kept that way.
   */
  setSuppliers(suppliers: readonly SupplierKey[]): string[] {
    const wanted = new Set(suppliers.map((k) => k.address));
    for (const k of suppliers) {
      this.#suppliers.set(k.address, k);
      this.#removed.delete(k.address);
      this.#lettingGo.delete(k.address);
    }
    const kept = [...this.#suppliers.keys()].filter((a) => !wanted.has(a) && !this.#lettingGo.has(a));
    for (const a of kept) this.#removed.add(a);
    this.#listForLeases();
    return kept;
  }

  #listForLeases(): void {
    this.leases.suppliers = [...this.#suppliers.keys()].filter((a) => !this.#lettingGo.has(a));
  }

  /**
   * Lets go of removed keys that have nothing left to do: every session in their index final (or its record
   * expired) and their relay stream empty. Each replica judges from Redis alone, so one that does not own
   * such a supplier drops it too, and a relayer still serving it keeps its stream from emptying.
   */
  async #letGoOfDone(): Promise<void> {
    if (this.#removed.size === 0 || this.#checkingRemoved) return;
    this.#checkingRemoved = true;
    try {
      for (const supplier of [...this.#removed]) {
        if (!(await this.#done(supplier)) || !this.#removed.has(supplier)) continue;
        this.#removed.delete(supplier);
        if (this.leases.owned.has(supplier)) this.#lettingGo.add(supplier);
        else this.#suppliers.delete(supplier);
        this.#listForLeases();
        this.#o.log.info({ supplier }, 'removed supplier key let go: its sessions are final and its relay stream is empty');
      }
    } finally {
      this.#checkingRemoved = false;
    }
  }

  async #done(supplier: string): Promise<boolean> {
    if ((await this.#o.redis.next().xlen(this.#o.keys.relayStream(supplier))) > 0) return false;
    const sessions = await this.store.sessions(supplier, await this.store.sessionIds(supplier));
    return sessions.every((s) => !s || FINAL_STATES.has(s.state));
  }

  async stop(): Promise<void> {
    await this.#follower.stop();
    // Reading stops (and what was read is stored) while the leases still fence it; then they go back.
    await this.#reader.stop();
    await this.leases.stop();
    this.#query.close();
    await this.#comet.close();
  }

  #startConsumer(supplier: string, token: string): void {
    // A replica that takes a supplier over acts at once on the height it knows, not at the next block.
    const latest = this.#follower.latest;
    if (latest) setImmediate(() => void this.lifecycle.onBlock(latest));
    this.#o.metrics.leases.set({ supplier }, 1);
    this.#reader.add(supplier, token).catch((err: Error) => this.#o.log.error({ supplier, err: err.message }, 'could not start reading the relay stream'));
  }

  #stopConsumer(supplier: string): void {
    this.#o.metrics.leases.set({ supplier }, 0);
    this.#reader.remove(supplier);
  }
}
