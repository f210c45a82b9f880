import type { Counter, LabelValues } from 'prom-client';

/** One counter series counted locally: `inc()` adds to a plain number. */
export interface LocalSeries {
  inc(value?: number): void;
}

/**
 * Hot counter series counted in plain numbers and added to their prom-client counter when it is read
 * (a scrape, `get()`, the `--workers` aggregation: prom-client calls a metric's `collect` hook first).
 * prom-client hashes and validates the labels object on every `inc`, through a `labels()` binding
 * too: on the relay path that is several hashes and small allocations per relay for values that only
 * matter when scraped. Give the counter `collect() { counts.flush(this) }` when constructing it.
 */
export class LocalCounts<T extends string> {
  readonly #series: { labels: LabelValues<T>; n: number }[] = [];

  /** A series for a fixed label set (bounded: call it once per label set and keep the result). */
  series(labels: LabelValues<T>): LocalSeries {
    const s = { labels, n: 0 };
    this.#series.push(s);
    return {
      inc: (value = 1) => {
        s.n += value;
      },
    };
  }

  /** Adds what was counted since the last flush to `counter`. */
  flush(counter: Counter<T>): void {
    for (const s of this.#series) {
      if (s.n === 0) continue;
      counter.inc(s.labels, s.n);
      s.n = 0;
    }
  }
}
