import type { FastifyBaseLogger } from 'fastify';
import { type BlockInfo, type ChainQueryClient, type CometClient, forEachLimit, type KeyBuilder, missedProofsBeforeUnstake, type RedisClient, type SessionState, type StateSignals } from 'relayminer';
import type { MinerAlerts } from './session-lifecycle.js';
import { supplierOffset } from './block-clock.js';
import type { ChainReads, ProofParams } from './chain-reads.js';
import type { MinerMetrics } from './metrics.js';
import type { SessionStore } from './session-store.js';
import { sayChanges } from './say-changes.js';

/** Blocks the monitor catches up on after a gap, at most (older ones are skipped and logged). */
const MAX_CATCH_UP = 200;

/** Balance and stake queries in flight at once. */
const ACCOUNT_READS_AT_ONCE = 16;

/** A block's settlement events recorded at once: every owned supplier's sessions of a height settle in the same block. */
const SETTLEMENTS_AT_ONCE = 16;

const SAID_AS: Record<SettlementEvent['kind'], 'info' | 'error'> = { settled: 'info', expired: 'error', slashed: 'error', discarded: 'error' };

export interface SettlementEvent {
  kind: 'settled' | 'expired' | 'slashed' | 'discarded';
  height: number;
  supplier: string;
  serviceId: string;
  sessionEnd: bigint;
  relays: number;
  upokt: bigint;
  reason: string;
}

const KINDS: Record<string, SettlementEvent['kind']> = {
  'pocket.tokenomics.EventClaimSettled': 'settled',
  'pocket.tokenomics.EventClaimExpired': 'expired',
  'pocket.tokenomics.EventSupplierSlashed': 'slashed',
  'pocket.tokenomics.EventClaimDiscarded': 'discarded',
};

/** Typed-event attribute values are JSON: `"pokt1…"`, `"10"`, `1`. */
function attr(attributes: { key: string; value: string }[], key: string): string {
  const raw = attributes.find((a) => a.key === key)?.value;
  if (raw === undefined) return '';
  try {
    const v = JSON.parse(raw) as unknown;
    return typeof v === 'string' ? v : String(v);
  } catch {
    return raw;
  }
}

const amount = (coin: string) => BigInt(/^(\d+)/.exec(coin)?.[1] ?? '0');

/** The tokenomics events of one block that concern `suppliers` (docs/spec/protocol.md §2.9). */
export function settlementEvents(height: number, events: { type: string; attributes: { key: string; value: string }[] }[], suppliers: ReadonlySet<string>): SettlementEvent[] {
  const out: SettlementEvent[] = [];
  for (const e of events) {
    const kind = KINDS[e.type];
    if (!kind) continue;
    const supplier = attr(e.attributes, 'supplier_operator_address');
    if (!suppliers.has(supplier)) continue;
    out.push({
      kind,
      height,
      supplier,
      serviceId: attr(e.attributes, 'service_id'),
      sessionEnd: BigInt(attr(e.attributes, 'session_end_block_height') || '0'),
      relays: Number(attr(e.attributes, 'num_relays') || '0'),
      upokt: amount(kind === 'slashed' ? attr(e.attributes, 'proof_missing_penalty') : attr(e.attributes, 'claimed_upokt')),
      reason: attr(e.attributes, 'expiration_reason'),
    });
  }
  return out;
}

/**
 * Reads `block_results` of every block for the owned suppliers' settlement events: uPOKT earned
 * (settled), lost (expired) and slashed, each logged and counted, and the matching session (same
 * service, session end and relay count) moved to `settled` or `expired`. Also keeps, per owned
 * supplier, its balance (a warning when it could not pay `alerts.balance_transactions` more
 * transactions), its stake health and its stream backlog as gauges. Warnings follow conditions, not blocks.
 */
export class SettlementMonitor {
  #last = 0;
  #queue: Promise<void> = Promise.resolve();
  /** Supplier → height from which its balance and stake are read again. */
  readonly #nextAccountRead = new Map<string, number>();
  /** Suppliers whose stake or balance this replica has read: when one is no longer owned, its read failures are forgotten. */
  readonly #queried = new Set<string>();

  constructor(
    readonly o: {
      comet: CometClient;
      query: ChainQueryClient;
      store: SessionStore;
      keys: KeyBuilder;
      redis: () => RedisClient;
      owned: () => ReadonlyMap<string, string>;
      reads: ChainReads;
      /** Fee of the last claim or proof transaction (0 before the first). */
      lastFee: () => bigint;
      metrics: MinerMetrics;
      log: FastifyBaseLogger;
      alerts: MinerAlerts;
      /** Conditions logged on change (and at most every alerts.repeat_minutes while they last). */
      signals: StateSignals;
    },
  ) {}

