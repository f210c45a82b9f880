import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { backendAuthorization, backendFault, describeBackendError, grpcFrame, grpcHealthAnswerFailure, HEALTH_ANSWER_BYTES, HealthCheckFailure, redactUrl, RelayRejection, type HealthChange, type ResolvedBackend, UrlReach } from 'relayminer';

export interface H2Request {
  path: string;
  headers: Record<string, string[]>;
  body: Uint8Array;
}

export interface H2Response {
  status: number;
  headers: Record<string, string[]>;
  /** The body as it arrives; `trailers()` resolves after it ends. */
  body: AsyncIterable<Buffer>;
  trailers: () => Promise<Record<string, string[]>>;
  /**
   * The whole body and the trailers at once, for a unary call: it fails as `body` does, and past
   * `maxBytes`. Read the body one way only. A unary answer needs none of the promises that async
   * iteration of the stream (and a generator on top) makes per chunk, on the main thread.
   */
  read: (maxBytes: number) => Promise<{ body: Buffer; trailers: Record<string, string[]> }>;
}

/** A backend URL as node:http2 takes it: `grpc://` is h2c, `grpcs://` TLS. */
const h2Url = (url: string) => url.replace(/^grpc:/, 'http:').replace(/^grpcs:/, 'https:');

/** HTTP/2's frame type for a header block (RFC 9113 6.2), as a stream's 'frameError' names it. */
const HEADERS_FRAME = 1;

// Hop-by-hop and pseudo headers are per connection; grpc-js sets its own framing headers.
const DROP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'http2-settings', 'proxy-connection']);

function toLists(h: IncomingHttpHeaders): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !k.startsWith(':')) out[k] = Array.isArray(v) ? v : [String(v)];
  return out;
}

/**
 * Streams a new connection is assumed to take until its SETTINGS arrive, when no connection to its URL has had
 * them yet (nghttp2's assumption; RFC 9113 leaves it open). Otherwise the URL's last known limit is.
 */
const STREAMS_BEFORE_SETTINGS = 100;
/**
 * Sessions one URL may have; past them a call goes on the one with the fewest calls and waits there. A peer that
 * allows one stream (or none, which RFC 9113 lets it say) would otherwise get a connection per call in flight.
 */
const MAX_SESSIONS_PER_URL = 64;

/**
 * A gRPC backend reached over HTTP/2 (h2c for http://, TLS for https://): sessions per URL, reused and
 * re-dialled when they close; URLs tried in order when one cannot be reached.
 *
 * A call goes on the URL's first session with a stream to spare under the backend's
 * SETTINGS_MAX_CONCURRENT_STREAMS (nginx allows 128, Go's HTTP/2 server 250), and on a new session when every
 * one is full, as Go's HTTP/2 transport does: node:http2 would queue it behind the calls in flight, so a
 * client holding that many slow calls would hold up every other call to the backend. A session beyond the
 * first is closed once it has had no call for `spareIdleMs`; a URL has at most MAX_SESSIONS_PER_URL.
 */
export class H2Backend {
  readonly #cfg: ResolvedBackend;
  /** Each URL's sessions; the first is kept while it lasts, the others close when idle. */
  readonly #sessions = new Map<string, ClientHttp2Session[]>();
  /** Streams open on each session, and the timer that closes a spare one left without any. */
  readonly #streams = new WeakMap<ClientHttp2Session, { open: number; idle?: NodeJS.Timeout }>();
  readonly #spareIdleMs: number;
  /** The concurrent streams each URL's backend allowed in the last SETTINGS it sent. */
  readonly #peerStreams = new Map<string, number>();
  /** Each URL's configured headers, with its credentials (the backend's auth, or the URL's own). */
  readonly #fixed = new Map<string, Record<string, string>>();
  /** Each URL's path, prefixed to every call's (a URL parse per call costs more than the rest of the headers). */
  readonly #basePaths = new Map<string, string>();
  /** URLs whose connection failed and that have not answered since (said once each way), probed while out. */
  readonly #reach: UrlReach;
  /** Sessions whose connection opened (the server's HTTP/2 settings arrived). */
  readonly #opened = new WeakSet<ClientHttp2Session>();

