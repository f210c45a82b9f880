import { runBench } from './harness.js';
import { runScaleScenario } from './scale-scenario.js';
import { table } from './table.js';

/**
 * An operator's deployment at scale: SUPPLIERS suppliers (1,000), RELAYS relays each (3), MINERS (2) miner
 * processes and one relayer against `relayminer localnet` at BLOCK_MS (2,000) blocks with WINDOW (10)
 * block claim and proof windows; every claim needs a proof. BLOCK_TIME_MS (60,000: mainnet's) is the chain time
 * between blocks, apart from their wall time (transaction timeouts are on the chain's clock); DROP_CLAIMS and
 * DROP_PROOFS that many claim and proof transactions the node accepts and never includes; REJECT_CLAIMS that many
 * claim transactions it refuses at CheckTx (an insufficient fee); KILL_MINER (claims or
 * proofs) SIGKILLs the first miner in the block before that window opens. Reports when the
 * last claim and proof landed in their windows, settlements, sends made again, miner CPU and Redis commands
 * per block.
 * Run: npm run bench:miner-scale
 */
runBench(async () => {
  const suppliers = Number(process.env.SUPPLIERS ?? 1000);
  const miners = Number(process.env.MINERS ?? 2);
  const r = await runScaleScenario({
    suppliers,
    relaysPerSupplier: Number(process.env.RELAYS ?? 3),
    blockMs: Number(process.env.BLOCK_MS ?? 2000),
    blockTimeMs: Number(process.env.BLOCK_TIME_MS ?? 60_000),
    dropClaims: Number(process.env.DROP_CLAIMS ?? 0),
    dropProofs: Number(process.env.DROP_PROOFS ?? 0),
    rejectClaims: Number(process.env.REJECT_CLAIMS ?? 0),
    killMiner: process.env.KILL_MINER === 'claims' || process.env.KILL_MINER === 'proofs' ? process.env.KILL_MINER : undefined,
    windowBlocks: Number(process.env.WINDOW ?? 10),
    miners,
    minerOptions: process.env.MINER_OPTIONS,
    progress: (line) => process.stderr.write(`${line}\n`),
    keepLogs: true,
  });
  const blockS = Number(process.env.BLOCK_MS ?? 2000) / 1000;
  const chainS = Number(process.env.BLOCK_TIME_MS ?? 60_000) / 1000;
  const dropped = [process.env.DROP_CLAIMS && `${process.env.DROP_CLAIMS} claim`, process.env.DROP_PROOFS && `${process.env.DROP_PROOFS} proof`].filter(Boolean);
  const windowS = (r.claimWindow[1] - r.claimWindow[0]) * blockS;
  process.stdout.write(
    table(`Miner at scale (node ${process.version}): ${r.suppliers} suppliers, ${r.relays} relays, ${miners} miner${miners === 1 ? '' : 's'}, ${blockS} s blocks${chainS !== blockS ? ` (${chainS} s of chain time each)` : ''}, ${r.claimWindow[1] - r.claimWindow[0]}-block windows${dropped.length ? `; ${dropped.join(' and ')} transactions dropped after the node accepted them` : ''}`, ['measure', 'result'], [
      ['claims on chain', `${r.claims} of ${r.suppliers}`],
      ['last claim on chain', `height ${r.lastClaimHeight} (window [${r.claimWindow[0]}, ${r.claimWindow[1]}]), ${r.lastClaimSeconds.toFixed(1)} s after it opened (${((100 * r.lastClaimSeconds) / windowS).toFixed(0)}% of the window)`],
      ['claims per second (window open → last claim)', (r.claims / Math.max(r.lastClaimSeconds, blockS)).toFixed(0)],
      ['proofs validated', `${r.proofs} of ${r.suppliers}`],
      ['last proof on chain', `height ${r.lastProofHeight} (window [${r.proofWindow[0]}, ${r.proofWindow[1]}]), ${r.lastProofSeconds.toFixed(1)} s after it opened`],
      ['sessions settled', `${r.settled} of ${r.suppliers}`],
      ['sent again (transactions found lost or refused): claims, proofs', `${r.resubmitted - r.resubmittedProofs}, ${r.resubmittedProofs}`],
      ...(r.rejectedAtNode ? [['refused at CheckTx and sent the next block; the error lines said', `${r.rejectedAtNode}; ${r.rejectionLines}`]] : []),
      [`miner CPU per block (${miners === 1 ? 'the process' : `${miners} processes`})`, `${r.minerCpuMsPerBlock.toFixed(0)} ms`],
      ['Redis commands per block', r.redisCommandsPerBlock.toFixed(0)],
      ['miner RSS at settlement', r.minerRssMb.map((m) => `${m} MB`).join(', ')],
    ]) + '\n',
  );
});
