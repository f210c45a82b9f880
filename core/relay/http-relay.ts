import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { isTimeout, type BackendRequest, type HttpBackend } from '../backend/http-backend.js';
import { describeBackendError, unsendableRequest } from '../backend/errors.js';
import { STREAM_DELIMITER, streamBatches, streamFraming } from '../backend/stream-batches.js';
import type { ResolvedConfig } from '../config/load.js';
import type { RpcTypeName } from '../config/schema.js';
import { POKTHTTPRequestCodec, POKTHTTPResponseCodec, type HttpHeader, type POKTHTTPRequest } from '../protocol/messages.js';
import { RPC_TYPE_CODES } from '../protocol/rpc-type.js';
import type { AnswerCompression } from './answer-compression.js';
import { ListenerProbes } from './listener-probes.js';
import { rejectionOf } from './backend-rejection.js';
import { contentCodings, decodedRequest } from './request-coding.js';
import type { BodyBudget } from './body-budget.js';
import { isHttpAnswer, type HttpAnswer, type HttpRelayProtocol } from './http-protocol.js';
import type { ForwardResult, RelayPipeline, RelayReply } from './pipeline.js';
import { RelayRejection } from './reasons.js';
import { SIMULATION_HEADER } from './simulated-relays.js';
import { StreamedBody } from './streamed-body.js';
import type { DecodedRelay } from './validator.js';

/** RPC types carried over plain HTTP with a RelayRequest body (docs/spec/wire.md §2). */
export const HTTP_RPC_TYPES = ['jsonrpc', 'rest', 'cometbft'] as const satisfies readonly RpcTypeName[];
export type HttpRpcType = (typeof HTTP_RPC_TYPES)[number];

/** The relay listener's body limit: the largest `max_body_bytes` of any HTTP backend, at least 1 MiB. */
export function listenerBodyLimit(config: ResolvedConfig): number {
  return Math.max(1024 * 1024, ...Object.values(config.services).flatMap((s) => HTTP_RPC_TYPES.map((t) => s.backends[t]?.max_body_bytes ?? 0)));
}

/** What bounds the answers the relay route holds for its clients (`relayer.limits`). */
export interface AnswerLimits {
  /** Answers over `budget.largeBody` bytes draw their size on it until written or their connection is gone. */
  budget: BodyBudget;
  /** Such an answer not taken whole by its client within this closes its connection. */
  answerTimeoutMs: number;
  onAnswerTimeout(): void;
}

const BY_CODE = new Map(Object.entries(RPC_TYPE_CODES).map(([name, code]) => [String(code), name as RpcTypeName]));
const ANY_METHOD = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * The relay listener's HTTP front: any method, any path, body = RelayRequest whatever the
 * Content-Type says (PATH sends protobuf as application/json). `Rpc-Type` (number or name; absent
 * = jsonrpc) picks the transport; transport plugins enable their types, and the backend is the exact
 * (service, type) pair from config.
 */
export class HttpRelayRouter {
  readonly #pipeline: RelayPipeline;
  readonly #backends: ReadonlyMap<string, HttpBackend>;
  readonly #enabled = new Map<HttpRpcType, string>();
  /** One forward function per enabled type, built once rather than per relay; the reply lets it hold a large answer. */
  readonly #forwarders = new Map<HttpRpcType, (relay: DecodedRelay, reply: FastifyReply) => Promise<ForwardResult>>();
  #bodyLimit = 0;
  #answers: AnswerLimits | undefined;
  /** Per connection, the releases of its large answers not yet taken: one 'close' listener for them all. */
  readonly #heldOn = new WeakMap<Socket, Set<() => void>>();
  readonly #compression: AnswerCompression | undefined;

  /** Load balancers' probes on the relay listener (`/health`, `/healthz`, `/ready` without a body). */
  readonly #probes: ListenerProbes | undefined;

  constructor(pipeline: RelayPipeline, backends: ReadonlyMap<string, HttpBackend>, compression?: AnswerCompression, probes?: ListenerProbes) {
    this.#pipeline = pipeline;
    this.#backends = backends;
    this.#compression = compression;
    this.#probes = probes;
  }