  /** Passes run one after another (each catches up from the last height seen), so no block is skipped. */
  onBlock(block: BlockInfo): Promise<void> {
    this.#queue = this.#queue
      .then(() => (block.height > this.#last ? this.#pass(block) : undefined))
      .then(
        () => {
          if (this.o.signals.clear('settlement_monitor')) this.o.log.info({ height: block.height }, 'settlement monitor works again');
        },
        (err: Error) =>
          this.o.signals.update('settlement_monitor', true, () => this.o.log.warn({ height: block.height, err: err.message }, 'settlement monitor pass failed; the next block retries from the last height seen')),
      );
    return this.#queue;
  }

  async #pass(block: BlockInfo): Promise<void> {
    const owned = this.o.owned();
    if (owned.size === 0) {
      this.#last = block.height;
      return;
    }
    const from = this.#last === 0 ? block.height : Math.max(this.#last + 1, block.height - MAX_CATCH_UP);
    if (this.#last !== 0 && from > this.#last + 1) this.o.log.warn({ from: this.#last + 1, to: from - 1 }, 'settlement monitor skipped blocks it could not catch up on');
    for (let h = from; h <= block.height; h++) {
      const results = await this.o.comet.blockResults(h);
      const events = settlementEvents(h, results.finalizeBlockEvents, new Set(owned.keys()));
      await forEachLimit(events, SETTLEMENTS_AT_ONCE, (e) => this.#record(e, owned.get(e.supplier)!));
      this.#say(events);
      this.#last = h;
    }
    // Balances and stakes move with settlements and fees: each supplier's are read once a session
    // (each at its own block of the session), and again after a settlement event of its own.
    const height = block.height;
    const shared = await this.o.reads.sharedParams(BigInt(height)).catch(() => undefined);
    const interval = Math.max(1, Number(shared?.num_blocks_per_session ?? 10));
    // A supplier this replica no longer owns: its reads, and any failure of them, are another replica's now.
    for (const supplier of this.#queried) {
      if (owned.has(supplier)) continue;
      this.#queried.delete(supplier);
      this.#nextAccountRead.delete(supplier);
      for (const what of ['balance', 'stake'] as const) {
        this.o.signals.updateFor(`${what}_query`, supplier, false, () => {}, () => this.o.log.info(`${what} query: no owned supplier left failing`));
      }
    }
    const due = [...owned.keys()].filter((s) => (this.#nextAccountRead.get(s) ?? 0) <= height);
    if (due.length > 0) {
      // The params stake health counts with: read only in a block with stakes to read.
      const penalty = BigInt((await this.o.reads.proofParams(height).catch(() => ({}) as ProofParams)).proof_missing_penalty?.amount ?? '0');
      const minStake = await this.#minStake(height);
      await forEachLimit(due, ACCOUNT_READS_AT_ONCE, async (supplier) => {
        await this.#balance(supplier);
        await this.#stake(supplier, penalty, minStake);
        this.#nextAccountRead.set(supplier, height + interval + (this.#nextAccountRead.has(supplier) ? 0 : supplierOffset(supplier, interval)));
      });
    }
    const backlogs = await Promise.all([...owned.keys()].map((s) => this.o.redis().xlen(this.o.keys.relayStream(s))));
    [...owned.keys()].forEach((supplier, i) => this.o.metrics.backlog.set({ supplier }, backlogs[i]!));
  }

  /**
   * The supplier module's minimum stake at this height; 0 while it cannot be read (said once, and once when it can
   * be again), so stake health then counts penalties down to an empty stake, later than the chain unstakes.
   */
  async #minStake(height: number): Promise<bigint> {
    try {
      const min = await this.o.reads.supplierMinStake(height);
      if (this.o.signals.clear('supplier_params_query')) this.o.log.info('supplier params read again: stake health counts down to the minimum stake');
      return min;
    } catch (err) {
      this.o.signals.update('supplier_params_query', true, () =>
        this.o.log.warn({ err: (err as Error).message }, "supplier params query failed: stake health counts missed proofs down to an empty stake, not to the chain's minimum"),
      );
      return 0n;
    }
  }

  /**
   * Stake health: the stake, and how many more missed (or invalid) proofs its penalty allows before the chain
   * unstakes the supplier: a slash that leaves the stake under the supplier module's `min_stake` begins its
   * unbonding (poktroll's settlement). Warns at three or fewer, and while the supplier is unstaking.
   */
  async #stake(supplier: string, penalty: bigint, minStake: bigint): Promise<void> {
    try {
      const s = await this.o.query.supplier(supplier);
      const stake = s.stakeUpokt;
      this.o.metrics.stake.set({ supplier }, Number(stake));
      const left = missedProofsBeforeUnstake(stake, minStake, penalty);
      if (left !== undefined) {
        this.o.metrics.proofsLeft.set({ supplier }, Number(left));
        const most = this.o.alerts.missedProofsLeft;
        this.o.signals.update(
          `stake_low|${supplier}`,
          left <= BigInt(most),
          () =>
            this.o.log.warn(
              { supplier, stake_upokt: String(stake), min_stake_upokt: String(minStake), penalty_upokt: String(penalty), missed_proofs_left: Number(left), threshold: most },
              `supplier stake covers ${most} or fewer missed-proof penalties before the chain unstakes it`,
            ),
          () => this.o.log.info({ supplier, stake_upokt: String(stake), missed_proofs_left: Number(left) }, 'supplier stake is above the missed-proof threshold again'),
          String(left),
        );
      }
      this.o.signals.update(`unstaking|${supplier}`, s.unstakeSessionEndHeight > 0n, () =>
        this.o.log.warn({ supplier, unstake_session_end_height: String(s.unstakeSessionEndHeight) }, 'supplier is unstaking'),
      );
      this.#query('stake', supplier);
    } catch (err) {
      this.#query('stake', supplier, err as Error);
    }
  }

  /** A block's events, by kind: a line each, or one line for many (hundreds of suppliers settle in one block). */
  #say(events: readonly SettlementEvent[]): void {
    for (const kind of ['settled', 'expired', 'discarded', 'slashed'] as const) {
      const of = events.filter((e) => e.kind === kind);
      if (of.length === 0) continue;
      const lines = of.map((e) => ({ supplier: e.supplier, service: e.serviceId, session_end: String(e.sessionEnd), relays: e.relays, upokt: String(e.upokt), reason: e.reason || undefined, height: e.height }));
      sayChanges(this.o.log, SAID_AS[kind], `claim ${kind}`, lines, { counted: 'sessions', summary: { upokt: String(of.reduce((sum, e) => sum + e.upokt, 0n)) } });
    }
  }

  async #record(e: SettlementEvent, token: string): Promise<void> {
    const { metrics } = this.o;
    metrics.settlements.inc({ supplier: e.supplier, outcome: e.kind });
    this.#nextAccountRead.delete(e.supplier);
    if (e.kind === 'settled') metrics.upokt.inc({ supplier: e.supplier, kind: 'earned' }, Number(e.upokt));
    if (e.kind === 'expired' || e.kind === 'discarded') metrics.upokt.inc({ supplier: e.supplier, kind: 'lost' }, Number(e.upokt));
    if (e.kind === 'slashed') metrics.upokt.inc({ supplier: e.supplier, kind: 'slashed' }, Number(e.upokt));
    if (e.kind === 'slashed') return;
    const to: SessionState = e.kind === 'settled' ? 'settled' : 'expired';
    const fields = { [`${to}_upokt`]: String(e.upokt), [`${to}_height`]: String(e.height), ...(e.reason ? { reason: e.reason } : {}) };
    const records = await this.o.store.sessions(e.supplier, await this.o.store.sessionIds(e.supplier, e.sessionEnd, e.sessionEnd));
    for (const s of records) {
      if (!s || s.serviceId !== e.serviceId || s.count !== e.relays || s.state === to) continue;
      // The outcome's fields with the state, in the one fenced script: a replica that lost the supplier writes neither.
      await this.o.store.transition(e.supplier, s.sessionId, token, s.state, to, fields);
    }
  }

  async #balance(supplier: string): Promise<void> {
    try {
      const res = await this.o.query.call('cosmos.bank.v1beta1.Query', 'Balance', { address: supplier, denom: 'upokt' });
      const balance = BigInt((res.balance as { amount?: string } | undefined)?.amount ?? '0');
      this.o.metrics.balance.set({ supplier }, Number(balance));
      const fee = this.o.lastFee();
      const want = this.o.alerts.balanceTransactions;
      this.o.signals.update(
        `balance_low|${supplier}`,
        fee > 0n && balance < fee * BigInt(want),
        () => this.o.log.warn({ supplier, balance_upokt: String(balance), last_fee_upokt: String(fee), threshold: want }, `supplier balance covers fewer than ${want} more claim or proof transactions`),
        () => this.o.log.info({ supplier, balance_upokt: String(balance) }, 'supplier balance is above the threshold again'),
      );
      this.#query('balance', supplier);
    } catch (err) {
      this.#query('balance', supplier, err as Error);
    }
  }

  /**
   * A supplier's stake or balance query answered (`err` undefined) or failed: one condition per query over
   * every supplier it fails for (a node whose gRPC endpoint is down fails them all), said when the first
   * fails, with how many, and once when none fails any more.
   */
  #query(what: 'stake' | 'balance', supplier: string, err?: Error): void {
    this.#queried.add(supplier);
    this.o.signals.updateFor(
      `${what}_query`,
      supplier,
      err !== undefined,
      (failing) => this.o.log.warn({ supplier, failing, err: err?.message }, `${what} query failed`),
      () => this.o.log.info(`${what} query works again`),
    );
  }
}
