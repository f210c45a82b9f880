/**
 * The chain's pace as this miner sees it: header times of recent blocks (the chain's own clock, whatever
 * the wall clock says) and when each block arrived here. Mainnet blocks are ~60 s apart, a localnet's 1 s:
 * timeouts and deadlines are derived from this, never from a constant.
 */
export class BlockClock {
  readonly #headerTimes = new Map<number, number>();
  readonly #arrivals = new Map<number, number>();
  readonly #keep: number;

  constructor(keep = 64) {
    this.#keep = keep;
  }

  /** Records a block (its header time) as arriving now. */
  saw(height: number, headerTimeMs: number, nowMs = Date.now()): void {
    if (!this.#headerTimes.has(height)) this.#headerTimes.set(height, headerTimeMs);
    if (!this.#arrivals.has(height)) this.#arrivals.set(height, nowMs);
    for (const m of [this.#headerTimes, this.#arrivals]) {
      if (m.size <= this.#keep) continue;
      const oldest = Math.min(...m.keys());
      m.delete(oldest);
    }
  }

  /** Header time of the highest block seen (undefined before the first). */
  latestTimeMs(): number | undefined {
    let best = -1;
    for (const h of this.#headerTimes.keys()) if (h > best) best = h;
    return best < 0 ? undefined : this.#headerTimes.get(best);
  }

  /** Median chain time between consecutive blocks seen (undefined before two consecutive ones). */
  medianIntervalMs(): number | undefined {
    const intervals: number[] = [];
    for (const [h, t] of this.#headerTimes) {
      const prev = this.#headerTimes.get(h - 1);
      if (prev !== undefined && t > prev) intervals.push(t - prev);
    }
    if (intervals.length === 0) return undefined;
    intervals.sort((a, b) => a - b);
    const mid = intervals.length >> 1;
    return intervals.length % 2 ? intervals[mid]! : Math.round((intervals[mid - 1]! + intervals[mid]!) / 2);
  }

  /**
   * When this miner first knew of `height` (wall time): its own arrival, or, for a height it never saw
   * (before its first block, or skipped), the arrival of the first later block it saw. Undefined for a
   * height not reached yet.
   */
  arrivedAt(height: number): number | undefined {
    const exact = this.#arrivals.get(height);
    if (exact !== undefined) return exact;
    let best: number | undefined;
    let bestHeight = Infinity;
    for (const [h, at] of this.#arrivals) if (h > height && h < bestHeight) (bestHeight = h), (best = at);
    return best;
  }
}

/** A stable spread in [0, span) for a supplier: an operator's suppliers submit in different blocks. */
export function supplierOffset(supplier: string, span: number): number {
  if (span <= 1) return 0;
  // FNV-1a: stable across processes and replicas, so a successor picks the same block.
  let h = 0x811c9dc5;
  for (let i = 0; i < supplier.length; i++) {
    h ^= supplier.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % span;
}
