import { workerData } from 'node:worker_threads';
import { ANSWERS, CryptoChannel, JOBS, SIGN_JOB, STATS_JOB } from './crypto-channel.js';
import { answerCryptoJob } from './crypto-job.js';
import { configureRingTables, defaultRingBackend } from './ring/signature.js';

/** Thread side of CryptoPool: jobs from the channel's slots, answered in order. */
const { shared, ringTables } = workerData as { shared: SharedArrayBuffer; ringTables?: number };
const channel = new CryptoChannel(shared);
if (ringTables !== undefined) configureRingTables(ringTables);

function answer(seq: number): void {
  const job = channel.readJob(seq);
  if (job.signWith === STATS_JOB) return channel.writeStats(seq, defaultRingBackend().stats?.() ?? { tables: 0, wideTables: 0, fixedSums: 0 });
  const result = answerCryptoJob(job);
  if (job.signWith === SIGN_JOB) channel.writeSignature(seq, result instanceof Uint8Array ? result : undefined);
  else channel.writeVerdict(seq, result === true);
}

// A pending Atomics.waitAsync does not keep a thread's event loop alive; this timer does, until the
// pool asks the thread to stop.
const alive = setInterval(() => {}, 2 ** 30);

// The thread leaves between jobs and lets its event loop end: terminated from outside while inside the
// secp256k1 addon, node-addon-api cannot raise its error in a dying thread and aborts the whole process.
let done = 0;
channel.markStarted();
while (!channel.stopping()) {
  const waiting = channel.jobsAfter(done);
  if (waiting) await waiting;
  const written = channel.count(JOBS);
  while ((done | 0) !== written && !channel.stopping()) {
    answer(done);
    channel.publish(ANSWERS, ++done);
  }
}
channel.markLeft();
clearInterval(alive);
