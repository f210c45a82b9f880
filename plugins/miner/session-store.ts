import type { RedisClient } from '../../core/redis/connection.js';
import type { KeyBuilder, SessionState } from '../../core/redis/key-builder.js';
import type { MinedRelay } from '../../core/protocol/messages.js';

/**
 * Stores a batch of one supplier's relays in their sessions and acknowledges their stream entries,
 * atomically, only while the caller's fencing token is the supplier's current one (a paused former
 * owner writes nothing). A relay hash already stored counts once; a relay for a session past `active`
 * is acknowledged and dropped (its claim root is fixed). All keys carry the supplier's hash tag: one
 * slot on a cluster, so one script covers the batch.
 *
 * KEYS: stream, fence, index, then per session: session hash, leaves hash
 * ARGV: group, token, session count S, then S × (session id, start, end, service, application),
 *       then per relay: session index (1-based), entry id, relay hash (hex), relay bytes, compute units
 * Returns per relay: 1 stored, 0 duplicate, 2 late (session no longer active); or -1 alone when fenced out
 * (nothing written, nothing acknowledged).
 */
const INGEST = `
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {-1} end
local sessions = tonumber(ARGV[3])
local active = {}
for i = 1, sessions do
  local a = 3 + (i - 1) * 5
  local skey = KEYS[3 + (i - 1) * 2 + 1]
  local state = redis.call('HGET', skey, 'state')
  if not state then
    redis.call('HSET', skey, 'state', 'active', 'session_id', ARGV[a + 1], 'start', ARGV[a + 2], 'end', ARGV[a + 3], 'service', ARGV[a + 4], 'application', ARGV[a + 5], 'count', 0, 'compute_units', 0)
    redis.call('ZADD', KEYS[3], ARGV[a + 3], ARGV[a + 1])
    state = 'active'
  end
  active[i] = (state == 'active')
end
local results = {}
local ids = {}
local first = 4 + sessions * 5
for r = first, #ARGV, 5 do
  local i = tonumber(ARGV[r])
  local result = 2
  if active[i] then
    local skey = KEYS[3 + (i - 1) * 2 + 1]
    result = redis.call('HSETNX', KEYS[3 + (i - 1) * 2 + 2], ARGV[r + 2], ARGV[r + 3])
    if result == 1 then
      redis.call('HINCRBY', skey, 'count', 1)
      redis.call('HINCRBY', skey, 'compute_units', ARGV[r + 4])
    end
  end
  results[#results + 1] = result
  ids[#ids + 1] = ARGV[r + 1]
end
for c = 1, #ids, 1000 do
  local chunk = {unpack(ids, c, math.min(c + 999, #ids))}
  redis.call('XACK', KEYS[1], ARGV[1], unpack(chunk))
  redis.call('XDEL', KEYS[1], unpack(chunk))
end
return results
`;

/**
 * Moves a session to a new state under the fencing token. A final state starts the retention clocks:
 * the leaves (the bulk) are kept ARGV[4] seconds for inspection, the session hash ARGV[5] seconds.
 * KEYS: session, fence, leaves. ARGV: token, from, to, leaves ttl (0 = keep), session ttl. Returns 1, 0 (state differs), -1 (fenced).
 */
const TRANSITION = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[3])
if tonumber(ARGV[4]) > 0 then
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
return 1
`;

/** States a session never leaves (paid, or given up). */
export const FINAL_STATES: ReadonlySet<SessionState> = new Set(['settled', 'claim_window_missed', 'claim_rejected', 'proof_window_missed', 'proof_rejected', 'expired', 'skipped_unprofitable']);
/** How long a finished session's leaves and record stay in Redis (for `relayminer redis sessions`). */
export const RETENTION_SECONDS = { leaves: 24 * 3600, session: 7 * 24 * 3600 } as const;

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

  /** Stores a batch of one supplier's stream entries in one script call; results in order. */
  async ingest(supplier: string, token: string, entries: StreamRelay[]): Promise<IngestResult[]> {
    if (entries.length === 0) return [];
    const k = this.keys;
    const sessions = new Map<string, number>();
    const keyList = [k.relayStream(supplier), k.supplierLeaseFence(supplier), k.minerSessionIndex(supplier)];
    const sessionArgs: (string | Buffer)[] = [];
    const relayArgs: (string | Buffer)[] = [];
    for (const { entryId, relay } of entries) {
      const sid = relay.session_id;
      let index = sessions.get(sid);
      if (index === undefined) {
        sessions.set(sid, (index = sessions.size + 1));
        keyList.push(k.minerSession(supplier, sid), k.minerSessionLeaves(supplier, sid));
        sessionArgs.push(sid, relay.session_start_block_height.toString(), relay.session_end_block_height.toString(), relay.service_id, relay.application_address);
      }
      relayArgs.push(String(index), entryId, Buffer.from(relay.relay_hash).toString('hex'), Buffer.from(relay.relay), relay.compute_units.toString());
    }
    // Scripts are loaded once per connection and called by hash (ioredis falls back to EVAL).
    const redis = this.redis() as RedisClient & { relayminerIngest?: (...args: (string | Buffer | number)[]) => Promise<number[]> };
    if (!redis.relayminerIngest) redis.defineCommand('relayminerIngest', { lua: INGEST });
    const out = (await redis.relayminerIngest!(keyList.length, ...keyList, k.minerConsumerGroup(), token, String(sessions.size), ...sessionArgs, ...relayArgs)) as number[];
    if (out.length === 1 && Number(out[0]) === -1) return entries.map(() => 'fenced');
    return out.map((v) => INGEST_RESULTS[Number(v)] ?? 'fenced');
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

  /**
   * The leaves in pages (HSCAN), so a trie of a million relays is built without holding every leaf twice.
   * HSCAN may repeat a field while Redis rehashes; inserting the same leaf twice leaves a trie unchanged.
   */
  async *scanLeaves(supplier: string, sessionId: string, page = 1000): AsyncGenerator<[hash: Buffer, relay: Buffer]> {
    const key = this.keys.minerSessionLeaves(supplier, sessionId);
    let cursor = '0';
    do {
      const [next, flat] = (await this.redis().hscanBuffer(key, cursor, 'COUNT', page)) as [Buffer, Buffer[]];
      cursor = next.toString();
      for (let i = 0; i + 1 < flat.length; i += 2) yield [Buffer.from(flat[i]!.toString(), 'hex'), flat[i + 1]!];
    } while (cursor !== '0');
  }

  async transition(supplier: string, sessionId: string, token: string, from: SessionState, to: SessionState): Promise<'moved' | 'wrong_state' | 'fenced'> {
    const final = FINAL_STATES.has(to);
    const r = Number(
      await this.redis().eval(
        TRANSITION,
        3,
        this.keys.minerSession(supplier, sessionId),
        this.keys.supplierLeaseFence(supplier),
        this.keys.minerSessionLeaves(supplier, sessionId),
        token,
        from,
        to,
        final ? RETENTION_SECONDS.leaves : 0,
        RETENTION_SECONDS.session,
      ),
    );
    return r === 1 ? 'moved' : r === 0 ? 'wrong_state' : 'fenced';
  }

  /** Drops index entries of sessions that ended before `height` (their records have expired or soon will). */
  async pruneIndex(supplier: string, beforeEndHeight: bigint): Promise<number> {
    if (beforeEndHeight <= 0n) return 0;
    return this.redis().zremrangebyscore(this.keys.minerSessionIndex(supplier), '-inf', `(${beforeEndHeight}`);
  }
}
