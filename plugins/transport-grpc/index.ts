import * as grpc from '@grpc/grpc-js';
import { constants as http2Constants, type ServerHttp2Stream } from 'node:http2';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Gauge } from 'prom-client';
import { type BodyBudget, type DecodedRelay, type HealthChange, decodeHttpPayload, definePlugin, type Forward, type ForwardResult, grpcFrames, type HttpHeader, listenError, parseHostPort, pocketHeaders, type POKTHTTPRequest, POKTHTTPResponseCodec, RELAY_SERVICE_PATHS, relayPath, RelayRejection, type RelayReply, REJECT_REASONS, settlesWithin, SIMULATION_HEADER, splitGrpcFrames, StreamedBody, backendProbeIntervalOption, VERSION } from 'relayminer';
import { H2Backend, type H2Response } from './h2-backend.js';
import { grpcStatusFor, SERVER_FAULT_STATUSES } from './status-codes.js';

const MiB = 1024 * 1024;

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen_address: { type: 'string', default: ':8082', description: 'Where RelayService is served (h2c), on a port of its own.' },
    relay_listener: {
      type: 'boolean',
      default: true,
      description:
        "Also serve RelayService on the HTTP relay listener (`relayer.listen_address`), as the Go HA relay miner serves gRPC on its one port: a connection that opens with HTTP/2's preface (h2c with prior knowledge, as gRPC clients send without TLS) goes to RelayService, any other to the HTTP/1.1 relays. A supplier staked with one URL for every RPC type keeps it. Such connections count toward `relayer.limits.max_connections`, not this plugin's `max_connections`; every other limit here applies to them.",
    },
    max_message_bytes: { type: 'integer', minimum: 1024, maximum: 256 * MiB, default: 15 * MiB, description: 'Largest RelayRequest accepted and RelayResponse or backend message sent.' },
    max_connections: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1_000, description: 'Open connections on the gRPC listener; connections past it are closed as they arrive (counted).' },
    max_concurrent_streams: { type: 'integer', minimum: 1, maximum: 10_000, default: 100, description: 'Calls one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).' },
    max_calls: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      default: 10_000,
      description:
        'Calls open at once on the gRPC listener, all connections together; a call past it ends UNAVAILABLE at once. `max_connections` × `max_concurrent_streams` allows 100,000 by default, each holding its headers and state until its request arrives or `call_timeout_ms` passes; this bounds them as `relayer.limits.max_connections` bounds requests on the HTTP relay listener.',
    },
    max_metadata_bytes: {
      type: 'integer',
      minimum: 1024,
      maximum: 65_536,
      default: 16_384,
      description:
        "A call's request metadata (its headers, counted as HTTP/2 counts a header list: name, value and 32 bytes each) larger than this ends RESOURCE_EXHAUSTED before its message is read. A relay needs only a few hundred bytes; HTTP/2 lets a client send 64 KiB on each of `max_concurrent_streams` calls of every connection, which the relayer would hold as long as each call lasts.",
    },
    idle_timeout_ms: {
      type: 'integer',
      minimum: 1000,
      maximum: 86_400_000,
      default: 30_000,
      description:
        'A connection with no call open for this long is closed (HTTP/2 GOAWAY: a client reconnects for its next call). Connections that never send anything would otherwise hold `max_connections` for good (1,000 of them shut every gateway out), as `relayer.limits.request_timeout_ms` bounds them on the HTTP relay listener.',
    },
    backend_probe_interval_ms: backendProbeIntervalOption,
    call_timeout_ms: {
      type: 'integer',
      minimum: 100,
      maximum: 600_000,
      default: 10_000,
      description: 'A call whose RelayRequest has not arrived whole within this ends with DEADLINE_EXCEEDED (a half-sent call would hold its stream forever).',
    },
  },
} as const;

