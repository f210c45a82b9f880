import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ringVerify, verifyParsedRingSignature, type RingSignature } from './signature.js';
import { packBatch, type VerifyJob } from './verify-batch.js';

interface Pending {
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
}

interface Lane {
  worker: Worker;
  queue: VerifyJob[];
  inflight: Set<number>;
}

// The build runs the .js next to this file. Source runs (tests under tsx) get the .ts through tsx's
// loader, which worker threads do not inherit on Node 20.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./verify-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL);
  const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true });
}

/**
 * Ring-signature verification on worker threads, so the event loop that parses, forwards and signs
 * relays is not the one spending a relay's largest CPU cost in libsecp256k1. Jobs queued in the same tick go
 * to a thread as one message (their bytes packed in one transferred buffer). A thread that dies
 * fails its jobs with an error — never a false "valid" — and is replaced.
 *
 * While the event loop is lightly loaded (utilization over the last 100 ms below `inlineBelow`, 0.5),
 * a signature is verified inline instead: there, the hop to a thread and back costs a relay more than
 * waiting behind an inline verification. Busier, every inline verification lengthens the queue of all
 * the relays behind it, and the threads win on tail latency and throughput alike (0.5 against 0.9:
 * bench/README.md).
 */
export class RingVerifyPool {
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
  /** Verifications done here and on threads, for metrics and tests. */
  readonly counts = { inline: 0, threaded: 0 };

  constructor(
    readonly threads: number,
    o: { inlineBelow?: number } = {},
  ) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`RingVerifyPool needs at least one thread, got ${threads}`);
    this.#inlineBelow = o.inlineBelow ?? 0.5;
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
    if (this.#closed) return Promise.reject(new Error('ring verification pool is closed'));
    if (this.#busy < this.#inlineBelow) {
      this.counts.inline++;
      return Promise.resolve(parsed ? verifyParsedInline(msg, parsed) : ringVerify(msg, sig));
    }
    this.counts.threaded++;
    const id = this.#next++;
    const lane = this.#pick();
    lane.queue.push({ id, msg, sig });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sampler);
    const lanes = this.#lanes.splice(0);
    await Promise.all(lanes.map((l) => l.worker.terminate()));
    for (const p of this.#pending.values()) p.reject(new Error('ring verification pool closed'));
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
    const worker = startWorker();
    worker.unref();
    const lane: Lane = { worker, queue: [], inflight: new Set() };
    worker.on('message', (results: [number, boolean][]) => {
      for (const [id, ok] of results) {
        lane.inflight.delete(id);
        const p = this.#pending.get(id);
        this.#pending.delete(id);
        p?.resolve(ok);
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
    worker.on('exit', (code) => fail(new Error(`ring verification thread exited with code ${code}`)));
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
