import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { Client, Pool } from 'undici';
import type { ResolvedBackend } from '../config/load.js';
import { backendAuthorization } from './backend-auth.js';
import { BackendError } from './backend-error.js';
import { connectWaitMs } from './connect-wait.js';
import { backendFault, describeBackendError, unsendableRequest } from './errors.js';
import { exchange } from './exchange.js';
import { HEALTH_ANSWER_BYTES, healthAnswerFailure } from './health-answer.js';
import { relayPath } from './relay-url.js';

export interface BackendRequest {
  method: string;
  /** Path and query from POKTHTTPRequest.url; joined onto the backend URL's own path and query. */
  url: string;
  headers: Record<string, string | string[]>;
  body?: Uint8Array;
}

export interface BackendResponse {
  status: number;
  headers: Record<string, string[]>;
  /** Decompressed: what the supplier signs is what the client reads. */
  body: Uint8Array;
  /** Other endpoints tried before this answer. */
  retries: number;
  /** Set for SSE / NDJSON answers (docs/spec/wire.md §3): the body arrives here, `body` is empty. */
  stream?: Readable;
}

interface Endpoint {
  url: URL;
  /** From the backend's `auth`, or the URL's own user and password. */
  authorization: string | undefined;
  /** Backend path + query for a relay's POKTHTTPRequest.url (memoized: relays repeat a few paths). */
  join(relayUrl: string): string;
  pool: Pool;
  /**
   * A connection of its own for health checks and the check after a timeout: relays that take `timeout_ms`
   * can fill `pool`, and a probe queued behind them would find a URL that answers everything else dead.
   */
  probe?: Client;
  /** The check after a timeout, while it runs (one at a time). */
  checking?: Promise<void>;
  /** Each application's requests in flight here, and its requests waiting for one of them to end. */
  shares: Map<string, { held: number; waiting: (() => void)[] }>;
  /** Answers this URL gave; a failure counts only if none came since the failed request was sent. */
  successes: number;
  failures: number;
  openUntil: number;
  /** The circuit opened and no answer came since: said once when it opens, once when the URL answers again. */
  tripped: boolean;
  /** Active health: false once `unhealthy_threshold` probes in a row failed, until `healthy_threshold` pass. */
  probedUp: boolean;
  probeStreak: number;
  probeTimer?: NodeJS.Timeout;
}

export interface HealthChange {
  url: string;
  up: boolean;
  reason: string;
  /** Out because a health check failed on what came back (or did not come back) once connected, not because no connection opened. */
  healthCheck?: boolean;
}

// The statuses that say the backend cannot serve now (RFC 9110 §15.6), whatever was asked. A 500 may be
// the answer to one request (a client can ask for what crashes a handler): it never moves the breaker.
const UNAVAILABLE_STATUSES = new Set([502, 503, 504]);

// Connection-level headers belong to each hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'content-length']);

/**
 * One (service, RPC type) backend: keep-alive pools per URL, round robin or first healthy, a passive
 * circuit breaker, and retries on another URL for connection errors and 5xx within one deadline.
 */
export class HttpBackend {
  readonly #cfg: ResolvedBackend;
  readonly #endpoints: Endpoint[];
  readonly #fixedHeaders: Record<string, string>;
  readonly #onCircuit: (change: HealthChange) => void;
  #next = 0;
  #closed = false;
  /** Requests in flight one application may have at one URL: its `application_share` of the pool. */
  readonly #share: number;
  readonly #onShareFull: () => void;

