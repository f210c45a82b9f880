import { Cluster, ReplyError } from 'ioredis';
import { settlesWithin } from '../async/settles-within.js';
import type { RedisClient } from './connection.js';

export interface RedisCircuitOptions {
  /** The connection probes go out on (any of a pool's: they reach the same servers). */
  client: () => RedisClient;
  /** How long a probe waits for its answer before the next is sent. */
  probeTimeoutMs?: number;
  /** Between a failed probe and the next. */
  retryMs?: number;
  /**
   * On each change of state: `answering` false with the failure that opened the first circuit, true when the
   * last open one closed. Said once for the whole, not once per key or per supplier.
   */
  onChange?: (answering: boolean, err?: Error) => void;
}

/** What a command skipped while its circuit is open fails with (code `REDIS_NOT_ANSWERING`). */
export class RedisNotAnsweringError extends Error {
  readonly code = 'REDIS_NOT_ANSWERING';

  constructor(openedBy: Error) {
    super(`Redis does not answer (${openedBy.message}); not asked until it does`);
    this.name = 'RedisNotAnsweringError';
  }
}

interface Open {
  openedBy: Error;
  timer?: NodeJS.Timeout;
}

/**
 * Whether Redis answers, as a hot path sees it. A command that timed out or lost its connection opens
 * the circuit of its key (an error reply does not: that is Redis answering); while it is open, one probe
 * at a time asks the server that holds the key, and the first answer closes it. Callers skip Redis for
 * the key while it is open, instead of each waiting out the command timeout in turn behind a server
 * that has stopped answering.
 *
 * One server: one circuit for every key, probed with PING. A Cluster: one circuit per hash slot's
 * worth of keys as the key names them (its `{hash tag}`, else the whole key), probed with an EXISTS on
 * the failed key, which the Cluster routes to the master holding it; a master that stops answering
 * opens the circuit of each supplier (one hash tag each) that uses it, and leaves the others alone.
 */
export class RedisCircuits {
  readonly #o: RedisCircuitOptions;
  readonly #cluster: boolean;
  /** Open circuits by routing tag; closed ones are not kept. */
  readonly #open = new Map<string, Open>();
  #stopped = false;

  constructor(o: RedisCircuitOptions) {
    this.#o = o;
    this.#cluster = o.client() instanceof Cluster;
  }

  /** True when no circuit is open. */
  get answering(): boolean {
    return this.#open.size === 0;
  }

  /** False while the circuit of `key` is open: Redis is not asked for it. */
  answersFor(key: string): boolean {
    return this.#open.size === 0 || !this.#open.has(this.#tag(key));
  }

  /** Undefined while Redis answers for `key`; else the error a caller skipping it fails with. */
  skipped(key: string): RedisNotAnsweringError | undefined {
    if (this.#open.size === 0) return undefined;
    const open = this.#open.get(this.#tag(key));
    return open && new RedisNotAnsweringError(open.openedBy);
  }

  /** A command on `key` failed: unless Redis answered it with an error, its circuit opens. */
  failed(key: string, err: unknown): void {
    if (this.#stopped || !(err instanceof Error) || err instanceof ReplyError || err instanceof RedisNotAnsweringError) return;
    const tag = this.#tag(key);
    if (this.#open.has(tag)) return;
    this.#open.set(tag, { openedBy: err });
    if (this.#open.size === 1) this.#o.onChange?.(false, err);
    this.#probe(tag, key);
  }

  /** No more probes; the state stays as it is. */
  stop(): void {
    this.#stopped = true;
    for (const open of this.#open.values()) clearTimeout(open.timer);
  }

  #tag(key: string): string {
    if (!this.#cluster) return '';
    // Redis Cluster's rule: the first `{`, the first `}` after it, and something between them.
    const start = key.indexOf('{');
    if (start < 0) return key;
    const end = key.indexOf('}', start + 1);
    return end > start + 1 ? key.slice(start + 1, end) : key;
  }

  #probe(tag: string, key: string): void {
    const client = this.#o.client();
    const answered = (this.#cluster ? client.exists(key) : client.ping()).then(
      () => true,
      () => false,
    );
    void settlesWithin(answered, this.#o.probeTimeoutMs ?? 1000, { unref: true }).then(async (settled) => {
      if (settled && (await answered)) {
        if (this.#stopped || !this.#open.delete(tag)) return;
        if (this.#open.size === 0) this.#o.onChange?.(true);
        return;
      }
      const open = this.#open.get(tag);
      if (!this.#stopped && open) open.timer = setTimeout(() => this.#probe(tag, key), this.#o.retryMs ?? 250).unref();
    });
  }
}
