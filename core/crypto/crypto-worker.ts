import { parentPort, workerData } from 'node:worker_threads';
import type { CryptoBatch, CryptoResult } from './crypto-batch.js';
import { ringVerify } from './ring/signature.js';
import { signSupplierResponse } from './supplier-signature.js';

/** The supplier keys this thread signs with, by index (its own copy, given once when the thread starts). */
const keys = (workerData as { keys?: Uint8Array[] } | undefined)?.keys ?? [];

/** Worker side of CryptoPool: a packed batch in, (id, verdict or signature) pairs out. */
parentPort?.on('message', ({ ids, signWith, lengths, bytes }: CryptoBatch) => {
  const results = new Array<CryptoResult>(ids.length);
  let at = 0;
  for (let i = 0; i < ids.length; i++) {
    const msg = bytes.subarray(at, (at += lengths[2 * i]!));
    const sig = bytes.subarray(at, (at += lengths[2 * i + 1]!));
    if (signWith[i]! >= 0) {
      const key = keys[signWith[i]!];
      results[i] = [ids[i]!, key ? signSupplierResponse(msg, key) : false];
      continue;
    }
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
