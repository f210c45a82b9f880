import type { FastifyBaseLogger } from 'fastify';
import { Cluster } from 'ioredis';
import { MinedRelayCodec, type KeyBuilder, type RedisClient, type StateSignals } from 'relayminer';
import type { MinerMetrics } from './metrics.js';
import type { SessionStore, StreamRelay } from './session-store.js';

export interface StreamReaderOptions {
  consumerName: string;
  keys: KeyBuilder;
  store: SessionStore;
  /** Command connections (group creation, reclaims, acknowledgements of unreadable entries). */
  redis: () => RedisClient;
  /** A new connection of its own, for one lane's blocking reads. */
  dedicated: (purpose: string) => RedisClient;
  /** Entries read per stream per round. */
  batch: number;
  blockMs: number;
  reclaimIdleMs: number;
  /** Streams one blocking connection reads at once. */
  streamsPerConnection: number;
  metrics: MinerMetrics;
  log: FastifyBaseLogger;
  /** Conditions logged on change: with Redis down every lane, reclaim and store fails, and each is said once. */
  signals: StateSignals;
  /** The store refused a write under this token: another replica holds the supplier now. */
  onFenced: (supplier: string) => void;
}

type RawEntry = [Buffer, Buffer[]];

interface Member {
  supplier: string;
  token: string;
  stream: string;
  lastReclaim: number;
  /** A claim failed: the idle bound it asked for, tried again `RECLAIM_RETRY_MS` later (not `reclaimIdleMs`). */
  retryIdleMs?: number;
}

/** Streams read together on one blocking connection. */
interface Lane {
  id: number;
  conn: RedisClient;
  members: Map<string, Member>;
  running: Promise<void>;
}

/** Batches of a lane being stored at once. */
const STORES_IN_FLIGHT = 2;

/** One lane read returns at most about this many `batch`es of entries (a backlog of many streams). */
const LANE_BUDGET = 16;
/** ...but never fewer than this many entries per stream, so a store call is worth its round trip. */
const MIN_PER_STREAM = 20;

/** How long a lane with nothing to read waits before it looks again (cluster polling, empty lanes). */
const IDLE_MS = 100;

/** How soon a claim that failed (Redis down or refusing) is tried again. */
const RECLAIM_RETRY_MS = 1_000;

/** Steps done per supplier whose failures are reported as one condition each, and how they are named. */
const SUPPLIER_STEPS = ['stream_reclaim', 'stream_store'] as const;
type SupplierStep = (typeof SUPPLIER_STEPS)[number];
const STEP_NAMES: Record<SupplierStep, string> = { stream_reclaim: 'claiming pending relay stream entries', stream_store: 'storing relays' };

/**
 * Reads every owned supplier's relay stream in the miners' consumer group and stores each relay in its
 * session; an entry is acknowledged (and deleted) by the script that stores it, so nothing is
 * acknowledged before it is durable and a stream only shrinks by consumption.
 *
 * Many streams share a connection: one `XREADGROUP … BLOCK … STREAMS s1 … sN` per lane of up to
 * `streamsPerConnection` suppliers, with COUNT applying per stream, so a busy supplier cannot starve the
 * others. On Redis Cluster every supplier's keys sit in their own slot and one command cannot read two
 * of them: a lane there reads each of its streams without blocking, all at once, and rests briefly
 * when none had anything. A supplier that joins first claims every pending entry (a previous owner's
 * reads that were never stored); its own entries idle `reclaimIdleMs` are claimed again as it goes.
 */
export class StreamReader {
  readonly #o: StreamReaderOptions;
  readonly #lanes: Lane[] = [];
  readonly #bySupplier = new Map<string, Lane>();
  /** Supplier → token of the lease it is read under (set before the async start, so a loss in between counts). */
  readonly #wanted = new Map<string, string>();
  #stopped = false;
  #nextLane = 0;

  constructor(o: StreamReaderOptions) {
    this.#o = o;
  }

  get suppliers(): number {
    return this.#bySupplier.size;
  }

