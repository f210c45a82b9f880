import { SIGN_JOB, VERIFY_UNCREDITED_JOB, type CryptoJob } from './crypto-channel.js';
import { ringVerify } from './ring/signature.js';
import { signSupplierResponse } from './supplier-signature.js';

/**
 * A verification's verdict or a signature (undefined: could not sign) for a CryptoPool job, the same
 * wherever it runs: on a crypto thread, or inline for the queue of a thread the pool gave up on. A throw
 * becomes "invalid" or "could not sign", never a dead thread.
 */
export function answerCryptoJob({ msg, sig, signWith }: CryptoJob): boolean | Uint8Array | undefined {
  if (signWith !== SIGN_JOB) return ringVerify(msg, sig, undefined, signWith !== VERIFY_UNCREDITED_JOB); // never throws
  try {
    return signSupplierResponse(msg, sig);
  } catch {
    return undefined;
  }
}
