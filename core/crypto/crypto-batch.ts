/** How CryptoPool's jobs cross to its threads. */

/** One job queued on the event loop's side of CryptoPool. */
export interface CryptoJob {
  id: number;
  /** A ring verification: the signed message. A signing job: the message the supplier signs (a relay response's signable hash). */
  msg: Uint8Array;
  /** A ring verification: the ring signature. A signing job: empty. */
  sig: Uint8Array;
  /** A signing job: the index of the supplier key (in the keys the pool was given) that signs `msg`. */
  signWith?: number;
}

/**
 * A batch as it crosses to the thread: every job's bytes packed in one buffer, which is transferred,
 * not cloned. (A job's bytes may be a view on a shared slab, see protocol/proto-wire.ts: a structured clone
 * of each would copy the whole slab, every time.)
 */
export interface CryptoBatch {
  ids: number[];
  /** Per job: −1 for a ring verification, else the index of the key that signs. */
  signWith: number[];
  /** Message length, then signature length, for each job in order. */
  lengths: number[];
  bytes: Uint8Array<ArrayBuffer>;
}

/** A job's answer: a ring verification's verdict, or a signing job's 64-byte signature. */
export type CryptoResult = [id: number, result: boolean | Uint8Array];

export function packBatch(jobs: readonly CryptoJob[]): CryptoBatch {
  let size = 0;
  for (const j of jobs) size += j.msg.length + j.sig.length;
  const bytes = new Uint8Array(size);
  const ids = new Array<number>(jobs.length);
  const signWith = new Array<number>(jobs.length);
  const lengths = new Array<number>(jobs.length * 2);
  let at = 0;
  for (let i = 0; i < jobs.length; i++) {
    const { id, msg, sig } = jobs[i]!;
    ids[i] = id;
    signWith[i] = jobs[i]!.signWith ?? -1;
    lengths[2 * i] = msg.length;
    lengths[2 * i + 1] = sig.length;
    bytes.set(msg, at);
    bytes.set(sig, at + msg.length);
    at += msg.length + sig.length;
  }
  return { ids, signWith, lengths, bytes };
}
