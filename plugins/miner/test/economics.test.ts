import t from 'tap';
import { claimCost } from '../economics.js';

const base = { claimFeeShareUpokt: 2n, proofFeeShareUpokt: 2n, proofSubmissionFeeUpokt: 1n, proofRequirementThresholdUpokt: 100n, proofRequestProbability: 0.01 };

t.test('a claim at or above the threshold must pay for its proof too: claim fee + proof fee + proof_submission_fee', async (t) => {
  t.same(claimCost({ ...base, rewardUpokt: 146n }), { costUpokt: 5n, proofProbability: 1, worthIt: true });
  // Worth more than the threshold but not more than the claim fee, the proof fee and the submission fee.
  t.same(claimCost({ ...base, rewardUpokt: 100n, claimFeeShareUpokt: 60n, proofFeeShareUpokt: 39n, proofSubmissionFeeUpokt: 1n }), { costUpokt: 100n, proofProbability: 1, worthIt: false });
  t.same(claimCost({ ...base, rewardUpokt: 101n, claimFeeShareUpokt: 60n, proofFeeShareUpokt: 39n, proofSubmissionFeeUpokt: 1n }).worthIt, true);
});

t.test('below the threshold the proof costs its probability: mainnet 1%', async (t) => {
  // 1% of (2 + 1) rounds up to 1 uPOKT.
  t.same(claimCost({ ...base, rewardUpokt: 4n }), { costUpokt: 3n, proofProbability: 0.01, worthIt: true });
  t.same(claimCost({ ...base, rewardUpokt: 3n }).worthIt, false, 'a reward of exactly the cost is not sent');
  t.same(claimCost({ ...base, rewardUpokt: 3n, proofRequestProbability: 0 }), { costUpokt: 2n, proofProbability: 0, worthIt: true }, 'no proof ever asked: the claim fee alone');
  t.same(claimCost({ ...base, rewardUpokt: 50n, proofRequestProbability: 0.5, proofFeeShareUpokt: 20n, proofSubmissionFeeUpokt: 30n }), { costUpokt: 27n, proofProbability: 0.5, worthIt: true });
});
