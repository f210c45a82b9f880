import type { FastifyBaseLogger } from 'fastify';
import { WebSocket, type RawData } from 'ws';
import { type AdmittedFrame, backendAuthorization, HEALTH_ANSWER_BYTES, HealthCheckFailure, healthAnswerFailure, JsonRpcProbe, jsonRpcCalls, onlyNotifications, type RefusedFrame, type RelayPipeline, type ResolvedBackend, UrlReach } from 'relayminer';
import { backendCloseCode, CLOSE, rejectionCloseCode, sendable } from './close-codes.js';
import type { WebSocketMetrics } from './metrics.js';

export interface BridgeLimits {
  max_frame_bytes: number;
  ping_interval_ms: number;
  pong_timeout_ms: number;
  max_buffered_bytes: number;
  write_timeout_ms: number;
  rollover_check_ms: number;
  first_frame_timeout_ms: number;
}

export interface BridgeOptions {
  gateway: WebSocket;
  pipeline: RelayPipeline;
  backend: ResolvedBackend;
  serviceId: string;
  /** From the handshake, when it named one: every frame must be for this supplier. */
  supplierAddress: string | undefined;
  /** A validated signed handshake: the backend is dialled at once (else on the first request). */
  handshake: AdmittedFrame | undefined;
  /** The upgrade's `Pocket-Simulation-Key-Id`: every frame is a simulated relay of that identity. */
  simulationKeyId?: string | undefined;
  limits: BridgeLimits;
  metrics: WebSocketMetrics;
  log: FastifyBaseLogger;
  /** Connections per application: a bridge holds one from the moment its application is known until it closes. */
  applications?: { hold(app: string): boolean; release(app: string): void; full(app: string): string | undefined };
  onClosed: (bridge: Bridge) => void;
  /** An unsigned connection sent nothing within `first_frame_timeout_ms`. */
  onIdleTimeout?: () => void;
  /** Each backend dial's outcome: the error when no URL opened, undefined when one did. */
  onDial?: (err: Error | undefined) => void;
  /** Each URL a dial tried: undefined when it opened, else why not. */
  onUrl?: (url: string, err: Error | undefined) => void;
  /** The backend's URLs in the order a dial tries them (those that failed last); the configured order without it. */
  backendUrls?: () => readonly string[];
  /** The answer this relayer gives in the backend's place to a request's payload (a call the operator denies); undefined forwards it. */
  answerHere?: (payload: Uint8Array) => Uint8Array | undefined;
}

const toBuffer = (data: RawData): Buffer => (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));

/**
 * One gateway connection bridged to one backend connection (docs/spec/wire.md §4). Every gateway frame
 * must be a fully validated RelayRequest before its payload reaches the backend; every backend frame
 * is one relay: signed against the latest request, metered, mined, and sent with the backend's frame
 * type. Frames are prepared concurrently and delivered in order in each direction; a side that reads too slowly pauses the other
 * (bounded memory) and is closed if it stays behind for `write_timeout_ms`.
 */
