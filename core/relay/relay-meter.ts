import { createRequire } from 'node:module';
import type { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { RedisClient } from '../redis/connection.js';
import type { KeyBuilder } from '../redis/key-builder.js';
import type { RedisCircuits } from '../redis/redis-circuit.js';
import { gcd } from '../session/difficulty.js';
import type { RelayChainState } from './chain-state.js';
import { RelayRejection } from './reasons.js';
import { LocalCounts, type LocalSeries } from '../observability/local-counts.js';
import { StateSignals } from '../observability/state-signals.js';
import { chainRejection, type ValidatedRelay } from './validator.js';
import { ChainQueryError } from '../chain/query-client.js';

/**
 * Stake meter (docs/spec/anchor-features.md §1.3): how much of an application's stake one supplier may
 * serve in one session, shared by every relayer through Redis.
 *
 *   cost  = CUPR@start × compute_units_to_tokens_multiplier@start / granularity@start   (uPOKT)
 *   limit = stake × factor                                    (with a per-service factor), else
 *           stake / num_suppliers_per_session / (ceil(endToProofWindowClose / blocksPerSession) + 1)
 *
 * Both are kept in exact units of 1/granularity uPOKT (reduced by their common divisor), so a cost
 * below one uPOKT is charged as what it is instead of rounding to zero.
 */

export type MeterFailMode = 'open' | 'closed';

/** The hash slot of a key, as ioredis routes it on a Cluster (its own dependency). */
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

export interface RelayMeterOptions {
  chain: RelayChainState;
  keys: KeyBuilder;
  redis: () => RedisClient;
  /** Whether Redis answers: while it does not, the meter counts as unavailable at once (by the fail mode). */
  redisCircuits?: RedisCircuits;
  log: Logger;
  registry: Registry;
  /** `open`: serve when Redis cannot be asked; `closed`: refuse with meter_unavailable. */
  failMode: MeterFailMode;
  /** service id → fraction of the app stake this supplier may serve per session. */
  serviceFactors?: ReadonlyMap<string, number>;
  /** Lifetime of a session's meter; the session settles well before it. */
  ttlSeconds?: number;
  /** Relays' worth of budget taken from Redis at once, at least; 1 charges every relay in Redis. */
  leaseRelays?: number;
  /** A busy session's lease covers this long of its recent relays here (up to LEASE_BURST); 0: `leaseRelays`. */
  leaseMs?: number;
  /** A lease unused this long goes back to Redis. */
  leaseIdleMs?: number;
  /** Where its conditions (Redis unavailable, per service) are tracked; its own, repeating once a minute, by default. */
  signals?: StateSignals;
  /**
   * The Redis command timeout (`redis.pool.command_timeout_ms`; 0 or unset: none). A lease Redis runs later than
   * half of it after it was sent changes nothing: the caller has given up on it, or is about to.
   */
  commandTimeoutMs?: number;
}

/** Why a charge is given back (a bounded metric label). */
export type RefundReason = 'backend_failed' | 'backend_5xx' | 'invalid_signature' | 'refused_by_hook' | 'malformed_payload' | 'client_gone' | 'relayer_busy';

export interface MeterCharge {
  key: string;
  units: bigint;
  /** The lease the units came from; a refund goes back to it while this process still holds it. */
  lease?: Lease;
}

/**
 * Budget this process took from a session's meter in Redis and has not yet charged. Units in Redis
 * count as used the moment they are leased, so no replica can ever serve past the limit.
 */
interface Lease {
  readonly key: string;
  readonly service: string;
  /** Units per relay when leased (undefined until the first grant). */
  cost?: bigint;
  left: bigint;
  /** A top-up ahead of need starts once `left` is below this: a quarter of the last lease asked for. */
  refillAt: bigint;
  /** Relays charged from the lease since `since`, the last top-up's start: the session's recent rate here. */
  charged: number;
  since: number;
  usedAt: number;
  /** Set while a top-up round trip (and the hand-out to `waiting` that follows it) is running. */
  topUp?: Promise<void>;
  /** Charges waiting for budget, served first come first served when a top-up lands. */
  waiting: Waiter[];
}

interface Waiter {
  relay: ValidatedRelay;
  resolve: (charge: MeterCharge | undefined) => void;
  reject: (err: unknown) => void;
}

type TopUp = 'granted' | 'over_budget' | { unavailable: Error };

/** What LEASE answers when it ran past its deadline. */
const LEASE_LATE = -2;

/** Lua numbers are doubles: keep every value Redis compares within 2^53. */
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A lease takes at most this fraction of what is left, so near the limit leases shrink to one relay
 * and the budget other replicas hold unused stays a small part of the remainder.
 */
const LEASE_SHARE = 16;

/** Most relays one top-up asks for, for charges already waiting or for a busy session's `lease_ms`. */
const LEASE_BURST = 256;

// Gives back ARGV[5] unused units, then leases between 1 and ARGV[4] relays of ARGV[1] units each,
// at most 1/ARGV[6] of what is left under ARGV[2]. A new key gets the expiry ARGV[3]. Run after ARGV[7]
// (ms on Redis's clock; 0: no deadline), it changes nothing: a caller whose call timed out restored what it
// was giving back and holds no grant, and Redis runs a timed-out call still in its socket once it answers.
// Returns {units leased, or -1 when not even one relay fits, or -2 past the deadline; Redis's time in ms}.
const LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = tonumber(ARGV[7])
if deadline > 0 and now > deadline then return {-2, now} end
local raw = redis.call('GET', KEYS[1])
local used = tonumber(raw or '0')
local back = math.min(tonumber(ARGV[5]), used)
local cost = tonumber(ARGV[1])
local left = tonumber(ARGV[2]) - (used - back)
local n = 0
if left >= cost then
  n = math.max(1, math.min(tonumber(ARGV[4]), math.floor(left / math.max(cost, 1) / tonumber(ARGV[6]))))
end
local delta = n * cost - back
if delta ~= 0 then
  redis.call('INCRBY', KEYS[1], delta)
  if not raw then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
end
if n == 0 then return {-1, now} end
return {n * cost, now}`;

// Redis's time, on the server holding KEYS[1] (read for routing only).
const CLOCK = `local t = redis.call('TIME') return {t[1], t[2]}`;

// Never below zero, so a refund after an expiry cannot create budget.
const REFUND = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local back = math.min(used, tonumber(ARGV[1]))
if back > 0 then redis.call('DECRBY', KEYS[1], back) end
return back`;

type MeterRedis = RedisClient & {
  relayminerMeterLease?: (key: string, cost: string, limit: string, ttl: string, relays: string, back: string, share: string, deadline: string) => Promise<[number, number]>;
  relayminerMeterRefund?: (key: string, units: string) => Promise<number>;
  relayminerMeterClock?: (key: string) => Promise<[string, string]>;
};

/** The meter's scripts on this connection, defined once and then called by hash (ioredis falls back to EVAL). */
function scripts(redis: RedisClient): Required<Pick<MeterRedis, 'relayminerMeterLease' | 'relayminerMeterRefund' | 'relayminerMeterClock'>> {
  const r = redis as MeterRedis;
  if (!r.relayminerMeterLease) {
    r.defineCommand('relayminerMeterLease', { numberOfKeys: 1, lua: LEASE });
    r.defineCommand('relayminerMeterRefund', { numberOfKeys: 1, lua: REFUND });
    r.defineCommand('relayminerMeterClock', { numberOfKeys: 1, lua: CLOCK });
  }
  return r as Required<MeterRedis>;
}

export class RelayMeter {
  readonly #o: RelayMeterOptions;
  readonly #leaseRelays: number;
  readonly #leaseMs: number;
  readonly #leaseIdleMs: number;
  readonly #leases = new Map<string, Lease>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #failedOpen: Counter<'service'>;
  /** Fail-open is reported once a minute per service, not per relay. */
  readonly #signals: StateSignals;
  readonly #overBudget: Counter<'service'>;
  readonly #refunds: Counter<'service' | 'reason'>;
  readonly #leasesTaken: Counter<'service'>;
  /** Counted locally per service (on the relay path), added to `relayminer_meter_waits_total` when it is read. */
  readonly #waitCounts = new LocalCounts<'service'>();
  readonly #waits = new Map<string, LocalSeries>();
  /**
   * Each Redis server's clock less this process's (ms), from its last call answered quickly; by server: '' for
   * one server (standalone, Sentinel), a master's address on a Cluster, whose masters keep their own clocks.
   */
  readonly #clockOffsets = new Map<string, number>();
  /**
   * TIME asked of a server before its first lease, so that lease has a deadline too; shared by the leases that
   * start together, and asked again only if it failed.
   */
  readonly #clockAsked = new Map<string, Promise<Error | undefined>>();

  constructor(o: RelayMeterOptions) {
    this.#o = o;
    this.#signals = o.signals ?? new StateSignals(60_000);
    this.#leaseRelays = o.leaseRelays ?? 1;
    this.#leaseMs = this.#leaseRelays > 1 ? (o.leaseMs ?? 0) : 0;
    this.#leaseIdleMs = o.leaseIdleMs ?? 2_000;
    this.#sweeper = setInterval(() => void this.#returnIdle(performance.now() - this.#leaseIdleMs), Math.max(100, this.#leaseIdleMs / 2)).unref();
    const registers = [o.registry];
    this.#failedOpen = new Counter({ name: 'relayminer_meter_fail_open_total', help: 'Relays served unmetered because Redis could not be asked (fail_mode open).', labelNames: ['service'], registers });
    this.#overBudget = new Counter({ name: 'relayminer_meter_over_budget_total', help: "Relays refused because the session's share of the app stake is used up.", labelNames: ['service'], registers });
    this.#refunds = new Counter({
      name: 'relayminer_meter_refunds_total',
      help: 'Charges returned: the backend failed, timed out or answered 5xx, the ring signature was invalid, or a hook refused the relay.',
      labelNames: ['service', 'reason'],
      registers,
    });
    const waitCounts = this.#waitCounts;
    // Read only through the registry, whose scrape flushes the local counts into it.
    new Counter({
      name: 'relayminer_meter_waits_total',
      help: "Charges that waited for a Redis round trip because this relayer's lease was empty: a session's first relay here, and more when leases run out before they are topped up (then raise relayer.meter.lease_ms or lease_relays). Not counted with lease_relays 1, where every charge goes to Redis.",
      labelNames: ['service'],
      registers,
      collect() {
        waitCounts.flush(this);
      },
    });
    this.#leasesTaken = new Counter({
      name: 'relayminer_meter_leases_total',
      help: "Budget leases taken from a session's meter in Redis (one round trip each; relays charged from a lease need none).",
      labelNames: ['service'],
      registers,
    });
  }

  /** The cost of one relay and the session's limit, in the same exact units. */
  async price(relay: ValidatedRelay): Promise<{ cost: bigint; limit: bigint }> {
    const { service_id: service, application_address: app, session_start_block_height: start, session_end_block_height: end } = relay.header;
    const chain = this.#o.chain;
    const [atStart, atEnd, cupr, appInfo, suppliers] = await Promise.all([
      chain.sharedParams(start),
      chain.sharedParams(end),
      chain.computeUnitsPerRelay(service, start),
      chain.application(app),
      chain.numSuppliersPerSession(),
    ]);
    const granularity = atStart.compute_unit_cost_granularity > 0n ? atStart.compute_unit_cost_granularity : 1n;
    let cost = cupr * atStart.compute_units_to_tokens_multiplier;
    let limit: bigint;
    const factor = this.#o.serviceFactors?.get(service);
    if (factor !== undefined) {
      // factor has at most 6 decimals in config; scale to keep it exact.
      limit = (appInfo.stakeUpokt * granularity * BigInt(Math.round(factor * 1e6))) / 1_000_000n;
    } else {
      const toClose = atEnd.claim_window_open_offset_blocks + atEnd.claim_window_close_offset_blocks + atEnd.proof_window_open_offset_blocks + atEnd.proof_window_close_offset_blocks;
      const perSession = atEnd.num_blocks_per_session > 0n ? atEnd.num_blocks_per_session : 1n;
      const sessionsPending = (toClose + perSession - 1n) / perSession + 1n;
      limit = (appInfo.stakeUpokt * granularity) / ((suppliers > 0n ? suppliers : 1n) * sessionsPending);
    }
    const d = gcd(cost, granularity);
    cost /= d;
    limit /= d;
    if (limit > SAFE) {
      // Coarser units, rounding the cost up: never serve more than the limit.
      const k = limit / SAFE + 1n;
      limit /= k;
      cost = (cost + k - 1n) / k;
    }
    return { cost, limit };
  }

  /** Whether this process holds budget for the relay's session, so charging it needs no Redis round trip. */
  holdsBudgetFor(relay: ValidatedRelay): boolean {
    const lease = this.#leases.get(this.#o.keys.meter(relay.supplier.address, relay.header.session_id));
    return lease?.cost !== undefined && lease.left >= lease.cost;
  }

  /**
   * Makes sure this process holds budget for one more relay of the session (a lease from Redis when it holds
   * none), without charging it; throws over_servicing when the session's budget is used up (meter_unavailable or
   * nothing, by the fail mode, when Redis cannot be asked). For requests whose answers are charged only after the
   * backend has run them (a WebSocket bridge's frames): an application with nothing left gets nothing more run.
   */
  async reserve(relay: ValidatedRelay): Promise<void> {
    if (this.holdsBudgetFor(relay)) return;
    const charge = await this.charge(relay);
    if (!charge) return;
    if (charge.lease) charge.lease.charged--; // not a relay served: the lease's rate leaves it out
    await this.#putBack(charge, relay.header.service_id, true);
  }

  /** Charges one relay (from this process's lease when it can); throws over_servicing when the budget is used up. */
  async charge(relay: ValidatedRelay): Promise<MeterCharge | undefined> {
    const key = this.#o.keys.meter(relay.supplier.address, relay.header.session_id);
    let lease = this.#leases.get(key);
    const now = performance.now();
    if (!lease) this.#leases.set(key, (lease = { key, service: relay.header.service_id, left: 0n, refillAt: 0n, charged: 0, since: now, usedAt: now, waiting: [] }));
    lease.usedAt = now;
    if (lease.waiting.length === 0 && lease.cost !== undefined && lease.left >= lease.cost) {
      lease.left -= lease.cost;
      lease.charged++;
      // Topped up before it runs dry, so a busy session's next relays find budget instead of waiting for Redis.
      if (lease.topUp === undefined && this.#leaseRelays > 1 && lease.left < lease.refillAt) this.#startTopUp(lease, relay);
      return { key, units: lease.cost, lease };
    }
    if (this.#leaseRelays > 1) this.#waitsOf(lease.service).inc();
    return new Promise((resolve, reject) => {
      lease.waiting.push({ relay, resolve, reject });
      if (lease.topUp === undefined) this.#startTopUp(lease);
    });
  }

  /** The top-ups running now. */
  #topUps(): Promise<void>[] {
    return [...this.#leases.values()].flatMap((l) => (l.topUp ? [l.topUp] : []));
  }

  /** One series per service, which are the configured ones (a lease's service passed validation). */
  #waitsOf(service: string): LocalSeries {
    let series = this.#waits.get(service);
    if (!series) this.#waits.set(service, (series = this.#waitCounts.series({ service })));
    return series;
  }

  /** One top-up (and hand-out) at a time per lease; `ahead` is the relay whose charge found the lease low. */
  #startTopUp(lease: Lease, ahead?: ValidatedRelay): void {
    lease.topUp = this.#serveWaiting(lease, ahead)
      .catch((err: unknown) => {
        for (const w of lease.waiting.splice(0)) w.reject(err); // never leave a relay waiting
      })
      .finally(() => {
        lease.topUp = undefined;
        // A charge made once the hand-out had ended (by a relay its last budget answered, a microtask later) found
        // this top-up still running and waits behind it: it gets one of its own, not the session's next relay's.
        if (lease.waiting.length > 0) this.#startTopUp(lease);
      });
  }

  /**
   * Hands budget to waiting charges in arrival order, topping the lease up as needed. A burst of N
   * charges costs N/lease round trips and N hand-outs (waking every waiter after each top-up was
   * quadratic: a 20,000-event WebSocket stream spent most of its CPU there). A top-up asks for as many
   * relays as are waiting, up to LEASE_BURST, so a burst needs fewer round trips; what is left after
   * the hand-out is below that. With `ahead`, the lease still holds budget: one top-up adds to it first,
   * and its outcome is left to the charges that come to wait (they ask again, and meet the fail mode or
   * the limit themselves).
   */
  async #serveWaiting(lease: Lease, ahead?: ValidatedRelay): Promise<void> {
    if (ahead) await this.#topUp(lease, ahead, true).catch(() => undefined);
    while (lease.waiting.length > 0) {
      // One splice per hand-out, not a shift per waiter: on a queue of thousands (a long stream's events)
      // each shift moves the whole array.
      const waiting = lease.waiting;
      let served = 0;
      while (served < waiting.length && lease.cost !== undefined && lease.left >= lease.cost) {
        lease.left -= lease.cost;
        waiting[served++]!.resolve({ key: lease.key, units: lease.cost, lease });
      }
      lease.charged += served;
      waiting.splice(0, served);
      if (waiting.length === 0) return;
      let outcome: TopUp;
      try {
        outcome = await this.#topUp(lease, lease.waiting[0]!.relay);
      } catch (err) {
        for (const w of lease.waiting.splice(0)) w.reject(err);
        return;
      }
      if (outcome === 'granted') continue;
      const { service } = lease;
      for (const w of lease.waiting.splice(0)) {
        if (outcome === 'over_budget') {
          this.#overBudget.inc({ service });
          w.reject(new RelayRejection('over_servicing'));
        } else if (this.#o.failMode === 'closed') {
          w.reject(new RelayRejection('meter_unavailable', outcome.unavailable.message));
        } else {
          this.#failedOpen.inc({ service });
          this.#signals.update(`meter_unavailable|${service}`, true, () =>
            this.#o.log.warn({ service, err: outcome.unavailable.message }, 'relay meter unavailable; serving unmetered (fail_mode open; logged at most once a minute, relayminer_meter_fail_open_total counts every relay)'),
          );
          w.resolve(undefined);
        }
      }
    }
  }

  /** Returns a charge for a relay that produced nothing billable. Best effort: logged on failure. */
  async refund(charge: MeterCharge, service: string, reason: RefundReason): Promise<void> {
    if (await this.#putBack(charge, service, this.#leaseRelays > 1)) this.#refunds.inc({ service, reason });
  }

  /**
   * A charge's units back: onto its lease while this process still holds it (with `onLease`), else to Redis. False
   * when Redis could not take them (logged) or does not answer.
   */
  async #putBack(charge: MeterCharge, service: string, onLease: boolean): Promise<boolean> {
    const lease = charge.lease;
    if (onLease && lease && this.#leases.get(charge.key) === lease && lease.cost === charge.units) {
      lease.left += charge.units;
      return true;
    }
    // Not asked while it does not answer (said once, as the circuit opened): the units stay used, which can only under-serve.
    if (this.#o.redisCircuits?.answersFor(charge.key) === false) return false;
    try {
      await scripts(this.#o.redis()).relayminerMeterRefund(charge.key, charge.units.toString());
      return true;
    } catch (err) {
      this.#o.redisCircuits?.failed(charge.key, err);
      // Once a minute per service: a Redis that answers refunds with an error (out of memory) fails every one of them.
      this.#signals.update(`meter_refund_failed|${service}`, true, () =>
        this.#o.log.warn({ service, err: (err as Error).message }, 'relay meter refund failed; its units stay used, which can only under-serve (logged at most once a minute per service)'),
      );
      return false;
    }
  }

  /** Gives every unused lease back to Redis (graceful shutdown), so other replicas can serve it. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    // A top-up in flight (often one ahead of need) adds to its lease: let it land (and any it starts for a charge
    // made as it ended), then give it all back.
    for (let running = this.#topUps(); running.length > 0; running = this.#topUps()) await Promise.all(running);
    await this.#returnIdle(Number.POSITIVE_INFINITY);
  }

  /**
   * One round trip: hands back what is left of the lease (less than one relay) and leases more; `keep`
   * (a top-up ahead of need) hands nothing back, since the lease is still being charged meanwhile.
   */
  async #topUp(lease: Lease, relay: ValidatedRelay, keep = false): Promise<TopUp> {
    let price: { cost: bigint; limit: bigint };
    try {
      price = await this.price(relay);
    } catch (err) {
      if (RelayRejection.is(err)) throw err;
      if (err instanceof ChainQueryError) throw chainRejection(err);
      throw new RelayRejection('chain_unavailable', (err as Error).message);
    }
    const skipped = this.#o.redisCircuits?.skipped(lease.key);
    if (skipped) return { unavailable: skipped };
    const server = this.#serverOf(lease.key);
    const asking = this.#askClockFirst(lease.key, server);
    const unanswered = asking && (await asking);
    if (unanswered) return { unavailable: unanswered };
    // Refunds that arrive during the round trip add to `left` again; the remainder travels with the call.
    const back = keep ? 0n : lease.left;
    lease.left -= back;
    // Counted after the price lookup: charges that arrived meanwhile are in this round trip too.
    const relays = this.#startLeaseWindow(lease);
    const sentAt = Date.now();
    let granted: number;
    try {
      const [units, redisNowMs] = await scripts(this.#o.redis()).relayminerMeterLease(
        lease.key,
        price.cost.toString(),
        price.limit.toString(),
        String(this.#o.ttlSeconds ?? 86_400),
        String(relays),
        back.toString(),
        String(LEASE_SHARE),
        String(this.#leaseDeadline(server, sentAt)),
      );
      this.#learnClock(server, sentAt, Date.now(), Number(redisNowMs));
      granted = Number(units);
    } catch (err) {
      lease.left += back;
      this.#o.redisCircuits?.failed(lease.key, err);
      return { unavailable: err as Error };
    }
    if (granted === LEASE_LATE) {
      lease.left += back;
      return { unavailable: new Error(`Redis ran the meter lease more than ${this.#o.commandTimeoutMs! / 2} ms after it was sent`) };
    }
    // Over once no lease has failed for a while: with a Cluster master down, only some sessions' fail.
    if (this.#signals.clearQuiet(`meter_unavailable|${lease.service}`)) this.#o.log.info({ service: lease.service }, 'relay meter works again');
    // A new price (the stake crossed a unit scale) makes refunds at the old one incomparable: they stay
    // used in Redis, which can only under-serve.
    if (lease.cost !== undefined && lease.cost !== price.cost) lease.left = 0n;
    lease.cost = price.cost;
    lease.refillAt = price.cost * BigInt(Math.ceil(relays / 4));
    if (granted < 0) return 'over_budget';
    this.#leasesTaken.inc({ service: lease.service });
    lease.left += BigInt(granted);
    return 'granted';
  }

  /**
   * Where a lease sent at `sentAt` stops counting, on Redis's clock: half the command timeout later, so
   * that a call Redis runs once this process has given up on it (timed out: `back` restored here, no
   * grant taken) changes nothing; the other half covers the answer's way back and an error in the clock
   * offset. 0 (none) without a command timeout, or while the server's clock is not known (its TIME answered
   * too slowly to place it, or a Cluster's slots not known yet).
   */
  #leaseDeadline(server: string | undefined, sentAt: number): number {
    const timeout = this.#o.commandTimeoutMs ?? 0;
    const offset = server === undefined ? undefined : this.#clockOffsets.get(server);
    if (timeout <= 0 || offset === undefined) return 0;
    return Math.floor(sentAt + offset + timeout / 2);
  }

  /** The server holding `key`: '' for one server; a Cluster's master for its slot (undefined until ioredis has the slots). */
  #serverOf(key: string): string | undefined {
    const redis = this.#o.redis();
    return redis.isCluster ? (redis as Cluster).slots[calculateSlot(key)]?.[0] : '';
  }

  /**
   * Before a server's first lease, its clock (TIME, through a script on `key` so that a Cluster routes it to the
   * key's master): a lease sent without a deadline into a hang would charge the session when Redis runs it later.
   * The error when the server did not answer (the lease is then not sent). A slow answer places no clock; the
   * leases then learn it from their own quick answers. Undefined, with no await, once the clock is known.
   */
  #askClockFirst(key: string, server: string | undefined): Promise<Error | undefined> | undefined {
    if (!(this.#o.commandTimeoutMs! > 0) || server === undefined || this.#clockOffsets.has(server)) return undefined;
    let asked = this.#clockAsked.get(server);
    if (!asked) {
      const sentAt = Date.now();
      asked = scripts(this.#o.redis())
        .relayminerMeterClock(key)
        .then(
          ([seconds, micros]) => {
            this.#learnClock(server, sentAt, Date.now(), Number(seconds) * 1000 + Math.floor(Number(micros) / 1000));
            return undefined;
          },
          (err: Error) => {
            this.#o.redisCircuits?.failed(key, err);
            this.#clockAsked.delete(server);
            return err;
          },
        );
      this.#clockAsked.set(server, asked);
    }
    return asked;
  }

  /** A server's clock against this one's, from an answer quick enough to place it (within a tenth of the timeout). */
  #learnClock(server: string | undefined, sentAt: number, answeredAt: number, redisNowMs: number): void {
    const timeout = this.#o.commandTimeoutMs ?? 0;
    if (server === undefined || timeout <= 0 || answeredAt - sentAt > timeout / 10) return;
    this.#clockOffsets.set(server, redisNowMs - (sentAt + answeredAt) / 2);
  }

  /**
   * Relays a top-up asks for: `leaseRelays`, or more for the charges already waiting, or for `leaseMs` of
   * the relays charged since the last top-up began (a session at 1,000 relays/s here gets 100 for 100 ms,
   * and is topped up 25 relays before it runs dry instead of 4), up to LEASE_BURST. What Redis grants is
   * still at most 1/16 of what is left under the limit. Starts the next window of the rate: its charges are
   * counted from this top-up on.
   */
  #startLeaseWindow(lease: Lease): number {
    const now = performance.now();
    const recent = this.#leaseMs > 0 && lease.charged > 0 ? Math.ceil((lease.charged * this.#leaseMs) / Math.max(1, now - lease.since)) : 0;
    lease.charged = 0;
    lease.since = now;
    return Math.max(this.#leaseRelays, Math.min(Math.max(recent, lease.waiting.length), LEASE_BURST));
  }

  /** Gives back leases unused since `before` (performance.now() time). */
  async #returnIdle(before: number): Promise<void> {
    const returning: Promise<unknown>[] = [];
    for (const lease of this.#leases.values()) {
      if (lease.topUp || lease.usedAt > before) continue;
      // Kept while Redis does not answer for it, to be given back when it does; at shutdown they are tried anyway.
      if (before !== Number.POSITIVE_INFINITY && this.#o.redisCircuits?.answersFor(lease.key) === false) continue;
      this.#leases.delete(lease.key);
      if (lease.left > 0n) {
        returning.push(
          scripts(this.#o.redis())
            .relayminerMeterRefund(lease.key, lease.left.toString())
            .catch((err: unknown) => this.#o.log.warn({ service: lease.service, err: (err as Error).message }, 'relay meter lease return failed')),
        );
      }
    }
    await Promise.all(returning);
  }
}
