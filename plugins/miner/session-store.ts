import { type AnyMessage, Frontier, type KeyBuilder, leafPathAndDigest, type LeafSource, type MinedRelay, type RedisClient, type SessionState, type SortedLeaf, type SubmissionPhase } from 'relayminer';

/**
 * What was sent for one (supplier, phase, session end), kept in Redis: a successor that takes the
 * supplier over checks it and, if it did not land, signs its messages again.
 */
export interface Submission {
  txhash: string;
  /** Height at which the last send was made. */
  height: number;
  /** Height of the first send. */
  firstHeight: number;
  /** Sends so far (refusals at CheckTx included). */
  attempts: number;
  /** Unordered transactions: no block after this time can include the last send. */
  timeoutMs?: number;
  sessions: string[];
  messages: AnyMessage[];
  /** The latest send of these messages that a block included and refused, and what the chain said. */
  failure?: Refusal;
}

/** A send that its block included and refused. */
export interface Refusal {
  txhash: string;
  height: number;
  /** The chain's code, codespace, log and gas, as said. */
  text: string;
  /** The height from which its messages are signed again. */
  dueAt: number;
  /** Set when it ran out of gas: the gas it had. */
  gasWanted?: number;
  /** Set when the send's one message is a proof the chain refused as not required: it is not sent again. */
  proofNotRequired?: true;
}

/**
 * Stores a batch of one supplier's relays in their sessions and acknowledges their stream entries,
 * atomically, only while the caller's fencing token is the supplier's current one (a paused former
 * owner writes nothing). A leaf path already stored counts once; a relay for a session sealed for its
 * claim, or past `active`, is acknowledged and dropped (its claim root is fixed). Each new leaf gets the next insertion
 * sequence (the session count) and joins the path-ordered set the claim and proof read. All keys
 * carry the supplier's hash tag: one slot on a cluster, so one script covers the batch.
 *
 * The relays travel as one packed argument (see `packRelays`): thousands of small arguments cost the
 * miner more to send than the script costs Redis to run.
 *
 * KEYS: stream, fence, index, then per session: session hash, leaves hash, paths set
 * ARGV: group, token, session count S, then S × (session id, start, end, service, application), then the
 *       packed relays: per relay `>HBI4I4I4` (session index 1-based, entry id length, relay length,
 *       compute units high and low 32 bits), entry id, path ‖ leaf digest (80 bytes), relay bytes
 * Returns per relay: 1 stored, 0 duplicate, 2 late (session no longer active); or -1 alone when fenced out
 * (nothing written, nothing acknowledged).
 */
