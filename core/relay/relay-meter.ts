import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { RedisClient } from '../redis/connection.js';
import type { KeyBuilder } from '../redis/key-builder.js';
import { gcd } from '../session/difficulty.js';
import type { RelayChainState } from './chain-state.js';
import { RelayRejection } from './reasons.js';
import type { ValidatedRelay } from './validator.js';

/**
 * Stake meter (spec/anchor-features.md §1.3): how much of an application's stake one supplier may
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

export interface RelayMeterOptions {
  chain: RelayChainState;
  keys: KeyBuilder;
  redis: () => RedisClient;
  log: Logger;
  registry: Registry;
  /** `open`: serve when Redis cannot be asked; `closed`: refuse with meter_unavailable. */
  failMode: MeterFailMode;
  /** service id → fraction of the app stake this supplier may serve per session. */
  serviceFactors?: ReadonlyMap<string, number>;
  /** Lifetime of a session's meter; the session settles well before it. */
  ttlSeconds?: number;
}

/** Why a charge is given back (a bounded metric label). */
export type RefundReason = 'backend_failed' | 'backend_5xx' | 'invalid_signature' | 'refused_by_hook';

export interface MeterCharge {
  key: string;
  units: bigint;
}

/** Lua numbers are doubles: keep every value Redis compares within 2^53. */
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// INCRBY, and undo if over the limit; the first charge sets the expiry. Returns the new total or -1.
const CHARGE = `
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
if used == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if used > tonumber(ARGV[2]) then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return -1
end
return used`;

// Never below zero, so a refund after an expiry cannot create budget.
const REFUND = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local back = math.min(used, tonumber(ARGV[1]))
if back > 0 then redis.call('DECRBY', KEYS[1], back) end
return back`;

type MeterRedis = RedisClient & {
  relayminerMeterCharge?: (key: string, cost: string, limit: string, ttl: string) => Promise<number>;
  relayminerMeterRefund?: (key: string, units: string) => Promise<number>;
};

/** The meter's scripts on this connection, defined once and then called by hash (ioredis falls back to EVAL). */
function scripts(redis: RedisClient): Required<Pick<MeterRedis, 'relayminerMeterCharge' | 'relayminerMeterRefund'>> {
  const r = redis as MeterRedis;
  if (!r.relayminerMeterCharge) {
    r.defineCommand('relayminerMeterCharge', { numberOfKeys: 1, lua: CHARGE });
    r.defineCommand('relayminerMeterRefund', { numberOfKeys: 1, lua: REFUND });
  }
  return r as Required<MeterRedis>;
}

export class RelayMeter {
  readonly #o: RelayMeterOptions;
  readonly #failedOpen: Counter<'service'>;
  readonly #overBudget: Counter<'service'>;
  readonly #refunds: Counter<'service' | 'reason'>;

  constructor(o: RelayMeterOptions) {
    this.#o = o;
    const registers = [o.registry];
    this.#failedOpen = new Counter({ name: 'relayminer_meter_fail_open_total', help: 'Relays served unmetered because Redis could not be asked (fail_mode open).', labelNames: ['service'], registers });
    this.#overBudget = new Counter({ name: 'relayminer_meter_over_budget_total', help: "Relays refused because the session's share of the app stake is used up.", labelNames: ['service'], registers });
    this.#refunds = new Counter({
      name: 'relayminer_meter_refunds_total',
      help: 'Charges returned: the backend failed, timed out or answered 5xx, the ring signature was invalid, or a hook refused the relay.',
      labelNames: ['service', 'reason'],
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

  /** Charges one relay; throws over_servicing when the budget is used up. */
  async charge(relay: ValidatedRelay): Promise<MeterCharge | undefined> {
    const service = relay.header.service_id;
    const key = this.#o.keys.meter(relay.supplier.address, relay.header.session_id);
    let used: number;
    let price: { cost: bigint; limit: bigint };
    try {
      price = await this.price(relay);
    } catch (err) {
      if (RelayRejection.is(err)) throw err;
      throw new RelayRejection('chain_unavailable', (err as Error).message);
    }
    try {
      used = Number(await scripts(this.#o.redis()).relayminerMeterCharge(key, price.cost.toString(), price.limit.toString(), String(this.#o.ttlSeconds ?? 86_400)));
    } catch (err) {
      if (this.#o.failMode === 'closed') throw new RelayRejection('meter_unavailable', (err as Error).message);
      this.#failedOpen.inc({ service });
      this.#o.log.warn({ service, err: (err as Error).message }, 'relay meter unavailable; serving unmetered (fail_mode open)');
      return undefined;
    }
    if (used < 0) {
      this.#overBudget.inc({ service });
      throw new RelayRejection('over_servicing');
    }
    return { key, units: price.cost };
  }

  /** Returns a charge for a relay that produced nothing billable. Best effort: logged on failure. */
  async refund(charge: MeterCharge, service: string, reason: RefundReason): Promise<void> {
    try {
      await scripts(this.#o.redis()).relayminerMeterRefund(charge.key, charge.units.toString());
      this.#refunds.inc({ service, reason });
    } catch (err) {
      this.#o.log.warn({ service, err: (err as Error).message }, 'relay meter refund failed');
    }
  }
}
