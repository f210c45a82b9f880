import { messageCodec } from '../protocol/codec.js';
import { splitGrpcFrames } from '../protocol/grpc-wire.js';

/**
 * What a health check's answer says about its node, beyond reaching it: a JSON-RPC error to the probe's call, a
 * gRPC health service answering NOT_SERVING, a node still syncing (EVM, CometBFT, Cosmos). Each transport sends its
 * own probe; the judgement of the answer is the same for all, and a failure carries a code `describeBackendError`
 * phrases.
 */

/**
 * A health check that reached its node and failed: the answer said the node is not fit to serve, or it never came.
 * `code` is one of describeBackendError's.
 */
export class HealthCheckFailure extends Error {
  constructor(
    readonly code: 'HEALTH_CHECK_ERROR' | 'HEALTH_CHECK_NOT_SERVING' | 'HEALTH_CHECK_SYNCING' | 'HEALTH_CHECK_UNANSWERED',
    message: string,
  ) {
    super(message);
    this.name = 'HealthCheckFailure';
  }
}

/** The largest health check answer read for what it says, on every transport; a larger one passes on its status. */
export const HEALTH_ANSWER_BYTES = 1024 * 1024;

/**
 * Why the answer `text` to a health check whose request was `body` fails the check, undefined when it passes: a
 * JSON-RPC call's answer by `JsonRpcProbe.failure`, any other answer by `syncingAnswerFailure`.
 */
export function healthAnswerFailure(body: string | undefined, text: string): HealthCheckFailure | undefined {
  const probe = JsonRpcProbe.of(body);
  return probe ? probe.failure(text) : syncingAnswerFailure(text);
}

/** JSON-RPC methods whose result says whether the node is still syncing. */
const SYNCING_RESULTS: Record<string, (result: unknown) => boolean> = {
  // EVM nodes: false once synced, an object with the sync's progress while syncing.
  eth_syncing: (result) => result !== false && result != null,
  // CometBFT (and the Cosmos chains on it): `sync_info.catching_up` while it catches up with the chain.
  status: (result) => (result as { sync_info?: { catching_up?: unknown } } | null)?.sync_info?.catching_up === true,
};

interface Call {
  id: unknown;
  method: string;
}

/** A health check whose body is a JSON-RPC call or batch (a `method` in each): which message answers it, and whether it passes. */
export class JsonRpcProbe {
  private constructor(
    private readonly calls: readonly Call[],
    private readonly batch: boolean,
  ) {}

  /** The probe of a health check `body`; undefined for a body that is not a JSON-RPC call (see `syncingAnswerFailure`). */
  static of(body: string | undefined): JsonRpcProbe | undefined {
    const parsed = body === undefined ? undefined : parseJson(body);
    const isCall = (c: unknown): c is Call => typeof c === 'object' && c !== null && typeof (c as { method?: unknown }).method === 'string';
    if (Array.isArray(parsed)) return parsed.length > 0 && parsed.every(isCall) ? new JsonRpcProbe(parsed, true) : undefined;
    return isCall(parsed) ? new JsonRpcProbe([parsed], false) : undefined;
  }

  /**
   * Whether a message on a connection that also carries others (a node's greeting, subscription notifications) is
   * this probe's answer: an array for a batch, else an object with the call's `id` (any object, for a call without one).
   */
  answers(text: string): boolean {
    const answer = parseJson(text);
    if (this.batch) return Array.isArray(answer);
    const id = this.calls[0]!.id;
    return typeof answer === 'object' && answer !== null && !Array.isArray(answer) && (id === undefined || (answer as { id?: unknown }).id === id);
  }