const INGEST = `
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {-1} end
local sessions = tonumber(ARGV[3])
local active, count, start, units = {}, {}, {}, {}
for i = 1, sessions do
  local a = 3 + (i - 1) * 5
  local skey = KEYS[3 + (i - 1) * 3 + 1]
  local meta = redis.call('HMGET', skey, 'state', 'sealed', 'count')
  local state = meta[1]
  if not state then
    redis.call('HSET', skey, 'state', 'active', 'session_id', ARGV[a + 1], 'start', ARGV[a + 2], 'end', ARGV[a + 3], 'service', ARGV[a + 4], 'application', ARGV[a + 5], 'count', 0, 'compute_units', 0)
    redis.call('ZADD', KEYS[3], ARGV[a + 3], ARGV[a + 1])
    state = 'active'
  end
  active[i] = (state == 'active') and not meta[2]
  count[i] = tonumber(meta[3] or 0)
  start[i] = count[i]
  units[i] = 0
end
-- Unpack every relay; a relay of an inactive session stays 'late' (2).
local packed = ARGV[4 + sessions * 5]
local n, pos, size = 0, 1, #packed
local sess, ids, results, at, stop, cu, path = {}, {}, {}, {}, {}, {}, {}
local asked = {}
while pos <= size do
  local i, idlen, rlen, hi, lo, from = struct.unpack('>HBI4I4I4', packed, pos)
  n = n + 1
  ids[n] = string.sub(packed, from, from + idlen - 1)
  from = from + idlen
  pos = from + 80 + rlen
  sess[n], at[n], stop[n], cu[n], results[n] = i, from, pos - 1, hi * 4294967296 + lo, 2
  if active[i] then
    path[n] = string.sub(packed, from, from + 31)
    local list = asked[i]
    if not list then
      list = {}
      asked[i] = list
    end
    list[#list + 1] = n
  end
end
-- One HMGET per session finds the paths stored already; the new leaves go in one HSET and one ZADD.
local stored = {}
for i, list in pairs(asked) do
  local leaves = KEYS[3 + (i - 1) * 3 + 2]
  for c = 1, #list, 1000 do
    local last = math.min(c + 999, #list)
    local fields = {}
    for j = c, last do fields[#fields + 1] = path[list[j]] end
    local found = redis.call('HMGET', leaves, unpack(fields))
    for j = c, last do stored[list[j]] = found[j - c + 1] ~= false end
  end
end
local seen, hset, zadd = {}, {}, {}
for r = 1, n do
  local i = sess[r]
  if active[i] then
    local key = path[r]
    local dup = seen[i]
    if not dup then
      dup = {}
      seen[i] = dup
      hset[i], zadd[i] = {}, {}
    end
    if stored[r] or dup[key] then
      results[r] = 0
    else
      dup[key] = true
      results[r] = 1
      local seq = count[i] + 1
      count[i] = seq
      units[i] = units[i] + cu[r]
      local h, z = hset[i], zadd[i]
      h[#h + 1] = key
      h[#h + 1] = string.sub(packed, at[r] + 80, stop[r])
      z[#z + 1] = 0
      z[#z + 1] = string.sub(packed, at[r], at[r] + 79) .. struct.pack('>I4', seq)
    end
  end
end
for i, h in pairs(hset) do
  local base = 3 + (i - 1) * 3
  local z = zadd[i]
  for c = 1, #h, 1000 do redis.call('HSET', KEYS[base + 2], unpack(h, c, math.min(c + 999, #h))) end
  for c = 1, #z, 1000 do redis.call('ZADD', KEYS[base + 3], unpack(z, c, math.min(c + 999, #z))) end
end
for i = 1, sessions do
  if active[i] and count[i] > start[i] then
    redis.call('HSET', KEYS[3 + (i - 1) * 3 + 1], 'count', count[i])
    redis.call('HINCRBY', KEYS[3 + (i - 1) * 3 + 1], 'compute_units', units[i])
  end
end
for c = 1, n, 1000 do
  local last = math.min(c + 999, n)
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids, c, last))
  redis.call('XDEL', KEYS[1], unpack(ids, c, last))
end
return results
`;

/** Fixed part of one packed relay: session index, entry id length, relay length, compute units (2 × u32). */
const PACKED_HEADER = 15;
/** path (32) ‖ leaf digest (48). */
const PATH_AND_DIGEST = 80;

/**
 * The batch's relays in the INGEST script's packed layout, each leaf's path and digest computed here
 * (Redis has no SHA-256).
 */
