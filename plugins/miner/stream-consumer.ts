import type { FastifyBaseLogger } from 'fastify';
import { MinedRelayCodec } from '../../core/protocol/messages.js';
import type { RedisClient } from '../../core/redis/connection.js';
import type { KeyBuilder } from '../../core/redis/key-builder.js';
import type { MinerMetrics } from './metrics.js';
import type { SessionStore, StreamRelay } from './session-store.js';

export interface StreamConsumerOptions {
  supplier: string;
  /** Fencing token of the lease this consumer works under. */
  token: string;
  consumerName: string;
  keys: KeyBuilder;
  store: SessionStore;
  /** A connection of its own: XREADGROUP BLOCK holds it. */
  blocking: RedisClient;
  batch: number;
  blockMs: number;
  reclaimIdleMs: number;
  metrics: MinerMetrics;
  log: FastifyBaseLogger;
  /** The store refused a write: another replica holds the lease now. */
  onFenced: () => void;
}

type RawEntry = [Buffer, Buffer[]];

/**
 * Reads one supplier's relay stream in the miners' consumer group and stores every relay in its
 * session; an entry is acknowledged (and deleted) by the same script that stores it, so nothing is
 * acknowledged before it is durable and the stream only shrinks by consumption. On start it first
 * claims every pending entry (a previous owner's reads that were never stored), and it re-claims
 * its own entries idle for `reclaimIdleMs` as it goes.
 */
export class StreamConsumer {
  readonly #o: StreamConsumerOptions;
  #stopped = false;
  #running: Promise<void> | undefined;
  #lastReclaim = 0;

  constructor(o: StreamConsumerOptions) {
    this.#o = o;
  }

  get supplier(): string {
    return this.#o.supplier;
  }

  start(): void {
    this.#running = this.#run().catch((err: Error) => {
      if (!this.#stopped) this.#o.log.error({ supplier: this.#o.supplier, err: err.message }, 'relay stream consumer stopped');
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.blocking.disconnect(); // ends a pending XREADGROUP BLOCK at once
    await this.#running;
  }

  async #run(): Promise<void> {
    const { keys, supplier, blocking } = this.#o;
    const stream = keys.relayStream(supplier);
    const group = keys.minerConsumerGroup();
    try {
      await blocking.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
    // Whatever was read and never stored, by anyone: ours now (we hold the lease).
    await this.#reclaim(0);
    while (!this.#stopped) {
      if (Date.now() - this.#lastReclaim > this.#o.reclaimIdleMs) await this.#reclaim(this.#o.reclaimIdleMs);
      let reply: [Buffer, RawEntry[]][] | null;
      try {
        reply = (await blocking.xreadgroupBuffer('GROUP', group, this.#o.consumerName, 'COUNT', this.#o.batch, 'BLOCK', this.#o.blockMs, 'STREAMS', stream, '>')) as [Buffer, RawEntry[]][] | null;
      } catch (err) {
        if (this.#stopped) return;
        if (String((err as Error).message).includes('NOGROUP')) {
          // The stream was deleted (e.g. FLUSHDB): recreate the group and go on.
          await blocking.xgroup('CREATE', stream, group, '0', 'MKSTREAM').catch(() => {});
          continue;
        }
        this.#o.log.warn({ supplier, err: (err as Error).message }, 'reading the relay stream failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!reply) continue;
      for (const [, entries] of reply) await this.#store(entries);
    }
  }

  /** XAUTOCLAIM every pending entry idle at least `minIdleMs` and store it. */
  async #reclaim(minIdleMs: number): Promise<void> {
    const { keys, supplier, blocking } = this.#o;
    this.#lastReclaim = Date.now();
    let cursor = '0-0';
    do {
      const [next, entries] = (await blocking.callBuffer('XAUTOCLAIM', keys.relayStream(supplier), keys.minerConsumerGroup(), this.#o.consumerName, minIdleMs, cursor, 'COUNT', this.#o.batch)) as unknown as [
        Buffer,
        (RawEntry | null)[],
      ];
      cursor = next.toString();
      const live = entries.filter((e): e is RawEntry => e !== null && Array.isArray(e[1]));
      if (live.length) {
        this.#o.metrics.reclaimed.inc({ supplier }, live.length);
        this.#o.log.info({ supplier, entries: live.length }, 'claimed pending relay stream entries');
        await this.#store(live);
      }
    } while (cursor !== '0-0' && !this.#stopped);
  }

  async #store(raw: RawEntry[]): Promise<void> {
    const { supplier, metrics } = this.#o;
    const entries: StreamRelay[] = [];
    const malformed: string[] = [];
    for (const [id, fields] of raw) {
      const entryId = id.toString();
      const data = fieldValue(fields, 'data');
      try {
        if (!data) throw new Error('no data field');
        const relay = MinedRelayCodec.decode(data);
        if (relay.supplier_operator_address !== supplier || !relay.session_id) throw new Error('entry is for another supplier or has no session');
        entries.push({ entryId, relay });
      } catch (err) {
        malformed.push(entryId);
        this.#o.log.error({ supplier, entryId, err: (err as Error).message }, 'unreadable relay stream entry acknowledged and dropped');
      }
    }
    if (malformed.length) {
      const stream = this.#o.keys.relayStream(supplier);
      await this.#o.blocking.xack(stream, this.#o.keys.minerConsumerGroup(), ...malformed);
      await this.#o.blocking.xdel(stream, ...malformed);
      metrics.consumed.inc({ supplier, result: 'malformed' }, malformed.length);
    }
    const results = await this.#o.store.ingest(supplier, this.#o.token, entries);
    for (const r of results) metrics.consumed.inc({ supplier, result: r });
    if (results.includes('fenced')) {
      this.#o.log.warn({ supplier, token: this.#o.token }, 'relay store refused our fencing token: another miner owns this supplier now');
      this.#stopped = true;
      this.#o.onFenced();
    }
  }
}

function fieldValue(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1];
  return undefined;
}
