import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient } from '../../core/redis/connection.js';
import { KEY_TTL_SECONDS, type KeyBuilder } from '../../core/redis/key-builder.js';

const LEADER_TTL_MS = KEY_TTL_SECONDS.globalLeader * 1000;

/**
 * Takes a free lease: SET NX with a TTL, then a new fencing token from the supplier's counter.
 * The lease value is "<instance> <token>" so a renewal can tell its own lease from a successor's.
 * KEYS: lease, fence. ARGV: instance, ttl ms. Returns the token, or false when taken.
 */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token
`;

/** Extends the lease if it is still "<instance> <token>". KEYS: lease. ARGV: value, ttl ms. Returns 1 or 0. */
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** Gives a lease back if still held. KEYS: lease. ARGV: value. */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;

export interface LeaseOptions {
  keys: KeyBuilder;
  redis: () => RedisClient;
  instanceId: string;
  suppliers: readonly string[];
  ttlMs: number;
  log: FastifyBaseLogger;
}

export interface LeaseEvents {
  acquired: [supplier: string, token: string];
  lost: [supplier: string, token: string];
  leader: [isLeader: boolean];
}

/**
 * Supplier ownership across miner replicas, by leases in Redis with fencing tokens, plus the global
 * leader lock. Every `ttl/3`: heartbeat, renew what is held (a renewal that fails means the lease
 * is gone: `lost`), release down to the fair share when more replicas run, take free leases up to it.
 * A standby therefore takes a dead owner's suppliers within one TTL plus one tick.
 */
export class LeaseManager extends EventEmitter<LeaseEvents> {
  readonly #o: LeaseOptions;
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
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  start(): void {
    const every = Math.max(100, Math.floor(this.#o.ttlMs / 3));
    const loop = () => {
      this.#ticking = this.tick()
        .then(() => void (this.#renewedAt = Date.now()))
        .catch((err: Error) => this.#o.log.warn({ err: err.message }, 'miner lease tick failed'));
      void this.#ticking.then(() => {
        if (!this.#stopped) this.#timer = setTimeout(loop, every);
      });
    };
    loop();
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
    for (const [supplier, token] of this.owned) {
      await r.eval(RELEASE, 1, this.#o.keys.supplierLease(supplier), this.#value(token)).catch(() => {});
      this.owned.delete(supplier);
      this.emit('lost', supplier, token);
    }
    if (this.#leader) await r.eval(RELEASE, 1, this.#o.keys.globalLeader(), `${this.#o.instanceId} leader`).catch(() => {});
    await r.zrem(this.#o.keys.activeMiners(), this.#o.instanceId).catch(() => {});
  }

  #value(token: string): string {
    return `${this.#o.instanceId} ${token}`;
  }

  /** One round of heartbeat, renewals, rebalancing and leader election. */
  async tick(): Promise<void> {
    const { keys, ttlMs, instanceId, suppliers } = this.#o;
    const r = this.#o.redis();
    const now = Date.now();
    await r.zadd(keys.activeMiners(), now, instanceId);
    await r.zremrangebyscore(keys.activeMiners(), '-inf', now - ttlMs);
    const active = Math.max(1, await r.zcard(keys.activeMiners()));
    const fairShare = Math.ceil(suppliers.length / active);

    for (const [supplier, token] of [...this.owned]) {
      const ok = Number(await r.eval(RENEW, 1, keys.supplierLease(supplier), this.#value(token), ttlMs));
      if (!ok) {
        this.owned.delete(supplier);
        this.#o.log.warn({ supplier, token }, 'supplier lease lost');
        this.emit('lost', supplier, token);
      }
    }
    // Rebalance toward the fair share: give back the surplus (others take it on their next tick).
    for (const [supplier, token] of [...this.owned].slice(fairShare)) {
      await r.eval(RELEASE, 1, keys.supplierLease(supplier), this.#value(token));
      this.owned.delete(supplier);
      this.#o.log.info({ supplier, fairShare, active }, 'supplier lease released for rebalancing');
      this.emit('lost', supplier, token);
    }
    // Start from a different supplier on each replica so that replicas do not all race for the first.
    const offset = hash(instanceId) % Math.max(1, suppliers.length);
    const order = [...suppliers.slice(offset), ...suppliers.slice(0, offset)];
    for (const supplier of order) {
      if (this.owned.size >= fairShare || this.#stopped) break;
      if (this.owned.has(supplier)) continue;
      const token = await r.eval(ACQUIRE, 2, keys.supplierLease(supplier), keys.supplierLeaseFence(supplier), instanceId, ttlMs);
      if (token === null || token === undefined) continue;
      this.owned.set(supplier, String(token));
      this.#o.log.info({ supplier, token: String(token) }, 'supplier lease acquired');
      this.emit('acquired', supplier, String(token));
    }

    const leaderValue = `${instanceId} leader`;
    const wasLeader = this.#leader;
    this.#leader = wasLeader
      ? Number(await r.eval(RENEW, 1, keys.globalLeader(), leaderValue, LEADER_TTL_MS)) === 1
      : (await r.set(keys.globalLeader(), leaderValue, 'PX', LEADER_TTL_MS, 'NX')) === 'OK';
    if (this.#leader !== wasLeader) this.emit('leader', this.#leader);
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}
