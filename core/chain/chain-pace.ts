import type { BaseLogger } from 'pino';
import { Gauge, type Registry } from 'prom-client';

/** What `ChainPace` concludes about the chain's progress. */
export type BlockHealth = 'unknown' | 'ok' | 'slow' | 'halted';

export interface ChainPaceOptions {
  /** A block is stale after this many median intervals without a new one. */
  staleAfterBlocks: number;
  /** Fixed staleness in ms instead (0: derive it from the chain's own pace). */
  staleAfterMs: number;
  /** Until two consecutive blocks were seen: the interval assumed (mainnet's). */
  assumedIntervalMs?: number;
  /** Health is checked every second and its changes logged here. */
  log?: Pick<BaseLogger, 'info' | 'warn' | 'error'>;
  /** Where the `relayminer_chain_*` gauges go (once per registry). */
  registry?: Registry;
  now?: () => number;
}

const SAMPLE = 21;

/**
 * The chain's pace, from the header times of the blocks a process follows (the chain's own clock), and
 * how long ago the latest block arrived here. Mainnet blocks are ~60 s apart and vary: a readiness
 * probe or an alert that waits a fixed minute would fire on every slow block. Staleness is therefore
 * `staleAfterBlocks` × the median interval (or a fixed override); "slow" is past 1.5 intervals.
 */
export class ChainPace {
  readonly #o: ChainPaceOptions;
  readonly #times: { height: number; timeMs: number }[] = [];
  #latest: { height: number; arrivedAt: number } | undefined;
  #health: BlockHealth = 'unknown';
  #timer: NodeJS.Timeout | undefined;

  constructor(o: ChainPaceOptions) {
    this.#o = o;
    // One set of gauges per registry: a process running both roles follows one chain.
    if (o.registry && !o.registry.getSingleMetric('relayminer_chain_block_age_seconds')) {
      const gauges: [string, string, () => number | undefined][] = [
        ['relayminer_chain_block_age_seconds', 'Seconds since the latest block arrived here.', () => this.ageMs() && this.ageMs()! / 1000],
        ['relayminer_chain_block_interval_seconds', 'Median chain time between recent blocks (header times).', () => this.medianIntervalMs() && this.medianIntervalMs()! / 1000],
        ['relayminer_chain_halted', '1 while no block arrived for the staleness bound (k median intervals), else 0.', () => (this.health() === 'halted' ? 1 : 0)],
      ];
      for (const [name, help, value] of gauges) {
        new Gauge({
          name,
          help,
          registers: [o.registry],
          aggregator: 'max',
          collect() {
            const v = value();
            if (v !== undefined) this.set(v);
          },
        });
      }
    }
    if (o.log) {
      this.#timer = setInterval(() => this.#check(), 1000);
      this.#timer.unref();
    }
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** A block: its height and header time, arriving now. */
  saw(height: number, timeMs: number): void {
    if (this.#latest && height <= this.#latest.height) return;
    this.#latest = { height, arrivedAt: this.#now() };
    this.#times.push({ height, timeMs });
    if (this.#times.length > SAMPLE) this.#times.shift();
    this.#check();
  }

  medianIntervalMs(): number | undefined {
    const intervals: number[] = [];
    for (let i = 1; i < this.#times.length; i++) {
      const [a, b] = [this.#times[i - 1]!, this.#times[i]!];
      if (b.height === a.height + 1 && b.timeMs > a.timeMs) intervals.push(b.timeMs - a.timeMs);
    }
    if (!intervals.length) return undefined;
    intervals.sort((x, y) => x - y);
    const mid = intervals.length >> 1;
    return intervals.length % 2 ? intervals[mid]! : Math.round((intervals[mid - 1]! + intervals[mid]!) / 2);
  }

  /** How long without a new block before the chain counts as halted (and readiness fails). */
  staleAfterMs(): number {
    if (this.#o.staleAfterMs > 0) return this.#o.staleAfterMs;
    return this.#o.staleAfterBlocks * (this.medianIntervalMs() ?? this.#o.assumedIntervalMs ?? 60_000);
  }

  ageMs(): number | undefined {
    return this.#latest && this.#now() - this.#latest.arrivedAt;
  }

  health(): BlockHealth {
    const age = this.ageMs();
    if (age === undefined) return 'unknown';
    if (age > this.staleAfterMs()) return 'halted';
    if (age > 1.5 * (this.medianIntervalMs() ?? this.#o.assumedIntervalMs ?? 60_000)) return 'slow';
    return 'ok';
  }

  /** Throws, for a readiness check, while no block is known or the latest is stale. */
  assertFresh(): void {
    if (!this.#latest) throw new Error('no block height from the node yet');
    const age = this.ageMs()!;
    const bound = this.staleAfterMs();
    if (age > bound) throw new Error(`no new block for ${Math.round(age / 1000)} s (latest ${this.#latest.height}; stale after ${Math.round(bound / 1000)} s)`);
  }

  /** Logs changes of health only: one line when blocks turn slow or stop, one when they resume. */
  #check(): void {
    const now = this.health();
    const before = this.#health;
    if (now === before) return;
    this.#health = now;
    const log = this.#o.log;
    if (!log || before === 'unknown') return;
    const detail = { height: this.#latest?.height, age_s: Math.round((this.ageMs() ?? 0) / 1000), median_interval_s: Math.round((this.medianIntervalMs() ?? 0) / 1000) };
    if (now === 'halted') log.error({ ...detail, stale_after_s: Math.round(this.staleAfterMs() / 1000) }, 'chain halted: no new block within the staleness bound');
    else if (now === 'slow') log.warn(detail, 'chain blocks are late');
    else log.info(detail, before === 'halted' ? 'chain blocks resumed' : 'chain blocks back on pace');
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
