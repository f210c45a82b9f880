import { workerData } from 'node:worker_threads';
import { ANSWERS, CryptoChannel, JOBS, STATS_JOB } from './crypto-channel.js';
import { defaultRingBackend, ringVerify } from './ring/signature.js';
import { signSupplierResponse } from './supplier-signature.js';

/** Thread side of CryptoPool: jobs from the channel's slots, answered in order. */
const { keys = [], shared } = workerData as { keys?: Uint8Array[]; shared: SharedArrayBuffer };
const channel = new CryptoChannel(shared);

function answer(seq: number): void {
  const { msg, sig, signWith } = channel.readJob(seq);
  if (signWith === STATS_JOB) return channel.writeStats(seq, defaultRingBackend().stats?.() ?? { tables: 0, fixedSums: 0 });
  if (signWith >= 0) {
    const key = keys[signWith];
    let signature: Uint8Array | undefined;
    try {
      signature = key ? signSupplierResponse(msg, key) : undefined;
    } catch {
      signature = undefined; // answered as "could not sign", never a dead thread
    }
    channel.writeSignature(seq, signature);
    return;
  }
  let ok = false;
  try {
    ok = ringVerify(msg, sig);
  } catch {
    ok = false; // an unexpected throw is a failed verification, never a dead thread
  }
  channel.writeVerdict(seq, ok);
}

// A pending Atomics.waitAsync does not keep a thread's event loop alive; this timer does (the pool's
// terminate() ends the thread).
setInterval(() => {}, 2 ** 30);

let done = 0;
for (;;) {
  const waiting = channel.jobsAfter(done);
  if (waiting) await waiting;
  const written = channel.count(JOBS);
  while ((done | 0) !== written) {
    answer(done);
    channel.publish(ANSWERS, ++done);
  }
}