  /**
   * Called by a transport plugin; `plugin` names it in logs and metrics, `protocol` sees each of its
   * relays' requests before the backend does (none: forwarded as the relay describes them).
   */
  enable(rpcType: HttpRpcType, plugin: string, protocol?: HttpRelayProtocol): void {
    this.#enabled.set(rpcType, plugin);
    this.#forwarders.set(rpcType, this.#forwarder(rpcType, protocol));
  }

  get enabled(): readonly HttpRpcType[] {
    return [...this.#enabled.keys()];
  }

  /**
   * Encapsulated: the catch-all body parser and route do not leak into other plugins. With `answers`,
   * a large body that does not fit its budget is refused (`relayer_busy`) before it is read, and its
   * connection closed; a large backend answer that does not fit is refused before it is signed or mined.
   */
  register(app: FastifyInstance, bodyLimit: number, answers?: AnswerLimits): void {
    this.#bodyLimit = bodyLimit;
    this.#answers = answers;
    const budget = answers?.budget;
    void app.register(async (scope) => {
      if (this.#enabled.size === 0) return;
      if (budget) {
        scope.addHook('onRequest', (req, reply, done) => {
          const bytes = budget.take(req.headers);
          if (bytes === 0) return done();
          if (bytes === undefined) {
            void this.#refuseUnread(req, reply.header('connection', 'close'), new RelayRejection('relayer_busy', `${budget.held} bytes of large bodies held`));
            return;
          }
          // 'close' comes once the answer is sent or the connection is gone, whichever way the relay ends.
          reply.raw.once('close', () => budget.give(bytes));
          done();
        });
      }
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
      scope.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
        const tooLarge = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE';
        return this.#refuseUnread(req, reply, new RelayRejection(tooLarge ? 'body_too_large' : 'body_unreadable', tooLarge ? `limit ${bodyLimit} bytes` : err.message));
      });
      const handler = (req: FastifyRequest, reply: FastifyReply) => this.#handle(req, reply);
      scope.route({ method: [...ANY_METHOD], url: '/', handler });
      scope.route({ method: [...ANY_METHOD], url: '/*', handler });
    });
  }

  /** A request refused before its body was read: counted under its Rpc-Type's transport. */
  #refuseUnread(req: FastifyRequest, reply: FastifyReply, rejection: RelayRejection): FastifyReply {
    const rpcType = this.#rpcType(req) ?? 'jsonrpc';
    return send(reply, this.#pipeline.refuse(rejection, rpcType, this.#enabled.get(rpcType as HttpRpcType) ?? 'http'));
  }