  /** `onCircuit`: told when a URL's circuit breaker opens (the first time since it last answered) and when it answers again. */
  /** `onShareFull`: told of each request that has to wait because its application holds its share of a URL. */
  constructor(cfg: ResolvedBackend, o: { onCircuit?: (change: HealthChange) => void; onShareFull?: () => void } = {}) {
    this.#cfg = cfg;
    this.#onCircuit = o.onCircuit ?? (() => {});
    this.#onShareFull = o.onShareFull ?? (() => {});
    this.#share = Math.max(1, Math.floor(cfg.connections * cfg.pipelining * cfg.application_share));
    this.#endpoints = cfg.urls.map((u) => {
      const url = new URL(u);
      // A connection that does not open in time fails over to the next URL with the rest of the deadline (undici's
      // own 10 s would outlast a shorter timeout_ms, and a host dropping packets never refuses). keep_alive_ms
      // also caps what a backend announces (`Keep-Alive: timeout=N`, which undici otherwise keeps up to 10 minutes).
      const pool = new Pool(url.origin, {
        connections: cfg.connections,
        pipelining: cfg.pipelining,
        keepAliveTimeout: cfg.keep_alive_ms,
        keepAliveMaxTimeout: cfg.keep_alive_ms,
        connectTimeout: connectWaitMs(cfg.timeout_ms),
      });
      const authorization = backendAuthorization(cfg.auth, url);
      return { url, authorization, join: memoizedJoin(url), pool, shares: new Map(), successes: 0, failures: 0, openUntil: 0, tripped: false, probedUp: true, probeStreak: 0 };
    });
    const fixed: Record<string, string> = {};
    for (const [k, v] of Object.entries(cfg.headers)) fixed[k.toLowerCase()] = v;
    this.#fixedHeaders = fixed;
  }

  /** URLs that pass their active probes and whose circuit is closed (or due for a trial request). */
  get healthy(): number {
    const now = Date.now();
    return this.#endpoints.filter((e) => e.probedUp && e.openUntil <= now).length;
  }

  /**
   * Starts the active probes of `health_check` (no-op without one). URLs start in rotation; the
   * first probe runs at once so a dead URL leaves rotation within `unhealthy_threshold` probes.
   */
  startHealthChecks(onChange: (change: HealthChange) => void = () => {}): void {
    const hc = this.#cfg.health_check;
    if (!hc || this.#closed) return;
    for (const e of this.#endpoints) {
      const run = async () => {
        const failure = await this.#probe(e).catch((err: Error) => err.message);
        if (this.#closed) return;
        const ok = failure === undefined;
        e.probeStreak = ok === e.probedUp ? 0 : e.probeStreak + 1;
        if (e.probeStreak >= (ok ? hc.healthy_threshold : hc.unhealthy_threshold)) {
          e.probedUp = ok;
          e.probeStreak = 0;
          if (ok) (e.failures = 0), (e.openUntil = 0);
          onChange({ url: redactUrl(e.url), up: ok, reason: failure ?? 'probes pass' });
        }
        e.probeTimer = setTimeout(run, hc.interval_ms);
        e.probeTimer.unref();
      };
      void run();
    }
  }

  /** undefined when healthy, else why not. */
  async #probe(e: Endpoint): Promise<string | undefined> {
    const hc = this.#cfg.health_check!;
    const headers = this.#probeHeaders(e);
    if (hc.body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.#probeClient(e).request({
      method: hc.method,
      path: joinUrl(e.url, hc.path),
      headers,
      body: hc.body,
      headersTimeout: hc.timeout_ms,
      bodyTimeout: hc.timeout_ms,
      signal: AbortSignal.timeout(hc.timeout_ms),
    });
    const good = hc.expected_status.length ? hc.expected_status.includes(res.statusCode) : res.statusCode >= 200 && res.statusCode < 300;
    if (!good) {
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      return `status ${res.statusCode}`;
    }
    // A JSON-RPC node answers its errors (`header not found`, a method it lacks) with 200, and a syncing node its
    // status: the answer says.
    const text = await readUpTo(res.body, HEALTH_ANSWER_BYTES);
    if (text === undefined) return undefined; // too large to judge: its status passed
    return healthAnswerFailure(hc.body, text)?.message;
  }

  /** The largest request or response body this backend takes (`max_body_bytes`). */
  get maxBodyBytes(): number {
    return this.#cfg.max_body_bytes;
  }

  get total(): number {
    return this.#endpoints.length;
  }

  /** `application`: whose share of each URL's requests in flight the request counts against (none: no share). */
  async send(req: BackendRequest, extraHeaders: Record<string, string>, application?: string): Promise<BackendResponse> {
    const order = this.#order();
    if (order.length === 0) throw new BackendError('BACKEND_UNAVAILABLE', 'every backend URL is failing');
    // Refused before any URL is tried: it would fail the same on each, and it is no fault of theirs.
    const problem = unsendableRequest(req.method, req.url, req.headers);
    if (problem) throw new BackendError('BACKEND_REQUEST_INVALID', problem);
    const deadline = Date.now() + this.#cfg.timeout_ms;
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
    // Whatever the relay's client accepts, the answer is signed and mined as the backend sends it, and a streamed
    // one is cut at its event and line ends: a br, deflate or zstd answer (or a gzipped stream) would be signed
    // compressed or cut inside its bytes. Asked uncompressed, as the Go HA relay miner asks; a backend's own
    // configured `headers` can still say otherwise.
    headers['accept-encoding'] = 'identity';
    Object.assign(headers, this.#fixedHeaders, extraHeaders);
    // Each URL is called with its own credentials (the backend's auth, or the URL's user and password); one
    // without any gets what the relay or the configured headers said, never another URL's.
    const sharedAuthorization = headers.authorization;
    let last5xx: BackendResponse | undefined;
    let lastError: Error | undefined;
    let timedOut = false;
    for (let i = 0; i < order.length; i++) {
      const endpoint = order[i]!;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        timedOut = true;
        break;
      }
      const release = application === undefined || this.#share >= this.#cfg.connections * this.#cfg.pipelining ? undefined : await this.#take(endpoint, application, deadline);
      const answeredBefore = endpoint.successes;
      const authorization = endpoint.authorization ?? sharedAuthorization;
      if (authorization !== undefined) headers.authorization = authorization;
      else if (headers.authorization !== undefined) delete headers.authorization;
      try {
        const res = await this.#request(endpoint, req, headers, deadline - Date.now());
        res.retries = i;
        // A stream holds its connection until it ends.
        if (release) {
          if (res.stream) res.stream.once('close', release);
          else release();
        }
        // A stream is the answer as it is, 5xx included (prm checks for a stream first).
        if (res.stream) {
          this.#succeeded(endpoint);
          return res;
        }
        if (res.status >= 500) {
          if (UNAVAILABLE_STATUSES.has(res.status)) this.#failed(endpoint, answeredBefore);
          last5xx = res;
          continue;
        }
        this.#succeeded(endpoint);
        return res;
      } catch (err) {
        release?.();
        if (BackendError.is(err)) throw err;
        const fault = backendFault(err);
        // Node or undici refused to build the request: the relay's fault, and the same on every URL.
        if (fault === 'request') throw new BackendError('BACKEND_REQUEST_INVALID', describeBackendError(err));
        if (fault === 'timeout') this.#timedOut(endpoint, answeredBefore);
        else if (fault !== 'unknown') this.#failed(endpoint, answeredBefore);
        lastError = err as Error;
        timedOut = fault === 'timeout';
      }
    }
    if (last5xx) return last5xx;
    if (timedOut) throw new BackendError('BACKEND_TIMEOUT', `no answer within ${this.#cfg.timeout_ms} ms`);
    throw new BackendError('BACKEND_FAILED', lastError ? describeBackendError(lastError) : 'no backend answered');
  }

  /**
   * A place among the application's requests in flight at `e`, waiting (until `deadline`) for one of its own to end
   * when it holds its share; the function returned gives it back (once).
   */
  #take(e: Endpoint, application: string, deadline: number): Promise<() => void> | (() => void) {
    let s = e.shares.get(application);
    if (!s) e.shares.set(application, (s = { held: 0, waiting: [] }));
    const share = s;
    const place = () => {
      let given = false;
      return () => {
        if (given) return;
        given = true;
        // Handed straight to the application's next request waiting, if any: held stays as it is.
        const next = share.waiting.shift();
        if (next) return next();
        if (--share.held === 0) e.shares.delete(application);
      };
    };
    if (share.held < this.#share) {
      share.held++;
      return place();
    }
    this.#onShareFull();
    return new Promise((resolve, reject) => {
      const admit = () => {
        clearTimeout(timer);
        resolve(place());
      };
      const timer = setTimeout(() => {
        share.waiting.splice(share.waiting.indexOf(admit), 1);
        reject(new BackendError('BACKEND_TIMEOUT', `no answer within ${this.#cfg.timeout_ms} ms (its application's share of the backend's connections was in use)`));
      }, Math.max(0, deadline - Date.now()));
      share.waiting.push(admit);
    });
  }

  /** The answer of one URL; `retries` is the caller's to set. */
  async #request(e: Endpoint, req: BackendRequest, headers: Record<string, string | string[]>, timeoutMs: number): Promise<BackendResponse> {
    const method = req.method ? req.method.toUpperCase() : 'POST';
    const hasBody = req.body !== undefined && req.body.length > 0 && method !== 'HEAD';
    const limit = this.#cfg.max_body_bytes;
    const res = await exchange(e.pool, {
      method,
      path: e.join(req.url),
      headers,
      body: hasBody ? Buffer.from(req.body!.buffer, req.body!.byteOffset, req.body!.length) : undefined,
      timeoutMs,
      maxBodyBytes: limit,
    });
    const out: Record<string, string[]> = {};
    for (const k in res.headers) {
      const v = res.headers[k];
      if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = Array.isArray(v) ? v : [v];
    }
    // A stream is passed on as it comes; the pipeline batches and signs it.
    if (res.stream) return { status: res.status, headers: out, body: new Uint8Array(0), retries: 0, stream: res.stream };
    let body: Uint8Array = res.body!;
    // Some backends gzip whatever the client asked for; the response is signed decompressed.
    const gzipped = out['content-encoding']?.some((x) => x.toLowerCase() === 'gzip') || (body.length > 2 && body[0] === 0x1f && body[1] === 0x8b);
    if (gzipped) {
      try {
        body = gunzipSync(body, { maxOutputLength: limit });
      } catch (err) {
        throw new BackendError('BACKEND_RESPONSE_UNDECODABLE', `undecodable gzip response: ${(err as Error).message}`);
      }
      delete out['content-encoding'];
    }
    return { status: res.status, headers: out, body, retries: 0 };
  }

  /** Round robin rotates the start; first_healthy keeps config order. Open circuits go last, untried. */
  #order(): Endpoint[] {
    const now = Date.now();
    const n = this.#endpoints.length;
    const start = this.#cfg.load_balancing === 'round_robin' ? this.#next++ % n : 0;
    const rotated = Array.from({ length: n }, (_, i) => this.#endpoints[(start + i) % n]!);
    return rotated.filter((e) => e.probedUp && e.openUntil <= now);
  }

  #succeeded(e: Endpoint): void {
    e.successes += 1;
    e.failures = 0;
    e.openUntil = 0;
    if (e.tripped) {
      e.tripped = false;
      this.#onCircuit({ url: redactUrl(e.url), up: true, reason: 'answers again' });
    }
  }

  /**
   * Moves the breaker, unless the URL answered another request since this one was sent: then it is
   * up, and a slow or failing answer belongs to this request (a client can pick an expensive one).
   */
  #failed(e: Endpoint, answeredBefore: number): void {
    if (e.successes !== answeredBefore) return;
    e.failures += 1;
    if (e.failures >= this.#cfg.circuit_breaker.failures) this.#open(e, `${this.#cfg.circuit_breaker.failures} failures in a row`);
  }

  #open(e: Endpoint, why: string): void {
    const { failures, cooldown_ms } = this.#cfg.circuit_breaker;
    e.openUntil = Date.now() + cooldown_ms;
    // One trial request after the cooldown decides: success closes, failure reopens at once.
    e.failures = failures - 1;
    if (!e.tripped) {
      e.tripped = true;
      this.#onCircuit({ url: redactUrl(e.url), up: false, reason: `${why}; a trial request every ${cooldown_ms} ms until one is answered` });
    }
  }

  /**
   * A request that ran out of time says little of its URL: a client can ask for what takes longer than
   * `timeout_ms`, and enough such requests fill the pool so that nothing else is answered meanwhile (and its
   * relays, unanswered, cost their application nothing). So unless the URL answered another request since this
   * one was sent, it is asked on a connection of its own (its health check, or a GET of its path, where any
   * answer but 502/503/504 will do), and only a URL that does not answer that has its circuit opened.
   */
  #timedOut(e: Endpoint, answeredBefore: number): void {
    if (e.successes !== answeredBefore || e.checking || e.openUntil > Date.now() || this.#closed) return;
    const sent = e.successes;
    e.checking = this.#answers(e).then((failure) => {
      e.checking = undefined;
      if (failure !== undefined && e.successes === sent && !this.#closed) this.#open(e, `requests time out and ${failure}`);
    });
  }

  /** undefined when the URL answers on its probe connection, else what it did instead. */
  async #answers(e: Endpoint): Promise<string | undefined> {
    if (this.#cfg.health_check) {
      const failure = await this.#probe(e).catch((err: Error) => err.message);
      return failure === undefined ? undefined : `its health check fails (${failure})`;
    }
    const waitMs = connectWaitMs(this.#cfg.timeout_ms);
    try {
      const res = await this.#probeClient(e).request({ method: 'GET', path: e.join('/'), headers: this.#probeHeaders(e), headersTimeout: waitMs, bodyTimeout: waitMs, signal: AbortSignal.timeout(waitMs) });
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      return UNAVAILABLE_STATUSES.has(res.statusCode) ? `a GET of its path is answered ${res.statusCode}` : undefined;
    } catch (err) {
      return backendFault(err) === 'timeout' ? `a GET of its path is not answered within ${waitMs} ms` : `a GET of its path fails (${describeBackendError(err)})`;
    }
  }

  /** What a probe of `e` carries: the backend's headers and the URL's credentials. */
  #probeHeaders(e: Endpoint): Record<string, string> {
    const headers: Record<string, string> = { ...this.#fixedHeaders };
    if (e.authorization) headers.authorization = e.authorization;
    return headers;
  }

  #probeClient(e: Endpoint): Client {
    return (e.probe ??= new Client(e.url.origin, {
      keepAliveTimeout: this.#cfg.keep_alive_ms,
      keepAliveMaxTimeout: this.#cfg.keep_alive_ms,
      connectTimeout: connectWaitMs(this.#cfg.timeout_ms),
    }));
  }

  /**
   * Ends its connections, aborting any request still at the backend: the host closes backends once the relay
   * listener has closed, so such a request's client is gone or past the drain bound, and waiting for it could
   * take the backend's whole `timeout_ms`.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const e of this.#endpoints) clearTimeout(e.probeTimer);
    await Promise.all(this.#endpoints.flatMap((e) => [e.pool.destroy().catch(() => {}), e.probe?.destroy().catch(() => {})]));
  }
}

/** A backend call that ran out of time (our deadline or undici's headers/body timeouts). */
export function isTimeout(err: unknown): boolean {
  return backendFault(err) === 'timeout';
}

