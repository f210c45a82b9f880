import { Gauge, type Registry } from 'prom-client';
import type { CryptoPool } from './crypto-pool.js';
import type { RingTableStats } from './ring/backend.js';
import { defaultRingBackend } from './ring/signature.js';

/**
 * `relayminer_ring_tables{width}`: the ring-verification tables the relayer holds, its event loop's and every
 * crypto thread's together, and `relayminer_ring_tables_capacity`, how many narrow ones they may hold
 * (`maxTables` each). A thread answers only between jobs, so a scrape reports the threads' counts as of the scrape
 * before (and asks again): never waiting on a busy or stuck thread.
 */
export function registerRingTablesGauge(registry: Registry, pool: CryptoPool | undefined, maxTables: number): void {
  new Gauge({
    name: 'relayminer_ring_tables_capacity',
    help: 'Narrow ring-verification tables the relayer may hold: relayer.ring_tables for the event loop and for each crypto thread running. relayminer_ring_tables{width="narrow"} staying at it means more keys recur than fit.',
    registers: [registry],
    collect() {
      this.set(maxTables * (1 + (pool?.threadsRunning ?? 0)));
    },
  });
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
