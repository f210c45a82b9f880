import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { defaultRingBackend } from '../crypto/ring/signature.js';

/**
 * How often the event loop's delay is sampled (`nodejs_eventloop_lag_*`): a sample is this interval plus how
 * late the loop was, so a p99 of 10.4 ms means the loop was 0.4 ms late.
 */
export const EVENT_LOOP_SAMPLING_MS = 10;

/**
 * One registry per process (not prom-client's global one), so tests can run several runtimes in
 * one process and a plugin's metrics appear only where it runs. Metric names: `relayminer_*`.
 * Labels stay bounded: never session ids, addresses of applications or URLs.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly ready: Gauge;
  readonly redisErrors: Counter<'connection'>;
  readonly relayHookErrors: Counter<'hook' | 'plugin'>;
  readonly listenerRefusals: Counter<'listener' | 'reason'>;
  #readiness: (() => Promise<boolean>) | undefined;

  constructor(info: { version: string; roles: readonly string[] }) {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLING_MS });
    const build = new Gauge({
      name: 'relayminer_build_info',
      help: 'Always 1; labels carry the version, the roles this process runs and its ring-signature arithmetic (native-strauss, native or noble).',
      labelNames: ['version', 'roles', 'ring_crypto'],
      registers: [this.registry],
      aggregator: 'first', // one value for all `--workers`, not their count
    });
    build.set({ version: info.version, roles: [...info.roles].sort().join(','), ring_crypto: defaultRingBackend().name }, 1);
    const self = this;
    this.ready = new Gauge({
      name: 'relayminer_ready',
      help: '1 while the readiness checks pass (evaluated at each scrape, like /ready), 0 otherwise (including while draining).',
      registers: [this.registry],
      aggregator: 'min', // under `--workers`: ready only if every worker is
      // Evaluated when scraped, so it follows the process's state whether or not anyone asks /ready.
      async collect() {
        if (self.#readiness) this.set((await self.#readiness()) ? 1 : 0);
      },
    });
    this.redisErrors = new Counter({
      name: 'relayminer_redis_connection_errors_total',
      help: 'Errors reported by Redis connections (they reconnect by themselves).',
      labelNames: ['connection'],
      registers: [this.registry],
    });
    this.relayHookErrors = new Counter({
      name: 'relayminer_relay_hook_errors_total',
      help: 'Relay hook handlers that threw, by hook and plugin.',
      labelNames: ['hook', 'plugin'],
      registers: [this.registry],
    });
    this.listenerRefusals = new Counter({
      name: 'relayminer_listener_refusals_total',
      help: 'Connections and requests a listener limit refused: max_connections (closed on arrival), request_timeout (408, or a relay-listener connection that sent nothing, closed), answer_timeout (a large answer its client did not take in time: connection closed, gRPC call reset), first_frame_timeout (WebSocket), call_timeout (gRPC).',
      labelNames: ['listener', 'reason'],
      registers: [this.registry],
    });
  }

  /** What `relayminer_ready` reports at each scrape. */
  followReadiness(evaluate: () => Promise<boolean>): void {
    this.#readiness = evaluate;
  }
}
