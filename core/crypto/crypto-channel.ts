import type { RingTableStats } from './ring/backend.js';
import { MAX_RING_MEMBERS, ringSignatureSize } from './ring/signature.js';

/**
 * How CryptoPool's jobs reach a crypto thread and its answers come back: numbered slots in one
 * SharedArrayBuffer per thread, and two counters each side waits on with `Atomics.waitAsync`. A
 * message through `postMessage` costs both sides a serialization, an event object and its dispatch;
 * a slot costs a copy of the job's bytes and at most one wake-up. Neither side's waiting blocks its
 * event loop: the thread's loop must keep turning to receive the multiples tables libuv builds for its
 * ring backend.
 *
 * Job n goes to slot n mod SLOTS and its answer to the answer slot of the same number. Jobs are
 * answered in order, so the event loop may write job n once answer n − SLOTS has been read.
 */

/** Jobs in flight per thread: written and not yet answered, or answered and not yet read. */
export const SLOTS = 1024;
/**
 * A job's message and signature together, at most: a ring signature of MAX_RING_MEMBERS with its 32-byte
 * message (a multiple of 4, so every slot's counters stay aligned). Pages of slots only ever holding small
 * jobs are never touched past their first.
 */
export const MAX_JOB_BYTES = Math.ceil((32 + ringSignatureSize(MAX_RING_MEMBERS)) / 4) * 4;
export const SIGNATURE_BYTES = 64;

/** The channel's two counters (mod 2^32): jobs the event loop has written, jobs the thread has answered. */
export const JOBS = 0;
export const ANSWERS = 1;
type Counter = typeof JOBS | typeof ANSWERS;
/** Set by the thread while it waits (or is about to wait) for jobs: only then does publishing jobs wake it. */
const THREAD_IDLE = 2;
/** Set by the event loop when the pool closes: the thread stops between jobs and its event loop ends. */
const STOP = 3;
/** Set by the thread once it has left its job loop: it will not enter the secp256k1 addon again. */
const LEFT = 4;
/** Set by the thread when it enters its job loop: its modules are loaded and it answers from now on. */
const STARTED = 5;
const CONTROL_BYTES = 64;
const JOB_HEADER = 12; // signWith, message length, signature length (int32 each)
const JOB_SLOT = JOB_HEADER + MAX_JOB_BYTES;
const ANSWER_SLOT = 4 + SIGNATURE_BYTES; // outcome (int32), signature
const JOBS_AT = CONTROL_BYTES;
const ANSWERS_AT = JOBS_AT + SLOTS * JOB_SLOT;
const CHANNEL_BYTES = ANSWERS_AT + SLOTS * ANSWER_SLOT;

const REFUSED = 0;
const VALID = 1;
const SIGNED = 2;
const STATS = 3;

/** `signWith` of a job that asks the thread for its ring backend's table counts. */
export const STATS_JOB = -2;
/** `signWith` of a ring verification. */
export const VERIFY_JOB = -1;
/** `signWith` of a ring verification whose points do not count toward the thread's tables (verifyParsedRingSignature's `credit`). */
export const VERIFY_UNCREDITED_JOB = -3;
/** `signWith` of a supplier signature, whose key is the job's `sig` bytes. */
export const SIGN_JOB = 0;

/** A ring verification (VERIFY_JOB, VERIFY_UNCREDITED_JOB), a supplier signature (SIGN_JOB) or STATS_JOB. */
export interface CryptoJob {
  /** A verification: the signed message. A signature: the message the supplier signs (a response's signable hash). */
  msg: Uint8Array;
  /** A verification: the ring signature. A signature: the supplier's 32-byte private key. */
  sig: Uint8Array;
  signWith: number;
}

/** A verification's verdict, a signature's 64 bytes (false when the thread could not sign), or the thread's table counts. */
export type CryptoResult = boolean | Uint8Array | RingTableStats;

export function fitsSlot(msg: Uint8Array, sig: Uint8Array): boolean {
  return msg.length + sig.length <= MAX_JOB_BYTES;
}

/** Both sides' view of one thread's slots. Sequence numbers count from 0 on each side; slots wrap. */
export class CryptoChannel {
  readonly shared: SharedArrayBuffer;
  readonly #control: Int32Array;
  readonly #ints: Int32Array;
  readonly #bytes: Uint8Array;

  constructor(shared = new SharedArrayBuffer(CHANNEL_BYTES)) {
    if (shared.byteLength !== CHANNEL_BYTES) throw new RangeError(`a crypto channel is ${CHANNEL_BYTES} bytes, got ${shared.byteLength}`);
    this.shared = shared;
    this.#control = new Int32Array(shared, 0, CONTROL_BYTES / 4);
    this.#ints = new Int32Array(shared);
    this.#bytes = new Uint8Array(shared);
  }

  // The event loop's side.

  /** Writes job `seq` into its slot; seen by the thread once JOBS is published past it. */
  writeJob(seq: number, job: CryptoJob): void {
    const at = JOBS_AT + (seq % SLOTS) * JOB_SLOT;
    const ints = at >> 2;
    this.#ints[ints] = job.signWith;
    this.#ints[ints + 1] = job.msg.length;
    this.#ints[ints + 2] = job.sig.length;
    this.#bytes.set(job.msg, at + JOB_HEADER);
    this.#bytes.set(job.sig, at + JOB_HEADER + job.msg.length);
  }

