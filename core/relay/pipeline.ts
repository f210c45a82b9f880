import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { sha256 } from '../crypto/sha256.js';
import type { RpcTypeName } from '../config/schema.js';
import { signSupplierResponse } from '../crypto/supplier-signature.js';
import { MinedRelayCodec, POKTHTTPResponseCodec, RelayRequestCodec, RelayResponseCodec, type RelayMinerError, type RelayResponse } from '../protocol/messages.js';
import { encodeSignedResponse, relayBytesOf, relayHash, relayResponseSignableHash } from '../protocol/relay.js';
import type { SupplierKey } from '../crypto/supplier-key.js';
import type { RedisClient } from '../redis/connection.js';
import type { KeyBuilder } from '../redis/key-builder.js';
import type { RedisCircuits } from '../redis/redis-circuit.js';
import { isRelayVolumeApplicable } from '../session/difficulty.js';
import type { RelayChainState } from './chain-state.js';
import { errorReply, RELAYER_PROXY_CODESPACE, type ErrorModel } from './error-reply.js';
import type { RelayInfo } from './events.js';
import type { RelayHooks } from './hooks.js';
import { rejectionOf } from './backend-rejection.js';
import { StreamAppender } from './stream-appender.js';
import { StateSignals } from '../observability/state-signals.js';
import { RelayRejection } from './reasons.js';
import type { MeterCharge, RefundReason, RelayMeter } from './relay-meter.js';
import type { RelayMetrics } from './relay-metrics.js';
import type { SimulatedRelays } from './simulated-relays.js';
import type { DecodedRelay, RelayValidator, SignaturePendingRelay, ValidatedRelay } from './validator.js';

/** What a transport's backend call produced: the bytes that become the signed response payload. */
export interface ForwardResult {
  payload: Uint8Array;
  /** The backend's HTTP status (or the transport's equivalent); 5xx is served signed but not mined. */
  backendStatus: number;
  /** Other backend URLs tried before this answer (sent as `Backend-Retries`, docs/spec/wire.md §2). */
  retries?: number;
  /** The transport answered in place of the backend (a call its operator does not serve): no backend was called. */
  answeredByTransport?: boolean;
  /** A streamed answer: each batch payload is signed and sent on its own; the whole is mined once. */
  stream?: {
    contentType: string;
    batches: AsyncIterable<Uint8Array>;
    /**
     * After the last batch: SHA-256 of the whole answer's payload. The mined relay carries the
     * response without its payload (docs/spec/protocol.md §5.1), so only this hash is needed to mine it.
     */
    payloadHash: () => Promise<Uint8Array>;
    /** Frees what was kept to compute the hash; called once the stream is over, completed or not. */
    release?: () => Promise<void>;
  };
}

/**
 * Transport-specific: call the backend for a relay (validated, unless its service is optimistic).
 * Throws a RelayRejection on failure.
 */
export type Forward = (relay: DecodedRelay) => Promise<ForwardResult>;

export interface RelayReply {
  status: number;
  contentType: string;
  body: Uint8Array;
  /** Streamed replies: one encoded, signed RelayResponse per batch (the transport frames them); `body` is empty. */
  stream?: AsyncIterable<Uint8Array>;
  outcome: 'served' | 'backend_5xx' | 'rejected';
  /**
   * Streamed replies, once `stream` is consumed: why the answer was cut short (backend deadline or
   * failure mid-stream), undefined if it completed. Transports with a trailing status (gRPC) report it.
   */
  streamCut?: () => RelayRejection | undefined;
  /** Why, when `outcome` is rejected (transports with their own status codes map it). */
  rejection?: RelayRejection;
  /** Other backend URLs tried before the answer, when any were. */
  retries?: number;
  /** Set when the relay was appended to the stream. */
  streamId?: string;
}

/** A request frame a message transport may forward: validated against the chain, or a simulated relay admitted by its pinned identity. */
export type AdmittedFrame = { relay: ValidatedRelay; info: RelayInfo; simulated?: false } | { relay: DecodedRelay; info: RelayInfo; simulated: true };

export interface RefusedFrame {
  rejection: RelayRejection;
  info: RelayInfo;
}

