import { Gauge, type Registry } from 'prom-client';
import type { CryptoPool } from './crypto-pool.js';
import type { RingTableStats } from './ring/backend.js';
import { defaultRingBackend } from './ring/signature.js';

/**
 * `relayminer_ring_tables{width}`: the ring-verification tables the relayer holds, its event loop's and every
 * crypto thread's together. A thread answers only between jobs, so a scrape reports the threads' counts as of
 * the scrape before (and asks again): never waiting on a busy or stuck thread.
 */
export function registerRingTablesGauge(registry: Registry, pool: CryptoPool | undefined): void {
  let threads: RingTableStats[] = [];
  let asking = false;
  new Gauge({
    name: 'relayminer_ring_tables',
    help: 'Ring-verification tables held, by width (narrow: one per recurring key, at most relayer.ring_tables per verifying thread; wide: G and the few keys in nearly every signature), the event loop and every crypto thread together; the threads as of the previous scrape.',
    labelNames: ['width'],
    registers: [registry],
    collect() {
      const all = [defaultRingBackend().stats?.(), ...threads];
      this.set({ width: 'narrow' }, all.reduce((n, s) => n + (s?.tables ?? 0), 0));
      this.set({ width: 'wide' }, all.reduce((n, s) => n + (s?.wideTables ?? 0), 0));
      if (!pool || asking) return;
      asking = true;
      pool
        .threadStats()
        .then((stats) => (threads = stats))
        .catch(() => {}) // a closed pool: the last counts stand until the process ends
        .finally(() => (asking = false));
    },
  });
}
