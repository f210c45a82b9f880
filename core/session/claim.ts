import { sha256 } from '../crypto/sha256.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { bytesToBigInt, MAX_HASH } from './difficulty.js';
import { seededFloat64 } from './go-rand.js';

/**
 * uPOKT a claim is worth (poktroll x/proof/types/claim.go GetClaimeduPOKT): exact rationals, one final floor.
 *   estimatedCU = sum × (2^256 − 1) / target
 *   uPOKT       = floor(estimatedCU × computeUnitsToTokensMultiplier / computeUnitCostGranularity)
 * Difficulty target and shared params are those at the session start height.
 */
export function claimedUpokt(
  rootSum: bigint,
  targetHash: Uint8Array,
  computeUnitsToTokensMultiplier: bigint,
  computeUnitCostGranularity: bigint,
): bigint {
  const target = bytesToBigInt(targetHash);
  if (target === 0n) throw new RangeError('difficulty target must be non-zero');
  if (computeUnitCostGranularity === 0n) throw new RangeError('compute_unit_cost_granularity must be non-zero');
  return (rootSum * MAX_HASH * computeUnitsToTokensMultiplier) / (target * computeUnitCostGranularity);
}

export type ProofRequirement = 'NOT_REQUIRED' | 'PROBABILISTIC' | 'THRESHOLD';

/**
 * The chain's ProofRequirementForClaim (x/proof/keeper/msg_server_submit_proof.go):
 * THRESHOLD when the claim is worth at least the threshold; else PROBABILISTIC when
 * SeededFloat64(sha256(claimBytes) ‖ seedBlockHash) ≤ probability; else NOT_REQUIRED.
 * `claimBytes` is the canonical encoding of the stored Claim (proof_validation_status 0).
 */
export function proofRequirement(args: {
  claimedUpokt: bigint;
  thresholdUpokt: bigint;
  probability: number;
  claimBytes: Uint8Array;
  seedBlockHash: Uint8Array;
}): ProofRequirement {
  if (args.claimedUpokt >= args.thresholdUpokt) return 'THRESHOLD';
  return seededFloat64(concatBytes(sha256(args.claimBytes), args.seedBlockHash)) <= args.probability ? 'PROBABILISTIC' : 'NOT_REQUIRED';
}

/** The closest-proof path: sha256(seedBlockHash ‖ UTF-8 of the hex session id) (pkg/crypto/protocol/proof_path.go). */
export function proofPath(seedBlockHash: Uint8Array, sessionId: string): Uint8Array {
  return sha256(concatBytes(seedBlockHash, new TextEncoder().encode(sessionId)));
}