export interface RelayPipelineOptions {
  validator: RelayValidator;
  chain: RelayChainState;
  keys: KeyBuilder;
  redis: () => RedisClient;
  /** Whether Redis answers: while it does not, relays are not appended (each would wait out the command timeout). */
  redisCircuits?: RedisCircuits;
  hooks: RelayHooks;
  metrics: RelayMetrics;
  log: Logger;
  errorModel: ErrorModel;
  /** Stake meter; omit to serve unmetered. */
  meter?: RelayMeter;
  /** Services that serve before validating (validated before mining). */
  optimisticServices?: ReadonlySet<string>;
  /**
   * The supplier's signature over a response's signable hash, possibly computed off the event loop
   * (a CryptoPool); omitted, answers are signed here. Used for the answers of request/response relays
   * and of message transports; streamed batches and error envelopes are signed here.
   */
  signResponse?: (signable: Uint8Array, supplier: SupplierKey) => Promise<Uint8Array>;
  /** Where its conditions (failing appends) are tracked; its own, repeating once a minute, by default. */
  signals?: StateSignals;
  /** Admission of simulated relays (`relayer.simulation.enabled`); without it their header is ignored. */
  simulation?: SimulatedRelays;
}

/**
 * The one relay lifecycle every transport uses: decode → validate → (hooks) → forward → sign →
 * mine → publish → reply. Never throws: every failure becomes a reply with a reason code.
 */
export class RelayPipeline {
  readonly #o: RelayPipelineOptions;
  readonly #appender: StreamAppender;
  /**
   * What would otherwise be said per relay, said once a minute at most (metrics count each): failing appends by
   * service (with Redis down every relay fails one), and streamed answers cut short by service and reason (a
   * client can ask for streams longer than the limits relay after relay).
   */
  readonly #signals: StateSignals;
  /** Relays being handled as simulated: counted in their own metric only, no hooks told. */
  readonly #simulated = new WeakSet<RelayInfo>();

  constructor(o: RelayPipelineOptions) {
    this.#o = o;
    this.#appender = new StreamAppender(o.redis, o.redisCircuits);
    this.#signals = o.signals ?? new StateSignals(60_000);
  }

  /**
   * `clientGone`, when the transport can tell: true once nobody will read the answer (socket closed,
   * call cancelled or past its deadline). Such a relay is not forwarded (and not billed).
   * `simulationKeyId`: the request's `Pocket-Simulation-Key-Id` (a simulated relay, when they are enabled).
   */
  async handle(body: Uint8Array, rpcType: RpcTypeName, transport: string, forward: Forward, clientGone?: () => boolean, simulationKeyId?: string): Promise<RelayReply> {
    const info: RelayInfo = { id: randomUUID(), rpcType, transport, receivedAtMs: Date.now(), requestBytes: body.length };
    const simulation = this.#o.simulation;
    if (simulationKeyId && simulation) return this.#handleSimulated(body, info, forward, clientGone, simulationKeyId, simulation);
    const started = performance.now();
    let header: DecodedRelay['header'] | undefined;
    // The backend's own time (to its answer, or to a stream's first bytes): what onRelayServed reports.
    let backendMs = 0;
    let backendAnswered = false;
    const timed: Forward = async (r) => {
      const t0 = performance.now();
      try {
        const result = await forward(r);
        backendAnswered = !result.answeredByTransport;
        return result;
      } finally {
        backendMs = performance.now() - t0;
      }
    };
    try {
      const decoded = this.#o.validator.decode(body, info);
      header = decoded.header;
      const optimistic = this.#o.optimisticServices?.has(decoded.header.service_id) ?? false;
      let relay: ValidatedRelay | undefined;
      let charge: MeterCharge | undefined;
      let result: ForwardResult;
      if (optimistic) {
        // Serve first; a relay that fails validation or the meter is answered but never mined.
        const validation = this.#o.validator
          .validate(decoded)
          .then(async (v) => {
            await this.#o.hooks.runValidated({ relay: info, mode: 'optimistic' });
            charge = await this.#o.meter?.charge(v);
            return v;
          })
          .catch((err: unknown) => {
            this.#countRejection(info, err);
            return undefined;
          });
        result = await forwardUnlessGone(decoded, timed, clientGone).catch(async (err: unknown) => {
          await validation;
          if (charge) await this.#o.meter!.refund(charge, decoded.header.service_id, forwardRefundReason(err));
          throw err;
        });
        relay = await validation;
      } else {
        const checked = await this.#o.validator.checkSession(decoded);
        relay = checked.relay;
        charge = await this.#verifyAndCharge(checked);
        try {
          await this.#o.hooks.runValidated({ relay: info, mode: 'eager' });
        } catch (err) {
          if (charge) await this.#o.meter!.refund(charge, relay.header.service_id, 'refused_by_hook');
          throw err;
        }
        try {
          result = await forwardUnlessGone(relay, timed, clientGone);
        } catch (err) {
          if (charge) await this.#o.meter!.refund(charge, relay.header.service_id, forwardRefundReason(err));
          throw err;
        }
      }
      // A backend 5xx is not billable: give the budget back.
      if (charge && result.backendStatus >= 500) await this.#o.meter!.refund(charge, decoded.header.service_id, 'backend_5xx');
      return await this.#respond(info, decoded, relay, result, backendMs, charge);
    } catch (err) {
      return this.#reject(info, err, header);
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const labels = this.#labels(info);
      this.#o.metrics.observeDuration(labels, seconds);
      if (backendAnswered) this.#o.metrics.observeBackendShare(labels, seconds, backendMs / 1000);
    }
  }

