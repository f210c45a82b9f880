import { Counter, type Registry } from 'prom-client';
import { LocalCounts, type LocalSeries } from '../observability/local-counts.js';

/** Cache counters, registered once per process registry and shared by every cache. */
export class CacheMetrics {
  readonly hits: Counter<'entity' | 'level'>;
  /** In-process hits, the per-relay ones, counted locally until a scrape reads `hits`. */
  readonly #l1HitCounts = new LocalCounts<'entity' | 'level'>();
  readonly misses: Counter<'entity' | 'level'>;
  readonly loadErrors: Counter<'entity'>;
  readonly invalidations: Counter<'entity'>;

  constructor(registry: Registry) {
    const l1HitCounts = this.#l1HitCounts;
    this.hits = new Counter({
      name: 'relayminer_cache_hits_total',
      help: 'Cache hits by entity and level (l1 in-process, l2 Redis).',
      labelNames: ['entity', 'level'],
      registers: [registry],
      collect() {
        l1HitCounts.flush(this);
      },
    });
    this.misses = new Counter({ name: 'relayminer_cache_misses_total', help: 'Cache misses by entity and level (chain = loaded from the node).', labelNames: ['entity', 'level'], registers: [registry] });
    this.loadErrors = new Counter({ name: 'relayminer_cache_load_errors_total', help: 'Chain queries that failed while filling a cache entry.', labelNames: ['entity'], registers: [registry] });
    this.invalidations = new Counter({ name: 'relayminer_cache_invalidations_total', help: 'Cache invalidations received or sent.', labelNames: ['entity'], registers: [registry] });
  }

  /** The l1 hit series of one cache (one per entity; a cache asks once). */
  l1Hits(entity: string): LocalSeries {
    return this.#l1HitCounts.series({ entity, level: 'l1' });
  }
}