  /** Starts reading the supplier's stream under the lease token. */
  async add(supplier: string, token: string): Promise<void> {
    if (this.#stopped) return;
    this.remove(supplier);
    this.#wanted.set(supplier, token);
    const { keys } = this.#o;
    const m: Member = { supplier, token, stream: keys.relayStream(supplier), lastReclaim: 0 };
    await this.#createGroup(m.stream);
    // The lease may have been lost (or given back) while the group was being created: then never start.
    if (this.#wanted.get(supplier) !== token) return;
    const lane = this.#lanes.find((l) => l.members.size < this.#o.streamsPerConnection) ?? this.#newLane();
    lane.members.set(supplier, m);
    this.#bySupplier.set(supplier, lane);
    // Whatever was read and never stored, by anyone: ours now (we hold the lease).
    await this.#claim(m, 0);
    // A previous owner's blocking read, sent before it let the supplier go, can still deliver entries for up
    // to block_ms; they stay pending under its name (its store is fenced). Claimed once that read is over,
    // not a reclaim_idle_ms later.
    const { blockMs } = this.#o;
    setTimeout(() => {
      if (!this.#stopped && this.#wanted.get(supplier) === token) void this.#claim(m, blockMs);
    }, 2 * blockMs + 100).unref();
  }

  /** Stops reading the supplier's stream (entries read and not stored stay pending for the next owner). */
  remove(supplier: string): void {
    this.#wanted.delete(supplier);
    const lane = this.#bySupplier.get(supplier);
    lane?.members.delete(supplier);
    this.#bySupplier.delete(supplier);
    for (const step of SUPPLIER_STEPS) {
      this.#o.signals.updateFor(step, supplier, false, () => {}, () => this.#o.log.info(`${STEP_NAMES[step]}: no supplier left failing`));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const lane of this.#lanes) lane.conn.disconnect(); // ends a pending XREADGROUP BLOCK at once
    await Promise.all(this.#lanes.map((l) => l.running));
  }

  #newLane(): Lane {
    const id = this.#nextLane++;
    const lane: Lane = { id, conn: this.#o.dedicated(`miner-streams-${id}`), members: new Map(), running: Promise.resolve() };
    this.#lanes.push(lane);
    lane.running = this.#run(lane).catch((err: Error) => {
      if (!this.#stopped) this.#o.log.error({ lane: id, err: err.message }, 'relay stream reader stopped');
    });
    return lane;
  }

  async #createGroup(stream: string): Promise<void> {
    try {
      await this.#o.redis().xgroup('CREATE', stream, this.#o.keys.minerConsumerGroup(), '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  async #run(lane: Lane): Promise<void> {
    const cluster = lane.conn instanceof Cluster;
    // Reads go out while earlier batches are being stored, two batches deep: Redis always has a store
    // queued while this process decodes and hashes the next one.
    const storing: Promise<void>[] = [];
    while (!this.#stopped) {
      const members = [...lane.members.values()];
      if (!members.length) {
        // A lane whose suppliers all went while its reads failed has nothing left to fail on: its warning ends.
        this.#condition(`stream_read|${lane.id}`, false, 'reading relay streams: the lane has no streams left', { lane: lane.id });
        await sleep(IDLE_MS);
        continue;
      }
      const now = Date.now();
      const due = members.filter((m) => now - m.lastReclaim > (m.retryIdleMs === undefined ? this.#o.reclaimIdleMs : RECLAIM_RETRY_MS));
      for (const m of due) await this.#claim(m, m.retryIdleMs ?? this.#o.reclaimIdleMs);
      let read: [Member, RawEntry[]][];
      try {
        read = cluster ? await this.#poll(lane, members) : await this.#block(lane, members);
      } catch (err) {
        if (this.#stopped) return;
        const message = (err as Error).message;
        if (message.includes('NOGROUP')) {
          // A stream was deleted (e.g. FLUSHDB): recreate the groups and go on.
          await Promise.all(members.map((m) => this.#createGroup(m.stream).catch(() => {})));
          continue;
        }
        this.#condition(`stream_read|${lane.id}`, true, 'reading relay streams failed; retrying', { lane: lane.id, streams: members.length, err: message });
        await sleep(500);
        continue;
      }
      this.#condition(`stream_read|${lane.id}`, false, 'reading relay streams works again', { lane: lane.id });
      if (!read.length) {
        if (cluster) await sleep(IDLE_MS);
        continue;
      }
      storing.push(Promise.all(read.map(([m, entries]) => this.#storeOrLeavePending(m, entries))).then(() => undefined));
      if (storing.length >= STORES_IN_FLIGHT) await storing.shift();
    }
    await Promise.all(storing);
  }

  /** A batch that cannot be stored now stays pending, and is claimed again after `reclaimIdleMs`. */
  async #storeOrLeavePending(m: Member, entries: RawEntry[]): Promise<void> {
    try {
      await this.#store(m, entries);
      this.#supplierStep('stream_store', m, undefined);
    } catch (err) {
      this.#supplierStep('stream_store', m, err as Error, 'they stay pending and are claimed again', { entries: entries.length });
    }
  }

  /**
   * Entries read per stream in one lane read: `batch`, shared out when many streams have a backlog, so
   * one read (and the batches decoded from it) stays near LANE_BUDGET × `batch` entries.
   */
  #perStream(streams: number): number {
    const { batch } = this.#o;
    return Math.min(batch, Math.max(MIN_PER_STREAM, Math.ceil((LANE_BUDGET * batch) / streams)));
  }

  /** One blocking read over every stream of the lane. */
  async #block(lane: Lane, members: Member[]): Promise<[Member, RawEntry[]][]> {
    const { keys, consumerName, blockMs } = this.#o;
    const reply = (await lane.conn.xreadgroupBuffer(
      'GROUP',
      keys.minerConsumerGroup(),
      consumerName,
      'COUNT',
      this.#perStream(members.length),
      'BLOCK',
      blockMs,
      'STREAMS',
      ...members.map((m) => m.stream),
      ...members.map(() => '>'),
    )) as [Buffer, RawEntry[]][] | null;
    if (!reply) return [];
    const byStream = new Map(members.map((m) => [m.stream, m]));
    const out: [Member, RawEntry[]][] = [];
    // Entries read for a supplier removed meanwhile are still stored under its token: after a release
    // for rebalancing that still works (nobody holds a newer token yet), after a takeover it is fenced.
    for (const [stream, entries] of reply) {
      const m = byStream.get(stream.toString());
      if (m) out.push([m, entries]);
    }
    return out;
  }

  /** Cluster: every stream of the lane read at once, without blocking. */
  async #poll(lane: Lane, members: Member[]): Promise<[Member, RawEntry[]][]> {
    const { keys, consumerName } = this.#o;
    const count = this.#perStream(members.length);
    const replies = await Promise.all(
      members.map((m) => lane.conn.xreadgroupBuffer('GROUP', keys.minerConsumerGroup(), consumerName, 'COUNT', count, 'STREAMS', m.stream, '>') as Promise<[Buffer, RawEntry[]][] | null>),
    );
    const out: [Member, RawEntry[]][] = [];
    replies.forEach((reply, i) => {
      const entries = reply?.[0]?.[1];
      if (entries?.length) out.push([members[i]!, entries]);
    });
    return out;
  }

  /**
   * A step that keeps failing (every lane, reclaim and store does while Redis is down) is warned about
   * when it starts, again at most every `alerts.repeat_minutes` while it lasts, and said once when it
   * works again: not once per attempt.
   */
  #condition(key: string, failing: boolean, msg: string, fields: Record<string, unknown> = {}): void {
    const { signals, log } = this.#o;
    if (failing) signals.update(key, true, () => log.warn(fields, msg));
    else if (signals.clear(key)) log.info(fields, msg);
  }

  /**
   * A supplier's step succeeded (`err` undefined) or failed. One condition per step over every supplier it
   * fails for: said when the first fails (with Redis down, each does) and over when none fails any more, so
   * the suppliers on a healthy Cluster master do not end it while those on a failed one still fail. A
   * supplier given up (or taken again, as a new member) meanwhile is no longer this step's to report.
   */
  #supplierStep(step: SupplierStep, m: Member, err: Error | undefined, then = '', fields: Record<string, unknown> = {}): void {
    if (this.#bySupplier.get(m.supplier)?.members.get(m.supplier) !== m) return;
    const { signals, log } = this.#o;
    signals.updateFor(
      step,
      m.supplier,
      err !== undefined,
      (failing) => log.warn({ supplier: m.supplier, ...fields, failing, err: err?.message }, `${STEP_NAMES[step]} failed; ${then}`),
      () => log.info(`${STEP_NAMES[step]} works again`),
    );
  }

  /**
   * `#reclaim`, its failure a condition of the step. A supplier whose claim failed is tried again
   * `RECLAIM_RETRY_MS` later, with the idle bound it asked for (a new owner's claim of everything pending
   * included), until one succeeds.
   */
  async #claim(m: Member, minIdleMs: number): Promise<void> {
    try {
      await this.#reclaim(m, minIdleMs);
      m.retryIdleMs = undefined;
      this.#supplierStep('stream_reclaim', m, undefined);
    } catch (err) {
      m.retryIdleMs = Math.min(minIdleMs, m.retryIdleMs ?? minIdleMs);
      this.#supplierStep('stream_reclaim', m, err as Error, 'retried every second');
    }
  }

  /** XAUTOCLAIM every pending entry of the stream idle at least `minIdleMs`, and store it. */
  async #reclaim(m: Member, minIdleMs: number): Promise<void> {
    const { keys, batch } = this.#o;
    m.lastReclaim = Date.now();
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.#o.redis().callBuffer('XAUTOCLAIM', m.stream, keys.minerConsumerGroup(), this.#o.consumerName, minIdleMs, cursor, 'COUNT', batch)) as unknown as [Buffer, (RawEntry | null)[]];
      cursor = next.toString();
      const live = entries.filter((e): e is RawEntry => e !== null && Array.isArray(e[1]));
      if (live.length) {
        this.#o.metrics.reclaimed.inc({ supplier: m.supplier }, live.length);
        this.#o.log.info({ supplier: m.supplier, entries: live.length }, 'claimed pending relay stream entries');
        await this.#store(m, live);
      }
    } while (cursor !== '0-0' && !this.#stopped && this.#bySupplier.has(m.supplier));
  }

  async #store(m: Member, raw: RawEntry[]): Promise<void> {
    const { metrics } = this.#o;
    const { supplier } = m;
    const entries: StreamRelay[] = [];
    const malformed: string[] = [];
    for (const [id, fields] of raw) {
      const data = dataField(fields);
      try {
        if (!data) throw new Error('no data field');
        const relay = MinedRelayCodec.decode(data);
        if (relay.supplier_operator_address !== supplier || !relay.session_id) throw new Error('entry is for another supplier or has no session');
        entries.push({ entryId: id, relay });
      } catch (err) {
        const entryId = id.toString();
        malformed.push(entryId);
        this.#o.log.error({ supplier, entryId, err: (err as Error).message }, 'unreadable relay stream entry acknowledged and dropped');
      }
    }
    if (malformed.length) {
      const r = this.#o.redis();
      await r.xack(m.stream, this.#o.keys.minerConsumerGroup(), ...malformed);
      await r.xdel(m.stream, ...malformed);
      metrics.consumed.inc({ supplier, result: 'malformed' }, malformed.length);
    }
    const results = await this.#o.store.ingest(supplier, m.token, entries);
    const counts = new Map<string, number>();
    for (const r of results) counts.set(r, (counts.get(r) ?? 0) + 1);
    for (const [result, n] of counts) metrics.consumed.inc({ supplier, result }, n);
    if (counts.has('fenced') && this.#wanted.get(supplier) === m.token) {
      this.#o.log.warn({ supplier, token: m.token }, 'relay store refused our fencing token: another miner owns this supplier now');
      this.remove(supplier);
      this.#o.onFenced(supplier);
    }
  }
}

const DATA = Buffer.from('data');

function dataField(fields: Buffer[]): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (DATA.equals(fields[i]!)) return fields[i + 1];
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
