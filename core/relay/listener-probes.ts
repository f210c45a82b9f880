import type { IncomingHttpHeaders } from 'node:http';
import type { Readiness, ReadinessReport } from '../observability/readiness.js';

/** Paths the Go HA relay miner answers on its relay port before any relay logic (docs/spec/wire.md §7), and `/ready/<service>`. */
const PROBE_PATHS = new Set(['/health', '/healthz', '/ready']);
const SERVICE_READY = '/ready/';

/** How long one readiness answer serves the relay listener's probes: the port is public, its checks ask Redis. */
const READY_REUSE_MS = 1000;

/**
 * Load balancers' health probes on the relay listener, for those that probe the port they send traffic to (a cloud
 * load balancer's default) with the paths the Go relay miner answers there. Only a GET or HEAD without a body is a
 * probe: a relay always has one, so a REST relay to such a path is still a relay. The answers say no more than ready
 * or not (the health listener has the checks): `/health` and `/healthz` 200 while the process answers, `/ready` 200
 * or 503 from readiness evaluated at most once a second, however many probes ask, and `/ready/<service>` 200 or 503
 * as the health listener's (404 for a service not served, 400 without one), for load balancers that route each
 * service by its own readiness.
 */
export class ListenerProbes {
  readonly #readiness: Readiness;
  #ready: { at: number; report: Promise<ReadinessReport> } | undefined;

  constructor(readiness: Readiness) {
    this.#readiness = readiness;
  }

  /** Whether a request is a probe rather than a relay. */
  static matches(method: string, url: string, headers: IncomingHttpHeaders): boolean {
    return (
      (method === 'GET' || method === 'HEAD') &&
      (PROBE_PATHS.has(url) || url.startsWith(SERVICE_READY)) &&
      headers['transfer-encoding'] === undefined &&
      !(Number(headers['content-length']) > 0)
    );
  }

  async answer(url: string): Promise<{ status: number; body: Record<string, string | boolean> }> {
    if (url.startsWith(SERVICE_READY)) return this.#service(url.slice(SERVICE_READY.length));
    if (url !== '/ready') return { status: 200, body: { status: 'ok' } };
    const now = Date.now();
    if (!this.#ready || now - this.#ready.at >= READY_REUSE_MS) this.#ready = { at: now, report: this.#readiness.evaluate() };
    const { status } = await this.#ready.report;
    const ready = status === 'ready' && !this.#readiness.draining;
    return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : this.#readiness.draining ? 'draining' : status } };
  }

  #service(encoded: string): { status: number; body: Record<string, string | boolean> } {
    let service: string;
    try {
      service = decodeURIComponent(encoded);
    } catch {
      service = '';
    }
    if (service === '' || service.includes('/')) return { status: 400, body: { error: 'name one service: /ready/<service id>' } };
    const report = this.#readiness.service(service);
    // The id is the caller's own input: not echoed for a service this relayer does not serve.
    if (!report) return { status: 404, body: { error: 'service not served here' } };
    const ready = report.ready && !this.#readiness.draining;
    return { status: ready ? 200 : 503, body: { service, ready } };
  }
}