interface Options {
  listen_address?: string;
  relay_listener?: boolean;
  max_message_bytes?: number;
  max_connections?: number;
  max_concurrent_streams?: number;
  max_calls?: number;
  max_metadata_bytes?: number;
  idle_timeout_ms?: number;
  call_timeout_ms?: number;
  backend_probe_interval_ms?: number;
}

/** The RelayService methods; messages stay bytes so the pipeline decodes them canonically once. */
const bytes = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
export const RELAY_SERVICE = {
  SendRelay: { path: RELAY_SERVICE_PATHS.SendRelay, requestStream: false, responseStream: false, requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize, responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize },
  SendStreamingRelay: { path: RELAY_SERVICE_PATHS.SendStreamingRelay, requestStream: false, responseStream: true, requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize, responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize },
} satisfies grpc.ServiceDefinition;

const headerMap = (h: Record<string, string[]>) => new Map<string, HttpHeader>(Object.entries(h).map(([k, values]) => [k, { key: k, values }]));

/**
 * gRPC relays (Rpc-Type 1, docs/spec/wire.md §5): `pocket.service.RelayService/SendRelay` (unary) and
 * `SendStreamingRelay` (server-streaming: one signed RelayResponse per backend message) on their
 * own h2c port and, told apart by their first bytes, on the HTTP relay listener's. The payload is a POKTHTTPRequest wrapping a native gRPC call, forwarded over HTTP/2
 * to `services.<id>.backends.grpc`; backend trailers are folded into the POKTHTTPResponse headers.
 */
