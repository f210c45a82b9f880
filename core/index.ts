/**
 * relayminer's public core API: what plugins and external tools import from 'relayminer'. The built-in
 * plugins import nothing else of core (test/structure.test.ts enforces it), so a third-party plugin can
 * do whatever they do; docs/plugins.md says what each group of names is for.
 */
export { VERSION } from './version.js';

// configuration
export {
  ConfigSchema,
  TransactionSchema,
  type TransactionConfig,
  RPC_TYPES,
  type RpcTypeName,
  type RawConfig,
  type BackendConfig,
  type ServiceConfig,
  type PluginEntry,
} from './config/schema.js';
export {
  loadConfigFile,
  parseConfig,
  requireRole,
  type ResolvedConfig,
  type ResolvedRelayer,
  type ResolvedMiner,
  type ResolvedService,
  type ResolvedBackend,
  type ResolvedRedis,
  type Role,
} from './config/load.js';
export { ConfigError, type ConfigProblem } from './config/problems.js';
export type { DocumentedPlugin } from './config/reference.js';
export { parseHostPort } from './config/host-port.js';

// plugins
export { definePlugin, PLUGIN_ROLES, type PluginMeta, type PluginRole, type RelayMinerPlugin } from './plugins/define.js';
export { PluginError, type BuiltinPlugins } from './plugins/loader.js';
export type { RelayMinerContext, ReloadedSuppliers } from './plugins/context.js';

// relay contract
export { RelayHooks } from './relay/hooks.js';
export { RelayRejection, REJECT_REASONS, REJECT_REASON_CODES, type RejectReason } from './relay/reasons.js';
export { SIMULATION_HEADER } from './relay/simulated-relays.js';
export {
  RELAY_HOOK_NAMES,
  type RelayInfo,
  type RelayHookName,
  type RelayHookEvents,
  type RelayHookHandler,
  type RelayValidatedEvent,
  type RelayServedEvent,
  type RelayMinedEvent,
  type RelayRejectedEvent,
} from './relay/events.js';
// the relay pipeline transports call
export { StreamedBody, STREAMED_BODY_MEMORY_BYTES } from './relay/streamed-body.js';
export { RelayPipeline, type Forward, type ForwardResult, type RelayReply, type RelayPipelineOptions, type AdmittedFrame, type RefusedFrame } from './relay/pipeline.js';
// relays carried over HTTP: the POKTHTTPRequest inside a relay, the headers passed to a backend, stream framing
export { decodeHttpPayload, pocketHeaders, HttpRelayRouter, HTTP_RPC_TYPES, type HttpRpcType } from './relay/http-relay.js';
export type { H2cHandoff } from './relay/h2c-handoff.js';
export type { UpgradeHandoff, UpgradeTaker } from './relay/upgrade-handoff.js';
export type { BackendHealth } from './relay/relayer-services.js';
export { type RedisCircuits, RedisNotAnsweringError } from './redis/redis-circuit.js';
export type { BodyBudget } from './relay/body-budget.js';
// what an HTTP transport plugin tells the kit about its protocol, and the helpers for JSON-RPC bodies
export { COMETBFT_OPERATOR_ROUTES, EVM_OPERATOR_METHODS } from './relay/operator-methods.js';
export { deniedCalls, jsonRpcCalls, onlyNotifications, notificationsAnswer, jsonRpcError, jsonRpcRefusal, unservedMethodsAnswer, requestPath, requestRoute, jsonAnswer, withHeaderDefault, namePatterns, namePatternsOption, BoundedLabels, isHttpAnswer, type HttpRelayProtocol, type HttpAnswer, type JsonRpcCall } from './relay/http-protocol.js';
export type { BackendRequest } from './backend/http-backend.js';
export { STREAM_DELIMITER } from './backend/stream-batches.js';
// the client side of a relay (gateways, tests, tools): building signed requests, checking signed answers
export {
  buildRelayRequest,
  checkRelayResponse,
  encodeHttpPayload,
  encodeRelayRequest,
  simulatedSessionHeader,
  websocketHandshakeHeaders,
  type HttpRelayPayload,
  type RelayResponseCheck,
} from './relay/relay-client.js';
export { RelayValidator, MAX_PLAUSIBLE_BLOCKS, type DecodedRelay, type ValidatedRelay } from './relay/validator.js';
export { RelayChainState } from './relay/chain-state.js';
export { RelayMetrics } from './relay/relay-metrics.js';
export { errorReply, poktrollErrorCode, RELAYER_PROXY_CODESPACE, type ErrorModel, type ErrorReply } from './relay/error-reply.js';