  /** A simulated relay: admitted by its pinned identity, forwarded and signed; never metered, mined or published. */
  async #handleSimulated(body: Uint8Array, info: RelayInfo, forward: Forward, clientGone: (() => boolean) | undefined, keyId: string, simulation: SimulatedRelays): Promise<RelayReply> {
    this.#simulated.add(info);
    let header: DecodedRelay['header'] | undefined;
    const release = simulation.acquire();
    try {
      const decoded = this.#o.validator.decode(body, info);
      header = decoded.header;
      if (!release) throw new RelayRejection('simulation_rate_limited', 'max_concurrent simulated relays in flight');
      await simulation.admit(decoded, keyId);
      const result = await forwardUnlessGone(decoded, forward, clientGone);
      return await this.#respond(info, decoded, undefined, result, 0);
    } catch (err) {
      return this.#reject(info, err, header);
    } finally {
      release?.();
    }
  }

  /**
   * Eager mode: a charge that needs Redis (a new lease) goes there while the ring signature is
   * verified, so its round trip costs no latency. A relay whose signature fails gets its charge back at once, and the
   * signature's verdict wins over the meter's (an unauthenticated caller learns nothing of the budget).
   */
  async #verifyAndCharge(checked: SignaturePendingRelay): Promise<MeterCharge | undefined> {
    const meter = this.#o.meter;
    if (!meter) {
      await checked.verifySignature();
      return undefined;
    }
    if (meter.holdsBudgetFor(checked.relay)) {
      // Charged from this process's lease after the verdict: no round trip to overlap, nothing to refund.
      await checked.verifySignature();
      return meter.charge(checked.relay);
    }
    const charging = meter.charge(checked.relay);
    // Observed below; a refusal arriving before then (Redis unreachable) is not an unhandled rejection.
    charging.catch(() => undefined);
    // The charge's cached price lookups settle in microtasks; let its EVAL reach the socket before an
    // in-thread verification holds the event loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const [verified, charged] = await Promise.allSettled([checked.verifySignature(), charging]);
    if (verified.status === 'rejected') {
      if (charged.status === 'fulfilled' && charged.value) await meter.refund(charged.value, checked.relay.header.service_id, 'invalid_signature');
      throw verified.reason;
    }
    if (charged.status === 'rejected') throw charged.reason;
    return charged.value;
  }

  /**
   * Message transports (WebSocket): decode and validate one request frame, eagerly, whatever the
   * service's validation mode, and check that its session's meter has budget left (refused over_servicing
   * otherwise; nothing is charged until an answer). Nothing may be forwarded unless this returns `relay`. With
   * `simulationKeyId` (the connection's `Pocket-Simulation-Key-Id`, when simulated relays are enabled) the
   * frame is admitted by that pinned identity instead, and its answers are `simulated`.
   */
  async admit(body: Uint8Array, rpcType: RpcTypeName, transport: string, simulationKeyId?: string): Promise<AdmittedFrame | RefusedFrame> {
    const info: RelayInfo = { id: randomUUID(), rpcType, transport, receivedAtMs: Date.now(), requestBytes: body.length };
    const simulation = this.#o.simulation;
    if (simulationKeyId && simulation) {
      this.#simulated.add(info);
      try {
        const relay = this.#o.validator.decode(body, info);
        await simulation.admit(relay, simulationKeyId);
        return { relay, info, simulated: true };
      } catch (err) {
        return { rejection: this.#countRejection(info, err), info };
      }
    }
    try {
      const relay = await this.#o.validator.validate(this.#o.validator.decode(body, info));
      await this.#o.hooks.runValidated({ relay: info, mode: 'eager' });
      // Answers are charged after the backend has run the request: it is forwarded only while budget is left.
      await this.#o.meter?.reserve(relay);
      return { relay, info };
    } catch (err) {
      const rejection = this.#countRejection(info, err);
      this.#o.metrics.countRelay(this.#labels(info), 'rejected');
      return { rejection, info };
    }
  }

  /**
   * Message transports: one backend message answering `admitted` (the latest request) is one relay.
   * Charges the meter, signs, mines and publishes; returns the signed RelayResponse bytes.
   */
  async answer(admitted: AdmittedFrame, payload: Uint8Array): Promise<{ body: Uint8Array; streamId?: string } | { rejection: RelayRejection }> {
    const info: RelayInfo = { ...admitted.info, id: randomUUID(), receivedAtMs: Date.now() };
    if (admitted.simulated) return this.#answerSimulated(admitted.relay, info, payload);
    const { relay } = admitted;
    const started = performance.now();
    try {
      await this.#o.meter?.charge(relay);
      const { bytes: body, dehydrated } = encodeSignedResponse(await this.#signed(relay, payload));
      const labels = this.#labels(info);
      this.#o.metrics.countRelay(labels, 'served');
      // A backend message on a connection has no status, and answers no one request: neither is reported.
      this.#o.hooks.emit('onRelayServed', { relay: info, responseBytes: body.length });
      const streamId = await this.#mine(info, relay, dehydrated);
      // No backend time to tell apart: from the backend's message to its signed answer is all the relayer's.
      this.#o.metrics.observeBackendShare(labels, (performance.now() - started) / 1000);
      return { body, streamId };
    } catch (err) {
      const rejection = this.#countRejection(info, err);
      this.#o.metrics.countRelay(this.#labels(info), 'rejected');
      return { rejection };
    }
  }

  /** A backend message answering a simulated request: signed, never metered, mined or published. */
  async #answerSimulated(relay: DecodedRelay, info: RelayInfo, payload: Uint8Array): Promise<{ body: Uint8Array } | { rejection: RelayRejection }> {
    this.#simulated.add(info);
    try {
      const { bytes: body } = encodeSignedResponse(await this.#signed(relay, payload));
      this.#countOutcome(info, 'served');
      return { body };
    } catch (err) {
      return { rejection: this.#countRejection(info, err) };
    }
  }

  /** A signed RelayResponse carrying an HTTP-like error envelope (the WebSocket 410 "session expired"). */
  signedError(relay: DecodedRelay, status: number, message: string): Uint8Array {
    const payload = POKTHTTPResponseCodec.encode({
      status_code: status,
      header: new Map([['Content-Type', { key: 'Content-Type', values: ['application/json'] }]]),
      body_bz: Buffer.from(JSON.stringify({ error: message })),
    });
    return RelayResponseCodec.encode(this.#sign(relay, payload, { codespace: RELAYER_PROXY_CODESPACE, code: status, description: message, message }));
  }

  /** True once the session's grace period is over at the height this relayer knows. */
  async sessionOver(header: DecodedRelay['header']): Promise<boolean> {
    return this.#o.validator.sessionOver(header);
  }

  /** A relay refused before it reached the pipeline (e.g. body too large): counted like any other. */
  refuse(rejection: RelayRejection, rpcType: RpcTypeName, transport: string, requestBytes?: number): RelayReply {
    const info: RelayInfo = { id: randomUUID(), rpcType, transport, receivedAtMs: Date.now(), requestBytes };
    return this.#reject(info, rejection);
  }

  #sign(relay: DecodedRelay, payload: Uint8Array, relayMinerError?: RelayMinerError): RelayResponse {
    const response = unsignedResponse(relay, payload);
    if (relayMinerError) response.relay_miner_error = relayMinerError;
    return signedHere(relay, response);
  }

  /** As #sign, through `signResponse` when there is one. */
  async #signed(relay: DecodedRelay, payload: Uint8Array): Promise<RelayResponse> {
    const sign = this.#o.signResponse;
    if (!sign) return this.#sign(relay, payload);
    const response = unsignedResponse(relay, payload);
    response.meta.supplier_operator_signature = await sign(relayResponseSignableHash(response), relay.supplier);
    return response;
  }

  /** A response known by its payload hash only (a streamed answer): what is mined, signed as the full one would be. */
  #signHash(relay: DecodedRelay, payloadHash: Uint8Array): RelayResponse {
    return signedHere(relay, unsignedResponse(relay, new Uint8Array(0), payloadHash));
  }

  async #respond(info: RelayInfo, relay: DecodedRelay, validated: ValidatedRelay | undefined, result: ForwardResult, backendMs: number, charge?: MeterCharge): Promise<RelayReply> {
    const failed = result.backendStatus >= 500;
    const outcome = failed ? 'backend_5xx' : 'served';
    if (result.stream) {
      this.#countOutcome(info, outcome);
      const stream = result.stream;
      const self = this;
      let cut: RelayRejection | undefined;
      async function* signed(): AsyncGenerator<Uint8Array> {
        let bytes = 0;
        try {
          try {
            for await (const batch of stream.batches) {
              const frame = encodeSignedResponse(self.#sign(relay, batch)).bytes;
              bytes += frame.length;
              yield frame;
            }
          } catch (err) {
            // The status is already sent: as prm, the stream just ends after its last whole batch (a
            // transport with a trailing status reports `streamCut`); not mined, so not billed either.
            cut = self.#countRejection(info, err);
            const { service } = self.#labels(info);
            self.#signals.update(`stream_cut|${service}|${cut.reason}`, true, () =>
              self.#o.log.warn(
                { relay: info, reason: cut!.reason, err: cut!.message },
                'streamed answer cut short; relay not mined (logged at most once a minute per service and reason, relayminer_relay_rejections_total counts every one)',
              ),
            );
            if (charge && !failed) await self.#o.meter!.refund(charge, relay.header.service_id, 'backend_failed');
            return;
          }
          if (!self.#simulated.has(info)) self.#o.hooks.emit('onRelayServed', { relay: info, backendStatus: result.backendStatus, backendLatencyMs: Math.round(backendMs), responseBytes: bytes });
          if (!failed && validated) await self.#mine(info, validated, encodeSignedResponse(self.#signHash(relay, await stream.payloadHash())).dehydrated);
        } finally {
          await stream.release?.();
        }
      }
      return { status: result.backendStatus, contentType: stream.contentType, body: new Uint8Array(0), stream: signed(), outcome, retries: result.retries, streamCut: () => cut };
    }
    const { bytes: body, dehydrated } = encodeSignedResponse(await this.#signed(relay, result.payload));
    // Counted once signed: a relay whose answer could not be signed is counted as the rejection it becomes.
    this.#countOutcome(info, outcome);
    if (!this.#simulated.has(info)) {
      this.#o.hooks.emit(
        'onRelayServed',
        result.answeredByTransport ? { relay: info, responseBytes: body.length } : { relay: info, backendStatus: result.backendStatus, backendLatencyMs: Math.round(backendMs), responseBytes: body.length },
      );
    }
    const reply: RelayReply = { status: 200, contentType: 'application/x-protobuf', body, outcome, retries: result.retries };
    if (!failed && validated) reply.streamId = await this.#mine(info, validated, dehydrated);
    return reply;
  }

  /**
   * Mines and publishes `response` (signed, encoded without its payload); a failure here is counted and
   * logged, and the served reply stands.
   */
  async #mine(info: RelayInfo, relay: ValidatedRelay, response: Uint8Array): Promise<string | undefined> {
    const service = relay.header.service_id;
    if (!relay.rewardEligible) {
      this.#o.metrics.notRewardEligible.inc({ service });
      return undefined;
    }
    const start = relay.header.session_start_block_height;
    try {
      const mined = relayBytesOf(RelayRequestCodec.encode(relay.request), response);
      const hash = relayHash(mined);
      const chain = this.#o.chain;
      let target = chain.cached.difficultyTarget(service, start);
      let computeUnits = chain.cached.computeUnitsPerRelay(service, start);
      if (target === undefined || computeUnits === undefined) [target, computeUnits] = await Promise.all([chain.difficultyTarget(service, start), chain.computeUnitsPerRelay(service, start)]);
      if (!isRelayVolumeApplicable(hash, target)) return undefined;
      const entry = MinedRelayCodec.encode({
        relay_hash: hash,
        relay: mined,
        compute_units: computeUnits,
        session_id: relay.header.session_id,
        session_start_block_height: start,
        session_end_block_height: relay.header.session_end_block_height,
        supplier_operator_address: relay.supplier.address,
        service_id: service,
        application_address: relay.header.application_address,
        arrival_block_height: relay.height,
        published_at_ms: BigInt(Date.now()),
      });
      const streamId = await this.#appender.append(this.#o.keys.relayStream(relay.supplier.address), Buffer.from(entry.buffer, entry.byteOffset, entry.length));
      // Over once appends have not failed for a while: with a Cluster master down, only some suppliers' fail.
      if (this.#signals.clearQuiet(`publish|${service}`)) this.#o.log.info({ service }, 'relay stream appends work again');
      this.#o.metrics.countPublished(this.#labels(info));
      this.#o.hooks.emit('onRelayMined', { relay: info, relayHash: hash, computeUnits, streamId });
      return streamId;
    } catch (err) {
      this.#o.metrics.publishFailures.inc({ service });
      this.#signals.update(`publish|${service}`, true, () =>
        this.#o.log.error(
          { service, relay: info, err: (err as Error).message },
          'relay served but possibly not published to the relay stream (the append failed or its answer was lost; logged at most once a minute per service, relayminer_relay_publish_failures_total counts every relay)',
        ),
      );
      return undefined;
    }
  }

  #reject(info: RelayInfo, err: unknown, header?: DecodedRelay['header']): RelayReply {
    const rejection = this.#countRejection(info, err);
    if (!this.#simulated.has(info)) this.#o.metrics.countRelay(this.#labels(info), 'rejected');
    const { status, contentType, body } = errorReply(this.#o.errorModel, rejection.reason, rejection.message, header);
    return { status, contentType, body, outcome: 'rejected', rejection };
  }

  #countRejection(info: RelayInfo, err: unknown): RelayRejection {
    const known = rejectionOf(err);
    const rejection = known ?? new RelayRejection('internal');
    if (!known) this.#o.log.error({ relay: info, err }, 'relay failed unexpectedly');
    else this.#o.log.debug({ relay: info, reason: rejection.reason, detail: rejection.message }, 'relay rejected');
    const { service, rpc_type } = this.#labels(info);
    if (this.#simulated.has(info)) {
      this.#o.simulation?.count({ service, rpc_type }, rejection.reason);
      return rejection;
    }
    this.#o.metrics.rejections.inc({ service, rpc_type, reason: rejection.reason });
    this.#o.hooks.emit('onRelayRejected', { relay: info, reason: rejection.reason, message: rejection.message });
    return rejection;
  }

  /** A relay answered (served, or its backend's 5xx served signed): in the relay counters, or a simulated relay's own. */
  #countOutcome(info: RelayInfo, outcome: 'served' | 'backend_5xx'): void {
    if (this.#simulated.has(info)) this.#o.simulation?.count(this.#labels(info), outcome);
    else this.#o.metrics.countRelay(this.#labels(info), outcome);
  }

  /** Metric labels; a service id is a label only once known to be configured (bounded). */
  #labels(info: RelayInfo): { service: string; rpc_type: string } {
    const known = info.serviceId !== undefined && this.#o.validator.serves(info.serviceId);
    return { service: known ? info.serviceId! : 'unknown', rpc_type: info.rpcType };
  }
}