  /** `onReach`: told when a URL's connection fails (the first time since it last answered) and when it answers again. */
  constructor(cfg: ResolvedBackend, o: { onReach?: (change: HealthChange) => void; probeIntervalMs?: number; spareIdleMs?: number } = {}) {
    this.#cfg = cfg;
    this.#spareIdleMs = o.spareIdleMs ?? 30_000;
    this.#reach = new UrlReach(cfg.urls, {
      probe: (url) => this.#probe(url),
      intervalMs: o.probeIntervalMs,
      active: UrlReach.activeProbes(cfg),
      onChange: o.onReach,
      redact: (url) => this.#redacted(url),
    });
    const fixed: Record<string, string> = {};
    for (const [k, v] of Object.entries(cfg.headers)) fixed[k.toLowerCase()] = v;
    for (const url of cfg.urls) {
      const authorization = backendAuthorization(cfg.auth, url);
      this.#fixed.set(url, authorization ? { ...fixed, authorization } : fixed);
    }
    this.#reach.start();
  }

  /** URLs whose connection has not failed since they last answered, of all configured (for /ready/<service>). */
  get health(): { healthy: number; total: number } {
    return this.#reach.health;
  }

  /**
   * A connection to `url` that opens (the server's HTTP/2 settings arrive) within `UrlReach.connectWaitMs`, or the
   * health check's `timeout_ms`; then closed. With a health check's `path` (a method such as
   * `/cosmos.base.tendermint.v1beta1.Service/GetSyncing`) that method is called with an empty message on it first,
   * and the probe passes only on `grpc-status` 0 and an answer `#probeCall` accepts, within the same wait.
   */
  #probe(url: string): Promise<void> {
    const method = this.#cfg.health_check?.path;
    return new Promise((resolve, reject) => {
      const session = connect(h2Url(url));
      const waitMs = UrlReach.probeWaitMs(this.#cfg);
      let opened = false;
      let settled = false;
      const timer = setTimeout(() => {
        const err = opened
          ? new HealthCheckFailure('HEALTH_CHECK_UNANSWERED', `the health check call not answered within ${waitMs} ms`)
          : Object.assign(new Error(`no HTTP/2 settings within ${waitMs} ms`), { code: 'ETIMEDOUT' });
        settle(err);
        session.destroy();
      }, waitMs);
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        session.close();
        if (err) reject(err);
        else resolve();
      };
      session.once('remoteSettings', () => {
        opened = true;
        if (!method || method === '/') return settle();
        this.#probeCall(session, url, method).then(() => settle(), settle);
      });
      session.on('error', (err) => settle(err));
      session.once('close', () => settle(new Error('connection closed')));
    });
  }

  /**
   * One unary call of `method` with an empty message on `session`: resolves on grpc-status 0 and an answer that says
   * the node serves, where the method's answer says so (`grpcHealthAnswerFailure`: the gRPC health service, a Cosmos
   * node's GetSyncing).
   */
  #probeCall(session: ClientHttp2Session, url: string, method: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = session.request({
        ...this.#fixed.get(url),
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: `${this.#basePath(url)}${method}`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let status: string | undefined;
      const read = (h: IncomingHttpHeaders) => (status = h['grpc-status'] === undefined ? status : String(h['grpc-status']));
      stream.on('response', read);
      stream.on('trailers', read);
      const chunks: Buffer[] = [];
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= HEALTH_ANSWER_BYTES) chunks.push(chunk);
      });
      stream.on('error', () => {});
      stream.on('close', () => {
        if (status !== '0') return reject(new HealthCheckFailure('HEALTH_CHECK_ERROR', `the health check call ended with grpc-status ${status ?? 'none'}`));
        const failure = bytes <= HEALTH_ANSWER_BYTES ? grpcHealthAnswerFailure(method, Buffer.concat(chunks)) : undefined;
        if (failure) reject(failure);
        else resolve();
      });
      stream.end(grpcFrame(new Uint8Array(0)));
    });
  }

  async call(req: H2Request, extra: Record<string, string>): Promise<H2Response> {
    if (this.#reach.probedOut) throw new RelayRejection('no_healthy_backend', 'every backend URL fails its health checks');
    const deadline = Date.now() + this.#cfg.timeout_ms;
    let last: Error | undefined;
    for (const url of this.#reach.ordered) {
      try {
        const res = await this.#call(url, req, extra, deadline);
        this.#reach.answered(url);
        return res;
      } catch (err) {
        if (RelayRejection.is(err)) throw err;
        // Refused while building the call: the relay's fault, and the same on every URL.
        if (backendFault(err) === 'request') throw new RelayRejection('malformed_payload', describeBackendError(err));
        last = err as Error;
      }
    }
    throw new RelayRejection('backend_error', last ? describeBackendError(last) : 'no backend URL');
  }

  /** The URL's own path, put before every call's. */
  #basePath(url: string): string {
    let basePath = this.#basePaths.get(url);
    if (basePath === undefined) this.#basePaths.set(url, (basePath = new URL(h2Url(url)).pathname.replace(/\/+$/, '')));
    return basePath;
  }

  #redacted(url: string): string {
    return redactUrl(new URL(h2Url(url)));
  }

  #session(url: string): ClientHttp2Session {
    let sessions = this.#sessions.get(url);
    if (!sessions) this.#sessions.set(url, (sessions = []));
    let least: ClientHttp2Session | undefined;
    for (const s of sessions) {
      if (s.closed || s.destroyed) continue;
      const limit = this.#opened.has(s) ? Math.max(1, s.remoteSettings.maxConcurrentStreams ?? Infinity) : (this.#peerStreams.get(url) ?? STREAMS_BEFORE_SETTINGS);
      const open = this.#streams.get(s)!.open;
      if (open < limit) return s;
      if (!least || open < this.#streams.get(least)!.open) least = s;
    }
    if (least && sessions.length >= MAX_SESSIONS_PER_URL) return least;
    const session = connect(h2Url(url));
    this.#streams.set(session, { open: 0 });
    // A session fails as a whole when its connection does (refused, reset, TLS): the URL cannot be reached.
    session.on('error', (err) => this.#reach.failed(url, err));
    session.once('remoteSettings', (settings) => {
      this.#opened.add(session);
      this.#peerStreams.set(url, Math.max(1, settings.maxConcurrentStreams ?? Infinity));
    });
    const leave = () => {
      const i = sessions.indexOf(session);
      if (i >= 0) sessions.splice(i, 1);
      clearTimeout(this.#streams.get(session)!.idle);
    };
    session.on('close', leave);
    session.on('goaway', leave);
    session.unref();
    sessions.push(session);
    return session;
  }

  /** A stream opens on `session` (its spare-idle timer stops) or closes (a spare one left without any starts it). */
  #count(url: string, session: ClientHttp2Session, by: 1 | -1): void {
    const s = this.#streams.get(session)!;
    s.open += by;
    if (by === 1) {
      if (s.idle) s.idle = void clearTimeout(s.idle);
      return;
    }
    if (s.open > 0 || session.closed || this.#sessions.get(url)?.[0] === session) return;
    s.idle = setTimeout(() => {
      if (s.open === 0 && this.#sessions.get(url)?.[0] !== session) session.close();
    }, this.#spareIdleMs);
    s.idle.unref();
  }

  #call(url: string, req: H2Request, extra: Record<string, string>, deadline: number): Promise<H2Response> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return Promise.reject(new RelayRejection('backend_timeout', `no answer within ${this.#cfg.timeout_ms} ms`));
    const basePath = this.#basePath(url);
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!DROP.has(k.toLowerCase()) && !k.startsWith(':')) headers[k.toLowerCase()] = v.length === 1 ? v[0] : v;
    Object.assign(headers, this.#fixed.get(url), extra, {
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: `${basePath}${req.path}`,
      te: 'trailers',
    });
    headers['content-type'] ??= 'application/grpc';
    const session = this.#session(url);
    if (this.#opened.has(session)) return this.#request(url, session, headers, req, remaining);
    // Counted while it opens, so calls arriving meanwhile spread over sessions as they will run.
    this.#count(url, session, 1);
    return this.#open(session, remaining).then(
      () => (this.#count(url, session, -1), this.#request(url, session, headers, req, deadline - Date.now())),
      (err: unknown) => {
        this.#count(url, session, -1);
        throw err;
      },
    );
  }

  /**
   * Waits for a new connection to open. One that takes longer than `UrlReach.connectWaitMs` is a failed URL (a host
   * gone or dropping packets never refuses: without this every call would wait it out to its deadline, with no time
   * left for the next URL); the call's deadline coming first is only a timeout.
   */
  #open(session: ClientHttp2Session, remaining: number): Promise<void> {
    const connectWait = UrlReach.connectWaitMs(this.#cfg.timeout_ms);
    const waitMs = Math.min(remaining, connectWait);
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        session.off('remoteSettings', opened);
        session.off('error', failed);
        session.off('close', closed);
      };
      const opened = () => (done(), resolve());
      const failed = (err: Error) => (done(), reject(err));
      const closed = () => (done(), reject(new Error('connection closed')));
      const timer = setTimeout(() => {
        done();
        if (waitMs < connectWait) return reject(new RelayRejection('backend_timeout', `no answer within ${this.#cfg.timeout_ms} ms`));
        const err = Object.assign(new Error(`connection not open within ${connectWait} ms`), { code: 'ETIMEDOUT' });
        session.destroy(err);
        reject(err);
      }, waitMs);
      timer.unref();
      session.once('remoteSettings', opened);
      session.once('error', failed);
      session.once('close', closed);
    });
  }

  #request(url: string, session: ClientHttp2Session, headers: OutgoingHttpHeaders, req: H2Request, remaining: number): Promise<H2Response> {
    if (remaining <= 0) return Promise.reject(new RelayRejection('backend_timeout', `no answer within ${this.#cfg.timeout_ms} ms`));
    return new Promise<H2Response>((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: false });
      } catch (err) {
        return reject(err);
      }
      this.#count(url, session, 1);
      let timedOut: RelayRejection | undefined;
      const timer = setTimeout(() => {
        timedOut = new RelayRejection('backend_timeout', `no answer within ${this.#cfg.timeout_ms} ms`);
        stream.close(constants.NGHTTP2_CANCEL);
        reject(timedOut);
      }, remaining);
      timer.unref();
      let trailers: Record<string, string[]> | undefined;
      let closed = false;
      stream.on('trailers', (t) => (trailers = toLists(t)));
      stream.once('close', () => {
        closed = true;
        clearTimeout(timer);
        this.#count(url, session, -1);
      });
      // Made when asked for: a unary call reads its trailers through `read` and never needs it.
      let ended: Promise<Record<string, string[]>> | undefined;
      const trailersOnceClosed = () =>
        (ended ??= closed ? Promise.resolve(trailers ?? {}) : new Promise((res) => stream.once('close', () => res(trailers ?? {}))));
      const failure = (err: unknown) => timedOut ?? (RelayRejection.is(err) ? err : new RelayRejection('backend_error', `stream: ${describeBackendError(err)}`));
      const reset = () =>
        !trailers && stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR ? new RelayRejection('backend_error', `backend reset the stream (HTTP/2 error ${stream.rstCode})`) : undefined;
      /** The body; it fails (never just ends) when cut by the deadline or reset before its trailers. */
      async function* body(): AsyncGenerator<Buffer> {
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
        } catch (err) {
          throw failure(err);
        }
        if (timedOut) throw timedOut;
        const cut = reset();
        if (cut) throw cut;
      }
      const read = (maxBytes: number) =>
        new Promise<{ body: Buffer; trailers: Record<string, string[]> }>((resolveRead, rejectRead) => {
          const chunks: Buffer[] = [];
          let size = 0;
          let complete = false;
          let error: unknown;
          stream.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size <= maxBytes) return void chunks.push(chunk);
            error ??= new RelayRejection('backend_error', `backend answer over ${maxBytes} bytes`);
            stream.close(constants.NGHTTP2_CANCEL);
          });
          stream.once('end', () => (complete = true));
          stream.on('error', (err) => (error ??= err));
          // 'close' comes after 'end', the trailers and any error: everything is known by then.
          stream.once('close', () => {
            if (timedOut || error !== undefined) return rejectRead(failure(error));
            const cut = reset() ?? (complete ? undefined : new RelayRejection('backend_error', 'backend stream closed before its end'));
            if (cut) return rejectRead(cut);
            resolveRead({ body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), trailers: trailers ?? {} });
          });
        });
      // Headers that do not fit a header block are never sent (the stream then fails): the relay's fault, not the backend's.
      let unsendable: RelayRejection | undefined;
      stream.once('frameError', (type: number) => {
        if (type === HEADERS_FRAME) unsendable = new RelayRejection('malformed_payload', 'its headers do not fit an HTTP/2 header block');
      });
      stream.once('error', (err) => {
        clearTimeout(timer);
        reject(unsendable ?? err);
      });
      stream.once('response', (h) => {
        const status = Number(h[constants.HTTP2_HEADER_STATUS]);
        resolve({ status, headers: toLists(h), body: { [Symbol.asyncIterator]: body }, trailers: trailersOnceClosed, read });
      });
      stream.end(Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length));
    });
  }

  close(): void {
    this.#reach.close();
    for (const sessions of this.#sessions.values()) for (const s of [...sessions]) s.close();
    this.#sessions.clear();
  }
}