// backends: who is at fault when a call fails, and what a client may be told of it
export { backendFault, describeBackendError, unsendableRequest, type BackendFault } from './backend/errors.js';
export { backendAuthorization } from './backend/backend-auth.js';
export { BackendError, BACKEND_ERROR_CODES, type BackendErrorCode } from './backend/backend-error.js';
export { rejectionOf } from './relay/backend-rejection.js';
export { relayPath } from './backend/relay-url.js';
export { redactUrl, type HealthChange } from './backend/http-backend.js';
export { UrlReach, backendProbeIntervalOption, type ActiveProbes, type UrlReachOptions } from './backend/url-reach.js';
export { HEALTH_ANSWER_BYTES, HealthCheckFailure, JsonRpcProbe, grpcHealthAnswerFailure, healthAnswerFailure } from './backend/health-answer.js';

// chain access and caches
export { ChainPace, type BlockHealth, type ChainPaceOptions } from './chain/chain-pace.js';
export { missedProofsBeforeUnstake } from './chain/stake-margin.js';
export { nodeEndpoints, type NodeEndpoints, type NodeEndpointConfig, type NodeTls } from './chain/node-endpoints.js';
export { ChainQueryClient, ChainQueryError, chainNotFound, CometClient, BlockFollower, type BlockInfo, type SharedParamsInfo, type SupplierInfo, type QueryLane } from './chain/index.js';
export { forEachLimit } from './async/for-each-limit.js';
export { settlesWithin } from './async/settles-within.js';
export { TxClient, MAX_UNORDERED_TTL_MS, TX_OUT_OF_GAS, type AnyMessage, type BroadcastResult, type TxOutcome } from './chain/tx-client.js';
export { TieredCache, CacheMetrics } from './cache/index.js';

// redis
export { KeyBuilder, KEY_TTL_SECONDS, SESSION_STATES, CACHE_ENTITIES, type SessionState, type CacheEntity, type SubmissionPhase } from './redis/key-builder.js';
export { RedisPool, createRedisClient, type RedisClient } from './redis/connection.js';
export { parseRedisUrl, redactRedisUrl, type RedisTarget } from './config/redis-url.js';

// observability
export { Metrics } from './observability/metrics.js';
export { Readiness, type ReadinessCheck, type ReadinessReport } from './observability/readiness.js';
export { createLogger } from './observability/logger.js';
export { StateSignals } from './observability/state-signals.js';

// crypto
export { addressFromPrivateKey, addressFromPublicKey, publicKeyFromPrivateKey, isPoktAddress } from './crypto/address.js';
export { SupplierKey } from './crypto/supplier-key.js';

// runtime
export { Runtime, listenError, type KeysReload, type RuntimeOptions, type ShutdownStep } from './runtime/runtime.js';
export { OperatorError } from './runtime/operator-error.js';

// protocol: messages, canonical encoding, relay hashing
export * from './protocol/index.js';

// crypto: ring signatures, supplier signatures, placeholder ring key
export {
  ringSign,
  ringVerify,
  deserializeRingSignature,
  serializeRingSignature,
  verifyParsedRingSignature,
  ringMembersAllowed,
  keyImage,
  hashToScalar,
  hashToCurve,
  setDefaultRingBackend,
  defaultRingBackend,
  NobleRingBackend,
  type RingSignature,
  type RingCurveBackend,
} from './crypto/ring/index.js';
export { signSupplierResponse, verifySupplierResponse } from './crypto/supplier-signature.js';
export { PLACEHOLDER_RING_ADDRESS, PLACEHOLDER_RING_PUBLIC_KEY, genPrivKeyFromSecret } from './crypto/placeholder-ring-key.js';

// sum trie
export {
  SparseMerkleSumTrie,
  KeyNotFoundError,
  compactClosestProof,
  decompactClosestProof,
  encodeCompactClosestProof,
  decodeCompactClosestProof,
  verifyClosestProof,
  verifyClosestProofBytes,
  valueOfClosestLeaf,
  GobError,
  BadProofError,
  Frontier,
  frontierBits,
  proveClosest,
  sortedLeaf,
  leafPathAndDigest,
  memoryLeafSource,
  sumAndCount,
  type SortedLeaf,
  type LeafSource,
  type ClosestProof,
  type CompactClosestProof,
} from './smst/index.js';

// session math
export * from './session/index.js';