/** A RelayResponse for `relay` carrying `payload` (and its hash), its signature still empty. */
function unsignedResponse(relay: DecodedRelay, payload: Uint8Array, payloadHash = sha256(payload)): RelayResponse {
  return { meta: { session_header: relay.header, supplier_operator_signature: new Uint8Array(0) }, payload, payload_hash: payloadHash };
}

/** `response` with the supplier's signature, made on this thread. */
function signedHere(relay: DecodedRelay, response: RelayResponse): RelayResponse {
  response.meta.supplier_operator_signature = signSupplierResponse(relayResponseSignableHash(response), relay.supplier.privateKeyBytes());
  return response;
}

/**
 * Why a relay whose forward failed is not billed: the backend failed it, or its payload was no request
 * a backend could be sent (nothing was served, so nothing is charged; it never reached the backend).
 */
function forwardRefundReason(err: unknown): RefundReason {
  const rejection = rejectionOf(err);
  if (rejection && (rejection.reason === 'malformed_payload' || rejection.reason === 'client_gone' || rejection.reason === 'relayer_busy')) return rejection.reason;
  return 'backend_failed';
}

/** The last moment to notice an abandoned relay: once forwarded, the backend does the work anyway. */
function forwardUnlessGone(relay: DecodedRelay, forward: Forward, clientGone: (() => boolean) | undefined): Promise<ForwardResult> {
  if (clientGone?.()) return Promise.reject(new RelayRejection('client_gone'));
  return forward(relay);
}
