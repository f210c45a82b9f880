import { EventEmitter } from 'node:events';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { concatBytes } from '@noble/hashes/utils.js';
import type { SessionInfo } from '../core/chain/query-client.js';
import type { SessionHeader } from '../core/protocol/messages.js';
import {
  sessionEndHeight,
  sessionIdPreimage,
  sessionNumber,
  sessionStartHeight,
  type SharedParams,
} from '../core/session/index.js';
import type { LoadedGenesis } from './genesis.js';

/**
 * The simulated chain's state machine: accounts and staked actors from genesis, blocks with
 * deterministic hashes, and sessions hydrated the way poktroll's session keeper does it.
 */

export interface ChainEvent {
  type: string;
  attributes: { key: string; value: string }[];
}

export interface TxResultView {
  code: number;
  codespace: string;
  log: string;
  gasWanted: bigint;
  gasUsed: bigint;
  events: ChainEvent[];
}

/** What a block runs: its transactions, then the EndBlockers; supplied by the node wiring. */
export type BlockExecutor = (height: number, timeMs: number) => { txs: Uint8Array[]; results: TxResultView[]; events: ChainEvent[] };

export interface Block {
  height: number;
  timeMs: number;
  hash: Uint8Array;
  lastBlockHash: Uint8Array;
  dataHash: Uint8Array;
  appHash: Uint8Array;
  txs: Uint8Array[];
  txResults: TxResultView[];
  /** finalize_block_events */
  events: ChainEvent[];
}

export interface Account {
  address: string;
  publicKey: Uint8Array | undefined;
  balance: bigint;
  accountNumber: bigint;
  sequence: bigint;
}

/** A session as the chain answers GetSession: the same shape the relayer's query client returns. */
export type SessionView = SessionInfo;

export class ChainError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ChainError';
  }
}

const u64be = (v: bigint | number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v));
  return b;
};


export class LocalChain extends EventEmitter {
  readonly genesis: LoadedGenesis;
  readonly chainId: string;
  readonly accounts = new Map<string, Account>();
  readonly #blocks: Block[] = [];
  #timer: NodeJS.Timeout | undefined;
  #executor: BlockExecutor | undefined;

  constructor(genesis: LoadedGenesis) {
    super();
    this.genesis = genesis;
    this.chainId = genesis.chain_id;
    let accountNumber = 0n;
    for (const a of genesis.resolvedAccounts) {
      this.accounts.set(a.address, { address: a.address, publicKey: a.publicKey, balance: a.balance, accountNumber: accountNumber++, sequence: 0n });
    }
    this.produceBlock(); // a chain always has a block: height 1 exists from the start
  }

  get sharedParams(): SharedParams {
    const s = this.genesis.params.shared;
    return {
      num_blocks_per_session: BigInt(s.num_blocks_per_session),
      grace_period_end_offset_blocks: BigInt(s.grace_period_end_offset_blocks),
      claim_window_open_offset_blocks: BigInt(s.claim_window_open_offset_blocks),
      claim_window_close_offset_blocks: BigInt(s.claim_window_close_offset_blocks),
      proof_window_open_offset_blocks: BigInt(s.proof_window_open_offset_blocks),
      proof_window_close_offset_blocks: BigInt(s.proof_window_close_offset_blocks),
    };
  }

  /**
   * What a governance MsgUpdateParams for the proof module does: the new values hold from now on (proof
   * params are read live: by the next proof's requirement, and by settlement).
   */
  updateProofParams(p: Partial<LoadedGenesis['params']['proof']>): void {
    Object.assign(this.genesis.params.proof, p);
  }

  get height(): number {
    return this.#blocks.length;
  }

  get latest(): Block {
    return this.#blocks[this.#blocks.length - 1]!;
  }

  block(height: number): Block | undefined {
    return height >= 1 ? this.#blocks[height - 1] : undefined;
  }

  /** x/session's GetBlockHash: empty for h ≤ 0. */
  blockHash(height: number): Uint8Array {
    return this.block(height)?.hash ?? new Uint8Array(0);
  }

  setBlockExecutor(executor: BlockExecutor): void {
    this.#executor = executor;
  }

  /**
   * Builds and commits the next block. The hash commits to the chain id, height, time, the previous
   * hash and the block's data, so the same genesis and the same history always give the same hashes.
   */
  produceBlock(): Block {
    const height = this.#blocks.length + 1;
    const prev = this.#blocks[height - 2];
    const timeMs = this.genesis.genesisTimeMs + height * this.genesis.blockTimeMs;
    const { txs, results: txResults, events } = this.#executor?.(height, timeMs) ?? { txs: [], results: [], events: [] };
    const lastBlockHash = prev?.hash ?? new Uint8Array(0);
    const dataHash = sha256(concatBytes(...txs.map((t) => sha256(t))));
    const appHash = sha256(concatBytes(prev?.appHash ?? new Uint8Array(0), dataHash, new TextEncoder().encode(JSON.stringify(events))));
    const hash = sha256(
      concatBytes(new TextEncoder().encode(this.chainId), u64be(height), u64be(timeMs), lastBlockHash, dataHash, appHash),
    );
    const block: Block = { height, timeMs, hash, lastBlockHash, dataHash, appHash, txs, txResults, events };
    this.#blocks.push(block);
    this.emit('block', block);
    return block;
  }

