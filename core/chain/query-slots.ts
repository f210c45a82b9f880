/**
 * Which of two kinds a query to the node is. `expected`: one the relayer's legitimate traffic needs (the
 * sessions now current of applications it has validated relays for, the values of heights now current,
 * anything asked once the chain has confirmed a relay's session). `open`: one any relay can make it send
 * (a session of an application never validated here, a height outside the sessions now current), since
 * making such a relay costs its sender only a signature over a ring of its own.
 */
export type QueryLane = 'expected' | 'open';

/**
 * Slots for queries in flight to the node, shared by both lanes. `open` queries hold at most half of them,
 * so a flood of relays naming applications or heights nobody uses leaves the other half to the sessions
 * that paying traffic needs; `expected` ones may hold every slot and are resumed first. Each lane has a
 * line of up to four times its slots; a query past that is refused at once, never sent.
 */
export class QuerySlots {
  readonly #max: number;
  readonly #openMax: number;
  #inFlight = 0;
  #openInFlight = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #openWaiting: (() => void)[] = [];

  /** `max`: queries in flight at once (Infinity: no bound). */
  constructor(max: number) {
    this.#max = max;
    this.#openMax = max === Infinity ? Infinity : Math.max(1, Math.floor(max / 2));
  }

  /** True: a slot is held now. A promise: one will be handed over when it resolves. False: the lane's line is full. */
  acquire(lane: QueryLane): true | false | Promise<void> {
    const open = lane === 'open';
    if (this.#inFlight < this.#max && (!open || this.#openInFlight < this.#openMax)) {
      this.#inFlight++;
      if (open) this.#openInFlight++;
      return true;
    }
    const line = open ? this.#openWaiting : this.#waiting;
    if (line.length >= (open ? this.#openMax : this.#max) * 4) return false;
    return new Promise<void>((resume) => line.push(resume));
  }

  /** Frees a slot of `lane` and hands slots to waiting queries, `expected` ones first. */
  release(lane: QueryLane): void {
    this.#inFlight--;
    if (lane === 'open') this.#openInFlight--;
    while (this.#inFlight < this.#max) {
      const next = this.#waiting.shift();
      if (next) {
        this.#inFlight++;
        next();
        continue;
      }
      if (this.#openInFlight >= this.#openMax) return;
      const open = this.#openWaiting.shift();
      if (!open) return;
      this.#inFlight++;
      this.#openInFlight++;
      open();
    }
  }

  /** For a refusal's message. */
  describe(lane: QueryLane): string {
    return lane === 'open'
      ? `${this.#openInFlight} queries in flight to the node for relays of applications or heights not seen in use and ${this.#openWaiting.length} waiting`
      : `${this.#inFlight} queries in flight to the node and ${this.#waiting.length} waiting`;
  }
}
