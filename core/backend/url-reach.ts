import { redactUrl, type HealthChange } from './http-backend.js';
import { connectWaitMs } from './connect-wait.js';
import { describeBackendError } from './errors.js';

/** The option of a transport that connects to its backends itself: how often a URL that cannot be reached is probed (UrlReach's `intervalMs`). */
export const backendProbeIntervalOption = {
  type: 'integer',
  minimum: 100,
  maximum: 600_000,
  default: 5_000,
  description:
    "While a backend URL cannot be reached (a connection to it failed), it is probed this often (a connection opened and closed) until one opens: it is out of `/ready/<service>` and `relayminer_backend_urls_healthy` until then, and comes back without waiting for a relay to try it.",
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
}

/**
 * Which of a backend's URLs can be reached, for transports that connect to their backends themselves (WebSocket,
 * gRPC), which have no probes of their own: a URL is out once a connection to it fails and back once one opens. While
 * it is out it is probed on a timer, so it comes back without waiting for a relay to try it; a service whose
 * readiness gates its traffic would otherwise never see one.
 */
export class UrlReach {
  readonly #urls: readonly string[];
  readonly #o: UrlReachOptions;
  readonly #down = new Set<string>();
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

  failed(url: string, err: unknown): void {
    if (this.#closed || this.#down.has(url)) return;
    this.#down.add(url);
    this.#o.onChange?.({ url: this.#redact(url), up: false, reason: describeBackendError(err) });
    this.#schedule();
  }

  answered(url: string): void {
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

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void Promise.all(
        [...this.#down].map((url) =>
          this.#o.probe(url).then(
            () => this.answered(url),
            () => {},
          ),
        ),
      ).then(() => {
        if (this.#down.size > 0) this.#schedule();
      });
    }, this.#o.intervalMs ?? 5000);
    this.#timer.unref();
  }
}