  #rpcType(req: FastifyRequest): RpcTypeName | undefined {
    const raw = req.headers['rpc-type'];
    const value = (Array.isArray(raw) ? raw[0] : raw)?.trim().toLowerCase();
    if (!value) return 'jsonrpc';
    return BY_CODE.get(value) ?? (Object.hasOwn(RPC_TYPE_CODES, value) ? (value as RpcTypeName) : undefined);
  }

  async #handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (req.method !== 'POST' && this.#probes && ListenerProbes.matches(req.method, req.url, req.headers)) {
      const probe = await this.#probes.answer(req.url);
      return void reply.code(probe.status).send(probe.body);
    }
    const rpcType = this.#rpcType(req);
    const transport = rpcType ? this.#enabled.get(rpcType as HttpRpcType) : undefined;
    if (!rpcType || !transport) {
      const why = rpcType ? `no transport enabled for Rpc-Type ${rpcType}` : `unknown Rpc-Type ${JSON.stringify(req.headers['rpc-type'])}`;
      return send(reply, this.#pipeline.refuse(new RelayRejection('no_healthy_backend', why), rpcType ?? 'jsonrpc', 'http'));
    }
    let body: Buffer;
    try {
      // fastify never parses GET/HEAD bodies (nor DELETE/OPTIONS without Content-Type); PATH sends them.
      body = Buffer.isBuffer(req.body) ? req.body : await readBody(req, this.#bodyLimit);
    } catch (err) {
      return send(reply, this.#pipeline.refuse(err as RelayRejection, rpcType, transport));
    }
    const socket = req.raw.socket;
    const forwarder = this.#forwarders.get(rpcType as HttpRpcType)!;
    const simulation = req.headers[SIMULATION_HEADER];
    const result = await this.#pipeline.handle(body, rpcType, transport, (relay) => forwarder(relay, reply), () => socket.destroyed, typeof simulation === 'string' ? simulation : undefined);
    if (!this.#compression || result.stream) return send(reply, result);
    const answer = await this.#compression.encode(result.body, req.headers['accept-encoding']);
    if (answer.vary) reply.header('vary', 'accept-encoding');
    if (answer.encoding) reply.header('content-encoding', answer.encoding);
    return send(reply, { ...result, body: answer.body });
  }

  /**
   * A client that stops reading would keep its answer in memory for as long as its connection lives,
   * and the connection cap times `max_body_bytes` is gigabytes. A large answer therefore draws on the
   * budget (refused `relayer_busy`, the charge refunded and nothing mined, when it does not fit), and
   * one its client has not taken within the answer timeout closes the connection.
   */
  #holdAnswer(reply: FastifyReply, bytes: number): void {
    const { budget, answerTimeoutMs, onAnswerTimeout } = this.#answers!;
    if (bytes <= budget.largeBody) return;
    if (!budget.reserve(bytes)) throw new RelayRejection('relayer_busy', `an answer of ${bytes} bytes: ${budget.held} bytes of large bodies held`);
    // The connection's socket, not the response's: a pipelined request's response has none until the
    // answers before it are written, and its 'close' may never come if the connection goes first.
    const socket = reply.request.raw.socket;
    if (socket.destroyed) {
      budget.give(bytes); // nobody will take it
      return;
    }
    let held = this.#heldOn.get(socket);
    if (!held) {
      this.#heldOn.set(socket, (held = new Set()));
      const all = held;
      socket.once('close', () => {
        for (const release of all) release();
      });
    }
    const holds = held;
    const release = () => {
      if (!holds.delete(release)) return;
      clearTimeout(timer);
      budget.give(bytes);
    };
    const timer = setTimeout(() => {
      if (socket.destroyed) return; // another of its answers' timers closed it already
      onAnswerTimeout();
      socket.destroy();
    }, answerTimeoutMs);
    holds.add(release);
    reply.raw.once('close', release);
  }

  /**
   * A compressed body decoded for its protocol to read, drawing on the large-bodies budget: the most it may decode
   * to while it is decoded (a few kilobytes can decode to `max_body_bytes`, and many such relays at once would
   * hold that many times over), then what it did decode to, if large, until the relay is answered.
   */
  async #decoded(request: BackendRequest, codings: readonly string[], maxBytes: number, reply: FastifyReply): Promise<BackendRequest> {
    const budget = this.#answers?.budget;
    if (!budget) return decodedRequest(request, codings, maxBytes);
    if (!budget.reserve(maxBytes)) throw new RelayRejection('relayer_busy', `a compressed body may decode to ${maxBytes} bytes: ${budget.held} bytes of large bodies held`);
    let kept = 0;
    try {
      const decoded = await decodedRequest(request, codings, maxBytes);
      if (decoded.body!.length > budget.largeBody) kept = decoded.body!.length;
      return decoded;
    } finally {
      budget.give(maxBytes - kept);
      if (kept > 0 && reply.raw.destroyed) budget.give(kept);
      else if (kept > 0) reply.raw.once('close', () => budget.give(kept));
    }
  }

  #forwarder(rpcType: HttpRpcType, protocol: HttpRelayProtocol | undefined): (relay: DecodedRelay, reply: FastifyReply) => Promise<ForwardResult> {
    return async (relay, reply) => {
      const service = relay.header.service_id;
      const backend = this.#backends.get(backendKey(service, rpcType));
      if (!backend) throw new RelayRejection('no_healthy_backend', `service ${service} has no ${rpcType} backend configured`);
      const { http, headers } = decodeHttpPayload(relay);
      let request: BackendRequest = { method: http.method, url: http.url, headers, body: http.body_bz };
      if (protocol) {
        const codings = protocol.readsBody ? contentCodings(request.headers) : undefined;
        if (codings) request = await this.#decoded(request, codings, backend.maxBodyBytes, reply);
        const prepared = protocol.prepare(request, relay);
        if (isHttpAnswer(prepared)) return answered(prepared);
        request = prepared;
      }
      const res = await backend.send(request, pocketHeaders(relay), relay.header.application_address);
      if (res.stream) {
        // Streamed batches carry no headers (as prm); the mined relay is the whole answer's.
        const body = new StreamedBody();
        const status = res.status;
        const source = res.stream;
        const batches = (async function* () {
          try {
            for await (const batch of streamBatches(source, streamFraming(res.headers['content-type']?.[0]))) {
              await body.add(batch);
              yield POKTHTTPResponseCodec.encode({ status_code: status, header: new Map(), body_bz: batch });
            }
          } catch (err) {
            throw rejectionOf(err) ?? new RelayRejection(isTimeout(err) ? 'backend_timeout' : 'backend_error', `stream: ${describeBackendError(err)}`);
          }
        })();
        const contentType = res.headers['content-type']?.[0] ?? 'text/event-stream';
        const payloadHash = () => body.payloadHash(status, new Map());
        return { payload: new Uint8Array(0), backendStatus: status, retries: res.retries, stream: { contentType, batches, payloadHash, release: () => body.discard() } };
      }
      if (this.#answers) this.#holdAnswer(reply, res.body.length);
      const header = new Map<string, HttpHeader>(Object.entries(res.headers).map(([k, values]) => [k, { key: k, values }]));
      return { payload: POKTHTTPResponseCodec.encode({ status_code: res.status, header, body_bz: res.body }), backendStatus: res.status, retries: res.retries };
    };
  }
}

