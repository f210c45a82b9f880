export { CacheMetrics } from './cache-metrics.js';
export { TieredCache, type TieredCacheOptions } from './tiered-cache.js';
