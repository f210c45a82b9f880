import type { Logger } from 'pino';
import type { RedisClient } from '../redis/connection.js';
import type { CacheEntity, KeyBuilder } from '../redis/key-builder.js';
import type { RedisCircuits } from '../redis/redis-circuit.js';
import { keepSubscribed } from '../redis/subscription.js';
import type { CacheMetrics } from './cache-metrics.js';
import type { LocalSeries } from '../observability/local-counts.js';
import { StateSignals } from '../observability/state-signals.js';

/**
 * In-process (bounded, least recently used out first, TTL) → Redis → chain. Concurrent callers of
 * one missing id share one chain query. Invalidations travel over Redis pub/sub so every replica's in-process tier drops the
 * entry (an empty payload means "everything"). A Redis outage degrades to in-process + chain.
 *
 * An entry read in the last quarter of its life is refreshed in the background, once, so the ids that
 * relays keep asking for do not expire under them (each expiry made every relay of that id wait for
 * the node). A Redis copy counts for what is left of its own life, so no value outlives the TTL by being
 * passed between replicas; a refresh takes it only when it is younger than the entry it replaces.
 * While a circuit says Redis does not answer, fills skip it rather than wait out its command timeout.
 */

export interface TieredCacheOptions<T> {
  entity: CacheEntity;
  keys: KeyBuilder;
  log: Logger;
  metrics?: CacheMetrics;
  /** L2: omit to cache in process only. */
  redis?: () => RedisClient;
  /** Whether Redis answers: while it does not, fills go to the chain without asking it. */
  redisCircuits?: RedisCircuits;
  l1: { maxEntries: number; ttlMs: number | null };
  /** null: no expiry (values fixed at a height never change). */
  l2TtlSeconds: number | null;
  load: (id: string) => Promise<T>;
  encode: (value: T) => string;
  decode: (text: string) => T;
  /** Where failing Redis reads and writes are tracked: one for a process's caches says an outage once for all. */
  redisSignals?: StateSignals;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
  /** From here a read starts a refresh (Infinity: no TTL, or one already started). */
  refreshAt: number;
  /** Read since eviction last passed it (it gets a second chance). */
  used: boolean;
}

export class TieredCache<T> {
  readonly #o: TieredCacheOptions<T>;
  readonly #l1 = new Map<string, Entry<T>>();
  readonly #inflight = new Map<string, Promise<T>>();
  /** Redis reads and writes that fail (Redis down): warned about once a minute, and said once when they work again. */
  readonly #redisFailing: StateSignals;
  /** Bumped by every invalidation: a fill that began before one neither keeps nor shares its value. */
  #generation = 0;
  /** How much longer than the entry it replaces a Redis copy must live to be taken by a refresh. */
  readonly #youngerBy: number;
  /** The in-process hit count, kept locally until a scrape: a relay asks several caches, each hit counts. */
  readonly #l1Hits: LocalSeries | undefined;

  constructor(options: TieredCacheOptions<T>) {
    this.#o = options;
    this.#redisFailing = options.redisSignals ?? new StateSignals(60_000);
    this.#l1Hits = options.metrics?.l1Hits(options.entity);
    // The entry's own write to Redis lands a moment after it: that copy is not a newer one.
    this.#youngerBy = (options.l1.ttlMs ?? 0) / 8;
  }

  get size(): number {
    return this.#l1.size;
  }

  /**
   * The in-process entry when it is there and fresh (a hit, counted as `get` counts one), else undefined:
   * what a caller on a hot path reads without awaiting, before it falls back to `get`.
   */
  peek(id: string): { readonly value: T } | undefined {
    const hit = this.#l1.get(id);
    if (!hit) return undefined;
    const now = Date.now();
    if (hit.expiresAt <= now) return undefined;
    if (hit.refreshAt <= now) this.#refreshAhead(id, hit);
    // A hit only marks the entry. Moving it to the young end (delete + set) on every read would leave
    // a deleted entry in its hash bucket each time, until V8 next rebuilds the table: a few hot keys
    // among many entries then walk ever longer chains of their own deletions. Eviction moves marked
    // entries instead (#evictOne).
    hit.used = true;
    this.#l1Hits?.inc();
    return hit;
  }