function packRelays(entries: readonly StreamRelay[], sessionIndex: readonly number[]): Buffer {
  let size = 0;
  const ids: Buffer[] = [];
  for (const { entryId, relay } of entries) {
    const id = typeof entryId === 'string' ? Buffer.from(entryId, 'latin1') : Buffer.from(entryId.buffer, entryId.byteOffset, entryId.byteLength);
    if (id.length > 255) throw new Error(`stream entry id longer than 255 bytes: ${id.toString('latin1', 0, 40)}`);
    ids.push(id);
    size += PACKED_HEADER + id.length + PATH_AND_DIGEST + relay.relay.length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  entries.forEach(({ relay }, n) => {
    const id = ids[n]!;
    const units = relay.compute_units;
    at = out.writeUInt16BE(sessionIndex[n]!, at);
    at = out.writeUInt8(id.length, at);
    at = out.writeUInt32BE(relay.relay.length, at);
    at = out.writeUInt32BE(Number((units >> 32n) & 0xffffffffn), at);
    at = out.writeUInt32BE(Number(units & 0xffffffffn), at);
    at += id.copy(out, at);
    at += leafPathAndDigest(relay.relay_hash, relay.relay, units).copy(out, at);
    out.set(relay.relay, at);
    at += relay.relay.length;
  });
  return out;
}

/**
 * One page of a session's path set, concatenated into one reply: members are fixed-size, and one
 * bulk string costs the miner far less to receive than thousands.
 * KEYS: paths. ARGV: from (ZRANGEBYLEX bound), to, page size.
 */
const PATH_PAGE = `return table.concat(redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3])))`;

/**
 * Moves a session to a new state under the fencing token, writing the fields that go with the new
 * state in the same step. A final state starts the retention clocks: the leaves (the bulk) are kept
 * ARGV[4] seconds for inspection, the session hash ARGV[5] seconds; the path set and frontier, which
 * only serve the claim and the proof, go at once.
 * KEYS: session, fence, leaves, paths, frontier. ARGV: token, from, to, leaves ttl (0 = keep), session ttl,
 * then field/value pairs. Returns 1, 0 (state differs), -1 (fenced).
 */
const TRANSITION = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[3], unpack(ARGV, 6))
if tonumber(ARGV[4]) > 0 then
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('DEL', KEYS[4], KEYS[5])
end
return 1
`;

/**
 * Sets and deletes fields of an existing session record under the fencing token.
 * KEYS: session, fence. ARGV: token, pair count N, N field/value pairs, then fields to delete.
 * Returns 1, 0 (no such session), -1 (fenced).
 */
const ANNOTATE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * n)) end
if #ARGV > 2 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + 2 * n)) end
return 1
`;

/**
 * Writes a submission record under the fencing token and sets its lifetime.
 * KEYS: submission, fence. ARGV: token, ttl seconds, field/value pairs. Returns 1 or -1 (fenced).
 */
const RECORD_SUBMISSION = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** A write refused because another replica holds the supplier's lease now (a newer fencing token). */
export class FencedOutError extends Error {
  readonly code = 'MINER_FENCED_OUT';
  constructor(readonly supplier: string) {
    super(`supplier ${supplier}: another miner holds its lease now; this replica's write was refused`);
    this.name = 'FencedOutError';
  }
}

/**
 * Seals an active session for its claim: from here its leaves are fixed, so the root computed next and
 * every proof read later agree. KEYS: session, fence. ARGV: token. Returns 1, 0 (not active), -1 (fenced).
 */
