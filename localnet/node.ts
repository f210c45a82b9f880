import { LocalChain } from './chain.js';
import type { LoadedGenesis } from './genesis.js';
import { ProofModule, type StoredClaim } from './proof-module.js';
import { TxEngine } from './tx-engine.js';

/** The simulated node's modules wired together: each block runs its txs, then x/proof and tokenomics EndBlockers. */
export class LocalnetNode {
  readonly chain: LocalChain;
  readonly proofs: ProofModule;
  readonly txs: TxEngine;

  constructor(genesis: LoadedGenesis) {
    this.chain = new LocalChain(genesis);
    this.proofs = new ProofModule(this.chain);
    this.txs = new TxEngine(this.chain, this.proofs);
    this.chain.setBlockExecutor((height, timeMs) => {
      const { txs, results } = this.txs.executeBlock(height, timeMs);
      const events = [...this.proofs.validateProofs(height), ...this.proofs.settle(height)];
      return { txs, results, events };
    });
  }

  #claimView(c: StoredClaim) {
    return {
      session_id: c.header.session_id,
      supplier: c.supplierOperatorAddress,
      service: c.header.service_id,
      session_end: Number(c.header.session_end_block_height),
      root_hash: Buffer.from(c.rootHash).toString('hex'),
      status: c.status,
      claimed_upokt: this.proofs.claimedUpoktOf(c).toString(),
      created_height: c.createdHeight,
      proof_submitted_height: c.proof?.submittedHeight,
      outcome: c.outcome,
    };
  }

  /** The chain as /localnet/state shows it. */
  snapshot(): Record<string, unknown> {
    return {
      ...this.chain.snapshot(),
      mempool: this.txs.mempoolSize,
      claims: [...this.proofs.claims.values()].map((c) => this.#claimView(c)),
      settlements: this.proofs.settledClaims.map((c) => this.#claimView(c)),
    };
  }
}