function answered(a: HttpAnswer): ForwardResult {
  const header = new Map<string, HttpHeader>(Object.entries(a.headers).map(([k, v]) => [k.toLowerCase(), { key: k.toLowerCase(), values: [v] }]));
  return { payload: POKTHTTPResponseCodec.encode({ status_code: a.status, header, body_bz: a.body }), backendStatus: a.status, answeredByTransport: true };
}

async function readBody(req: FastifyRequest, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req.raw) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new RelayRejection('body_too_large', `limit ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (RelayRejection.is(err)) throw err;
    throw new RelayRejection('body_unreadable', (err as Error).message);
  }
  return Buffer.concat(chunks);
}

export function backendKey(service: string, rpcType: RpcTypeName): string {
  return `${service}|${rpcType}`;
}

/**
 * The relay's payload as the HTTP request it wraps (shannon-sdk POKTHTTPRequest). A payload that is
 * not one, or that no HTTP client could send (a method or header name that is not a token, a header
 * value with CR/LF/NUL, a URL that does not parse), is the client's fault: `malformed_payload`, refused
 * before any backend is called, so it can never count against a backend's health.
 */
export function decodeHttpPayload(relay: DecodedRelay): { http: POKTHTTPRequest; headers: Record<string, string[]> } {
  let http: POKTHTTPRequest;
  try {
    http = POKTHTTPRequestCodec.decode(relay.request.payload);
  } catch (err) {
    throw new RelayRejection('malformed_payload', `payload is not a POKTHTTPRequest: ${(err as Error).message}`);
  }
  const headers: Record<string, string[]> = {};
  for (const [k, h] of http.header) headers[k] = h.values;
  const problem = unsendableRequest(http.method, http.url, headers);
  if (problem) throw new RelayRejection('malformed_payload', problem);
  return { http, headers };
}

/** Headers every backend receives: who the relay is for. */
export function pocketHeaders(relay: DecodedRelay): Record<string, string> {
  return { 'pocket-supplier': relay.supplier.address, 'pocket-service': relay.header.service_id, 'pocket-application': relay.header.application_address };
}

/** docs/spec/wire.md §3: each signed RelayResponse of a stream is followed by `||POKT_STREAM||`. */
async function* delimited(responses: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const r of responses) yield Buffer.concat([r, STREAM_DELIMITER]);
}

function send(reply: FastifyReply, r: RelayReply): FastifyReply {
  if (r.retries) reply.header('backend-retries', String(r.retries));
  if (r.stream) return reply.code(r.status).header('content-type', r.contentType).header('connection', 'close').send(Readable.from(delimited(r.stream)));
  return reply.code(r.status).header('content-type', r.contentType).send(Buffer.from(r.body.buffer, r.body.byteOffset, r.body.length));
}