const SEAL = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return 0 end
redis.call('HSET', KEYS[1], 'sealed', 1)
return 1
`;

/** States a session never leaves (paid, or given up). */
export const FINAL_STATES: ReadonlySet<SessionState> = new Set(['settled', 'claim_window_missed', 'claim_rejected', 'proof_window_missed', 'proof_rejected', 'expired', 'skipped_unprofitable', 'claim_not_ours', 'handed_over']);
/** How long a finished session's leaves and record stay in Redis (for `relayminer redis sessions`). */
export const RETENTION_SECONDS = { leaves: 24 * 3600, session: 7 * 24 * 3600 } as const;

export type IngestResult = 'stored' | 'duplicate' | 'late' | 'fenced';
const INGEST_RESULTS: Record<number, IngestResult> = { 1: 'stored', 0: 'duplicate', 2: 'late', [-1]: 'fenced' };

/** Leaves read per page in path order (one page keeps Redis busy a few milliseconds). */
const PAGE = 5_000;
/** A path-set member: path (32) ‖ leaf digest (48) ‖ insertion sequence (u32 big-endian). */
const MEMBER_SIZE = 84;

export interface StreamRelay {
  /** The stream entry id, as text or as the bytes Redis sent. */
  entryId: string | Uint8Array;
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
  /** The proof params the decision was taken with (`proofParamsKey`). */
  proofParams?: string;
  /** Why the session ended in a failure state. */
  reason?: string;
  /** The claim's reward in uPOKT, once claimed. */
  claimedUpokt?: string;
  /** What the chain's settlement event paid, once settled. */
  settledUpokt?: string;
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
    const sessionArgs: string[] = [];
    const sessionIndex: number[] = [];
    for (const { relay } of entries) {
      const sid = relay.session_id;
      let index = sessions.get(sid);
      if (index === undefined) {
        sessions.set(sid, (index = sessions.size + 1));
        keyList.push(k.minerSession(supplier, sid), k.minerSessionLeaves(supplier, sid), k.minerSessionPaths(supplier, sid));
        sessionArgs.push(sid, relay.session_start_block_height.toString(), relay.session_end_block_height.toString(), relay.service_id, relay.application_address);
      }
      sessionIndex.push(index);
    }
    // Scripts are loaded once per connection and called by hash (ioredis falls back to EVAL).
    const redis = this.redis() as RedisClient & { relayminerIngest?: (...args: (string | Buffer | number)[]) => Promise<number[]> };
    if (!redis.relayminerIngest) redis.defineCommand('relayminerIngest', { lua: INGEST });
    const out = (await redis.relayminerIngest!(keyList.length, ...keyList, k.minerConsumerGroup(), token, String(sessions.size), ...sessionArgs, packRelays(entries, sessionIndex))) as number[];
    if (out.length === 1 && Number(out[0]) === -1) return entries.map(() => 'fenced');
    return out.map((v) => INGEST_RESULTS[Number(v)] ?? 'fenced');
  }

  async session(supplier: string, sessionId: string): Promise<SessionRecord | undefined> {
    return sessionRecord(sessionId, await this.redis().hgetall(this.keys.minerSession(supplier, sessionId)));
  }

  /** The records of several of a supplier's sessions in one round trip, in order (undefined where none). */
  async sessions(supplier: string, sessionIds: readonly string[]): Promise<(SessionRecord | undefined)[]> {
    if (sessionIds.length === 0) return [];
    const p = this.redis().pipeline();
    for (const id of sessionIds) p.hgetall(this.keys.minerSession(supplier, id));
    return (await p.exec())!.map(([err, h], i) => {
      if (err) throw err;
      return sessionRecord(sessionIds[i]!, h as Record<string, string>);
    });
  }

  /**
   * The `limit` sessions of these suppliers that end last, the latest first, in two round trips however many
   * suppliers there are: each supplier's last `limit` ids by end height, then the records of the `limit` latest
   * of them. Commands go out together rather than as one pipeline, since a Cluster serves the suppliers' keys
   * from different slots.
   */
  async latestSessions(suppliers: readonly string[], limit: number): Promise<{ supplier: string; record: SessionRecord }[]> {
    const r = this.redis();
    const indexes = await Promise.all(suppliers.map((s) => r.zrange(this.keys.minerSessionIndex(s), String(-limit), '-1', 'WITHSCORES')));
    const latest: { supplier: string; id: string; end: number }[] = [];
    indexes.forEach((flat, i) => {
      for (let k = 0; k + 1 < flat.length; k += 2) latest.push({ supplier: suppliers[i]!, id: flat[k]!, end: Number(flat[k + 1]) });
    });
    latest.sort((a, b) => b.end - a.end || (a.supplier < b.supplier ? -1 : a.supplier > b.supplier ? 1 : 0) || (a.id < b.id ? -1 : 1));
    const chosen = latest.slice(0, limit);
    const hashes = await Promise.all(chosen.map((c) => r.hgetall(this.keys.minerSession(c.supplier, c.id))));
    return chosen.flatMap((c, i) => {
      const record = sessionRecord(c.id, hashes[i]!);
      return record ? [{ supplier: c.supplier, record }] : [];
    });
  }

  /** Session ids of a supplier whose end height is within [from, to]. */
  sessionIds(supplier: string, from: bigint | '-inf' = '-inf', to: bigint | '+inf' = '+inf'): Promise<string[]> {
    return this.redis().zrangebyscore(this.keys.minerSessionIndex(supplier), String(from), String(to));
  }

  /** Every stored leaf: path (hex) → mined relay bytes. */
  async leaves(supplier: string, sessionId: string): Promise<Map<string, Buffer>> {
    // Field names are binary: the flat reply, not ioredis' object (which decodes names as UTF-8).
    const flat = (await this.redis().callBuffer('HGETALL', this.keys.minerSessionLeaves(supplier, sessionId))) as Buffer[];
    const out = new Map<string, Buffer>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!.toString('hex'), flat[i + 1]!);
    return out;
  }

  /**
   * The session's leaves in ascending path order, a page at a time (what the claim root is computed
   * from). The next page is requested before this one is handed out, so Redis reads while the caller hashes.
   */
  async *leafPages(supplier: string, sessionId: string): AsyncGenerator<SortedLeaf[]> {
    yield* this.#pages(this.keys.minerSessionPaths(supplier, sessionId), Buffer.from('-'), Buffer.from('+'));
  }

  async *#pages(key: string, min: Buffer, max: Buffer): AsyncGenerator<SortedLeaf[]> {
    const fetch = (from: Buffer) => this.#pathPage(key, from, max);
    let pending: Promise<Buffer> | undefined = fetch(min);
    while (pending) {
      const page: Buffer = await pending;
      const n: number = page.length / MEMBER_SIZE;
      pending = n === PAGE ? fetch(Buffer.concat([EXCLUSIVE, page.subarray(page.length - MEMBER_SIZE)])) : undefined;
      if (n) yield parsePage(page);
    }
  }

  #pathPage(key: string, from: Buffer, to: Buffer): Promise<Buffer> {
    const redis = this.redis() as RedisClient & { relayminerPathPage?: (...args: (string | Buffer | number)[]) => Promise<Buffer> };
    if (!redis.relayminerPathPage) redis.defineCommand('relayminerPathPage', { lua: PATH_PAGE, numberOfKeys: 1 });
    return (redis as unknown as { relayminerPathPageBuffer: (...args: (string | Buffer | number)[]) => Promise<Buffer> }).relayminerPathPageBuffer(key, from, to, PAGE);
  }

  /** What a proof reads below the frontier: the leaves under one path prefix, and leaf values. */
  leafSource(supplier: string, sessionId: string): LeafSource {
    const paths = this.keys.minerSessionPaths(supplier, sessionId);
    const leaves = this.keys.minerSessionLeaves(supplier, sessionId);
    return {
      range: async (prefix, bits) => {
        const [min, max] = prefixBounds(prefix, bits);
        const out: SortedLeaf[] = [];
        for await (const page of this.#pages(paths, min, max)) out.push(...page);
        return out;
      },
      value: async (path) => {
        const v = await this.redis().hgetBuffer(leaves, Buffer.from(path));
        if (!v) throw new Error(`leaf ${Buffer.from(path).toString('hex')} is in the path set but not in the leaves`);
        return v;
      },
    };
  }

  /**
   * Sessions stored before the path set existed keyed their leaves by relay hash (64 hex characters):
   * re-keys them by path and fills the path set (in scan order, with the session's weight per relay),
   * so an upgrade in the middle of a session loses nothing. Returns the leaves moved.
   */
  async upgradeLegacyLeaves(supplier: string, sessionId: string, weight: bigint): Promise<number> {
    const leavesKey = this.keys.minerSessionLeaves(supplier, sessionId);
    const pathsKey = this.keys.minerSessionPaths(supplier, sessionId);
    let cursor = '0';
    let moved = 0;
    do {
      const [next, flat] = (await this.redis().hscanBuffer(leavesKey, cursor, 'COUNT', 1000)) as [Buffer, Buffer[]];
      cursor = next.toString();
      const p = this.redis().pipeline();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const field = flat[i]!.toString('latin1');
        if (field.length !== 64 || !/^[0-9a-f]{64}$/.test(field)) continue;
        const member = leafPathAndDigest(Buffer.from(field, 'hex'), flat[i + 1]!, weight);
        const seq = Buffer.alloc(4);
        seq.writeUInt32BE(++moved);
        p.hset(leavesKey, member.subarray(0, 32), flat[i + 1]!).hdel(leavesKey, field).zadd(pathsKey, 0, Buffer.concat([member, seq]));
      }
      await p.exec();
    } while (cursor !== '0');
    return moved;
  }

  /** Leaves in the path set (the session count says how many were stored). */
  pathCount(supplier: string, sessionId: string): Promise<number> {
    return this.redis().zcard(this.keys.minerSessionPaths(supplier, sessionId));
  }

  async saveFrontier(supplier: string, sessionId: string, frontier: Frontier): Promise<void> {
    await this.redis().set(this.keys.minerSessionFrontier(supplier, sessionId), frontier.encode(), 'EX', RETENTION_SECONDS.leaves);
  }

  async frontier(supplier: string, sessionId: string): Promise<Frontier | undefined> {
    const bytes = await this.redis().getBuffer(this.keys.minerSessionFrontier(supplier, sessionId));
    return bytes ? Frontier.decode(bytes) : undefined;
  }

  async seal(supplier: string, sessionId: string, token: string): Promise<'sealed' | 'wrong_state' | 'fenced'> {
    const r = Number(await this.redis().eval(SEAL, 2, this.keys.minerSession(supplier, sessionId), this.keys.supplierLeaseFence(supplier), token));
    return r === 1 ? 'sealed' : r === 0 ? 'wrong_state' : 'fenced';
  }

  /** Moves the session from `from` to `to` under the token, with the fields that go with the new state. */
  async transition(supplier: string, sessionId: string, token: string, from: SessionState, to: SessionState, fields: Record<string, string> = {}): Promise<'moved' | 'wrong_state' | 'fenced'> {
    const final = FINAL_STATES.has(to);
    const r = Number(
      await this.redis().eval(
        TRANSITION,
        5,
        this.keys.minerSession(supplier, sessionId),
        this.keys.supplierLeaseFence(supplier),
        this.keys.minerSessionLeaves(supplier, sessionId),
        this.keys.minerSessionPaths(supplier, sessionId),
        this.keys.minerSessionFrontier(supplier, sessionId),
        token,
        from,
        to,
        final ? RETENTION_SECONDS.leaves : 0,
        RETENTION_SECONDS.session,
        ...Object.entries(fields).flat(),
      ),
    );
    return r === 1 ? 'moved' : r === 0 ? 'wrong_state' : 'fenced';
  }

  /** Sets (and deletes) fields of the session's record under the token, without a state change. */
  async annotate(supplier: string, sessionId: string, token: string, set: Record<string, string>, del: string[] = []): Promise<'written' | 'missing' | 'fenced'> {
    const pairs = Object.entries(set);
    const r = Number(await this.redis().eval(ANNOTATE, 2, this.keys.minerSession(supplier, sessionId), this.keys.supplierLeaseFence(supplier), token, pairs.length, ...pairs.flat(), ...del));
    return r === 1 ? 'written' : r === 0 ? 'missing' : 'fenced';
  }

  /**
   * Replaces the submission record (every transaction sent for this supplier, phase and session end: the
   * latest in the hash's own fields, earlier ones in `earlier`) under the token; it lives as long as a
   * finished session's record.
   */
  async recordSubmission(supplier: string, phase: SubmissionPhase, sessionEndHeight: bigint, token: string, sends: Submission[]): Promise<'written' | 'fenced'> {
    const fields = { ...submissionFields(sends.at(-1)!), earlier: JSON.stringify(sends.slice(0, -1).map(submissionFields)) };
    const r = Number(await this.redis().eval(RECORD_SUBMISSION, 2, this.keys.submission(supplier, phase, sessionEndHeight), this.keys.supplierLeaseFence(supplier), token, RETENTION_SECONDS.session, ...Object.entries(fields).flat()));
    return r === 1 ? 'written' : 'fenced';
  }

  /** The transactions sent for (supplier, phase, session end), the earliest first; none before the first send. */
  async submissions(supplier: string, phase: SubmissionPhase, sessionEndHeight: bigint): Promise<Submission[]> {
    const h = await this.redis().hgetall(this.keys.submission(supplier, phase, sessionEndHeight));
    if (!h.txhash) return [];
    return [...(JSON.parse(h.earlier ?? '[]') as Record<string, string>[]), h].map(submissionOf);
  }

  /** Drops index entries of sessions that ended before `height` (their records have expired or soon will). */
  async pruneIndex(supplier: string, beforeEndHeight: bigint): Promise<number> {
    if (beforeEndHeight <= 0n) return 0;
    return this.redis().zremrangebyscore(this.keys.minerSessionIndex(supplier), '-inf', `(${beforeEndHeight}`);
  }
}

function sessionRecord(sessionId: string, h: Record<string, string>): SessionRecord | undefined {
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
    proofParams: h.proof_params,
    reason: h.reason,
    claimedUpokt: h.claimed_upokt,
    settledUpokt: h.settled_upokt,
  };
}

const EXCLUSIVE = Buffer.from('(');
const INCLUSIVE = Buffer.from('[');

function parsePage(page: Buffer): SortedLeaf[] {
  if (page.length % MEMBER_SIZE) throw new Error(`a path-set page of ${page.length} bytes is not whole ${MEMBER_SIZE}-byte members`);
  const out: SortedLeaf[] = new Array<SortedLeaf>(page.length / MEMBER_SIZE);
  for (let i = 0, o = 0; o < page.length; i++, o += MEMBER_SIZE) {
    out[i] = { path: page.subarray(o, o + 32), digest: page.subarray(o + 32, o + 80), seq: page.readUInt32BE(o + 80) };
  }
  return out;
}

/** ZRANGEBYLEX bounds of every member whose path starts with the first `bits` bits of `prefix`. */
function prefixBounds(prefix: Uint8Array, bits: number): [Buffer, Buffer] {
  const low = Buffer.alloc(32);
  Buffer.from(prefix).copy(low, 0, 0, Math.ceil(bits / 8));
  if (bits % 8) low[bits >> 3]! &= 0xff << (8 - (bits % 8));
  if (bits === 0) return [Buffer.from('-'), Buffer.from('+')];
  // The next prefix: add one at bit `bits - 1`, carrying upwards.
  const next = Buffer.from(low);
  let i = (bits - 1) >> 3;
  let add = 1 << (7 - ((bits - 1) % 8));
  while (i >= 0) {
    const v = next[i]! + add;
    next[i] = v & 0xff;
    if (v <= 0xff) break;
    add = 1;
    i--;
  }
  const max = i < 0 ? Buffer.from('+') : Buffer.concat([EXCLUSIVE, next]);
  return [Buffer.concat([INCLUSIVE, low]), max];
}

function submissionFields(s: Submission): Record<string, string> {
  return {
    txhash: s.txhash,
    height: String(s.height),
    first_height: String(s.firstHeight),
    attempts: String(s.attempts),
    timeout_ms: s.timeoutMs === undefined ? '' : String(s.timeoutMs),
    sessions: JSON.stringify(s.sessions),
    messages: JSON.stringify(s.messages.map((m) => [m.typeUrl, Buffer.from(m.value).toString('base64')])),
    failure: s.failure ? JSON.stringify(s.failure) : '',
  };
}

function submissionOf(h: Record<string, string | undefined>): Submission {
  return {
    txhash: h.txhash!,
    height: Number(h.height),
    firstHeight: Number(h.first_height ?? h.height),
    attempts: Number(h.attempts ?? 1),
    timeoutMs: h.timeout_ms ? Number(h.timeout_ms) : undefined,
    sessions: JSON.parse(h.sessions ?? '[]') as string[],
    messages: (JSON.parse(h.messages ?? '[]') as [string, string][]).map(([typeUrl, b64]) => ({ typeUrl, value: Buffer.from(b64, 'base64') })),
    failure: h.failure ? (JSON.parse(h.failure) as Refusal) : undefined,
  };
}
