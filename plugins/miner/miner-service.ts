import type { FastifyBaseLogger } from 'fastify';
import type { ResolvedMiner } from '../../core/config/load.js';
import type { RedisPool } from '../../core/redis/connection.js';
import type { KeyBuilder } from '../../core/redis/key-builder.js';
import { LeaseManager } from './leases.js';
import type { MinerMetrics } from './metrics.js';
import { SessionStore } from './session-store.js';
import { StreamConsumer } from './stream-consumer.js';

/**
 * One miner replica: leases decide which suppliers it owns; for each owned supplier a consumer moves
 * relays from the stream into the session store under the lease's fencing token.
 */
export class MinerService {
  readonly store: SessionStore;
  readonly leases: LeaseManager;
  readonly #consumers = new Map<string, StreamConsumer>();
  readonly #o: { miner: ResolvedMiner; redis: RedisPool; keys: KeyBuilder; metrics: MinerMetrics; log: FastifyBaseLogger };

  constructor(o: { miner: ResolvedMiner; redis: RedisPool; keys: KeyBuilder; metrics: MinerMetrics; log: FastifyBaseLogger }) {
    this.#o = o;
    this.store = new SessionStore(o.keys, () => o.redis.next());
    this.leases = new LeaseManager({
      keys: o.keys,
      redis: () => o.redis.next(),
      instanceId: o.miner.instance_id,
      suppliers: o.miner.suppliers.map((s) => s.address),
      ttlMs: o.miner.lease_ttl_ms,
      log: o.log,
    });
    this.leases.on('acquired', (supplier, token) => this.#startConsumer(supplier, token));
    this.leases.on('lost', (supplier) => void this.#stopConsumer(supplier));
    this.leases.on('leader', (leader) => {
      o.metrics.leader.set(leader ? 1 : 0);
      o.log.info({ instance: o.miner.instance_id }, leader ? 'became the global leader' : 'no longer the global leader');
    });
  }

  start(): void {
    this.#o.log.info({ instance: this.#o.miner.instance_id, suppliers: this.#o.miner.suppliers.length }, 'miner started');
    this.leases.start();
  }

  async stop(): Promise<void> {
    await this.leases.stop();
    await Promise.all([...this.#consumers.keys()].map((s) => this.#stopConsumer(s)));
  }

  #startConsumer(supplier: string, token: string): void {
    const { miner, redis, keys, metrics, log } = this.#o;
    metrics.leases.set({ supplier }, 1);
    const consumer = new StreamConsumer({
      supplier,
      token,
      consumerName: miner.instance_id,
      keys,
      store: this.store,
      blocking: redis.dedicated(`miner-stream:${supplier}`, { blocking: true }),
      batch: miner.consume.batch,
      blockMs: miner.consume.block_ms,
      reclaimIdleMs: miner.consume.reclaim_idle_ms,
      metrics,
      log,
      onFenced: () => void this.#stopConsumer(supplier),
    });
    this.#consumers.set(supplier, consumer);
    consumer.start();
  }

  async #stopConsumer(supplier: string): Promise<void> {
    this.#o.metrics.leases.set({ supplier }, 0);
    const c = this.#consumers.get(supplier);
    this.#consumers.delete(supplier);
    await c?.stop();
  }
}