  /** Answer `seq`; a signature is copied out, as its slot will be reused. */
  readAnswer(seq: number): CryptoResult {
    const at = ANSWERS_AT + (seq % SLOTS) * ANSWER_SLOT;
    const outcome = this.#ints[at >> 2];
    if (outcome === SIGNED) return this.#bytes.slice(at + 4, at + 4 + SIGNATURE_BYTES);
    if (outcome === STATS) return { tables: this.#ints[(at >> 2) + 1]!, wideTables: this.#ints[(at >> 2) + 3]!, fixedSums: this.#ints[(at >> 2) + 2]! };
    return outcome === VALID;
  }

  // The thread's side.

  /** Job `seq`, its bytes copied out of shared memory (ordinary buffers for every library that reads them). */
  readJob(seq: number): CryptoJob {
    const at = JOBS_AT + (seq % SLOTS) * JOB_SLOT;
    const ints = at >> 2;
    const msgLength = this.#ints[ints + 1]!;
    const sigLength = this.#ints[ints + 2]!;
    const bytes = this.#bytes.slice(at + JOB_HEADER, at + JOB_HEADER + msgLength + sigLength);
    return { signWith: this.#ints[ints]!, msg: bytes.subarray(0, msgLength), sig: bytes.subarray(msgLength) };
  }

  writeVerdict(seq: number, valid: boolean): void {
    this.#ints[(ANSWERS_AT + (seq % SLOTS) * ANSWER_SLOT) >> 2] = valid ? VALID : REFUSED;
  }

  writeSignature(seq: number, signature: Uint8Array | undefined): void {
    const at = ANSWERS_AT + (seq % SLOTS) * ANSWER_SLOT;
    const ok = signature?.length === SIGNATURE_BYTES;
    if (ok) this.#bytes.set(signature, at + 4);
    this.#ints[at >> 2] = ok ? SIGNED : REFUSED;
  }

  writeStats(seq: number, stats: RingTableStats): void {
    const ints = (ANSWERS_AT + (seq % SLOTS) * ANSWER_SLOT) >> 2;
    this.#ints[ints + 1] = Math.min(stats.tables, 0x7fffffff);
    this.#ints[ints + 2] = Math.min(stats.fixedSums, 0x7fffffff);
    this.#ints[ints + 3] = Math.min(stats.wideTables, 0x7fffffff);
    this.#ints[ints] = STATS;
  }

  // Both sides, each writing one counter and waiting on the other.

  count(counter: Counter): number {
    return Atomics.load(this.#control, counter);
  }

  /** Sets the counter (after the slots it counts are written) and wakes whoever waits on it. */
  publish(counter: Counter, n: number): void {
    Atomics.store(this.#control, counter, n | 0);
    Atomics.notify(this.#control, counter);
  }

  /**
   * The event loop's side: publishes jobs up to `n`, and wakes the thread only if it said it is idle
   * (true when it did). A wake-up is a system call that a busy thread does not need: it reads JOBS
   * again before it waits. Both sides store before they load, so either this sees the flag or the
   * thread sees the new count.
   */
  publishJobs(n: number): boolean {
    Atomics.store(this.#control, JOBS, n | 0);
    if (Atomics.load(this.#control, THREAD_IDLE) === 0) return false;
    Atomics.notify(this.#control, JOBS);
    return true;
  }

  /** The thread's side: resolves once JOBS is past `done` (undefined when it already is), idle meanwhile. */
  jobsAfter(done: number): Promise<unknown> | undefined {
    Atomics.store(this.#control, THREAD_IDLE, 1);
    const w = Atomics.waitAsync(this.#control, JOBS, done | 0);
    if (!w.async) {
      Atomics.store(this.#control, THREAD_IDLE, 0);
      return undefined;
    }
    return w.value.then(() => Atomics.store(this.#control, THREAD_IDLE, 0));
  }

  /** Resolves when the counter is no longer `seen`; undefined when it already is not. */
  changeFrom(counter: Counter, seen: number): Promise<unknown> | undefined {
    const w = Atomics.waitAsync(this.#control, counter, seen | 0);
    return w.async ? w.value : undefined;
  }

  /** Releases whoever waits on the counter (a channel whose thread is gone). */
  wake(counter: Counter): void {
    Atomics.notify(this.#control, counter);
  }

  /**
   * The event loop's side, once the thread's jobs are abandoned: asks it to stop after the job it is on.
   * JOBS moves too, so a thread between its last look at STOP and its wait does not wait (its wait
   * compares JOBS); it answers nothing more, as it checks STOP before each job.
   */
  stop(): void {
    Atomics.store(this.#control, STOP, 1);
    Atomics.add(this.#control, JOBS, 1);
    Atomics.notify(this.#control, JOBS);
  }

  /** The thread's side: true once the pool asked it to stop. */
  stopping(): boolean {
    return Atomics.load(this.#control, STOP) !== 0;
  }

  /** The thread's side: it is in its job loop. */
  markStarted(): void {
    Atomics.store(this.#control, STARTED, 1);
  }

  /** The event loop's side: true once the thread is in its job loop. */
  started(): boolean {
    return Atomics.load(this.#control, STARTED) !== 0;
  }

  /** The thread's side: it has left its job loop for good. */
  markLeft(): void {
    Atomics.store(this.#control, LEFT, 1);
    Atomics.notify(this.#control, LEFT);
  }

  /** The event loop's side, blocking (for process exit only): waits up to `ms` for the thread to leave; true once it has. */
  waitLeftSync(ms: number): boolean {
    return Atomics.wait(this.#control, LEFT, 0, ms) !== 'timed-out';
  }
}
