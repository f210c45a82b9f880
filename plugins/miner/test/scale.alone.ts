import { rmSync } from 'node:fs';
import t from 'tap';
import { runScaleScenario } from '../../../bench/scale-scenario.js';

/**
 * An operator's deployment at scale, all real processes (localnet, redis-server, one relayer, two
 * miners): 1,000 suppliers, a relay each, 2-second blocks of a minute's chain time each and 6-block claim and
 * proof windows, every claim needing a proof, the first 100 claim transactions refused by their block and the
 * first 100 proof transactions dropped by the node after it accepted them. The full-size run (10-block windows, more relays) is `npm run bench:miner-scale`.
 * It loads both cores for a minute, so `npm test` runs it on its own after the other files (the name
 * keeps it out of tap's parallel run).
 */
t.test('1,000 suppliers, two miners: every claim and every proof lands inside its window, every session settles', async (t) => {
  const lines: string[] = [];
  // Mainnet's pace of chain time (a minute a block) at 2 s of wall time. The node's blocks refuse the first 100 claim
  // transactions, and it drops the first 100 proof transactions it accepts: those must all be sent again.
  const r = await runScaleScenario({ suppliers: 1000, relaysPerSupplier: 1, blockMs: 2000, blockTimeMs: 60_000, windowBlocks: 6, miners: 2, refuseClaims: 100, dropProofs: 100, keepLogs: true, progress: (l) => lines.push(l) });
  // The processes' logs stay for a failed run (their folder is the first line below).
  t.teardown(() => {
    if (t.passing()) rmSync(r.logDir, { recursive: true, force: true });
  });
  // The run as it went, block by block.
  t.comment(lines.join('\n'));
  t.equal(r.relays, 1000, 'a relay for each supplier served');
  t.equal(r.claims, 1000, 'every claim on chain');
  t.equal(r.refusedInBlock, 100, "the miners found the 100 claims their blocks refused");
  t.equal(r.resubmitted - r.resubmittedProofs, 100, 'and sent each again once');
  t.equal(r.resubmittedProofs, 100, 'and each proof the node dropped once');
  // The chain takes a claim at any height of [open, close], both inclusive (docs/spec/protocol.md §6).
  t.ok(r.lastClaimHeight >= r.claimWindow[0] && r.lastClaimHeight <= r.claimWindow[1], `the last claim inside the claim window [${r.claimWindow[0]}, ${r.claimWindow[1]}]: height ${r.lastClaimHeight}`);
  t.equal(r.proofs, 1000, 'every proof validated');
  // The same for proofs; one in the window's last block is known by its claim settling in that block.
  t.ok(r.lastProofHeight >= r.proofWindow[0] && r.lastProofHeight <= r.proofWindow[1], `the last proof inside the proof window [${r.proofWindow[0]}, ${r.proofWindow[1]}]: height ${r.lastProofHeight}`);
  t.equal(r.settled, 1000, 'every session settled');
  t.comment(`last claim ${r.lastClaimSeconds.toFixed(1)} s after the window opened, last proof ${r.lastProofSeconds.toFixed(1)} s; miner CPU ${r.minerCpuMsPerBlock.toFixed(0)} ms per block; ${r.redisCommandsPerBlock.toFixed(0)} Redis commands per block`);
});
