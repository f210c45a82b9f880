import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ANSWERS, CryptoChannel, SIGN_JOB, SLOTS, STATS_JOB, VERIFY_JOB, VERIFY_UNCREDITED_JOB, fitsSlot, type CryptoJob, type CryptoResult } from './crypto-channel.js';
import { answerCryptoJob } from './crypto-job.js';
import type { RingTableStats } from './ring/backend.js';
import { ringSignaturePrefix, ringSignatureSize, ringVerify, verifyParsedRingSignature, type RingSignature } from './ring/signature.js';
import { signSupplierResponse } from './supplier-signature.js';

interface Pending {
  resolve: (result: CryptoResult) => void;
  reject: (err: Error) => void;
}

interface Queued {
  job: CryptoJob;
  pending: Pending;
}

interface Lane {
  worker: Worker;
  channel: CryptoChannel;
  /** Jobs not yet in a slot: waiting for this tick's flush, or for a slot to free up. */
  queue: Queued[];
  /** Each job in a slot with its promise, by slot: kept so that a thread's death loses none of them. */
  slots: (Queued | undefined)[];
  written: number;
  answered: number;
  /** An Atomics.waitAsync for this lane's answers is pending. */
  waiting: boolean;
  /** Referenced while jobs are out, so a process does not exit under a relay waiting for its answer. */
  held: boolean;
  dead: boolean;
  /** Resolves when the thread has exited, for whatever reason. */
  exited: Promise<void>;
  /** Threads of this lane's line (it and those it replaced) that died in a row without answering a job. */
  failedStarts: number;
  /**
   * When the thread last answered, or was given work while it had none, or entered its job loop
   * (performance.now()); until it has entered it, when it was started.
   */
  progressAt: number;
  /** The thread has entered its job loop: from then on, answering nothing for `stuckAfterMs` is stuck. */
  running: boolean;
}

const NO_BYTES = new Uint8Array(0);
/** The largest ring verified inline while the event loop is idle, and its signature's size. */
const INLINE_MEMBERS = 16;
const INLINE_SIGNATURE_BYTES = ringSignatureSize(INLINE_MEMBERS);

/** Jobs a lane has taken and not yet answered. */
const load = (l: Lane) => l.written - l.answered + l.queue.length;

export interface CryptoPoolOptions {
  /** Event-loop utilization below which work is done inline (0.5); 0 always uses the threads. */
  inlineBelow?: number;
  /** Supplier keys `sign` can use, by index (`addSigningKey` appends more). A signing job carries its key to the thread. */
  signingKeys?: readonly Uint8Array[];
  /**
   * Told when a thread has died: `replaced` is false when it was the MAX_FAILED_STARTS-th in a row to die
   * before answering a job, and the pool gave up replacing it (its share of the work is done inline).
   */
  onThreadExit?: (err: Error, replaced: boolean) => void;
  /**
   * A thread with work that answers nothing for this long is given up (STUCK_MS): the job it is on fails,
   * its other jobs go to a new thread, and it is left to finish (or not) on its own.
   */
  stuckAfterMs?: number;
  /** Told when a thread is given up as stuck. */
  onThreadStuck?: (stuckMs: number) => void;
  /** The threads' ring backends' table cap (`configureRingTables`); their default where not given. */
  ringTables?: number;
}

// The build runs the .js next to this file. Source runs (tests under tsx) get the .ts through tsx's
// loader, which worker threads do not inherit on Node 20.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./crypto-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

/** How long a closing pool waits for a thread to leave by itself before it terminates it. */
const STOP_MS = 10_000;

/**
 * Threads that die before their first answer, in a row, after which one is not replaced: a thread that
 * cannot start (a broken install) would otherwise be replaced at once, forever.
 */
export const MAX_FAILED_STARTS = 3;

/**
 * A job takes well under a millisecond and a full channel under a second: a thread with work that answers
 * nothing for this long is stuck (a loop that never ends, a lock never released), and every relay behind it
 * would wait for good.
 */
