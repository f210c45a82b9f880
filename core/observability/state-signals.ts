/**
 * Log lines for conditions, not for evaluations: a condition checked every block (a low balance, a
 * failing query) is reported when it starts, again at most every `repeatMs` while it lasts, and once
 * when it clears; a condition that worsens or eases (its level changes) is reported again. Keys name one
 * condition of one subject (e.g. `balance_low|pokt1…`).
 */
export class StateSignals {
  /** Per active condition: when it was last reported, at what level, and when it was last true. */
  readonly #since = new Map<string, { at: number; level: string; seen: number }>();
  /** Per condition kept over many subjects: the subjects it is true of now. */
  readonly #subjects = new Map<string, Set<string>>();
  readonly #repeatMs: number;
  readonly #now: () => number;

  constructor(repeatMs: number, now: () => number = Date.now) {
    this.#repeatMs = repeatMs;
    this.#now = now;
  }

  /**
   * The condition's current value. `report` runs when it turns true, when its `level` changes (e.g.
   * three missed proofs left, then two), and when it has lasted another `repeatMs` since it last ran;
   * `cleared` runs once when it turns false.
   */
  update(key: string, active: boolean, report: () => void, cleared?: () => void, level = ''): void {
    const last = this.#since.get(key);
    if (active) {
      const now = this.#now();
      if (last !== undefined) last.seen = now;
      if (last !== undefined && last.level === level && now - last.at < this.#repeatMs) return;
      this.#since.set(key, { at: now, level, seen: now });
      report();
    } else if (last !== undefined) {
      this.#since.delete(key);
      cleared?.();
    }
  }

  /**
   * Ends the condition: true when it was active, so the caller says it is over once (no closure to
   * build, so it can be called on every success of a step that may have failed).
   */
  clear(key: string): boolean {
    return this.#since.delete(key);
  }

  /**
   * One condition over many subjects (e.g. every supplier whose balance query fails): `subject` is added
   * to it or taken out. It is reported as `update` says (with how many subjects it is true of: the first
   * one's start, not each one's) and `cleared` runs once when no subject is left, so subjects that recover
   * while others still fail do not end it and start it again each time.
   */
  updateFor(key: string, subject: string, active: boolean, report: (subjects: number) => void, cleared?: () => void): void {
    let subjects = this.#subjects.get(key);
    if (active) {
      if (!subjects) this.#subjects.set(key, (subjects = new Set()));
      subjects.add(subject);
      const count = subjects.size;
      this.update(key, true, () => report(count));
    } else if (subjects?.delete(subject) && subjects.size === 0) {
      this.#subjects.delete(key);
      this.update(key, false, () => {}, cleared);
    }
  }

  /**
   * `clear`, once the condition has not been true for `quietMs`: for a step that runs many times a second and
   * may fail for some of its subjects only (the keys on one failed Redis Cluster master), where ending it at
   * the first success would end and start it again on every request.
   */
  clearQuiet(key: string, quietMs = 10_000): boolean {
    const last = this.#since.get(key);
    if (last === undefined || this.#now() - last.seen < quietMs) return false;
    return this.#since.delete(key);
  }

  /** True while the condition is active (reported and not cleared). */
  active(key: string): boolean {
    return this.#since.has(key);
  }
}