  /** Advances `n` blocks (manual mode, or tests). */
  advance(n: number): Block {
    for (let i = 0; i < n; i++) this.produceBlock();
    return this.latest;
  }

  /** Produces blocks every block_interval_ms; no-op in manual mode (interval 0). */
  start(): void {
    if (this.genesis.block_interval_ms === 0 || this.#timer) return;
    this.#timer = setInterval(() => this.produceBlock(), this.genesis.block_interval_ms);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  get manual(): boolean {
    return this.genesis.block_interval_ms === 0;
  }

  /**
   * x/session GetSession: the session of (app, service) containing `height` (0 = latest). Errors carry
   * the gRPC code and message of docs/spec/errors.md §3.
   */
  getSession(applicationAddress: string, serviceId: string, height: number): SessionView {
    const h = height === 0 ? this.height : height;
    if (h > this.height) {
      throw new ChainError(3, `session for height ${h} is not yet available; latest height is ${this.height}`);
    }
    const app = this.genesis.applications.find((a) => a.address === applicationAddress);
    if (!app) throw new ChainError(5, `application not found: ${applicationAddress}`);
    if (!this.genesis.services.some((s) => s.id === serviceId)) throw new ChainError(5, `service not found: ${serviceId}`);
    if (app.service_id !== serviceId) throw new ChainError(3, `application ${applicationAddress} is not staked for service ${serviceId}`);
    const p = this.sharedParams;
    const start = sessionStartHeight(p, BigInt(h));
    const preimage = sessionIdPreimage(this.blockHash(Number(start)), serviceId, applicationAddress, start);
    const sessionId = Buffer.from(sha3_256(preimage)).toString('hex');
    return {
      header: {
        application_address: applicationAddress,
        service_id: serviceId,
        session_id: sessionId,
        session_start_block_height: start,
        session_end_block_height: sessionEndHeight(p, BigInt(h)),
      },
      sessionId,
      sessionNumber: sessionNumber(p, BigInt(h)),
      numBlocksPerSession: p.num_blocks_per_session,
      applicationAddress,
      supplierOperatorAddresses: this.#selectSuppliers(serviceId, preimage),
    };
  }

  /**
   * hydrateSessionSuppliers: all candidates when they fit, else the num_suppliers_per_session with the
   * lowest weight int64(BE u64(SHA3-256(preimage ‖ "." ‖ operator)[0:8])), ties by address bytes.
   */
  #selectSuppliers(serviceId: string, preimage: Uint8Array): string[] {
    // Suppliers are fixed at genesis: a session's selection is computed once.
    const memoKey = `${serviceId}|${Buffer.from(preimage).toString('hex')}`;
    let selected = this.#selections.get(memoKey);
    if (!selected) {
      selected = this.#computeSelection(serviceId, preimage);
      if (this.#selections.size > 1024) this.#selections.delete(this.#selections.keys().next().value!);
      this.#selections.set(memoKey, selected);
    }
    return [...selected];
  }

  readonly #selections = new Map<string, string[]>();

  #computeSelection(serviceId: string, preimage: Uint8Array): string[] {
    const candidates = this.genesis.suppliers
      .filter((s) => s.services.some((svc) => svc.service_id === serviceId))
      .map((s) => s.operator_address)
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const limit = this.genesis.params.session.num_suppliers_per_session;
    if (candidates.length <= limit) return candidates;
    const weight = (op: string) => {
      const h = sha3_256(concatBytes(preimage, new TextEncoder().encode(`.${op}`)));
      return new DataView(h.buffer, h.byteOffset).getBigInt64(0, false);
    };
    return candidates
      .map((op) => ({ op, w: weight(op) }))
      .sort((a, b) => (a.w < b.w ? -1 : a.w > b.w ? 1 : Buffer.compare(Buffer.from(a.op), Buffer.from(b.op))))
      .slice(0, limit)
      .map((x) => x.op);
  }

  /** What /localnet/state shows: the chain as an operator or a test wants to read it. */
  snapshot(): Record<string, unknown> {
    const sessions = this.genesis.applications.map((a) => {
      const s = this.getSession(a.address, a.service_id, 0);
      return {
        application: a.address,
        service: a.service_id,
        session_id: s.sessionId,
        start: Number(s.header.session_start_block_height),
        end: Number(s.header.session_end_block_height),
        number: Number(s.sessionNumber),
        suppliers: s.supplierOperatorAddresses,
      };
    });
    return {
      chain_id: this.chainId,
      height: this.height,
      latest_block_hash: Buffer.from(this.latest.hash).toString('hex'),
      latest_block_time: new Date(this.latest.timeMs).toISOString(),
      manual: this.manual,
      sessions,
      balances: Object.fromEntries([...this.accounts.values()].map((a) => [a.address, a.balance.toString()])),
    };
  }
}
