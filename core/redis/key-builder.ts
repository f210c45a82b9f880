/**
 * The only place Redis keys and pub/sub channels are spelled. Relayers and miners of one deployment
 * must share the namespace. Keys that belong to one supplier wrap its address in a `{…}` hash tag,
 * so Redis Cluster puts all of them (stream, sessions, lease, meter, submissions) on one slot and
 * multi-key scripts and transactions over them work on a cluster.
 */

export const SESSION_STATES = [
  'active',
  'claiming',
  'claimed',
  'proving',
  'proved',
  'settled',
  'claim_window_missed',
  'claim_rejected',
  'proof_window_missed',
  'proof_rejected',
  'expired',
  'skipped_unprofitable',
  'claim_not_ours',
  'handed_over',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export const CACHE_ENTITIES = [
  'application',
  'account',
  'service',
  'supplier',
  'session',
  'shared_params',
  'session_params',
  'proof_params',
  'difficulty',
  'compute_units',
] as const;
export type CacheEntity = (typeof CACHE_ENTITIES)[number];

export type SubmissionPhase = 'claim' | 'proof';

/** Lifetimes that belong with the keys they apply to. */
export const KEY_TTL_SECONDS = {
  globalLeader: 30,
} as const;

// Anything that would break a hash tag or a key's shape: braces, colons, white space.
const UNSAFE = /[{}:\s]/;

function part(name: string, value: string | number | bigint): string {
  const text = String(value);
  if (text === '' || UNSAFE.test(text)) {
    throw new Error(`invalid ${name} for a Redis key: ${JSON.stringify(text)}`);
  }
  return text;
}

export class KeyBuilder {
  readonly namespace: string;

  constructor(namespace = 'ha') {
    this.namespace = part('namespace', namespace);
  }

  #supplier(supplier: string): string {
    return `{${part('supplier', supplier)}}`;
  }

  // --- relay write-ahead log (relayer → miner) ---

  /** Stream of mined relays of one supplier. */
  relayStream(supplier: string): string {
    return `${this.namespace}:relays:${this.#supplier(supplier)}`;
  }

  /** SCAN pattern of every supplier's relay stream. */
  relayStreamPattern(): string {
    return `${this.namespace}:relays:{*}`;
  }

  /** The supplier of a relay stream key (`relayStream`'s inverse), or undefined for any other key. */
  relayStreamSupplier(key: string): string | undefined {
    const prefix = `${this.namespace}:relays:{`;
    return key.startsWith(prefix) && key.endsWith('}') ? key.slice(prefix.length, -1) : undefined;
  }

  /** Consumer group of the miners on every relay stream (a group name, not a key). */
  minerConsumerGroup(): string {
    return `${this.namespace}-miners`;
  }

  // --- miner session store ---

  /** Hash: metadata, counters and state of one session of one supplier. */
  minerSession(supplier: string, sessionId: string): string {
    return `${this.namespace}:miner:sessions:${this.#supplier(supplier)}:${part('session id', sessionId)}`;
  }

  /** Hash: leaf path (sha256 of the relay hash, 32 bytes) → mined relay bytes. */
  minerSessionLeaves(supplier: string, sessionId: string): string {
    return `${this.minerSession(supplier, sessionId)}:leaves`;
  }

  /**
   * Sorted set, every score 0: one member per leaf, path (32 bytes) ‖ leaf digest (48 bytes) ‖ insertion
   * sequence (u32 big-endian), so the session's leaves read in path order without sorting.
   */
  minerSessionPaths(supplier: string, sessionId: string): string {
    return `${this.minerSession(supplier, sessionId)}:paths`;
  }

  /** String: the session trie's bucket digests (smst Frontier), written with the claim and read for the proof. */
  minerSessionFrontier(supplier: string, sessionId: string): string {
    return `${this.minerSession(supplier, sessionId)}:frontier`;
  }

  /** Sorted set of the supplier's session ids, each scored by its session end height. */
  minerSessionIndex(supplier: string): string {
    return `${this.namespace}:miner:sessions:${this.#supplier(supplier)}:index`;
  }

  // --- miner coordination ---

  /** String (instance id) with a TTL of KEY_TTL_SECONDS.globalLeader. */
  globalLeader(): string {
    return `${this.namespace}:miner:global_leader`;
  }

  /** String: the lease on one supplier (owner instance and fencing token). */
  supplierLease(supplier: string): string {
    return `${this.namespace}:miner:lease:${this.#supplier(supplier)}`;
  }

  /** Integer: the supplier's fencing-token counter; only ever incremented. */
  supplierLeaseFence(supplier: string): string {
    return `${this.namespace}:miner:lease:${this.#supplier(supplier)}:fence`;
  }

  /** Sorted set: miner instance id → last heartbeat (ms). */
  activeMiners(): string {
    return `${this.namespace}:miner:active`;
  }

  /** Hash: the claim or proof messages built for one session end, kept for rebroadcast and takeover. */
  submission(supplier: string, phase: SubmissionPhase, sessionEndHeight: number | bigint): string {
    return `${this.namespace}:miner:submission:${this.#supplier(supplier)}:${part('phase', phase)}:${part('height', sessionEndHeight)}`;
  }

  // --- relay meter (shared by every relayer) ---

  /**
   * A simulated relay's signature seen (`hash`: its SHA-256, hex), so it is admitted once across relayers;
   * it lives twice the freshness window (`relayer.simulation.freshness_window_seconds`).
   */
  simulationReplay(hash: string): string {
    return `${this.namespace}:sim:replay:${part('signature hash', hash)}`;
  }

  /** Integer: the stake budget one (supplier, session) has consumed, in meter units; the session fixes app and service. */
  meter(supplier: string, sessionId: string): string {
    return `${this.namespace}:meter:${this.#supplier(supplier)}:${part('session id', sessionId)}`;
  }

  /** SCAN pattern of every meter of one supplier (the session id is the last part). */
  meterPattern(supplier: string): string {
    return `${this.namespace}:meter:${this.#supplier(supplier).replace(/[[\]*?]/g, '\\$&')}:*`;
  }

  /** SCAN pattern of every meter of every supplier. */
  meterPatternAll(): string {
    return `${this.namespace}:meter:{*}:*`;
  }

  /** The supplier and session of a meter key (`meter`'s inverse), or undefined for any other key. */
  meterParts(key: string): { supplier: string; sessionId: string } | undefined {
    const prefix = `${this.namespace}:meter:`;
    const m = key.startsWith(prefix) ? /^\{([^{}]+)\}:([^:]+)$/.exec(key.slice(prefix.length)) : null;
    return m ? { supplier: m[1]!, sessionId: m[2]! } : undefined;
  }

  // --- caches ---

  /** Cached chain entity, e.g. `ha:cache:application:pokt1…` or `ha:cache:shared_params:1234`. */
  cache(entity: CacheEntity, id: string | number | bigint): string {
    return `${this.namespace}:cache:${part('entity', entity)}:${part('cache id', id)}`;
  }

  /** SCAN pattern of the cached entries of one entity (entity and id are the last two parts). */
  cachePattern(entity: CacheEntity): string {
    return `${this.namespace}:cache:${part('entity', entity)}:*`;
  }

  // --- pub/sub channels ---

  /** New blocks (height, hash, time), published by whoever follows the chain. */
  blockEventsChannel(): string {
    return `${this.namespace}:events:blocks`;
  }

  /** Invalidation of one cache entity (payload: the id, or empty for all). */
  cacheInvalidationChannel(entity: CacheEntity): string {
    return `${this.namespace}:events:cache:${part('entity', entity)}:invalidate`;
  }

}
