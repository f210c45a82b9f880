/**
 * Whether a claim is worth sending: its reward must exceed what it costs to be paid for it, that is
 * its share of the claim transaction's fee, plus — when a proof may be asked for — the proof's expected
 * cost: its transaction fee and the chain's `proof_submission_fee`, weighted by the chance a proof is
 * required (certain at or above `proof_requirement_threshold`, else `proof_request_probability`).
 */
export interface ClaimEconomics {
  rewardUpokt: bigint;
  claimFeeShareUpokt: bigint;
  /** Fee of the proof transaction's share for this session (estimated before it is built). */
  proofFeeShareUpokt: bigint;
  proofSubmissionFeeUpokt: bigint;
  proofRequirementThresholdUpokt: bigint;
  proofRequestProbability: number;
}

export function claimCost(e: ClaimEconomics): { costUpokt: bigint; proofProbability: number; worthIt: boolean } {
  const proofProbability = e.rewardUpokt >= e.proofRequirementThresholdUpokt ? 1 : Math.min(1, Math.max(0, e.proofRequestProbability));
  const proofCost = e.proofFeeShareUpokt + e.proofSubmissionFeeUpokt;
  // Expected cost, rounded up: a claim worth exactly its cost is not worth the risk.
  const expectedProof = proofProbability === 1 ? proofCost : BigInt(Math.ceil(Number(proofCost) * proofProbability));
  const costUpokt = e.claimFeeShareUpokt + expectedProof;
  return { costUpokt, proofProbability, worthIt: e.rewardUpokt > costUpokt };
}