  /**
   * Why the answer fails the check, undefined when it passes: an answer (or any answer of a batch) with a non-null
   * `error`, a result of `eth_syncing` or CometBFT's `status` saying the node is still syncing, or text that is not
   * JSON at all. The error's `code` is said; its message, the node's own text, is not.
   */
  failure(text: string): HealthCheckFailure | undefined {
    const answer = parseJson(text);
    if (answer === undefined) return new HealthCheckFailure('HEALTH_CHECK_ERROR', 'the health check was answered with something other than JSON');
    for (const one of Array.isArray(answer) ? answer : [answer]) {
      if (typeof one !== 'object' || one === null) continue;
      const { id, error, result } = one as { id?: unknown; error?: unknown; result?: unknown };
      if (error != null) {
        const code = (error as { code?: unknown }).code;
        return new HealthCheckFailure('HEALTH_CHECK_ERROR', `the health check was answered with a JSON-RPC error${typeof code === 'number' ? ` ${code}` : ''}`);
      }
      // A batch's answers come in any order: each is matched to its call by id.
      const method = this.batch ? this.calls.find((c) => c.id !== undefined && c.id === id)?.method : this.calls[0]!.method;
      const syncing = method === undefined ? undefined : SYNCING_RESULTS[method];
      if (syncing?.(result)) return new HealthCheckFailure('HEALTH_CHECK_SYNCING', `the node answered ${method}: still syncing`);
    }
    return undefined;
  }
}

/**
 * For a health check that is not a JSON-RPC call: a JSON answer saying the node is still syncing, as CometBFT's
 * `GET /status` says it (`result.sync_info.catching_up`) and the Cosmos REST `GET /cosmos/base/tendermint/v1beta1/syncing`
 * (`syncing`). Any other answer passes (its status was judged already).
 */
export function syncingAnswerFailure(text: string): HealthCheckFailure | undefined {
  const answer = parseJson(text) as { syncing?: unknown; result?: { sync_info?: { catching_up?: unknown } } } | undefined;
  if (typeof answer !== 'object' || answer === null) return undefined;
  if (answer.syncing === true || answer.result?.sync_info?.catching_up === true) return new HealthCheckFailure('HEALTH_CHECK_SYNCING', 'the node answered that it is still syncing');
  return undefined;
}

const HealthCheckResponseCodec = messageCodec<{ status?: number }>('grpc.health.v1.HealthCheckResponse');
const GetSyncingResponseCodec = messageCodec<{ syncing?: boolean }>('cosmos.base.tendermint.v1beta1.GetSyncingResponse');
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** gRPC methods whose answer says whether the node serves, and how to read it; any other passes on grpc-status 0. */
const GRPC_HEALTH_ANSWERS: Record<string, (message: Uint8Array) => HealthCheckFailure | undefined> = {
  // The gRPC Health Checking Protocol: only SERVING passes (an empty request asks about the whole server).
  '/grpc.health.v1.Health/Check': (message) => {
    const status = HealthCheckResponseCodec.decode(message).status ?? 0;
    return status === 1 ? undefined : new HealthCheckFailure('HEALTH_CHECK_NOT_SERVING', `the health service answered ${SERVING_STATUS[status] ?? status}`);
  },
  // A Cosmos node catching up answers queries from a state that is behind the chain.
  '/cosmos.base.tendermint.v1beta1.Service/GetSyncing': (message) =>
    GetSyncingResponseCodec.decode(message).syncing ? new HealthCheckFailure('HEALTH_CHECK_SYNCING', 'the node answered that it is still syncing') : undefined,
};

/**
 * Why the answer of a gRPC health check's call of `method` fails the check, once its grpc-status was 0: `body` is
 * the answer's HTTP/2 body (length-prefixed messages; the first is read, none is an empty message). For
 * `/grpc.health.v1.Health/Check` a status other than SERVING, for `/cosmos.base.tendermint.v1beta1.Service/GetSyncing`
 * `syncing: true`, for either an answer that does not decode (or came compressed, which the probe did not offer).
 * Any other method passes.
 */
export function grpcHealthAnswerFailure(method: string, body: Uint8Array): HealthCheckFailure | undefined {
  const judge = GRPC_HEALTH_ANSWERS[method];
  if (!judge) return undefined;
  try {
    const [first] = splitGrpcFrames(Buffer.from(body.buffer, body.byteOffset, body.byteLength), body.byteLength);
    if (first && first[0] !== 0) throw new Error('compressed');
    return judge(first ? first.subarray(5) : new Uint8Array(0));
  } catch {
    return new HealthCheckFailure('HEALTH_CHECK_ERROR', `the health check's answer to ${method} does not decode`);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