/**
 * Scheme and host only: a URL's credentials, path and query stay out of logs and replies (providers
 * put API keys in all three, e.g. `https://eth.example/v3/<key>`).
 */
export function redactUrl(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname !== '/' || u.search ? '/…' : ''}`;
}

/** joinUrl for one backend URL, remembering up to 256 relay paths (a client sending unique paths only misses). */
function memoizedJoin(base: URL): (relayUrl: string) => string {
  const seen = new Map<string, string>();
  return (relayUrl) => {
    let path = seen.get(relayUrl);
    if (path === undefined) {
      path = joinUrl(base, relayUrl);
      if (seen.size < 256) seen.set(relayUrl, path);
    }
    return path;
  };
}

/**
 * Backend URL path + the relay's path; both query strings kept (the backend's first). The host is
 * always the backend's: the relay gives a path only (see `relayPath`).
 */
export function joinUrl(base: URL, relayUrl: string): string {
  const rel = relayPath(relayUrl) ?? { pathname: '/', search: '' };
  const basePath = base.pathname.replace(/\/+$/, '');
  const path = rel.pathname === '/' && basePath ? basePath : `${basePath}${rel.pathname}`;
  const query = [base.search.slice(1), rel.search.slice(1)].filter(Boolean).join('&');
  return `${path || '/'}${query ? `?${query}` : ''}`;
}

/** A body's text, or undefined (the rest discarded) once it passes `limit` bytes. */
async function readUpTo(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
