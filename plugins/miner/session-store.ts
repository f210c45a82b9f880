import type { RedisClient } from '../../core/redis/connection.js';
import type { KeyBuilder, SessionState } from '../../core/redis/key-builder.js';
import type { MinedRelay } from '../../core/protocol/messages.js';

/**
 * Stores one relay in its session and acknowledges its stream entry, atomically, only while the
 * caller's fencing token is the supplier's current one (a paused former owner writes nothing).
 * A relay hash already stored counts once; a relay for a session past `active` is acknowledged and
 * dropped (its claim root is fixed). All keys carry the supplier's hash tag: one slot on a cluster.
 *
 * KEYS: stream, session, leaves, index, fence
 * ARGV: group, entry id, relay hash (hex), relay bytes, compute units, session id, start, end, service, application, token
 * Returns: 1 stored, 0 duplicate, 2 late (session no longer active), -1 fenced out (nothing written, not acked).
 */
const INGEST = `
if redis.call('GET', KEYS[5]) ~= ARGV[11] then return -1 end
local state = redis.call('HGET', KEYS[2], 'state')
local result
if state and state ~= 'active' then
  result = 2
else
  if not state then
    redis.call('HSET', KEYS[2], 'state', 'active', 'session_id', ARGV[6], 'start', ARGV[7], 'end', ARGV[8], 'service', ARGV[9], 'application', ARGV[10], 'count', 0, 'compute_units', 0)
    redis.call('ZADD', KEYS[4], ARGV[8], ARGV[6])
  end
  result = redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4])
  if result == 1 then
    redis.call('HINCRBY', KEYS[2], 'count', 1)
    redis.call('HINCRBY', KEYS[2], 'compute_units', ARGV[5])
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return result
`;

/** Moves a session to a new state under the fencing token. KEYS: session, fence. ARGV: token, from, to. Returns 1, 0 (state differs), -1 (fenced). */
const TRANSITION = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[3])
return 1
`;

export type IngestResult = 'stored' | 'duplicate' | 'late' | 'fenced';
const INGEST_RESULTS: Record<number, IngestResult> = { 1: 'stored', 0: 'duplicate', 2: 'late', [-1]: 'fenced' };

export interface StreamRelay {
  entryId: string;
  relay: MinedRelay;
}

export interface SessionRecord {
  sessionId: string;
  state: SessionState;
  serviceId: string;
  applicationAddress: string;
  startHeight: bigint;
  endHeight: bigint;
  count: number;
  computeUnits: bigint;
  /** Proof decision once taken: not_required, probabilistic, threshold. */
  proof?: string;
  /** Why the session ended in a failure state. */
  reason?: string;
}

/** The miner's per-(supplier, session) storage in Redis: leaves, counters, metadata and state. */
export class SessionStore {
  constructor(
    readonly keys: KeyBuilder,
    readonly redis: () => RedisClient,
  ) {}

  /** Stores a batch of one supplier's stream entries in one round trip; results in order. */
  async ingest(supplier: string, token: string, entries: StreamRelay[]): Promise<IngestResult[]> {
    if (entries.length === 0) return [];
    const k = this.keys;
    const stream = k.relayStream(supplier);
    const fence = k.supplierLeaseFence(supplier);
    const index = k.minerSessionIndex(supplier);
    const pipeline = this.redis().pipeline();
    for (const { entryId, relay } of entries) {
      const sid = relay.session_id;
      pipeline.eval(
        INGEST,
        5,
        stream,
        k.minerSession(supplier, sid),
        k.minerSessionLeaves(supplier, sid),
        index,
        fence,
        k.minerConsumerGroup(),
        entryId,
        Buffer.from(relay.relay_hash).toString('hex'),
        Buffer.from(relay.relay),
        relay.compute_units.toString(),
        sid,
        relay.session_start_block_height.toString(),
        relay.session_end_block_height.toString(),
        relay.service_id,
        relay.application_address,
        token,
      );
    }
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return INGEST_RESULTS[Number(value)] ?? 'fenced';
    });
  }

  async session(supplier: string, sessionId: string): Promise<SessionRecord | undefined> {
    const h = await this.redis().hgetall(this.keys.minerSession(supplier, sessionId));
    if (!h.state) return undefined;
    return {
      sessionId,
      state: h.state as SessionState,
      serviceId: h.service ?? '',
      applicationAddress: h.application ?? '',
      startHeight: BigInt(h.start ?? 0),
      endHeight: BigInt(h.end ?? 0),
      count: Number(h.count ?? 0),
      computeUnits: BigInt(h.compute_units ?? 0),
      proof: h.proof,
      reason: h.reason,
    };
  }

  /** Session ids of a supplier whose end height is within [from, to]. */
  sessionIds(supplier: string, from: bigint | '-inf' = '-inf', to: bigint | '+inf' = '+inf'): Promise<string[]> {
    return this.redis().zrangebyscore(this.keys.minerSessionIndex(supplier), String(from), String(to));
  }

  /** Every stored leaf: relay hash (hex) → mined relay bytes. Any replica rebuilds the trie from this alone. */
  async leaves(supplier: string, sessionId: string): Promise<Map<string, Buffer>> {
    const flat = await this.redis().hgetallBuffer(this.keys.minerSessionLeaves(supplier, sessionId));
    return new Map(Object.entries(flat).map(([hash, bytes]) => [hash, bytes]));
  }

  async transition(supplier: string, sessionId: string, token: string, from: SessionState, to: SessionState): Promise<'moved' | 'wrong_state' | 'fenced'> {
    const r = Number(await this.redis().eval(TRANSITION, 2, this.keys.minerSession(supplier, sessionId), this.keys.supplierLeaseFence(supplier), token, from, to));
    return r === 1 ? 'moved' : r === 0 ? 'wrong_state' : 'fenced';
  }
}
