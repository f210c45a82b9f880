import type { Logger } from 'pino';
import type { ApplicationInfo, ChainQueryClient, SessionInfo, SharedParamsInfo } from '../chain/query-client.js';
import type { QueryLane } from '../chain/query-slots.js';
import { sessionEndHeight, sessionStartHeight } from '../session/grid.js';
import type { CacheMetrics } from '../cache/cache-metrics.js';
import { decodeCacheValue, encodeCacheValue } from '../cache/json-codec.js';
import { TieredCache } from '../cache/tiered-cache.js';
import { StateSignals } from '../observability/state-signals.js';
import { PLACEHOLDER_RING_ADDRESS, PLACEHOLDER_RING_PUBLIC_KEY } from '../crypto/placeholder-ring-key.js';
import type { RedisClient } from '../redis/connection.js';
import type { CacheEntity, KeyBuilder } from '../redis/key-builder.js';
import type { RedisCircuits } from '../redis/redis-circuit.js';

export interface RelayChainStateOptions {
  query: ChainQueryClient;
  keys: KeyBuilder;
  log: Logger;
  metrics?: CacheMetrics;
  redis?: () => RedisClient;
  /** Whether Redis answers: while it does not, the caches ask the node without it. */
  redisCircuits?: RedisCircuits;
  /** Latest block height known to this process (block follower). */
  currentHeight: () => bigint | undefined;
  /** Bound on each in-process cache. */
  maxEntries?: number;
  /** Lifetime of live (not at-height) values: applications and account keys. */
  liveTtlMs?: number;
}

/** Applications remembered as validated (QueryLane `expected`); past this the longest remembered is forgotten. */
const VALIDATED_APPLICATIONS = 100_000;

/**
 * Everything relay validation reads from the chain, through the tiered caches. Values fixed at a
 * height (session, params, compute units, difficulty) never expire; live values (the application,
 * whose delegations change, and account keys, which appear on first signature) have a TTL.
 *
 * Sessions and params are asked for in a QueryLane: a session is `expected` when its application has had
 * a relay validated here and its height is a boundary of a session now current; params when their height
 * is in a session now current. "Now current" is judged by the grid of the params fetched for the height
 * nearest the current one (everything is until there are some). Everything else is asked for only once
 * the chain has confirmed the relay's session.
 */
export class RelayChainState {
  readonly #o: RelayChainStateOptions;
  readonly #sessions: TieredCache<SessionInfo>;
  readonly #applications: TieredCache<ApplicationInfo>;
  readonly #accounts: TieredCache<Uint8Array | undefined>;
  readonly #params: TieredCache<SharedParamsInfo>;
  readonly #computeUnits: TieredCache<bigint>;
  readonly #difficulty: TieredCache<Uint8Array>;
  readonly #sessionParams: TieredCache<bigint>;
  readonly #rings = new WeakMap<ApplicationInfo, Map<bigint, RingEntry>>();
  /** Insertion order is age: the first is forgotten first. */
  readonly #validated = new Set<string>();
  /** The params fetched for the height nearest the current one: the session grid lanes are judged by. */
  #grid: { height: bigint; params: SharedParamsInfo } | undefined;

