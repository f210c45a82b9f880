import type { BlockInfo, ChainQueryClient, CometClient, SharedParamsInfo } from 'relayminer';

export interface ProofParams {
  proof_request_probability?: number;
  proof_requirement_threshold?: { amount: string };
  proof_submission_fee?: { amount: string };
  proof_missing_penalty?: { amount: string };
}

/** What a proof requirement depends on besides the claim: a decision taken with other params is taken again. */
export function proofParamsKey(p: ProofParams): string {
  return `${p.proof_requirement_threshold?.amount ?? '0'}|${p.proof_request_probability ?? 0}`;
}

/** Entries kept per kind; old heights fall out first. */
const MAX_ENTRIES = 512;

/**
 * The chain reads a miner repeats for every supplier, each made once: what is fixed at a height
 * (shared params at a session end, compute units and difficulty at a session start, a block's hash)
 * is kept; the live proof params are read at most once per block height. A failed read is not kept.
 */
export class ChainReads {
  readonly #memo = new Map<string, Promise<unknown>>();

  constructor(
    readonly query: ChainQueryClient,
    readonly comet: CometClient,
  ) {}

  #once<T>(key: string, read: () => Promise<T>): Promise<T> {
    let p = this.#memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = read();
      this.#memo.set(key, p);
      p.catch(() => this.#memo.delete(key));
      if (this.#memo.size > MAX_ENTRIES * 4) this.#memo.delete(this.#memo.keys().next().value!);
    }
    return p;
  }

  sharedParams(atHeight: bigint): Promise<SharedParamsInfo> {
    return this.#once(`shared|${atHeight}`, () => this.query.sharedParams(atHeight));
  }

  computeUnitsPerRelay(serviceId: string, atHeight: bigint): Promise<bigint> {
    return this.#once(`cupr|${serviceId}|${atHeight}`, () => this.query.serviceComputeUnitsPerRelay(serviceId, atHeight));
  }

  difficultyTarget(serviceId: string, atHeight: bigint): Promise<Uint8Array> {
    return this.#once(`target|${serviceId}|${atHeight}`, () => this.query.difficultyTarget(serviceId, atHeight));
  }

  block(height: number): Promise<BlockInfo> {
    return this.#once(`block|${height}`, () => this.comet.block(height));
  }

  /** The supplier module's minimum stake (uPOKT), read once for the block at `height`: a slash that leaves less unstakes the supplier. */
  supplierMinStake(height: number | bigint): Promise<bigint> {
    return this.#once(`supplier|${height}`, () => this.query.supplierMinStake());
  }

  /** The proof module's current params, read once for the block at `height`. */
  proofParams(height: number | bigint): Promise<ProofParams> {
    return this.#once(`proof|${height}`, async () => (await this.query.call('pocket.proof.Query', 'Params', {})).params as ProofParams);
  }
}