export default definePlugin(
  {
    name: 'transport-grpc',
    version: VERSION,
    roles: ['relayer'],
    rpcTypes: ['grpc'],
    description: 'gRPC relays (Rpc-Type 1): RelayService/SendRelay and SendStreamingRelay over h2c.',
    optionsSchema,
  },
  async (app, opts: Options) => {
    const ctx = app.relayminer;
    const relay = ctx.relay;
    if (!relay) throw new Error('transport-grpc needs the relayer role');
    const maxBytes = opts.max_message_bytes ?? 15 * MiB;
    const { host, port } = parseHostPort(opts.listen_address ?? ':8082');
    const log = app.log.child({ component: 'transport-grpc' });
    const backends = new Map<string, H2Backend>();
    for (const [service, s] of Object.entries(ctx.config.services)) {
      if (!s.backends.grpc) continue;
      const onReach = ({ url, up, reason, healthCheck }: HealthChange) =>
        up
          ? log.info({ service, url }, 'gRPC backend URL answers again')
          : log.warn({ service, url, reason }, healthCheck ? 'gRPC backend URL failed its health checks; out of rotation' : 'gRPC backend URL cannot be reached; its calls fail until it answers');
      const backend = new H2Backend(s.backends.grpc, { onReach, probeIntervalMs: opts.backend_probe_interval_ms });
      backends.set(service, backend);
      relay.reportBackend(service, 'grpc', () => backend.health);
    }

    const call = async (r: DecodedRelay): Promise<{ res: H2Response; http: POKTHTTPRequest }> => {
      const backend = backends.get(r.header.service_id);
      if (!backend) throw new RelayRejection('no_healthy_backend', `service ${r.header.service_id} has no grpc backend configured`);
      const { http, headers } = decodeHttpPayload(r);
      const res = await backend.call({ path: relayPath(http.url)?.pathname ?? '/', headers, body: http.body_bz }, pocketHeaders(r));
      return { res, http };
    };

    /** A gRPC answer is billable unless HTTP failed or grpc-status says the backend is at fault. */
    const billableStatus = (httpStatus: number, grpcStatus: string | undefined) =>
      httpStatus >= 500 ? httpStatus : grpcStatus !== undefined && SERVER_FAULT_STATUSES.has(Number(grpcStatus)) ? 502 : httpStatus;

    const unary = async (r: DecodedRelay, limited?: CallLimits): Promise<ForwardResult> => {
      const { res } = await call(r);
      let answer: { body: Buffer; trailers: Record<string, string[]> };
      try {
        answer = await res.read(maxBytes);
        // Whole messages only: a body cut inside one is no answer.
        splitGrpcFrames(answer.body, maxBytes);
      } catch (err) {
        throw RelayRejection.is(err) ? err : new RelayRejection('backend_error', (err as Error).message);
      }
      if (limited && !limited.holdAnswer(answer.body.length)) {
        throw new RelayRejection('relayer_busy', `an answer of ${answer.body.length} bytes: ${relay.largeBodies.held} bytes of large bodies held`);
      }
      // Not `{ ...res.headers, ...answer.trailers }`: V8 gives each such object a hidden class of its own.
      const headers = Object.assign({}, res.headers, answer.trailers);
      const payload = POKTHTTPResponseCodec.encode({ status_code: res.status, header: headerMap(headers), body_bz: answer.body });
      return { payload, backendStatus: billableStatus(res.status, headers['grpc-status']?.[0]) };
    };

    const streaming: Forward = async (r): Promise<ForwardResult> => {
      const { res } = await call(r);
      const body = new StreamedBody();
      let trailers: Record<string, string[]> = {};
      const batches = (async function* () {
        let first = true;
        for await (const f of grpcFrames(res.body, maxBytes)) {
          await body.add(f);
          // The response headers ride on the first message; each message is its own signed relay.
          yield POKTHTTPResponseCodec.encode({ status_code: res.status, header: first ? headerMap(res.headers) : new Map(), body_bz: f });
          first = false;
        }
        trailers = await res.trailers();
        // The status of the call: a last response carrying the trailers (and the headers if no message came).
        yield POKTHTTPResponseCodec.encode({ status_code: res.status, header: headerMap(first ? Object.assign({}, res.headers, trailers) : trailers), body_bz: new Uint8Array(0) });
      })();
      const payloadHash = () => body.payloadHash(res.status, headerMap(Object.assign({}, res.headers, trailers)));
      return {
        payload: new Uint8Array(0),
        backendStatus: billableStatus(res.status, res.headers['grpc-status']?.[0]),
        stream: { contentType: 'application/grpc', batches, payloadHash, release: () => body.discard() },
      };
    };

    const rejectionStatus = (rejection: RelayRejection): grpc.ServiceError =>
      Object.assign(new Error(rejection.message), { code: grpcStatusFor(rejection.reason), details: rejection.message, metadata: new grpc.Metadata() });
    const fail = (reply: RelayReply): grpc.ServiceError => rejectionStatus(reply.rejection!);

    const callTimeoutMs = opts.call_timeout_ms ?? 10_000;
    const calls = new WeakMap<Buffer, CallLimits>();
    const answerTimeoutMs = ctx.config.relayer?.limits.answer_timeout_ms ?? 30_000;
    const limits = {
      callTimeoutMs,
      answerTimeoutMs,
      budget: relay.largeBodies,
      maxMessageBytes: maxBytes,
      maxMetadataBytes: opts.max_metadata_bytes ?? 16_384,
      open: { calls: 0, max: opts.max_calls ?? 10_000 },
      calls,
      rejected: (rejection: RelayRejection) => void relay.pipeline.refuse(rejection, 'grpc', 'grpc'),
    };
    const open = limits.open;
    new Gauge({
      name: 'relayminer_grpc_calls_open',
      help: 'gRPC calls open now, all connections together (at most max_calls).',
      registers: [ctx.metrics.registry],
      collect() {
        this.set(open.calls);
      },
    });
    const server = new grpc.Server({
      'grpc.max_receive_message_length': maxBytes,
      'grpc.max_send_message_length': maxBytes,
      'grpc.max_concurrent_streams': opts.max_concurrent_streams ?? 100,
      'grpc.max_connection_idle_ms': opts.idle_timeout_ms ?? 30_000,
      // Nothing serves channelz here; tracking every call for it is work on the relay path.
      'grpc.enable_channelz': 0,
      interceptors: [requestLimits(limits, (reason) => ctx.metrics.listenerRefusals.inc({ listener: 'grpc', reason }))],
    });
    server.addService(RELAY_SERVICE, {
      SendRelay: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const limited = calls.get(c.request);
        relay.pipeline.handle(c.request, 'grpc', 'grpc', (r) => unary(r, limited), () => callGone(c), simulationKeyId(c)).then(
          (reply) => (reply.outcome === 'rejected' ? cb(fail(reply)) : cb(null, Buffer.from(reply.body))),
          (err: Error) => cb({ code: grpc.status.INTERNAL, details: err.message }),
        );
      },
      SendStreamingRelay: (c: grpc.ServerWritableStream<Buffer, Buffer>) => {
        void (async () => {
          const reply = await relay.pipeline.handle(c.request, 'grpc', 'grpc', streaming, () => callGone(c), simulationKeyId(c));
          // grpc-js ends a server stream with a status on 'error' (a destroyed stream would send none).
          if (reply.outcome === 'rejected') return void c.emit('error', fail(reply));
          if (!reply.stream) return c.end(Buffer.from(reply.body));
          for await (const response of reply.stream) {
            if (c.cancelled) break;
            if (c.write(Buffer.from(response))) continue;
            const waited = await drained(c, answerTimeoutMs);
            if (waited === 'drained') continue;
            if (waited === 'stalled') calls.get(c.request)?.stalled();
            break;
          }
          // An answer cut short (backend deadline, failure mid-stream) must not end OK: the gateway
          // would take a truncated answer for a whole one.
          const cut = reply.streamCut?.();
          if (cut) return void c.emit('error', rejectionStatus(cut));
          c.end();
        })().catch((err: Error) => {
          log.warn({ err: err.message }, 'streaming relay failed');
          c.emit('error', Object.assign(new Error(err.message), { code: grpc.status.UNAVAILABLE, details: err.message }));
        });
      },
    });
    // Our own listener, so connections can be capped; grpc-js serves what it is handed.
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    // Connections are known here too: shutdown waits for them to close, which they do once their calls have ended.
    const connections = new Set<Socket>();
    let allClosed: (() => void) | undefined;
    const take = (socket: Socket) => {
      connections.add(socket);
      socket.once('close', () => {
        connections.delete(socket);
        if (connections.size === 0) allClosed?.();
      });
      injector.injectConnection(socket);
    };
    const listener = createServer(take);
    if (opts.relay_listener ?? true) relay.h2c.serve('transport-grpc', take);
    listener.maxConnections = opts.max_connections ?? 1_000;
    listener.on('drop', () => ctx.metrics.listenerRefusals.inc({ listener: 'grpc', reason: 'max_connections' }));
    // Bound once every plugin has loaded (onReady), like the host's own listeners: a plugin that fails
    // after this one leaves no port open.
    app.addHook('onReady', async () => {
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen({ host: host || undefined, port }, () => (listener.off('error', reject), resolve()));
      }).catch((err: unknown) => {
        throw listenError(err, opts.listen_address ?? ':8082', 'plugins[transport-grpc].options.listen_address');
      });
      const bound = (listener.address() as AddressInfo).port;
      ctx.addresses.grpc = `${host}:${bound}`;
      log.info({ address: ctx.addresses.grpc, relay_listener: relay.h2c.served }, 'gRPC RelayService listening');
    });

    app.addHook('preClose', async () => {
      listener.close();
      // Each connection gets its GOAWAY and closes once its calls have ended: calls in flight finish within the
      // shutdown's drain bound, as HTTP relays do, and the rest are cancelled then. The connections' closing is
      // the signal, not tryShutdown's callback: that comes at once where the HTTP/2 server closes its sessions
      // itself (Node 24), and after injector.drain, which marks them closing. forceShutdown destroys only the
      // connections channelz tracks (none here); injector.drain(0) cancels the injected ones.
      server.tryShutdown(() => {});
      const drained = connections.size === 0 || (await settlesWithin(new Promise<void>((resolve) => (allClosed = resolve)), ctx.config.shutdown.drain_timeout_ms));
      if (!drained) {
        injector.drain(0);
        server.forceShutdown();
      }
      injector.destroy();
      for (const b of backends.values()) b.close();
    });
  },
);

