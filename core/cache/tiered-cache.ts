import type { Logger } from 'pino';
import type { RedisClient } from '../redis/connection.js';
import type { CacheEntity, KeyBuilder } from '../redis/key-builder.js';
import type { CacheMetrics } from './cache-metrics.js';
import type { LocalSeries } from '../observability/local-counts.js';

/**
 * In-process (bounded, least recently used out first, TTL) → Redis → chain. Concurrent callers of
 * one missing id share one chain query. Invalidations travel over Redis pub/sub so every replica's in-process tier drops the
 * entry (an empty payload means "everything"). A Redis outage degrades to in-process + chain.
 */

export interface TieredCacheOptions<T> {
  entity: CacheEntity;
  keys: KeyBuilder;
  log: Logger;
  metrics?: CacheMetrics;
  /** L2: omit to cache in process only. */
  redis?: () => RedisClient;
  l1: { maxEntries: number; ttlMs: number | null };
  /** null: no expiry (values fixed at a height never change). */
  l2TtlSeconds: number | null;
  load: (id: string) => Promise<T>;
  encode: (value: T) => string;
  decode: (text: string) => T;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
  /** Read since eviction last passed it (it gets a second chance). */
  used: boolean;
}

export class TieredCache<T> {
  readonly #o: TieredCacheOptions<T>;
  readonly #l1 = new Map<string, Entry<T>>();
  readonly #inflight = new Map<string, Promise<T>>();
  /** The in-process hit count, kept locally until a scrape: a relay asks several caches, each hit counts. */
  readonly #l1Hits: LocalSeries | undefined;

  constructor(options: TieredCacheOptions<T>) {
    this.#o = options;
    this.#l1Hits = options.metrics?.l1Hits(options.entity);
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
    if (!hit || hit.expiresAt <= Date.now()) return undefined;
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
    let pending = this.#inflight.get(id);
    if (!pending) {
      pending = this.#fill(id).finally(() => this.#inflight.delete(id));
      this.#inflight.set(id, pending);
    }
    return pending;
  }

  async #fill(id: string): Promise<T> {
    const key = this.#o.keys.cache(this.#o.entity, id);
    const redis = this.#o.redis?.();
    if (redis) {
      try {
        const text = await redis.get(key);
        if (text !== null) {
          const value = this.#o.decode(text);
          this.#o.metrics?.hits.inc({ entity: this.#o.entity, level: 'l2' });
          this.#remember(id, value);
          return value;
        }
        this.#o.metrics?.misses.inc({ entity: this.#o.entity, level: 'l2' });
      } catch (err) {
        this.#o.log.warn({ entity: this.#o.entity, err: (err as Error).message }, 'cache: Redis read failed; asking the chain');
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
    this.#remember(id, value);
    if (redis) {
      const text = this.#o.encode(value);
      const write = this.#o.l2TtlSeconds === null ? redis.set(key, text) : redis.set(key, text, 'EX', this.#o.l2TtlSeconds);
      write.catch((err: Error) => this.#o.log.warn({ entity: this.#o.entity, err: err.message }, 'cache: Redis write failed'));
    }
    return value;
  }

  #remember(id: string, value: T): void {
    if (!this.#l1.has(id) && this.#l1.size >= this.#o.l1.maxEntries) this.#evictOne();
    this.#l1.set(id, { value, expiresAt: this.#o.l1.ttlMs === null ? Infinity : Date.now() + this.#o.l1.ttlMs, used: false });
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
    if (id === undefined) this.#l1.clear();
    else this.#l1.delete(id);
    this.#o.metrics?.invalidations.inc({ entity: this.#o.entity });
    const redis = this.#o.redis?.();
    if (!everywhere || !redis) return;
    if (id !== undefined) await redis.del(this.#o.keys.cache(this.#o.entity, id));
    await redis.publish(this.#o.keys.cacheInvalidationChannel(this.#o.entity), id ?? '');
  }

  /** Listens for invalidations from other replicas on a subscriber connection. */
  async listen(subscriber: RedisClient): Promise<void> {
    const channel = this.#o.keys.cacheInvalidationChannel(this.#o.entity);
    subscriber.on('message', (ch: string, payload: string) => {
      if (ch === channel) void this.invalidate(payload === '' ? undefined : payload, false);
    });
    await subscriber.subscribe(channel);
  }
}
