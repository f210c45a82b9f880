import { parentPort } from 'node:worker_threads';
import { ringVerify } from './signature.js';

/** Worker side of RingVerifyPool: batches of (id, message hash, signature) in, (id, ok) out. */
export interface VerifyJob {
  id: number;
  msg: Uint8Array;
  sig: Uint8Array;
}

parentPort?.on('message', (jobs: VerifyJob[]) => {
  const results = new Array<[number, boolean]>(jobs.length);
  for (let i = 0; i < jobs.length; i++) {
    const { id, msg, sig } = jobs[i]!;
    let ok = false;
    try {
      ok = ringVerify(msg, sig);
    } catch {
      ok = false; // an unexpected throw is a failed verification, never a dead worker
    }
    results[i] = [id, ok];
  }
  parentPort!.postMessage(results);
});
