import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import { Cluster } from 'ioredis';
import { KEY_TTL_SECONDS, type KeyBuilder, type RedisClient, type StateSignals } from 'relayminer';
import { sayChanges } from './say-changes.js';

const LEADER_TTL_MS = KEY_TTL_SECONDS.globalLeader * 1000;

/**
 * Takes free leases, in order, up to a number: SET with a TTL, then a new fencing token from the
 * supplier's counter. A lease value is "<instance> <token>" so a renewal can tell its own lease from a
 * successor's. KEYS: lease, fence per supplier. ARGV: instance, ttl ms, most to take.
 * Returns a flat list of (supplier position, 1-based; token).
 */
const ACQUIRE = `
local out = {}
local taken = 0
for i = 1, #KEYS, 2 do
  if taken >= tonumber(ARGV[3]) then break end
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local token = redis.call('INCR', KEYS[i + 1])
    redis.call('SET', KEYS[i], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
    out[#out + 1] = (i + 1) / 2
    out[#out + 1] = token
    taken = taken + 1
  end
end
return out
`;

/**
 * Extends each lease that is still "<instance> <token>". KEYS: leases. ARGV: ttl ms, then the values.
 * Returns 1 (renewed) or 0 (gone or someone else's) per lease.
 */
const RENEW = `
local out = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i + 1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`;

/** Leases renewed or offered per script call (standalone Redis; a Cluster takes one per call, all at once). */
const BATCH = 500;

interface LeaseChange {
  supplier: string;
  token: string;
}

/** Gives leases back where still held. KEYS: leases. ARGV: their values. Returns how many were deleted. */
const RELEASE = `
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then n = n + redis.call('DEL', KEYS[i]) end
end
return n
`;

export interface LeaseOptions {
  keys: KeyBuilder;
  /** Best a connection of the leases' own: renewals must not queue behind bulk traffic. */
  redis: () => RedisClient;
  instanceId: string;
  suppliers: readonly string[];
  ttlMs: number;
  log: FastifyBaseLogger;
  /** Conditions logged on change: a tick that keeps failing (Redis down) is said once, and its end. */
  signals: StateSignals;
}

export interface LeaseEvents {
  acquired: [supplier: string, token: string];
  lost: [supplier: string, token: string];
  leader: [isLeader: boolean];
}

/**
 * Supplier ownership across miner replicas, by leases in Redis with fencing tokens, plus the global
 * leader lock. Every `ttl/3`: heartbeat, renew what is held in batched scripts (a renewal that fails
 * means the lease is gone: `lost`), release down to the fair share when more replicas run, take free
 * leases up to it.
 * A standby therefore takes a dead owner's suppliers within one TTL plus one tick.
 */
export class LeaseManager extends EventEmitter<LeaseEvents> {
  readonly #o: LeaseOptions;
  #suppliers: readonly string[];
  /** supplier → token held. */
  readonly owned = new Map<string, string>();
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> = Promise.resolve();
  #stopped = false;
  #renewedAt: number | undefined;

  constructor(o: LeaseOptions) {
    super();
    this.#o = o;
    this.#suppliers = o.suppliers;
  }

  /** Suppliers leases are taken for, from the next round on (keys added by a reload). */
  get suppliers(): readonly string[] {
    return this.#suppliers;
  }

  set suppliers(suppliers: readonly string[]) {
    this.#suppliers = suppliers;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** Starts the rounds; resolves when the first has ended (leases taken, or the failure logged). */
  start(): Promise<void> {
    const every = Math.max(100, Math.floor(this.#o.ttlMs / 3));
    const loop = () => {
      this.#ticking = this.tick()
        .then(
          () => {
            this.#renewedAt = Date.now();
            if (this.#o.signals.clear('lease_tick')) this.#o.log.info('miner lease ticks work again');
          },
          (err: Error) => this.#o.signals.update('lease_tick', true, () => this.#o.log.warn({ err: err.message }, 'miner lease tick failed')),
        );
      void this.#ticking.then(() => {
        if (!this.#stopped) this.#timer = setTimeout(loop, every);
      });
    };
    loop();
    return this.#ticking;
  }

  /**
   * Throws, for a readiness check, when renewals stopped working: leases held now would lapse (and
   * flap to another replica) before the next successful round.
   */
  assertRenewing(): void {
    if (this.#renewedAt === undefined) throw new Error('no lease round has completed yet');
    const age = Date.now() - this.#renewedAt;
    if (age > this.#o.ttlMs) throw new Error(`leases not renewed for ${Math.round(age / 1000)} s (lease TTL ${Math.round(this.#o.ttlMs / 1000)} s); held: ${this.owned.size}`);
  }

  /** Stops ticking and gives every lease back, so a successor need not wait out the TTL. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    const r = this.#o.redis();
    const held = [...this.owned];
    await this.#release(r, held).catch(() => {});
    this.#drop(held);
    if (this.#leader) await r.eval(RELEASE, 1, this.#o.keys.globalLeader(), `${this.#o.instanceId} leader`).catch(() => {});
    await r.zrem(this.#o.keys.activeMiners(), this.#o.instanceId).catch(() => {});
  }

  /** Runs a multi-key script over `items` in batches: BATCH per call, or one per call (all at once) on a Cluster. */
  async #batched<T, R>(r: RedisClient, items: T[], call: (batch: T[]) => Promise<R[]>): Promise<R[]> {
    const size = r instanceof Cluster ? 1 : BATCH;
    const batches: T[][] = [];
    for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
    return (await Promise.all(batches.map(call))).flat();
  }

  /** Gives leases back during a tick: released in Redis first, then dropped here. */
  async #giveBack(r: RedisClient, held: [supplier: string, token: string][]): Promise<LeaseChange[]> {
    await this.#release(r, held);
    return this.#drop(held);
  }

  /** Leases no longer held here, each reported lost. */
  #drop(held: [supplier: string, token: string][]): LeaseChange[] {
    return held.map(([supplier, token]) => {
      this.owned.delete(supplier);
      this.emit('lost', supplier, token);
      return { supplier, token };
    });
  }

  /** Gives `held` leases back, in batches as renewals go. */
  async #release(r: RedisClient, held: [supplier: string, token: string][]): Promise<void> {
    const { keys } = this.#o;
    await this.#batched(r, held, async (batch) => [await r.eval(RELEASE, batch.length, ...batch.map(([s]) => keys.supplierLease(s)), ...batch.map(([, token]) => this.#value(token)))]);
  }

  #value(token: string): string {
    return `${this.#o.instanceId} ${token}`;
  }