/** What a call's handler can ask of its limits. */
interface CallLimits {
  /**
   * Draws a unary answer's bytes on the budget for large bodies (false: it does not fit, nothing drawn)
   * until its call's stream has closed, which is once the client has taken it.
   */
  holdAnswer(bytes: number): boolean;
  /** The client has stopped taking a streamed answer: counted (`answer_timeout`) and the call reset. */
  stalled(): void;
}

interface RequestLimits {
  callTimeoutMs: number;
  /** An answer over `budget.largeBody` the client has not taken within this resets its call. */
  answerTimeoutMs: number;
  budget: BodyBudget;
  /** The most a compressed request may grow to (grpc-js stops decompressing past it). */
  maxMessageBytes: number;
  /** Request metadata larger than this (as HTTP/2 counts a header list) ends the call at once. */
  maxMetadataBytes: number;
  /** Calls open now, all connections together (until each one's stream closes), and how many may be. */
  open: { calls: number; max: number };
  /** Each call's limits, by its request message (the bytes grpc-js hands the handler). */
  calls: WeakMap<Buffer, CallLimits>;
  /** Counts a call refused for its request itself (too large, cut short, not decodable), as the pipeline counts its own rejections. */
  rejected: (rejection: RelayRejection) => void;
}

type Refusal = 'call_timeout' | 'relayer_busy' | 'answer_timeout' | 'metadata_too_large' | 'max_calls';

