/** How RingVerifyPool's jobs cross to its threads. */

/** One job queued on the event loop's side of RingVerifyPool. */
export interface VerifyJob {
  id: number;
  msg: Uint8Array;
  sig: Uint8Array;
}

/**
 * A batch as it crosses to the thread: every job's message and signature packed into one buffer, which
 * is transferred, not cloned. (A job's bytes may be a view on a shared slab, see protocol/codec.ts: a
 * structured clone of each would copy the whole slab, every time.)
 */
export interface VerifyBatch {
  ids: number[];
  /** Message length, then signature length, for each job in order. */
  lengths: number[];
  bytes: Uint8Array<ArrayBuffer>;
}

export function packBatch(jobs: readonly VerifyJob[]): VerifyBatch {
  let size = 0;
  for (const j of jobs) size += j.msg.length + j.sig.length;
  const bytes = new Uint8Array(size);
  const ids = new Array<number>(jobs.length);
  const lengths = new Array<number>(jobs.length * 2);
  let at = 0;
  for (let i = 0; i < jobs.length; i++) {
    const { id, msg, sig } = jobs[i]!;
    ids[i] = id;
    lengths[2 * i] = msg.length;
    lengths[2 * i + 1] = sig.length;
    bytes.set(msg, at);
    bytes.set(sig, at + msg.length);
    at += msg.length + sig.length;
  }
  return { ids, lengths, bytes };
}
