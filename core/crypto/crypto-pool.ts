import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { packBatch, type CryptoJob, type CryptoResult } from './crypto-batch.js';
import { ringVerify, verifyParsedRingSignature, type RingSignature } from './ring/signature.js';
import { signSupplierResponse } from './supplier-signature.js';

interface Pending {
  resolve: (result: CryptoResult[1]) => void;
  reject: (err: Error) => void;
}

interface Lane {
  worker: Worker;
  queue: CryptoJob[];
  inflight: Set<number>;
}

const NO_BYTES = new Uint8Array(0);

export interface CryptoPoolOptions {
  /** Event-loop utilization below which work is done inline (0.5); 0 always uses the threads. */
  inlineBelow?: number;
  /** Supplier keys `sign` can use, by index; each thread gets a copy when it starts. */
  signingKeys?: readonly Uint8Array[];
}

// The build runs the .js next to this file. Source runs (tests under tsx) get the .ts through tsx's
// loader, which worker threads do not inherit on Node 20.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./crypto-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

function startWorker(keys: readonly Uint8Array[]): Worker {
  const workerData = { keys };
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

/**
 * A relay's two signatures on worker threads: the ring signature's verification (its largest CPU cost)
 * and the supplier's ECDSA signature on the answer, so the event loop that parses, forwards and
 * publishes relays does not spend its time in libsecp256k1. Jobs queued in the same tick go to a thread
 * as one message (their bytes packed in one transferred buffer). A thread that dies fails its jobs
 * with an error — never a false "valid", never a missing signature — and is replaced.
 *
 * While the event loop is lightly loaded (utilization over the last 100 ms below `inlineBelow`, 0.5),
 * the work is done inline instead: there, the hop to a thread and back costs a relay more than
 * waiting behind it. Busier, every inline verification or signature lengthens the queue of all the
 * relays behind it, and the threads win on tail latency and throughput alike (bench/README.md).
 */
export class CryptoPool {
  readonly #lanes: Lane[] = [];
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #rr = 0;
  #flushScheduled = false;
  #closed = false;
  readonly #inlineBelow: number;
  #busy = 0;
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  readonly #sampler: NodeJS.Timeout;
  readonly #keys: readonly Uint8Array[];
  /** Verifications and signatures done here and on threads, for tests and diagnostics. */
  readonly counts = { inline: 0, threaded: 0, signedInline: 0, signedThreaded: 0 };

  constructor(
    readonly threads: number,
    o: CryptoPoolOptions = {},
  ) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`CryptoPool needs at least one thread, got ${threads}`);
    this.#inlineBelow = o.inlineBelow ?? 0.5;
    this.#keys = (o.signingKeys ?? []).map((k) => Uint8Array.from(k));
    for (let i = 0; i < threads; i++) this.#lanes.push(this.#spawn());
    this.#sampler = setInterval(() => {
      const now = performance.eventLoopUtilization();
      this.#busy = performance.eventLoopUtilization(now, this.#elu).utilization;
      this.#elu = now;
    }, 100);
    this.#sampler.unref();
  }

  /** Resolves true when `sig` is a valid ring signature over `msg`; `parsed` (its deserialization) spares parsing it again inline. */
  verify(msg: Uint8Array, sig: Uint8Array, parsed?: RingSignature): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error('crypto pool is closed'));
    if (this.#busy < this.#inlineBelow) {
      this.counts.inline++;
      return Promise.resolve(parsed ? verifyParsedInline(msg, parsed) : ringVerify(msg, sig));
    }
    this.counts.threaded++;
    return this.#queue({ id: this.#next++, msg, sig }).then((r) => r === true);
  }

  /**
   * The supplier's signature over `message` (a relay response's signable hash) with the key at
   * `keyIndex` of `signingKeys`: exactly what signSupplierResponse gives, computed inline or on a thread.
   */
  sign(message: Uint8Array, keyIndex: number): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error('crypto pool is closed'));
    const key = this.#keys[keyIndex];
    if (!key) return Promise.reject(new Error(`no signing key ${keyIndex}`));
    if (this.#busy < this.#inlineBelow) {
      this.counts.signedInline++;
      return Promise.resolve(signSupplierResponse(message, key));
    }
    this.counts.signedThreaded++;
    return this.#queue({ id: this.#next++, msg: message, sig: NO_BYTES, signWith: keyIndex }).then((r) => {
      if (!(r instanceof Uint8Array)) throw new Error('the crypto thread could not sign');
      return r;
    });
  }

  #queue(job: CryptoJob): Promise<CryptoResult[1]> {
    this.#pick().queue.push(job);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return new Promise((resolve, reject) => this.#pending.set(job.id, { resolve, reject }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sampler);
    const lanes = this.#lanes.splice(0);
    await Promise.all(lanes.map((l) => l.worker.terminate()));
    for (const p of this.#pending.values()) p.reject(new Error('crypto pool closed'));
    this.#pending.clear();
  }

  /** Least loaded thread; ties broken round robin. */
  #pick(): Lane {
    let best = this.#lanes[this.#rr++ % this.#lanes.length]!;
    for (const lane of this.#lanes) if (lane.inflight.size + lane.queue.length < best.inflight.size + best.queue.length) best = lane;
    return best;
  }

  #flush(): void {
    this.#flushScheduled = false;
    for (const lane of this.#lanes) {
      if (lane.queue.length === 0) continue;
      const batch = lane.queue;
      lane.queue = [];
      for (const job of batch) lane.inflight.add(job.id);
      const packed = packBatch(batch);
      lane.worker.postMessage(packed, [packed.bytes.buffer]);
    }
  }

  #spawn(): Lane {
    const worker = startWorker(this.#keys);
    worker.unref();
    const lane: Lane = { worker, queue: [], inflight: new Set() };
    worker.on('message', (results: CryptoResult[]) => {
      for (const [id, result] of results) {
        lane.inflight.delete(id);
        const p = this.#pending.get(id);
        this.#pending.delete(id);
        p?.resolve(result);
      }
    });
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return; // 'error' is followed by 'exit'
      failed = true;
      for (const id of lane.inflight) {
        this.#pending.get(id)?.reject(err);
        this.#pending.delete(id);
      }
      lane.inflight.clear();
      if (this.#closed) return;
      const i = this.#lanes.indexOf(lane);
      if (i >= 0) {
        const replacement = this.#spawn();
        replacement.queue = lane.queue;
        this.#lanes[i] = replacement;
        if (replacement.queue.length) queueMicrotask(() => this.#flush());
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`crypto thread exited with code ${code}`)));
    return lane;
  }
}

/** As ringVerify: a signature that makes the arithmetic throw is invalid, never an error. */
function verifyParsedInline(msg: Uint8Array, parsed: RingSignature): boolean {
  try {
    return verifyParsedRingSignature(msg, parsed);
  } catch {
    return false;
  }
}