/**
 * Ends a call whose request has not arrived whole within `callTimeoutMs` (DEADLINE_EXCEEDED): grpc-js
 * calls the handler only once the message is in, so without this a half-sent call holds its stream
 * forever. A request message announced larger than `budget.largeBody` draws its size on the relayer's
 * budget for large bodies until the call ends (grpc-js keeps it whole in memory, up to
 * `max_message_bytes`, on each of `max_concurrent_streams` calls of every connection); one that does not
 * fit ends UNAVAILABLE at once. A compressed one announces only its compressed size, and a few kilobytes
 * of gzip can become `max_message_bytes` in grpc-js's memory: it draws `max_message_bytes` until grpc-js
 * has decompressed it, then its real size. A large answer draws on the same budget until its client has
 * taken it (HTTP/2 flow control lets a client that stops reading leave it in the relayer's memory): its
 * call is reset once `answerTimeoutMs` has passed. A streamed answer's handler reports a client that has
 * taken nothing for as long (`stalled`), which resets the call too. Request metadata over
 * `maxMetadataBytes`, or a call past `open.max` calls open, ends the call before its message is read.
 *
 * What grpc-js would refuse with statuses of its own is refused here with the relay's reasons, counted as
 * relay rejections: a message announced past `maxMessageBytes` (`body_too_large`, RESOURCE_EXHAUSTED, before it is
 * read), a call that ends without a whole message or sends a second one (`malformed_request`, INVALID_ARGUMENT,
 * where grpc-js says UNIMPLEMENTED, which would tell a gateway the method is not served). The refusals grpc-js
 * makes below the interceptors (a message it cannot decompress, or that decompresses past the limit) are counted
 * from the status it sent.
 */