  constructor(o: RelayChainStateOptions) {
    this.#o = o;
    const live = o.liveTtlMs ?? 30_000;
    const redisSignals = new StateSignals(60_000);
    const make = <T>(entity: CacheEntity, ttlMs: number | null, load: (id: string) => Promise<T>) =>
      new TieredCache<T>({
        entity,
        keys: o.keys,
        log: o.log,
        redisSignals,
        metrics: o.metrics,
        redis: o.redis,
        redisCircuits: o.redisCircuits,
        l1: { maxEntries: o.maxEntries ?? 10_000, ttlMs },
        l2TtlSeconds: ttlMs === null ? 7 * 24 * 3600 : Math.max(1, Math.ceil(ttlMs / 1000)),
        load,
        encode: encodeCacheValue,
        decode: (text) => decodeCacheValue<T>(text),
      });
    const q = o.query;
    this.#sessions = make('session', null, (id) => {
      const [app, service, height] = id.split('|');
      const h = BigInt(height!);
      return q.session(app!, service!, h, this.#sessionLane(app!, h));
    });
    this.#applications = make('application', live, (addr) => q.application(addr));
    this.#accounts = make('account', live, (addr) => q.accountPublicKey(addr));
    this.#params = make('shared_params', null, async (id) => {
      const h = BigInt(id);
      const params = await q.sharedParams(h, this.#current(h) ? 'expected' : 'open');
      const now = this.#o.currentHeight() ?? h;
      const distance = (x: bigint) => (x > now ? x - now : now - x);
      if (!this.#grid || distance(h) <= distance(this.#grid.height)) this.#grid = { height: h, params };
      return params;
    });
    this.#computeUnits = make('compute_units', null, (id) => {
      const [service, height] = id.split('|');
      return q.serviceComputeUnitsPerRelay(service!, BigInt(height!));
    });
    this.#sessionParams = make('session_params', live, () => q.numSuppliersPerSession());
    this.#difficulty = make('difficulty', null, (id) => {
      const [service, height] = id.split('|');
      return q.difficultyTarget(service!, BigInt(height!));
    });
  }

  currentHeight(): bigint | undefined {
    return this.#o.currentHeight();
  }

  session(app: string, service: string, height: bigint): Promise<SessionInfo> {
    return this.#sessions.get(sessionCacheId(app, service, height));
  }

  sharedParams(height: bigint): Promise<SharedParamsInfo> {
    return this.#params.get(height.toString());
  }

  computeUnitsPerRelay(service: string, sessionStart: bigint): Promise<bigint> {
    return this.#computeUnits.get(serviceCacheId(service, sessionStart));
  }

  difficultyTarget(service: string, sessionStart: bigint): Promise<Uint8Array> {
    return this.#difficulty.get(serviceCacheId(service, sessionStart));
  }

  /**
   * The same values when this process holds them, without a promise: a relay reads five of them, and
   * on the relay path an await per value costs more than the lookup. Undefined means "ask the async
   * method" (not yet cached, expired, or being fetched).
   */
  readonly cached = {
    session: (app: string, service: string, height: bigint): SessionInfo | undefined => this.#sessions.peek(sessionCacheId(app, service, height))?.value,
    sharedParams: (height: bigint): SharedParamsInfo | undefined => this.#params.peek(height.toString())?.value,
    computeUnitsPerRelay: (service: string, sessionStart: bigint): bigint | undefined => this.#computeUnits.peek(serviceCacheId(service, sessionStart))?.value,
    difficultyTarget: (service: string, sessionStart: bigint): Uint8Array | undefined => this.#difficulty.peek(serviceCacheId(service, sessionStart))?.value,
    /**
     * The most members any ring of the application can have by its cached entry (itself, and its gateways with
     * those being undelegated, or the placeholder; counted as `#ring` builds it, every pending height at once);
     * undefined when no entry is cached.
     */
    ringSizeBound: (appAddress: string): number | undefined => {
      const app = this.#applications.peek(appAddress)?.value;
      if (!app) return undefined;
      let gateways = app.delegateeGatewayAddresses.length;
      for (const list of app.pendingUndelegations.values()) gateways += list.length;
      return 1 + Math.max(1, gateways);
    },
    ringPublicKeys: (appAddress: string, sessionEnd: bigint): Uint8Array[] | undefined => {
      const app = this.#applications.peek(appAddress)?.value;
      return app && this.#rings.get(app)?.get(sessionEnd)?.keys;
    },
  };

  /**
   * A relay of `appAddress` passed every check, its ring signature included: its next sessions are asked for
   * in the `expected` lane.
   */
  noteValidated(appAddress: string): void {
    if (this.#validated.has(appAddress)) return;
    if (this.#validated.size >= VALIDATED_APPLICATIONS) this.#validated.delete(this.#validated.values().next().value!);
    this.#validated.add(appAddress);
  }

  #sessionLane(app: string, h: bigint): QueryLane {
    if (!this.#validated.has(app)) return 'open';
    const p = this.#grid?.params;
    const onBoundary = !p || h === sessionStartHeight(p, h) || h === sessionEndHeight(p, h);
    return onBoundary && this.#current(h) ? 'expected' : 'open';
  }

  /**
   * Whether `h` is in the session now current, the one before it (relays in its grace period) or the next (a
   * relay that starts it before this process has seen its first block). True while no params are known.
   */
  #current(h: bigint): boolean {
    const p = this.#grid?.params;
    const now = this.#o.currentHeight();
    if (!p || now === undefined) return true;
    const end = sessionEndHeight(p, h);
    return end === sessionEndHeight(p, now) || end === sessionEndHeight(p, now + 1n) || end === sessionStartHeight(p, now) - 1n;
  }

  numSuppliersPerSession(): Promise<bigint> {
    return this.#sessionParams.get('live');
  }

  application(address: string): Promise<ApplicationInfo> {
    return this.#applications.get(address);
  }

  /**
   * The ring's public keys (docs/spec/protocol.md §4.1): the app and its delegated gateways, plus
   * gateways being undelegated at or after the session end, or the placeholder when there are no
   * gateways. Members whose account has no public key on chain cannot sign and are left out.
   */
  async ringPublicKeys(appAddress: string, sessionEnd: bigint): Promise<Uint8Array[]> {
    const app = await this.application(appAddress);
    // Rings are kept with the application entry they were built from: a refreshed entry (new
    // delegations) is a new object and builds its ring anew.
    let byEnd = this.#rings.get(app);
    if (!byEnd) this.#rings.set(app, (byEnd = new Map()));
    let ring = byEnd.get(sessionEnd);
    if (!ring) {
      const entry: RingEntry = {
        building: this.#ring(app, appAddress, sessionEnd).then((keys) => (entry.keys = keys)),
      };
      byEnd.set(sessionEnd, (ring = entry));
      entry.building.catch(() => byEnd.delete(sessionEnd));
    }
    return ring.building;
  }

  async #ring(app: ApplicationInfo, appAddress: string, sessionEnd: bigint): Promise<Uint8Array[]> {
    const gateways = [...app.delegateeGatewayAddresses];
    const pending: string[] = [];
    for (const [h, list] of app.pendingUndelegations) {
      if (h < sessionEnd) continue;
      for (const g of list) if (!pending.includes(g)) pending.push(g);
    }
    gateways.push(...pending);
    const members = [appAddress, ...(gateways.length ? gateways : [PLACEHOLDER_RING_ADDRESS])].sort();
    const keys = await Promise.all(members.map((m) => (m === PLACEHOLDER_RING_ADDRESS ? PLACEHOLDER_RING_PUBLIC_KEY : this.#accounts.get(m))));
    return keys.filter((k): k is Uint8Array => k !== undefined);
  }

  /** Listens for invalidations (e.g. a re-delegation seen by another replica) on a subscriber. */
  async listen(subscriber: RedisClient): Promise<void> {
    await this.#applications.listen(subscriber);
    await this.#accounts.listen(subscriber);
  }

  invalidateApplication(address: string): Promise<void> {
    return this.#applications.invalidate(address);
  }
}

/** A ring being built from an application entry, and its keys once built. */
interface RingEntry {
  building: Promise<Uint8Array[]>;
  keys?: Uint8Array[];
}

/** Cache ids (split back into the query's arguments by the loaders above). */
function sessionCacheId(app: string, service: string, height: bigint): string {
  return `${app}|${service}|${height}`;
}

function serviceCacheId(service: string, sessionStart: bigint): string {
  return `${service}|${sessionStart}`;
}
