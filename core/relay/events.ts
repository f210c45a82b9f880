import type { RpcTypeName } from '../config/schema.js';
import type { RejectReason } from './reasons.js';


/**
 * What the pipeline knows about one relay. Fields fill in as it advances: a relay rejected while
 * decoding has no session yet. Never holds payload bytes or keys, so handlers may log it whole.
 */
export interface RelayInfo {
  /** Process-unique id for correlating log lines. */
  id: string;
  rpcType: RpcTypeName;
  /** Name of the transport plugin that received it. */
  transport: string;
  receivedAtMs: number;
  serviceId?: string;
  supplierAddress?: string;
  applicationAddress?: string;
  sessionId?: string;
  sessionStartHeight?: bigint;
  sessionEndHeight?: bigint;
  requestBytes?: number;
}

/** After validation (ring signature, session, supplier), before the meter and the backend. */
export interface RelayValidatedEvent {
  relay: RelayInfo;
  /** `eager` validated before serving; `optimistic` validated after. */
  mode: 'eager' | 'optimistic';
}

/** After the backend answered and the response was signed and sent. */
export interface RelayServedEvent {
  relay: RelayInfo;
  /**
   * The backend's HTTP status; absent for a message on a connection (WebSocket), which has none, and for
   * an answer a transport gave in place of the backend (a call its operator does not serve).
   */
  backendStatus?: number;
  /** From the call to the backend to its answer (a stream's first bytes); absent where backendStatus is. */
  backendLatencyMs?: number;
  responseBytes: number;
}

/** After a relay met the service's difficulty and was appended to its supplier's stream. */
export interface RelayMinedEvent {
  relay: RelayInfo;
  /** sha256 of the mined relay bytes (docs/spec/protocol.md §5.1). */
  relayHash: Uint8Array;
  /** Compute units per relay at session start: the relay's weight in the session trie. */
  computeUnits: bigint;
  /** Redis stream entry id. */
  streamId: string;
}

/** Whenever a relay is refused, at any stage. */
export interface RelayRejectedEvent {
  relay: RelayInfo;
  reason: RejectReason;
  message: string;
}

export interface RelayHookEvents {
  onRelayValidated: RelayValidatedEvent;
  onRelayServed: RelayServedEvent;
  onRelayMined: RelayMinedEvent;
  onRelayRejected: RelayRejectedEvent;
}

export type RelayHookName = keyof RelayHookEvents;

export const RELAY_HOOK_NAMES: readonly RelayHookName[] = [
  'onRelayValidated',
  'onRelayServed',
  'onRelayMined',
  'onRelayRejected',
];

export type RelayHookHandler<N extends RelayHookName> = (event: RelayHookEvents[N]) => void | Promise<void>;