function requestLimits(o: RequestLimits, onRefused: (reason: Refusal) => void): grpc.ServerInterceptor {
  const { budget } = o;
  return (_method, call) => {
    let timer: NodeJS.Timeout | undefined;
    let drawn = 0;
    /** The request message is compressed: it draws `maxMessageBytes` until grpc-js hands it over decompressed. */
    let inflates = false;
    let answer = 0;
    let answerTimer: NodeJS.Timeout | undefined;
    const releaseAnswer = () => {
      clearTimeout(answerTimer);
      budget.give(answer);
      answer = 0;
    };
    const stream = streamOf(call);
    let received = 0;
    /** Ended here, with a status of this interceptor's (and counted as what it is). */
    let refused = false;
    let counted = false;
    const uncount = () => {
      if (counted) o.open.calls--;
      counted = false;
    };
    const end = () => {
      clearTimeout(timer);
      budget.give(drawn);
      drawn = 0;
      // Without the stream to watch, the status is the last moment known.
      if (!stream) {
        releaseAnswer();
        uncount();
      }
    };
    const holdAnswer = (bytes: number): boolean => {
      if (bytes <= budget.largeBody) return true;
      if (!budget.reserve(bytes)) return false;
      if (stream?.closed) {
        budget.give(bytes); // nobody will take it
        return true;
      }
      answer += bytes;
      if (stream) {
        stream.once('close', releaseAnswer);
        answerTimer = setTimeout(() => {
          onRefused('answer_timeout');
          resetStream(call);
        }, o.answerTimeoutMs);
      }
      return true;
    };
    const limited: CallLimits = {
      holdAnswer,
      stalled: () => {
        onRefused('answer_timeout');
        resetStream(call);
      },
    };
    const endWith = (status: Partial<grpc.StatusObject>) => {
      refused = true;
      intercepted.sendStatus(status as grpc.StatusObject);
      // The status ends our side; a client that never ends its side would still hold the stream
      // (and a slot of max_concurrent_streams). Reset it once the status is on its way.
      setImmediate(() => resetStream(call));
    };
    const refuse = (reason: Refusal, status: Partial<grpc.StatusObject>) => {
      onRefused(reason);
      endWith(status);
    };
    const reject = (rejection: RelayRejection) => {
      o.rejected(rejection);
      endWith({ code: grpcStatusFor(rejection.reason), details: rejection.message });
    };
    /** A call that ended before its message reached the handler, with a status grpc-js sent itself. */
    const countUnread = () => {
      if (received > 0 || refused || !stream) return;
      const sent = stream.sentTrailers?.['grpc-status'] ?? stream.sentHeaders?.['grpc-status'];
      const code = Number(sent);
      if (sent === undefined || code === grpc.status.OK) return;
      const reason = code === grpc.status.RESOURCE_EXHAUSTED ? 'body_too_large' : code === grpc.status.INTERNAL || code === grpc.status.UNIMPLEMENTED ? 'malformed_request' : undefined;
      if (reason) o.rejected(new RelayRejection(reason, 'refused by grpc-js before it was read'));
    };
    const intercepted: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        timer = setTimeout(() => refuse('call_timeout', { code: grpc.status.DEADLINE_EXCEEDED, details: `the request did not arrive within ${o.callTimeoutMs} ms` }), o.callTimeoutMs);
        if (stream) {
          watchMessageSize(stream, (announced, compressed) => {
            if (announced - 5 > o.maxMessageBytes) return reject(new RelayRejection('body_too_large', `a message of ${announced - 5} bytes is over max_message_bytes ${o.maxMessageBytes}`));
            inflates = compressed;
            const size = compressed ? Math.max(announced, o.maxMessageBytes) : announced;
            if (size <= budget.largeBody) return;
            if (budget.reserve(size)) drawn = size;
            else refuse('relayer_busy', { code: grpcStatusFor('relayer_busy'), details: `${REJECT_REASONS.relayer_busy.message}: ${budget.held} bytes of large requests held` });
          });
        }
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            if (o.open.calls >= o.open.max) return refuse('max_calls', { code: grpc.status.UNAVAILABLE, details: `relayer busy: ${o.open.calls} calls open, retry later` });
            if (!stream?.closed) {
              o.open.calls++;
              counted = true;
              stream?.once('close', uncount);
            }
            const size = headerListSize(metadata);
            if (size <= o.maxMetadataBytes) return nextMetadata(metadata);
            refuse('metadata_too_large', { code: grpc.status.RESOURCE_EXHAUSTED, details: `request metadata of ${size} bytes is over ${o.maxMetadataBytes}` });
          },
          onReceiveMessage: (message: Buffer, nextMessage) => {
            if (++received > 1) return reject(new RelayRejection('malformed_request', 'a call carries one RelayRequest; a second message came'));
            // Decompressed: what it holds from here on is its real size.
            const held = inflates && message.length > budget.largeBody ? message.length : 0;
            if (inflates && drawn > held) {
              budget.give(drawn - held);
              drawn = held;
            }
            o.calls.set(message, limited);
            nextMessage(message);
          },
          onReceiveHalfClose: (done) => {
            clearTimeout(timer);
            if (received === 0) return reject(new RelayRejection('malformed_request', 'the call ended without a whole RelayRequest message'));
            done();
          },
          onCancel: () => {
            countUnread();
            end();
          },
        });
      },
      sendStatus: (status, next) => {
        end();
        next(status);
      },
    });
    return intercepted;
  };
}

