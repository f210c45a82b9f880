import { Counter, Histogram, type Registry } from 'prom-client';
import { LocalCounts, type LocalSeries } from '../observability/local-counts.js';

type Outcome = 'served' | 'backend_5xx' | 'rejected';

/** Relay pipeline metrics. Labels: service, rpc_type, reason, outcome; all bounded by config. */
export class RelayMetrics {
  /** Each (service, rpc_type)'s per-relay series, made once (the label sets are bounded by config). */
  readonly #bound = new Map<
    string,
    { relays: Record<Outcome, LocalSeries>; duration: { observe(v: number): void }; backend: { observe(v: number): void }; overhead: { observe(v: number): void }; published: LocalSeries }
  >();
  /** The per-relay counts, kept in plain numbers until a scrape reads them. */
  readonly #relayCounts = new LocalCounts<'service' | 'rpc_type' | 'outcome'>();
  readonly #publishedCounts = new LocalCounts<'service'>();
  readonly relays: Counter<'service' | 'rpc_type' | 'outcome'>;
  readonly rejections: Counter<'service' | 'rpc_type' | 'reason'>;
  readonly published: Counter<'service'>;
  readonly notRewardEligible: Counter<'service'>;
  readonly publishFailures: Counter<'service'>;
  readonly duration: Histogram<'service' | 'rpc_type'>;
  readonly backend: Histogram<'service' | 'rpc_type'>;
  readonly overhead: Histogram<'service' | 'rpc_type'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const relayCounts = this.#relayCounts;
    const publishedCounts = this.#publishedCounts;
    this.relays = new Counter({
      name: 'relayminer_relays_total',
      help: 'Relays answered, by outcome (served, backend_5xx, rejected).',
      labelNames: ['service', 'rpc_type', 'outcome'],
      registers,
      collect() {
        relayCounts.flush(this);
      },
    });
    this.rejections = new Counter({ name: 'relayminer_relay_rejections_total', help: 'Relays refused, by reason code.', labelNames: ['service', 'rpc_type', 'reason'], registers });
    this.published = new Counter({
      name: 'relayminer_relays_published_total',
      help: 'Stream entries appended: relays that met the difficulty (a relay published twice counts twice; the miner stores it once).',
      labelNames: ['service'],
      registers,
      collect() {
        publishedCounts.flush(this);
      },
    });
    this.notRewardEligible = new Counter({ name: 'relayminer_relays_not_reward_eligible_total', help: 'Relays served past the reward-eligibility height, so not mined.', labelNames: ['service'], registers });
    this.publishFailures = new Counter({ name: 'relayminer_relay_publish_failures_total', help: 'Mined relays whose append to the relay stream failed or went unanswered (served; possibly not published, so possibly not claimed).', labelNames: ['service'], registers });
    // Fine below 5 ms: that is where a healthy relayer's own share of the latency lies.
    const buckets = [0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    const latency = (name: string, help: string) => new Histogram<'service' | 'rpc_type'>({ name, help, labelNames: ['service', 'rpc_type'], buckets, registers });
    this.duration = latency('relayminer_relay_duration_seconds', 'Time from receiving a relay to having its response, including the backend.');
    this.backend = latency(
      'relayminer_relay_backend_seconds',
      "The backend's share of a relay's duration: from calling it to its answer (a streamed answer: its first bytes), for relays a backend answered.",
    );
    this.overhead = latency(
      'relayminer_relay_overhead_seconds',
      "What the relayer itself added to a relay a backend answered (validation, meter, signing, mining, publishing, and waiting for its event loop and crypto threads): the relay's duration less the backend's share; for a WebSocket message, from the backend's message to its signed answer.",
    );
  }

  #series(service: string, rpcType: string) {
    const key = `${service}\u0000${rpcType}`;
    let bound = this.#bound.get(key);
    if (!bound) {
      const relays = (outcome: Outcome) => this.#relayCounts.series({ service, rpc_type: rpcType, outcome });
      bound = {
        relays: { served: relays('served'), backend_5xx: relays('backend_5xx'), rejected: relays('rejected') },
        duration: this.duration.labels({ service, rpc_type: rpcType }),
        backend: this.backend.labels({ service, rpc_type: rpcType }),
        overhead: this.overhead.labels({ service, rpc_type: rpcType }),
        published: this.#publishedCounts.series({ service }),
      };
      this.#bound.set(key, bound);
    }
    return bound;
  }

  countRelay(labels: { service: string; rpc_type: string }, outcome: Outcome): void {
    this.#series(labels.service, labels.rpc_type).relays[outcome].inc();
  }

  observeDuration(labels: { service: string; rpc_type: string }, seconds: number): void {
    this.#series(labels.service, labels.rpc_type).duration.observe(seconds);
  }

  /**
   * A relay a backend answered: the backend's share of its `totalSeconds`, and the rest, the relayer's own.
   * Without `backendSeconds` (a WebSocket message, whose backend time no request measures) all of it is the relayer's.
   */
  observeBackendShare(labels: { service: string; rpc_type: string }, totalSeconds: number, backendSeconds?: number): void {
    const series = this.#series(labels.service, labels.rpc_type);
    if (backendSeconds !== undefined) series.backend.observe(backendSeconds);
    series.overhead.observe(Math.max(0, totalSeconds - (backendSeconds ?? 0)));
  }

  countPublished(labels: { service: string; rpc_type: string }): void {
    this.#series(labels.service, labels.rpc_type).published.inc();
  }
}
