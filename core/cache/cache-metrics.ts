import { Counter, type Registry } from 'prom-client';

/** Cache counters, registered once per process registry and shared by every cache. */
export class CacheMetrics {
  readonly hits: Counter<'entity' | 'level'>;
  readonly misses: Counter<'entity' | 'level'>;
  readonly loadErrors: Counter<'entity'>;
  readonly invalidations: Counter<'entity'>;

  constructor(registry: Registry) {
    this.hits = new Counter({ name: 'relayminer_cache_hits_total', help: 'Cache hits by entity and level (l1 in-process, l2 Redis).', labelNames: ['entity', 'level'], registers: [registry] });
    this.misses = new Counter({ name: 'relayminer_cache_misses_total', help: 'Cache misses by entity and level (chain = loaded from the node).', labelNames: ['entity', 'level'], registers: [registry] });
    this.loadErrors = new Counter({ name: 'relayminer_cache_load_errors_total', help: 'Chain queries that failed while filling a cache entry.', labelNames: ['entity'], registers: [registry] });
    this.invalidations = new Counter({ name: 'relayminer_cache_invalidations_total', help: 'Cache invalidations received or sent.', labelNames: ['entity'], registers: [registry] });
  }
}
