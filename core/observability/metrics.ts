import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { defaultRingBackend } from '../crypto/ring/signature.js';

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

  constructor(info: { version: string; roles: readonly string[] }) {
    collectDefaultMetrics({ register: this.registry });
    const build = new Gauge({
      name: 'relayminer_build_info',
      help: 'Always 1; labels carry the version, the roles this process runs and its ring-signature arithmetic (native-strauss, native or noble).',
      labelNames: ['version', 'roles', 'ring_crypto'],
      registers: [this.registry],
      aggregator: 'first', // one value for all `--workers`, not their count
    });
    build.set({ version: info.version, roles: [...info.roles].sort().join(','), ring_crypto: defaultRingBackend().name }, 1);
    this.ready = new Gauge({
      name: 'relayminer_ready',
      help: '1 while the last readiness evaluation passed, 0 otherwise (including while draining).',
      registers: [this.registry],
      aggregator: 'min', // under `--workers`: ready only if every worker is
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
  }
}