/**
 * The call's HTTP/2 stream, where grpc-js's base call keeps it as `stream` (it gives interceptors no
 * other way to see a message's size as it arrives, to reset a call or to know an answer was taken).
 */
function streamOf(call: grpc.ServerInterceptingCallInterface): ServerHttp2Stream | undefined {
  const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream;
  return stream && typeof stream.on === 'function' ? stream : undefined;
}

/** Metadata's size as HTTP/2 counts a header list (RFC 9113 6.5.2): each entry's name and value, and 32 bytes. */
function headerListSize(metadata: grpc.Metadata): number {
  let size = 0;
  for (const [key, values] of Object.entries(metadata.toJSON())) for (const v of values) size += key.length + v.length + 32;
  return size;
}

/** Calls `announced` once with the size the call's first gRPC message declares in its 5-byte prefix (the prefix included) and its compressed flag. */
function watchMessageSize(stream: ServerHttp2Stream, announced: (bytes: number, compressed: boolean) => void): void {
  let head: Buffer | undefined;
  const onData = (chunk: Buffer) => {
    head = head ? Buffer.concat([head, chunk]) : chunk;
    if (head.length < 5) return;
    stream.off('data', onData);
    announced(head.readUInt32BE(1) + 5, head[0] === 1);
  };
  // Ahead of grpc-js's own listener: a call refused here is over before grpc-js reads (or decompresses) the chunk.
  stream.prependListener('data', onData);
}

/** Where the stream is known (streamOf), reset it; elsewhere it stays half-closed, still bounded by max_concurrent_streams × max_connections. */
function resetStream(call: grpc.ServerInterceptingCallInterface): void {
  const stream = streamOf(call);
  if (stream && stream.closed === false) stream.close(http2Constants.NGHTTP2_CANCEL);
}

/**
 * Waits for a server stream's buffer to drain: 'stalled' when it has not within `ms` (its client stopped
 * reading), 'cancelled' when the call ended first (a drain would never come).
 */
function drained(c: grpc.ServerWritableStream<Buffer, Buffer>, ms: number): Promise<'drained' | 'stalled' | 'cancelled'> {
  return new Promise((resolve) => {
    const done = (how: 'drained' | 'stalled' | 'cancelled') => {
      clearTimeout(timer);
      c.off('drain', onDrain);
      c.off('cancelled', onCancelled);
      resolve(how);
    };
    const onDrain = () => done('drained');
    const onCancelled = () => done('cancelled');
    const timer = setTimeout(() => done('stalled'), ms);
    c.once('drain', onDrain);
    c.once('cancelled', onCancelled);
  });
}

/** The call's `pocket-simulation-key-id` metadata: a simulated relay (when the relayer admits them). */
function simulationKeyId(c: grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>): string | undefined {
  const value = c.metadata.get(SIMULATION_HEADER)[0];
  return typeof value === 'string' ? value : undefined;
}

/** Cancelled by the client, or past the deadline it set: nobody will read the answer. */
function callGone(c: grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>): boolean {
  if (c.cancelled) return true;
  const deadline = c.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) && at <= Date.now();
}
