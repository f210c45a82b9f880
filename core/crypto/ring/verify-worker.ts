import { parentPort } from 'node:worker_threads';
import { ringVerify } from './signature.js';
import type { VerifyBatch } from './verify-batch.js';

/** Worker side of RingVerifyPool: a packed batch in, (id, ok) pairs out. */
parentPort?.on('message', ({ ids, lengths, bytes }: VerifyBatch) => {
  const results = new Array<[number, boolean]>(ids.length);
  let at = 0;
  for (let i = 0; i < ids.length; i++) {
    const msg = bytes.subarray(at, (at += lengths[2 * i]!));
    const sig = bytes.subarray(at, (at += lengths[2 * i + 1]!));
    let ok = false;
    try {
      ok = ringVerify(msg, sig);
    } catch {
      ok = false; // an unexpected throw is a failed verification, never a dead worker
    }
    results[i] = [ids[i]!, ok];
  }
  parentPort!.postMessage(results);
});