export class Bridge {
  readonly #o: BridgeOptions;
  readonly #gateway: WebSocket;
  #backend: WebSocket | undefined;
  #dialing: Promise<WebSocket> | undefined;
  #latest: AdmittedFrame | undefined;
  /** A frame has arrived: the first-frame deadline is met, and its validation's verdict decides (a refusal closes). */
  #framed = false;
  #application: string | undefined;
  /** The bridge counts against its application's connections (released when it closes). */
  #held = false;
  #closed = false;
  /** Backend frames queued for signing (bytes); the backend is paused above the limit. */
  #queuedBytes = 0;
  /** Gateway frames waiting for validation (bytes). */
  #pendingRequestBytes = 0;
  #toGateway: Promise<void> = Promise.resolve();
  #toBackend: Promise<void> = Promise.resolve();
  /** Request frames sent to the backend since its last frame: a node answers each request frame with one. */
  #unanswered = 0;
  /** Set while the gateway has left and the backend is still finishing requests: ends the wait. */
  #endDrain: (() => void) | undefined;
  #lastPong = Date.now();
  #behindSince: number | undefined;
  readonly #watching = new Set<WebSocket>();
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(o: BridgeOptions) {
    this.#o = o;
    this.#gateway = o.gateway;
    o.metrics.connections.inc({ service: o.serviceId });
    if (o.handshake) {
      // The handshake binds the application; it is not a request, so nothing is signed against it.
      this.#application = o.handshake.relay.header.application_address;
    }
    const g = this.#gateway;
    g.on('message', (data, isBinary) => {
      this.#framed = true;
      const frame = toBuffer(data);
      // Validation is async: frames wait in order, and a gateway that outruns it is not read.
      this.#pendingRequestBytes += frame.length;
      if (this.#pendingRequestBytes > o.limits.max_buffered_bytes) g.pause();
      // Validation of consecutive frames overlaps; forwarding keeps their order.
      const admitted = o.pipeline.admit(frame, 'websocket', 'websocket', o.simulationKeyId);
      this.#toBackend = this.#toBackend
        .then(() => this.#fromGateway(admitted, isBinary))
        .finally(() => {
          this.#pendingRequestBytes -= frame.length;
          if (this.#pendingRequestBytes <= o.limits.max_buffered_bytes / 2 && !this.#closed) g.resume();
        });
    });
    g.on('pong', () => (this.#lastPong = Date.now()));
    g.on('close', (code, reason) => this.#shutdown(code, reason.toString(), 'gateway'));
    g.on('error', (err) => {
      // ws closes with 1009 on an oversized frame and 1002/1007 on protocol errors before this.
      o.log.debug({ err: err.message }, 'websocket gateway error');
    });
    this.#every(o.limits.ping_interval_ms, () => {
      if (Date.now() - this.#lastPong > o.limits.pong_timeout_ms) return this.close(CLOSE.goingAway, 'ping timeout');
      if (g.readyState === WebSocket.OPEN) g.ping();
    });
    // As PATH and the Go miner: no pong (or connect) for pong_timeout_ms closes, checked every second.
    this.#every(Math.min(1000, o.limits.pong_timeout_ms), () => {
      if (Date.now() - this.#lastPong > o.limits.pong_timeout_ms) this.close(CLOSE.goingAway, 'ping timeout');
      if (this.#behindSince !== undefined && Date.now() - this.#behindSince > o.limits.write_timeout_ms) {
        o.metrics.slowReaders.inc({ service: o.serviceId });
        this.close(CLOSE.internal, 'write timeout: the reader is too slow');
      }
    });
    this.#every(o.limits.rollover_check_ms, () => void this.#checkSession());
    if (!o.handshake) {
      // Unsigned: nothing proves a session until a relay is admitted, so a connection that sends nothing
      // is cut. One whose first frame is still being validated (a cold cache asking the node) is not: the
      // frame came in time, and a refusal closes the connection anyway.
      const idle = setTimeout(() => {
        if (this.#framed || this.#closed) return;
        o.onIdleTimeout?.();
        this.close(CLOSE.policyViolation, `no relay within ${o.limits.first_frame_timeout_ms} ms`);
      }, o.limits.first_frame_timeout_ms);
      idle.unref();
      this.#timers.push(idle);
    }
    // Last, with every listener on: a bridge over its application's share closes here.
    if (o.handshake && this.#hold(this.#application!)) void this.#dial().catch(() => {});
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes both sides: the gateway with `code`, the backend with its RFC counterpart. */
  close(code: number, reason: string): void {
    if (this.#closed) return this.#endDrain?.();
    closeSocket(this.#gateway, code, reason);
    this.#shutdown(code, reason, 'relayer');
  }

  #every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.#timers.push(t);
  }

  /** Counts the bridge against `app`'s connections; at its limit the bridge closes (1013) and false is returned. */
  #hold(app: string): boolean {
    const apps = this.#o.applications;
    if (!apps || this.#held) return true;
    if (apps.hold(app)) return (this.#held = true);
    const why = apps.full(app) ?? `application ${app} holds its WebSocket connections here`;
    this.#o.metrics.refusedFrames.inc({ service: this.#o.serviceId, reason: 'relayer_busy' });
    this.close(CLOSE.tryAgainLater, why.slice(0, 120));
    return false;
  }

  /** The request frame this bridge's answers are signed against from now; false when the bridge closed instead. */
  #accept(admitted: AdmittedFrame): boolean {
    if (this.#application === undefined) {
      this.#application = admitted.relay.header.application_address;
      if (!this.#hold(this.#application)) return false;
    }
    this.#latest = admitted;
    return true;
  }

  async #fromGateway(pending: Promise<AdmittedFrame | RefusedFrame>, isBinary: boolean): Promise<void> {
    const admitted = await pending;
    if (this.#closed) return;
    if ('rejection' in admitted) {
      this.#o.metrics.refusedFrames.inc({ service: this.#o.serviceId, reason: admitted.rejection.reason });
      return this.close(rejectionCloseCode(admitted.rejection.reason), admitted.rejection.message.slice(0, 120));
    }
    const h = admitted.relay.header;
    // One bridge serves one application and service, for the supplier it was opened for.
    if (h.service_id !== this.#o.serviceId || (this.#o.supplierAddress && admitted.relay.supplier.address !== this.#o.supplierAddress) || (this.#application && h.application_address !== this.#application)) {
      this.#o.metrics.refusedFrames.inc({ service: this.#o.serviceId, reason: 'bridge_mismatch' });
      return this.close(CLOSE.validationFailed, 'relay is for another service, supplier or application than this connection');
    }
    if (!this.#accept(admitted)) return;
    const local = this.#o.answerHere?.(admitted.relay.request.payload);
    if (local) return this.#signAndSend(Buffer.from(local.buffer, local.byteOffset, local.length), isBinary);
    let backend: WebSocket;
    try {
      backend = await this.#dial();
    } catch {
      return; // #dial closed the bridge with 4003
    }
    if (this.#closed || backend.readyState !== WebSocket.OPEN) return;
    backend.send(admitted.relay.request.payload, { binary: isBinary });
    this.#unanswered++;
    this.#watchBuffer(backend, this.#gateway);
  }

  #fromBackend(data: RawData, isBinary: boolean): void {
    const frame = toBuffer(data);
    // Read only while a request waits: a subscription's events between the requests' answers are not answers.
    const answer = this.#unanswered > 0 && !isNotification(frame);
    if (answer) this.#unanswered--;
    if (this.#closed) {
      // The gateway has left: the answers to what it asked are mined (charged); its subscriptions' events are not.
      if (answer) this.#signAndSend(frame, isBinary);
      if (this.#unanswered === 0) this.#endDrain?.();
      return;
    }
    if (!this.#latest) {
      // Nothing to sign it against: not a relay (poktroll drops it; prm forwards it unsigned).
      this.#o.metrics.droppedBackendFrames.inc({ service: this.#o.serviceId });
      return;
    }
    this.#signAndSend(frame, isBinary);
  }

  /** An answer (a backend frame, or one given in its place) signed against the latest request and sent in order. */
  #signAndSend(frame: Buffer, isBinary: boolean): void {
    const latest = this.#latest!;
    this.#queuedBytes += frame.length;
    if (this.#queuedBytes > this.#o.limits.max_buffered_bytes) this.#backend?.pause();
    // Answers are prepared concurrently (meter, signature, stream append overlap) and sent in order.
    const pending = this.#o.pipeline.answer(latest, frame);
    this.#toGateway = this.#toGateway.then(async () => {
      try {
        const answer = await pending;
        if (this.#closed) return;
        if ('rejection' in answer) return this.close(rejectionCloseCode(answer.rejection.reason), answer.rejection.message.slice(0, 120));
        this.#gateway.send(answer.body, { binary: isBinary });
        this.#o.metrics.framesRelayed.inc({ service: this.#o.serviceId });
        this.#watchBuffer(this.#gateway, this.#backend);
      } finally {
        this.#queuedBytes -= frame.length;
        if (this.#queuedBytes <= this.#o.limits.max_buffered_bytes / 2 && !this.#gatewayBehind()) this.#backend?.resume();
      }
    });
  }

  #gatewayBehind(): boolean {
    return !this.#closed && this.#gateway.bufferedAmount > this.#o.limits.max_buffered_bytes;
  }

  /** Backpressure: while `writer` holds more than the limit unsent, `source` is not read. */
  #watchBuffer(writer: WebSocket, source: WebSocket | undefined): void {
    if (writer.bufferedAmount <= this.#o.limits.max_buffered_bytes) return;
    source?.pause();
    this.#behindSince ??= Date.now();
    // One watcher per writer: answers already queued keep writing while it waits.
    if (this.#watching.has(writer)) return;
    this.#watching.add(writer);
    const check = setInterval(() => {
      if (this.#closed) return clearInterval(check);
      if (writer.bufferedAmount <= this.#o.limits.max_buffered_bytes / 2) {
        clearInterval(check);
        this.#watching.delete(writer);
        this.#behindSince = undefined;
        if (source !== this.#backend || this.#queuedBytes <= this.#o.limits.max_buffered_bytes / 2) source?.resume();
      }
    }, 20);
    check.unref();
  }

  #dial(): Promise<WebSocket> {
    this.#dialing ??= this.#connect().then(
      (ws) => {
        this.#o.onDial?.(undefined);
        return ws;
      },
      (err: Error) => {
        if (this.#closed && err.message === 'bridge closed') throw err; // the gateway left first: not the backend's failure
        this.#o.metrics.backendConnectFailures.inc({ service: this.#o.serviceId });
        this.#o.onDial?.(err);
        this.close(CLOSE.backendConnectFailed, 'backend connection failed');
        throw err;
      },
    );
    return this.#dialing;
  }

  /** Tries each backend URL in order until one opens, giving each `UrlReach.connectWaitMs` to open. */
  async #connect(): Promise<WebSocket> {
    const cfg = this.#o.backend;
    const headers = backendHeaders(cfg, this.#o.serviceId);
    const supplier = this.#o.supplierAddress ?? this.#latest?.relay.supplier.address;
    if (supplier) headers['pocket-supplier'] = supplier;
    let last: Error | undefined;
    for (const url of this.#o.backendUrls?.() ?? cfg.urls) {
      if (this.#closed) throw new Error('bridge closed');
      try {
        // Listeners go on before 'open': a backend may send in the same packet as its 101.
        const ws = await open(url, headers, UrlReach.connectWaitMs(cfg.timeout_ms), this.#o.limits.max_frame_bytes, (ws) => {
          this.#backend = ws;
          ws.on('message', (data, isBinary) => this.#fromBackend(data, isBinary));
          ws.on('close', (code, reason) => this.#shutdown(code, reason.toString(), 'backend'));
          ws.on('error', (err) => this.#o.log.debug({ err: err.message }, 'websocket backend error'));
        });
        this.#o.onUrl?.(url, undefined);
        if (this.#closed) {
          ws.close(CLOSE.goingAway);
          throw new Error('bridge closed');
        }
        return ws;
      } catch (err) {
        if (!(this.#closed && (err as Error).message === 'bridge closed')) this.#o.onUrl?.(url, err as Error);
        last = err as Error;
      }
    }
    throw last ?? new Error('no backend URL');
  }

  /** The relay that binds the bridge now: the latest request, or the signed handshake before any. */
  #binding(): AdmittedFrame | undefined {
    return this.#latest ?? this.#o.handshake;
  }

  async #checkSession(): Promise<void> {
    const latest = this.#binding();
    // A simulated relay's session is no chain session: nothing rolls over.
    if (!latest || latest.simulated || this.#closed) return;
    const over = await this.#o.pipeline.sessionOver(latest.relay.header).catch(() => false);
    // A request for the next session may have arrived meanwhile: only the latest decides.
    if (!over || this.#closed || this.#binding() !== latest) return;
    this.#o.metrics.sessionRollovers.inc({ service: this.#o.serviceId });
    // The expired-session envelope goes out after every queued answer (docs/spec/wire.md §4.3).
    this.#toGateway = this.#toGateway.then(() => {
      if (this.#closed) return;
      this.#gateway.send(this.#o.pipeline.signedError(latest.relay, 410, 'session expired'), { binary: true });
      this.close(CLOSE.sessionExpired, 'session expired');
    });
  }

  #shutdown(code: number, reason: string, by: 'gateway' | 'backend' | 'relayer'): void {
    if (this.#closed) {
      if (by === 'backend') this.#endDrain?.();
      return;
    }
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    const o = this.#o;
    o.metrics.connections.dec({ service: o.serviceId });
    o.metrics.closes.inc({ service: o.serviceId, code: String(code), by });
    o.log.debug({ service: o.serviceId, code, reason, by }, 'websocket bridge closed');
    const backend = this.#backend;
    const open = backend && (backend.readyState === WebSocket.OPEN || backend.readyState === WebSocket.CONNECTING);
    if (by === 'backend') {
      // The backend went away: the gateway gets its code when it may be sent, else 1011.
      if (this.#gateway.readyState === WebSocket.OPEN) this.#gateway.close(sendable(code) ? code : CLOSE.internal, reason.slice(0, 120));
    } else if (open && this.#unanswered > 0) {
      // A node finishes the calls of a client that left (geth cancels them only once they end), so a gateway
      // that left, or had its bridge closed, right after its requests would have them run for free: their
      // answers are mined as they come, up to the backend's timeout, and the backend is closed after the last.
      return this.#drain(backend, code, reason);
    } else if (open) {
      closeSocket(backend, backendCloseCode(code), reason);
    }
    this.#release();
  }

  #drain(backend: WebSocket, code: number, reason: string): void {
    // Nothing waits for the gateway any more: a backend paused for it is read again.
    if (this.#queuedBytes <= this.#o.limits.max_buffered_bytes) backend.resume();
    const timer = setTimeout(() => this.#endDrain?.(), this.#o.backend.timeout_ms);
    timer.unref();
    this.#endDrain = () => {
      this.#endDrain = undefined;
      clearTimeout(timer);
      closeSocket(backend, backendCloseCode(code), reason);
      this.#release();
    };
  }

  /** What the bridge held while open: its application's place and its entry in the plugin's set. */
  #release(): void {
    if (this.#held) this.#o.applications!.release(this.#application!);
    this.#held = false;
    this.#o.onClosed(this);
  }
}

/** Frames up to this size are read whole to tell a subscription's event from an answer. */
const EVENT_READ_BYTES = 65_536;

/**
 * A backend frame that is a JSON-RPC notification (a subscription's event), not the answer to a request. A frame
 * over EVENT_READ_BYTES is judged by its start, where nodes write an event's `method` and an answer's `id` (geth
 * writes `id` first; jsonrpsee, `id` last but no `method`).
 */
function isNotification(frame: Buffer): boolean {
  if (frame.length > EVENT_READ_BYTES) {
    const head = frame.subarray(0, 512);
    return head.indexOf('"method"') >= 0 && head.indexOf('"id"') < 0;
  }
  if (frame.indexOf('"method"') < 0) return false;
  const parsed = jsonRpcCalls(frame);
  return parsed !== undefined && !parsed.batch && onlyNotifications(parsed);
}

/** Closes one side with `code`; a peer that never answers the close frame is cut after a second. */
function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState !== WebSocket.OPEN && ws.readyState !== WebSocket.CONNECTING) return;
  ws.close(code, reason.slice(0, 120));
  setTimeout(() => ws.terminate(), 1000).unref();
}

/** What every dial of a service's backend sends: its configured headers and auth, and the service. */
export function backendHeaders(cfg: BridgeOptions['backend'], serviceId: string): Record<string, string> {
  const headers: Record<string, string> = { ...cfg.headers };
  // A URL's own user and password the ws library sends itself, decoded, when no authorization header is set.
  const authorization = backendAuthorization(cfg.auth);
  if (authorization) headers.authorization = authorization;
  headers['pocket-service'] = serviceId;
  return headers;
}

/**
 * A dial that opens within `waitMs`, then closed: whether the backend URL can be reached. With `request` (a health
 * check's `body`) the request is sent once it opens, and the probe passes only when its answer arrives within the
 * same `waitMs` from the dial and passes `healthAnswerFailure`: for a JSON-RPC call (or batch) its answer, other
 * messages (a node's greeting, subscription notifications) skipped; for any other body the first message.
 */
export async function probeBackend(url: string, headers: Record<string, string>, waitMs: number, request?: string): Promise<void> {
  const started = Date.now();
  // The error listener goes on at 'open': a frame in the same packet as the 101 (over the small limit) fails at once.
  const ws = await open(url, headers, waitMs, request === undefined ? 1024 : HEALTH_ANSWER_BYTES, (opened) => opened.on('error', () => {}));
  try {
    if (request !== undefined) await answerTo(ws, request, Math.max(1, waitMs - (Date.now() - started)));
  } finally {
    ws.close(1000);
    setTimeout(() => ws.terminate(), 1000).unref();
  }
}

function answerTo(ws: WebSocket, request: string, waitMs: number): Promise<void> {
  const probe = JsonRpcProbe.of(request);
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new HealthCheckFailure('HEALTH_CHECK_UNANSWERED', `no answer to the health check within ${waitMs} ms`)), waitMs);
    const onMessage = (data: WebSocket.RawData) => {
      const text = data.toString();
      if (!probe || probe.answers(text)) done(healthAnswerFailure(request, text));
    };
    const onClose = () => done(new HealthCheckFailure('HEALTH_CHECK_UNANSWERED', 'the backend closed the connection before answering the health check'));
    ws.on('message', onMessage);
    ws.once('close', onClose);
    ws.send(request);
  });
}

function open(url: string, headers: Record<string, string>, timeoutMs: number, maxPayload: number, onOpen: (ws: WebSocket) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, maxPayload, perMessageDeflate: false, skipUTF8Validation: true });
    const fail = (err: Error) => {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(err);
    };
    ws.once('open', () => {
      ws.off('error', fail);
      ws.off('unexpected-response', unexpected);
      onOpen(ws);
      resolve(ws);
    });
    const unexpected = (_req: unknown, res: { statusCode?: number }) => fail(new Error(`backend answered the upgrade with HTTP ${res.statusCode}`));
    ws.once('unexpected-response', unexpected);
    ws.once('error', fail);
  });
}
