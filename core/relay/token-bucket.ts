/** `perSecond` tokens a second, in bursts of as many; `take(n)` spends n of them, or none when fewer are left. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly perSecond: number,
    readonly now: () => number = Date.now,
  ) {
    this.#tokens = perSecond;
    this.#at = now();
  }

  take(n = 1): boolean {
    const now = this.now();
    this.#tokens = Math.min(this.perSecond, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }
}
