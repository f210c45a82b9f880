import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { ChainQueryClient } from '../chain/query-client.js';
import { readSupplierStakes, stakeCoverage, type ServedRelays, type UnservedStake } from './stake-coverage.js';

export interface StakeWatchOptions {
  query: ChainQueryClient;
  suppliers: readonly string[];
  served: ServedRelays;
  log: Logger;
  registry: Registry;
  /** Until the node answers a check (a relayer started before its node): the stakes are unknown meanwhile. Default 30 s. */
  retryAfterFailureMs?: number;
}

/** Between checks: stakes change by transactions, rarely. */
const CHECK_EVERY_MS = 600_000;
const RETRY_AFTER_FAILURE_MS = 30_000;

/** Stake queries at once: relay validation shares the node's query bound. */
const QUERY_CONCURRENCY = 4;

/**
 * The relayer's side of `validate --check-stake`, at start and every 10 minutes: each staked service and
 * transport it does not serve is a warning when it appears and an info line when it is served (or unstaked)
 * again, and `relayminer_staked_transports_not_served` counts them for an alert. A node that does not
 * answer is said once, and checked again every 30 s until a check works.
 */
export class StakeWatch {
  readonly #o: StakeWatchOptions;
  #suppliers: readonly string[];
  /** Unserved pairs last seen (by service and transport), and notes already said. */
  #unserved = new Map<string, UnservedStake>();
  readonly #noted = new Set<string>();
  #count = 0;
  #failing = false;
  #checked = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: StakeWatchOptions) {
    this.#o = o;
    this.#suppliers = o.suppliers;
    const watch = this;
    new Gauge({
      name: 'relayminer_staked_transports_not_served',
      help: "Service and transport pairs a loaded supplier key is staked for that this relayer does not serve (no service, backend or transport for them): gateways' relays there fail and earn nothing. Checked at start and every 10 minutes.",
      registers: [o.registry],
      aggregator: 'max',
      collect() {
        this.set(watch.#count);
      },
    });
  }

  start(): void {
    const run = () => {
      void this.check().finally(() => {
        if (!this.#closed) this.#timer = setTimeout(run, this.#failing ? this.#retryMs : CHECK_EVERY_MS).unref();
      });
    };
    run();
  }

  get #retryMs(): number {
    return this.#o.retryAfterFailureMs ?? RETRY_AFTER_FAILURE_MS;
  }

  /** One check (also what `start` repeats). Never throws. */
  async check(): Promise<void> {
    const { log } = this.#o;
    let coverage: ReturnType<typeof stakeCoverage>;
    try {
      coverage = stakeCoverage(await readSupplierStakes(this.#o.query, this.#suppliers, QUERY_CONCURRENCY), this.#o.served);
    } catch (err) {
      if (!this.#failing) log.warn({ err: (err as Error).message }, `stake check: the node did not answer; checking again every ${this.#retryMs / 1000} s until it does`);
      this.#failing = true;
      return;
    }
    if (this.#closed) return;
    if (this.#failing) log.info('stake check works again');
    this.#failing = false;
    // By pair, not by message: more keys staked for an unserved pair is not news.
    const now = new Map(coverage.refused.map((r) => [`${r.service}|${r.rpcType}`, r]));
    for (const [pair, r] of now) if (!this.#unserved.has(pair)) log.warn({ service: r.service, rpc_type: r.rpcType, suppliers: r.suppliers.length }, `staked but not served: ${r.message}`);
    for (const [pair, r] of this.#unserved) if (!now.has(pair)) log.info({ service: r.service, rpc_type: r.rpcType }, 'a staked service transport is served now, or no longer staked');
    for (const note of coverage.notes) {
      if (this.#noted.has(note)) continue;
      this.#noted.add(note);
      log.info(`stake check: ${note}`);
    }
    if (!this.#checked && now.size === 0) log.info({ suppliers: this.#suppliers.length }, 'stake check: every service transport the supplier keys are staked for is served');
    this.#checked = true;
    this.#unserved = now;
    this.#count = now.size;
  }

  /** Keys reloaded: checked against the new set at once (a key added is often a supplier just staked). */
  setSuppliers(suppliers: readonly string[]): void {
    this.#suppliers = suppliers;
    if (!this.#closed) void this.check();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}
