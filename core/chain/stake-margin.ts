/**
 * Missed (or invalid) proofs a supplier's stake covers before the chain unstakes it: poktroll's settlement slashes
 * `penalty` per missed proof and begins the supplier's unbonding when a slash leaves the stake under the supplier
 * module's `min_stake`. The supplier survives k slashes while stake − k·penalty ≥ min_stake; the one after unstakes
 * it. Undefined without a penalty (nothing is slashed).
 */
export function missedProofsBeforeUnstake(stake: bigint, minStake: bigint, penalty: bigint): bigint | undefined {
  if (penalty <= 0n) return undefined;
  return stake >= minStake ? (stake - minStake) / penalty : 0n;
}