export const STUCK_MS = 10_000;
/** A thread that has not entered its job loop this long after it was started is stuck too (at least `stuckAfterMs`). */
const START_MS = 60_000;

/** How long a process exiting with open pools waits, in all, for their threads to leave their job loops. */
const EXIT_WAIT_MS = 1_000;

function startWorker(shared: SharedArrayBuffer, ringTables: number | undefined): Worker {
  const workerData = { shared, ringTables };
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

/**
 * A relay's two signatures on worker threads: the ring signature's verification (its largest CPU cost)
 * and the supplier's ECDSA signature on the answer, so the event loop that parses, forwards and
 * publishes relays does not spend its time in libsecp256k1. Jobs go to a thread through shared memory
 * (crypto-channel.ts), those queued in one tick with one wake-up. A thread that dies is replaced, and the
 * jobs it had not answered go to its replacement, unless it is the MAX_FAILED_STARTS-th in a row to die
 * before answering anything: then those jobs, and its share of the work from then on, are done inline.
 * Either way no job is lost and none is answered "valid" unless it is. A signature is sent without the
 * bytes past its members (ring-go reads none), so every signature that can verify fits a slot; one that
 * does not is malformed and refused inline.
 *
 * While the event loop is lightly loaded (utilization over the last 100 ms below `inlineBelow`, 0.5),
 * the work is done inline instead: there, the hop to a thread and back costs a relay more than
 * waiting behind it. Not a ring of more than INLINE_MEMBERS, though: verifying one holds the loop for
 * milliseconds, and anyone can sign over a ring of their own making. Busier, every inline verification or
 * signature lengthens the queue of all the relays behind it, and the threads win on tail latency and
 * throughput alike (bench/README.md).
 */
export class CryptoPool {
  /** Pools not yet closed, whose threads a `process.exit()` must stop first. */
  static readonly #open = new Set<CryptoPool>();
  static #exitHooked = false;
  readonly #lanes: Lane[] = [];
  /** The lanes of a closing pool, until their threads have gone. */
  #closing: Lane[] = [];
  #rr = 0;
  #flushScheduled = false;
  #closed = false;
  readonly #inlineBelow: number;
  #busy = 0;
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  readonly #sampler: NodeJS.Timeout;
  readonly #keys: Uint8Array[];
  readonly #onThreadExit: CryptoPoolOptions['onThreadExit'];
  readonly #onThreadStuck: CryptoPoolOptions['onThreadStuck'];
  readonly #stuckAfterMs: number;
  readonly #ringTables: number | undefined;
  /** Verifications and signatures done here and on threads, for tests and diagnostics. */
  readonly counts = { inline: 0, threaded: 0, signedInline: 0, signedThreaded: 0 };

  constructor(
    readonly threads: number,
    o: CryptoPoolOptions = {},
  ) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`CryptoPool needs at least one thread, got ${threads}`);
    this.#inlineBelow = o.inlineBelow ?? 0.5;
    this.#keys = (o.signingKeys ?? []).map((k) => Uint8Array.from(k));
    this.#onThreadExit = o.onThreadExit;
    this.#onThreadStuck = o.onThreadStuck;
    this.#stuckAfterMs = o.stuckAfterMs ?? STUCK_MS;
    this.#ringTables = o.ringTables;
    for (let i = 0; i < threads; i++) this.#lanes.push(this.#spawn(0));
    this.#sampler = setInterval(() => {
      const now = performance.eventLoopUtilization();
      this.#busy = performance.eventLoopUtilization(now, this.#elu).utilization;
      this.#elu = now;
      this.#giveUpStuck();
    }, 100);
    this.#sampler.unref();
    CryptoPool.#open.add(this);
    if (!CryptoPool.#exitHooked) {
      CryptoPool.#exitHooked = true;
      process.once('exit', () => CryptoPool.#stopAllForExit());
    }
  }

  /**
   * A process that exits without closing its pools (`process.exit()` on a second signal or a crash)
   * terminates their threads, and one inside the secp256k1 addon then aborts the process: each thread is
   * asked to stop and waited for, synchronously (all that an 'exit' listener can do), until it has left its
   * job loop, EXIT_WAIT_MS at most in all. An idle thread leaves at once; a busy one after its job.
   */
  static #stopAllForExit(): void {
    const lanes = [...CryptoPool.#open].flatMap((pool) => [...pool.#lanes, ...pool.#closing]);
    for (const lane of lanes) lane.channel.stop();
    const deadline = performance.now() + EXIT_WAIT_MS;
    for (const lane of lanes) lane.channel.waitLeftSync(Math.max(0, deadline - performance.now()));
  }

  /**
   * Resolves true when `sig` is a valid ring signature over `msg`; `parsed` (its deserialization) spares parsing
   * it again inline; `credit` as verifyParsedRingSignature takes it.
   */
  verify(msg: Uint8Array, sig: Uint8Array, parsed?: RingSignature, credit = true): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error('crypto pool is closed'));
    const read = ringSignaturePrefix(sig);
    if ((this.#busy < this.#inlineBelow && read.length <= INLINE_SIGNATURE_BYTES) || !fitsSlot(msg, read) || this.#lanes.length === 0) {
      this.counts.inline++;
      return Promise.resolve(parsed ? verifyParsedInline(msg, parsed, sig, credit) : ringVerify(msg, sig, undefined, credit));
    }
    this.counts.threaded++;
    return this.#queue({ msg, sig: read, signWith: credit ? VERIFY_JOB : VERIFY_UNCREDITED_JOB }).then((r) => r === true);
  }

  /**
   * The supplier's signature over `message` (a relay response's signable hash) with the key at
   * `keyIndex` of `signingKeys`: exactly what signSupplierResponse gives, computed inline or on a thread.
   */
  sign(message: Uint8Array, keyIndex: number): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error('crypto pool is closed'));
    const key = this.#keys[keyIndex];
    if (!key) return Promise.reject(new Error(`no signing key ${keyIndex}`));
    if (this.#busy < this.#inlineBelow || !fitsSlot(message, key) || this.#lanes.length === 0) {
      this.counts.signedInline++;
      return Promise.resolve(signSupplierResponse(message, key));
    }
    this.counts.signedThreaded++;
    // The key rides in the job's `sig` bytes: a key added while threads run is theirs at once.
    return this.#queue({ msg: message, sig: key, signWith: SIGN_JOB }).then((r) => {
      if (!(r instanceof Uint8Array)) throw new Error('the crypto thread could not sign');
      return r;
    });
  }

  /** Makes a key `sign` can use and returns its index (keys loaded after start: a configuration reload). */
  addSigningKey(key: Uint8Array): number {
    return this.#keys.push(Uint8Array.from(key)) - 1;
  }

  /** Threads running or being replaced: `threads` less those the pool gave up on. */
  get threadsRunning(): number {
    return this.#closed ? 0 : this.#lanes.length;
  }

  /** Each thread's ring backend: tables held and sums computed from them (for the tables gauge, tests and diagnostics). */
  threadStats(): Promise<RingTableStats[]> {
    if (this.#closed) return Promise.reject(new Error('crypto pool is closed'));
    return Promise.all(this.#lanes.map((lane) => this.#queue({ msg: NO_BYTES, sig: NO_BYTES, signWith: STATS_JOB }, lane) as Promise<RingTableStats>));
  }

  #queue(job: CryptoJob, lane = this.#pick()): Promise<CryptoResult> {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return new Promise((resolve, reject) => lane.queue.push({ job, pending: { resolve, reject } }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sampler);
    const lanes = this.#lanes.splice(0);
    this.#closing.push(...lanes);
    const closed = new Error('crypto pool closed');
    for (const lane of lanes) for (const { pending } of this.#takeBack(lane)) pending.reject(closed);
    await Promise.all(lanes.map(stopThread));
    this.#closing = this.#closing.filter((lane) => !lanes.includes(lane));
    if (this.#closing.length === 0) CryptoPool.#open.delete(this);
  }

  /** Least loaded thread; ties broken round robin. */
  #pick(): Lane {
    let best = this.#lanes[this.#rr++ % this.#lanes.length]!;
    for (const lane of this.#lanes) if (load(lane) < load(best)) best = lane;
    return best;
  }

  #flush(): void {
    this.#flushScheduled = false;
    for (const lane of this.#lanes) this.#write(lane);
  }

  /** Moves queued jobs into free slots, wakes the thread once, and waits for the answers. */
  #write(lane: Lane): void {
    if (lane.dead || lane.queue.length === 0) return;
    let n = 0;
    while (n < lane.queue.length && lane.written - lane.answered < SLOTS) {
      const queued = lane.queue[n++]!;
      lane.slots[lane.written % SLOTS] = queued;
      lane.channel.writeJob(lane.written++, queued.job);
    }
    if (n === 0) return;
    if (lane.written - n === lane.answered) lane.progressAt = performance.now();
    lane.queue.splice(0, n);
    lane.channel.publishJobs(lane.written);
    if (!lane.held) {
      lane.held = true;
      lane.worker.ref();
    }
    this.#awaitAnswers(lane);
  }

  #awaitAnswers(lane: Lane): void {
    if (lane.waiting || lane.dead) return;
    if (lane.answered === lane.written) {
      if (lane.held) {
        lane.held = false;
        lane.worker.unref();
      }
      return;
    }
    lane.waiting = true;
    const answers = lane.channel.changeFrom(ANSWERS, lane.answered);
    if (answers) void answers.then(() => this.#collect(lane));
    else queueMicrotask(() => this.#collect(lane));
  }

  #collect(lane: Lane): void {
    lane.waiting = false;
    if (lane.dead) return;
    this.#read(lane);
    this.#write(lane);
    this.#awaitAnswers(lane);
  }

  /** Resolves every job the thread has answered. */
  #read(lane: Lane): void {
    const answered = lane.channel.count(ANSWERS);
    if ((lane.answered | 0) !== answered) lane.progressAt = performance.now();
    while ((lane.answered | 0) !== answered) {
      const slot = lane.answered % SLOTS;
      const queued = lane.slots[slot];
      lane.slots[slot] = undefined;
      const result = lane.channel.readAnswer(lane.answered++);
      queued?.pending.resolve(result);
    }
  }

  /**
   * A lane whose thread is gone or is being closed: the answers it gave count, and the jobs it had not
   * answered come back, those of its slots in order and then its queue.
   */
  #takeBack(lane: Lane): Queued[] {
    this.#read(lane);
    lane.dead = true;
    const unanswered: Queued[] = [];
    for (let seq = lane.answered; seq < lane.written; seq++) {
      const queued = lane.slots[seq % SLOTS];
      if (queued) unanswered.push(queued);
    }
    lane.slots.fill(undefined);
    lane.written = lane.answered;
    lane.channel.wake(ANSWERS);
    unanswered.push(...lane.queue.splice(0));
    return unanswered;
  }

  /**
   * Lanes whose thread has had work and answered nothing for `stuckAfterMs`: the job it is on fails (it may
   * be what holds the thread: given to another, it could hold that one too), the rest go to a new thread.
   * The stuck thread is asked to leave after its job and otherwise left alone: terminated inside the
   * secp256k1 addon, it would abort the process.
   */
  #giveUpStuck(): void {
    const now = performance.now();
    for (let i = 0; i < this.#lanes.length; i++) {
      const lane = this.#lanes[i]!;
      if (!lane.running && lane.channel.started()) {
        // Loading a thread's modules is not answering slowly: the clock starts once it is in its loop.
        lane.running = true;
        lane.progressAt = now;
      }
      const bound = lane.running ? this.#stuckAfterMs : Math.max(this.#stuckAfterMs, START_MS);
      if (lane.dead || lane.written === lane.answered || now - lane.progressAt < bound) continue;
      this.#read(lane); // answers not yet collected are progress too
      if (lane.written === lane.answered || now - lane.progressAt < bound) continue;
      const [current, ...rest] = this.#takeBack(lane);
      lane.channel.stop();
      lane.worker.unref();
      current!.pending.reject(new Error(`crypto thread answered nothing for ${Math.round(now - lane.progressAt)} ms`));
      const replacement = this.#spawn(0);
      replacement.queue = rest;
      this.#lanes[i] = replacement;
      if (rest.length) queueMicrotask(() => this.#write(replacement));
      this.#onThreadStuck?.(now - lane.progressAt);
    }
  }

  #spawn(failedStarts: number): Lane {
    const channel = new CryptoChannel();
    const worker = startWorker(channel.shared, this.#ringTables);
    worker.unref();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const lane: Lane = {
      worker,
      channel,
      queue: [],
      slots: new Array<Queued | undefined>(SLOTS).fill(undefined),
      written: 0,
      answered: 0,
      waiting: false,
      held: false,
      dead: false,
      exited,
      failedStarts,
      progressAt: performance.now(),
      running: false,
    };
    const fail = (err: Error) => {
      if (lane.dead) return; // 'error' is followed by 'exit'; a closing pool has taken its lanes back
      // Its unanswered jobs go to the thread that replaces it (not inline: up to SLOTS of them would hold
      // the event loop), or are done inline when it is not replaced: the relays waiting on them lose nothing.
      const unanswered = this.#takeBack(lane);
      const i = this.#lanes.indexOf(lane);
      if (i < 0) {
        for (const { pending } of unanswered) pending.reject(err);
        return;
      }
      const failedStarts = lane.answered === 0 ? lane.failedStarts + 1 : 0;
      const replaced = failedStarts < MAX_FAILED_STARTS;
      if (replaced) {
        const replacement = this.#spawn(failedStarts);
        replacement.queue = unanswered;
        this.#lanes[i] = replacement;
        if (unanswered.length) queueMicrotask(() => this.#write(replacement));
      } else {
        this.#lanes.splice(i, 1);
        for (const { job, pending } of unanswered) settleInline(job, pending);
      }
      this.#onThreadExit?.(err, replaced);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`crypto thread exited with code ${code}`)));
    return lane;
  }
}

/** A job of a lane given up on, done here instead: the answer its thread would have given. */
function settleInline(job: CryptoJob, pending: Pending): void {
  if (job.signWith === STATS_JOB) return pending.reject(new Error('crypto thread gone'));
  pending.resolve(answerCryptoJob(job) ?? false); // false: "could not sign", as the channel reads it
}

/**
 * Asks a lane's thread to leave after the job it is on and waits for it; terminated only if it has not
 * left within STOP_MS. A thread terminated while inside the secp256k1 addon aborts the whole process
 * (node-addon-api cannot raise its error in a dying thread), and so does a process exiting around it:
 * the thread is referenced until it is gone.
 */
async function stopThread(lane: Lane): Promise<void> {
  lane.worker.ref();
  lane.channel.stop();
  const timer = setTimeout(() => void lane.worker.terminate(), STOP_MS);
  await lane.exited;
  clearTimeout(timer);
}

/** As ringVerify: a signature that makes the arithmetic throw is invalid, never an error. */
function verifyParsedInline(msg: Uint8Array, parsed: RingSignature, serialized: Uint8Array, credit: boolean): boolean {
  try {
    return verifyParsedRingSignature(msg, parsed, undefined, serialized, credit);
  } catch {
    return false;
  }
}