  async get(id: string): Promise<T> {
    const hit = this.peek(id);
    if (hit) return hit.value;
    this.#o.metrics?.misses.inc({ entity: this.#o.entity, level: 'l1' });
    return this.#inflight.get(id) ?? this.#start(id, 0);
  }

  /** A fill that callers of `get` can join until it settles (or an invalidation drops it). */
  #start(id: string, replacing: number): Promise<T> {
    const pending: Promise<T> = this.#fill(id, replacing).finally(() => {
      if (this.#inflight.get(id) === pending) this.#inflight.delete(id);
    });
    this.#inflight.set(id, pending);
    return pending;
  }

  /** One refresh per entry and life: a failed one leaves the entry to expire and be filled as any miss. */
  #refreshAhead(id: string, hit: Entry<T>): void {
    hit.refreshAt = Infinity;
    if (this.#inflight.has(id)) return;
    // Its failure is counted (loadErrors) and the entry still serves until it expires.
    this.#start(id, hit.expiresAt).catch(() => undefined);
  }

  /** `replacing`: the expiry of the entry a refresh replaces; a Redis copy must outlive it to be taken. */
  async #fill(id: string, replacing = 0): Promise<T> {
    const generation = this.#generation;
    const key = this.#o.keys.cache(this.#o.entity, id);
    const redis = this.#o.redisCircuits?.answersFor(key) === false ? undefined : this.#o.redis?.();
    if (redis) {
      try {
        const copy = await this.#readL2(redis, key).catch((err: unknown) => {
          this.#o.redisCircuits?.failed(key, err);
          throw err;
        });
        this.#redisWorks('read');
        if (copy && Date.now() + copy.lifeMs > replacing + this.#youngerBy) {
          const value = this.#o.decode(copy.text);
          this.#o.metrics?.hits.inc({ entity: this.#o.entity, level: 'l2' });
          if (generation === this.#generation) this.#remember(id, value, copy.lifeMs);
          return value;
        }
        this.#o.metrics?.misses.inc({ entity: this.#o.entity, level: 'l2' });
      } catch (err) {
        this.#redisFailing.update('read', true, () => this.#o.log.warn({ entity: this.#o.entity, err: (err as Error).message }, 'cache: Redis read failed; asking the chain (logged at most once a minute)'));
      }
    }
    let value: T;
    try {
      value = await this.#o.load(id);
    } catch (err) {
      this.#o.metrics?.loadErrors.inc({ entity: this.#o.entity });
      throw err;
    }
    this.#o.metrics?.misses.inc({ entity: this.#o.entity, level: 'chain' });
    if (generation !== this.#generation) return value;
    this.#remember(id, value);
    if (redis) {
      const text = this.#o.encode(value);
      const write = this.#o.l2TtlSeconds === null ? redis.set(key, text) : redis.set(key, text, 'EX', this.#o.l2TtlSeconds);
      write.then(
        () => this.#redisWorks('write'),
        (err: Error) => {
          this.#o.redisCircuits?.failed(key, err);
          this.#redisFailing.update('write', true, () => this.#o.log.warn({ entity: this.#o.entity, err: err.message }, 'cache: Redis write failed (logged at most once a minute)'));
        },
      );
    }
    return value;
  }

  #redisWorks(op: 'read' | 'write'): void {
    // Over once they have not failed for a while: with a Cluster master down, only some keys' fail.
    if (this.#redisFailing.clearQuiet(op)) this.#o.log.info({ entity: this.#o.entity }, `cache: Redis ${op}s work again`);
  }

  /**
   * The Redis copy and how long it may still serve here: its age (the Redis TTL it was written with,
   * less what is left of it) comes off the in-process TTL. Null when there is none or it is too old.
   */
  async #readL2(redis: RedisClient, key: string): Promise<{ text: string; lifeMs: number } | null> {
    const ttlMs = this.#o.l1.ttlMs;
    const l2Seconds = this.#o.l2TtlSeconds;
    if (ttlMs === null || l2Seconds === null) {
      const text = await redis.get(key);
      return text === null ? null : { text, lifeMs: ttlMs ?? Infinity };
    }
    const [[getErr, text], [, pttl]] = (await redis.pipeline().get(key).pttl(key).exec()) as [[Error | null, string | null], [Error | null, number]];
    if (getErr) throw getErr;
    if (text === null) return null;
    const lifeMs = typeof pttl === 'number' && pttl > 0 ? ttlMs - (l2Seconds * 1000 - pttl) : ttlMs;
    return lifeMs > 0 ? { text, lifeMs: Math.min(lifeMs, ttlMs) } : null;
  }

  #remember(id: string, value: T, lifeMs = this.#o.l1.ttlMs ?? Infinity): void {
    if (!this.#l1.has(id) && this.#l1.size >= this.#o.l1.maxEntries) this.#evictOne();
    const now = Date.now();
    // Refreshed once a quarter of the TTL or less is left: at the next read for a Redis copy that old already.
    const refreshAt = this.#o.l1.ttlMs === null ? Infinity : now + Math.max(0, lifeMs - this.#o.l1.ttlMs / 4);
    this.#l1.set(id, { value, expiresAt: now + lifeMs, refreshAt, used: false });
  }

  /**
   * Second chance (CLOCK): from the old end, an entry read since it was last passed moves to the young
   * end unmarked; the first one not read (or expired) goes. An approximation of least-recently-used
   * that changes the Map only when something is evicted.
   */
  #evictOne(): void {
    const now = Date.now();
    let chances = this.#l1.size;
    for (const [id, entry] of this.#l1) {
      this.#l1.delete(id);
      if (!entry.used || entry.expiresAt <= now || chances-- <= 0) return;
      entry.used = false;
      this.#l1.set(id, entry);
    }
  }

  /** Drops the entry (or everything) here; `everywhere` also deletes it from Redis and tells the other replicas. */
  async invalidate(id?: string, everywhere = true): Promise<void> {
    this.#generation++;
    if (id === undefined) {
      this.#l1.clear();
      this.#inflight.clear();
    } else {
      this.#l1.delete(id);
      this.#inflight.delete(id);
    }
    this.#o.metrics?.invalidations.inc({ entity: this.#o.entity });
    const redis = this.#o.redis?.();
    if (!everywhere || !redis) return;
    if (id !== undefined) await redis.del(this.#o.keys.cache(this.#o.entity, id));
    await redis.publish(this.#o.keys.cacheInvalidationChannel(this.#o.entity), id ?? '');
  }

  /**
   * Listens for invalidations from other replicas on a subscriber connection; settles after the first
   * attempt to subscribe. With Redis down it keeps trying (keepSubscribed), and entries are only as fresh
   * as their lifetime until it works.
   */
  async listen(subscriber: RedisClient): Promise<void> {
    const channel = this.#o.keys.cacheInvalidationChannel(this.#o.entity);
    subscriber.on('message', (ch: string, payload: string) => {
      if (ch === channel) void this.invalidate(payload === '' ? undefined : payload, false);
    });
    const messages = {
      failed: "cache: could not subscribe to other replicas' invalidations in Redis; entries last their lifetime meanwhile, retrying",
      subscribed: "cache: subscribed to other replicas' invalidations in Redis",
    };
    await keepSubscribed(subscriber, channel, this.#o.log, messages, { entity: this.#o.entity }).attempted;
  }
}
