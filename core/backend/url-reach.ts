import type { ResolvedBackend } from '../config/load.js';
import { redactUrl, type HealthChange } from './http-backend.js';
import { connectWaitMs } from './connect-wait.js';
import { describeBackendError } from './errors.js';
import { HealthCheckFailure } from './health-answer.js';

/** The option of a transport that connects to its backends itself: how often a URL that cannot be reached is probed (UrlReach's `intervalMs`). */
export const backendProbeIntervalOption = {
  type: 'integer',
  minimum: 100,
  maximum: 600_000,
  default: 5_000,
  description:
    "While a backend URL cannot be reached (a connection to it failed), it is probed this often (a connection opened and closed) until one opens: it is out of `/ready/<service>` and `relayminer_backend_urls_healthy` until then, and comes back without waiting for a relay to try it. A backend with a `health_check` is probed on its `interval_ms` instead.",
} as const;

export interface UrlReachOptions {
  /** Opens a connection to `url` and closes it; rejects when it cannot be reached. */
  probe: (url: string) => Promise<void>;
  /** Time between probes of a URL while it cannot be reached. */
  intervalMs?: number;
  /** Told when a URL fails (the first time since it last answered) and when it answers again. */
  onChange?: (change: HealthChange) => void;
  /** A URL as logs may name it (default: without credentials, path or query). */
  redact?: (url: string) => string;
  /** Active health: every URL probed on a timer from `start()`, not only those that failed (a backend's `health_check`). */
  active?: ActiveProbes;
}

/** A backend's `health_check` as connection probes: `probe` takes each URL out after `unhealthyThreshold` failures in a row and back after `healthyThreshold` successes. */
export interface ActiveProbes {
  intervalMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
}

/**
 * Which of a backend's URLs can be reached, for transports that connect to their backends themselves (WebSocket,
 * gRPC): a URL is out once a connection to it fails and back once one opens. While it is out it is probed on a
 * timer, so it comes back without waiting for a relay to try it; a service whose readiness gates its traffic would
 * otherwise never see one. With `active` probes every URL is probed from `start()` on, so a backend that goes away
 * is out before a relay finds it gone; one that failed comes back after `healthyThreshold` good probes, or at once
 * when a relay's connection to it opens.
 */
export class UrlReach {
  readonly #urls: readonly string[];
  readonly #o: UrlReachOptions;
  readonly #down = new Set<string>();
  /** URLs out because they failed `unhealthyThreshold` active probes in a row (not one failed connection). */
  readonly #probedOut = new Set<string>();
  /** Active probes in a row: each URL's failures, and its successes while it is out. */
  readonly #failStreak = new Map<string, number>();
  readonly #okStreak = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(urls: readonly string[], o: UrlReachOptions) {
    this.#urls = urls;
    this.#o = o;
  }

  /** How long a connection to one of the URLs may take to open before the URL counts as failed (core/backend/connect-wait.ts). */
  static connectWaitMs(timeoutMs: number): number {
    return connectWaitMs(timeoutMs);
  }

  /** A backend's `health_check` as the `active` option (undefined without one). */
  static activeProbes(backend: Pick<ResolvedBackend, 'health_check'>): ActiveProbes | undefined {
    const hc = backend.health_check;
    return hc && { intervalMs: hc.interval_ms, unhealthyThreshold: hc.unhealthy_threshold, healthyThreshold: hc.healthy_threshold };
  }

  /** How long one probe of a backend's URL may take: its health check's `timeout_ms`, else the connect wait. */
  static probeWaitMs(backend: Pick<ResolvedBackend, 'health_check' | 'timeout_ms'>): number {
    return backend.health_check?.timeout_ms ?? connectWaitMs(backend.timeout_ms);
  }

  /** URLs not known to fail, of all configured. */
  get health(): { healthy: number; total: number } {
    return { healthy: this.#urls.length - this.#down.size, total: this.#urls.length };
  }

  /**
   * The URLs in the order to try them: those not known to fail as configured, then those that failed (one may be
   * back before its probe says so, and when every URL failed they are all there is).
   */
  get ordered(): readonly string[] {
    if (this.#down.size === 0) return this.#urls;
    return [...this.#urls.filter((u) => !this.#down.has(u)), ...this.#urls.filter((u) => this.#down.has(u))];
  }

  /**
   * With active probes: every URL failed `unhealthyThreshold` probes in a row and none has answered since, so a
   * call may fail at once instead of trying each (as an HTTP backend's calls do when its health checks fail every
   * URL). One failed connection is not enough: a blip would refuse calls until `healthyThreshold` probes pass.
   */
  get probedOut(): boolean {
    return this.#probedOut.size > 0 && this.#probedOut.size === this.#urls.length;
  }

  /** Starts the active probes, the first round at once (none without `active`). */
  start(): void {
    if (this.#o.active) this.#schedule(0);
  }

  failed(url: string, err: unknown): void {
    if (this.#closed || this.#down.has(url)) return;
    this.#down.add(url);
    this.#okStreak.delete(url);
    this.#o.onChange?.({ url: this.#redact(url), up: false, reason: describeBackendError(err), ...(err instanceof HealthCheckFailure && { healthCheck: true }) });
    this.#schedule();
  }

  answered(url: string): void {
    this.#failStreak.delete(url);
    this.#okStreak.delete(url);
    this.#probedOut.delete(url);
    if (!this.#down.delete(url)) return;
    this.#o.onChange?.({ url: this.#redact(url), up: true, reason: 'answers again' });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #redact(url: string): string {
    return this.#o.redact ? this.#o.redact(url) : redactUrl(new URL(url));
  }

  #schedule(delayMs?: number): void {
    if (this.#timer || this.#closed) return;
    const active = this.#o.active;
    this.#timer = setTimeout(
      () => {
        const urls = active ? this.#urls : [...this.#down];
        void Promise.all(urls.map((url) => this.#o.probe(url).then(() => this.#probed(url), (err: unknown) => this.#probed(url, err)))).then(() => {
          this.#timer = undefined;
          if (active || this.#down.size > 0) this.#schedule();
        });
      },
      delayMs ?? (active ? active.intervalMs : (this.#o.intervalMs ?? 5000)),
    );
    this.#timer.unref();
  }

  #probed(url: string, err?: unknown): void {
    if (this.#closed) return;
    const active = this.#o.active;
    if (!active) {
      if (err === undefined) this.answered(url);
      return;
    }
    // Failures in a row count whether the URL is in or already out (a failed connection took it out); successes
    // in a row count while it is out. Either kind ends the other's streak.
    if (err === undefined) {
      this.#failStreak.delete(url);
      if (!this.#down.has(url)) return;
      const oks = (this.#okStreak.get(url) ?? 0) + 1;
      if (oks >= active.healthyThreshold) this.answered(url);
      else this.#okStreak.set(url, oks);
      return;
    }
    this.#okStreak.delete(url);
    const fails = (this.#failStreak.get(url) ?? 0) + 1;
    this.#failStreak.set(url, fails);
    if (fails < active.unhealthyThreshold) return;
    this.failed(url, err);
    this.#probedOut.add(url);
  }
}
