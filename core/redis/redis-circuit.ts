import { ReplyError } from 'ioredis';

export interface RedisCircuitOptions {
  /** One command that settles when Redis answers it (a PING), or fails. */
  probe: () => Promise<unknown>;
  /** Between a failed probe and the next. */
  retryMs?: number;
  /** On each change of state: `answering` false with the failure that opened it, true when a probe was answered. */
  onChange?: (answering: boolean, err?: Error) => void;
}

/** What a command skipped while the circuit is open fails with (code `REDIS_NOT_ANSWERING`). */
export class RedisNotAnsweringError extends Error {
  readonly code = 'REDIS_NOT_ANSWERING';

  constructor(openedBy: Error) {
    super(`Redis does not answer (${openedBy.message}); not asked until it does`);
    this.name = 'RedisNotAnsweringError';
  }
}

/**
 * Whether Redis answers, as a hot path sees it. A command that timed out or lost its connection opens
 * the circuit (an error reply does not: that is Redis answering); while it is open, one probe at a time
 * asks Redis, and the first answer closes it. Callers skip Redis while it is open, instead of each
 * waiting out the command timeout in turn behind a server that has stopped answering.
 *
 * One server's view: a Cluster's masters fail one by one, so one timeout says nothing of the others.
 */
export class RedisCircuit {
  readonly #o: RedisCircuitOptions;
  #openedBy: Error | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: RedisCircuitOptions) {
    this.#o = o;
  }

  get answering(): boolean {
    return this.#openedBy === undefined;
  }

  /** Undefined while Redis answers; else the error a caller skipping Redis fails with. */
  get skipped(): RedisNotAnsweringError | undefined {
    return this.#openedBy && new RedisNotAnsweringError(this.#openedBy);
  }

  /** A command failed: unless Redis answered it with an error, the circuit opens. */
  failed(err: unknown): void {
    if (this.#openedBy || this.#stopped || !(err instanceof Error) || err instanceof ReplyError || err instanceof RedisNotAnsweringError) return;
    this.#openedBy = err;
    this.#o.onChange?.(false, err);
    this.#probe();
  }

  #probe(): void {
    this.#o.probe().then(
      () => {
        if (this.#stopped) return;
        this.#openedBy = undefined;
        this.#o.onChange?.(true);
      },
      () => {
        if (!this.#stopped) this.#timer = setTimeout(() => this.#probe(), this.#o.retryMs ?? 250).unref();
      },
    );
  }

  /** No more probes; the state stays as it is. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