  /** One round of heartbeat, renewals, rebalancing and leader election. */
  async tick(): Promise<void> {
    const { keys, ttlMs, instanceId } = this.#o;
    const suppliers = this.#suppliers;
    const r = this.#o.redis();
    const now = Date.now();
    await r.zadd(keys.activeMiners(), now, instanceId);
    await r.zremrangebyscore(keys.activeMiners(), '-inf', now - ttlMs);
    const active = Math.max(1, await r.zcard(keys.activeMiners()));
    const fairShare = Math.ceil(suppliers.length / active);

    const held = [...this.owned];
    const renewed = await this.#batched(r, held, (batch) =>
      r.eval(RENEW, batch.length, ...batch.map(([s]) => keys.supplierLease(s)), ttlMs, ...batch.map(([, token]) => this.#value(token))) as Promise<number[]>,
    );
    const lost: LeaseChange[] = [];
    held.forEach(([supplier, token], i) => {
      if (Number(renewed[i]) === 1) return;
      this.owned.delete(supplier);
      lost.push({ supplier, token });
      this.emit('lost', supplier, token);
    });
    sayChanges(this.#o.log, 'warn', 'supplier lease lost', lost);
    // A supplier no longer in the list (its key let go after a reload) is given back at once.
    const listed = new Set(suppliers);
    sayChanges(this.#o.log, 'info', 'supplier lease released: its key was let go', await this.#giveBack(r, [...this.owned].filter(([s]) => !listed.has(s))));
    // Rebalance toward the fair share: give back the surplus (others take it on their next tick).
    sayChanges(this.#o.log, 'info', 'supplier lease released for rebalancing', await this.#giveBack(r, [...this.owned].slice(fairShare)), { fields: { fairShare, active } });
    // Start from a different supplier on each replica so that replicas do not all race for the first.
    const offset = hash(instanceId) % Math.max(1, suppliers.length);
    const order = [...suppliers.slice(offset), ...suppliers.slice(0, offset)];
    let candidates = order.filter((s) => !this.owned.has(s));
    const acquired: LeaseChange[] = [];
    while (this.owned.size < fairShare && candidates.length && !this.#stopped) {
      const want = fairShare - this.owned.size;
      // Standalone: one call takes up to `want` in order. Cluster: `want` single-lease calls at once.
      const offered = r instanceof Cluster ? candidates.slice(0, want) : candidates.slice(0, BATCH);
      candidates = candidates.slice(offered.length);
      const batches = r instanceof Cluster ? offered.map((s) => [s]) : [offered];
      const replies = await Promise.all(
        batches.map(async (batch) => ({ batch, flat: (await r.eval(ACQUIRE, batch.length * 2, ...batch.flatMap((s) => [keys.supplierLease(s), keys.supplierLeaseFence(s)]), instanceId, ttlMs, want)) as number[] })),
      );
      for (const { batch, flat } of replies) {
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const supplier = batch[Number(flat[i]) - 1]!;
          const token = String(flat[i + 1]);
          this.owned.set(supplier, token);
          acquired.push({ supplier, token });
          this.emit('acquired', supplier, token);
        }
      }
    }
    sayChanges(this.#o.log, 'info', 'supplier lease acquired', acquired);

    const leaderValue = `${instanceId} leader`;
    const wasLeader = this.#leader;
    this.#leader = wasLeader
      ? Number(((await r.eval(RENEW, 1, keys.globalLeader(), LEADER_TTL_MS, leaderValue)) as number[])[0]) === 1
      : (await r.set(keys.globalLeader(), leaderValue, 'PX', LEADER_TTL_MS, 'NX')) === 'OK';
    if (this.#leader !== wasLeader) this.emit('leader', this.#leader);
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}
