import type { IncomingHttpHeaders } from 'node:http';
import type { Readiness, ReadinessReport } from '../observability/readiness.js';

/** Paths the Go HA relay miner answers on its relay port before any relay logic (docs/spec/wire.md §7). */
const PROBE_PATHS = new Set(['/health', '/healthz', '/ready']);

/** How long one readiness answer serves the relay listener's probes: the port is public, its checks ask Redis. */
const READY_REUSE_MS = 1000;

/**
 * Load balancers' health probes on the relay listener, for those that probe the port they send traffic to (a cloud
 * load balancer's default) with the paths the Go relay miner answers there. Only a GET or HEAD without a body is a
 * probe: a relay always has one, so a REST relay to such a path is still a relay. The answers say no more than ready
 * or not (the health listener has the checks): `/health` and `/healthz` 200 while the process answers, `/ready` 200
 * or 503 from readiness evaluated at most once a second, however many probes ask.
 */
export class ListenerProbes {
  readonly #readiness: Readiness;
  #ready: { at: number; report: Promise<ReadinessReport> } | undefined;

  constructor(readiness: Readiness) {
    this.#readiness = readiness;
  }

  /** Whether a request is a probe rather than a relay. */
  static matches(method: string, url: string, headers: IncomingHttpHeaders): boolean {
    return (method === 'GET' || method === 'HEAD') && PROBE_PATHS.has(url) && headers['transfer-encoding'] === undefined && !(Number(headers['content-length']) > 0);
  }

  async answer(url: string): Promise<{ status: number; body: { status: string } }> {
    if (url !== '/ready') return { status: 200, body: { status: 'ok' } };
    const now = Date.now();
    if (!this.#ready || now - this.#ready.at >= READY_REUSE_MS) this.#ready = { at: now, report: this.#readiness.evaluate() };
    const { status } = await this.#ready.report;
    const ready = status === 'ready' && !this.#readiness.draining;
    return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : this.#readiness.draining ? 'draining' : status } };
  }
}
