import { sha256 } from '@noble/hashes/sha2.js';
import { addressFromPublicKey } from '../core/crypto/address.js';
import { verifySha256 } from '../core/crypto/supplier-signature.js';
import { messageCodec, ProtoDecodeError } from '../core/protocol/codec.js';
import { MsgCreateClaimCodec, MsgSubmitProofCodec, type MsgCreateClaim, type MsgSubmitProof } from '../core/protocol/messages.js';
import type { ChainEvent, LocalChain, TxResultView } from './chain.js';
import type { ProofModule } from './proof-module.js';
import { AbciError, handlerError, sdkError, StatusError } from './tx-errors.js';

/**
 * Transactions as a Cosmos SDK v0.53 node with poktroll's ante chain processes them
 * (docs/spec/errors.md §2.0, §4.2–4.3): decode, ValidateBasic, ante checks in order, then the messages.
 * CheckTx (BroadcastTx SYNC) runs everything but the messages; Simulate skips signatures, the
 * min-gas-price check and nonce insertion and runs the messages; blocks run all of it.
 */

type Any = { type_url: string; value: Uint8Array };
interface Coin { denom: string; amount: string }
interface TxRaw { body_bytes: Uint8Array; auth_info_bytes: Uint8Array; signatures: Uint8Array[] }
interface TxBody { messages: Any[]; memo: string; timeout_height: bigint; unordered: boolean; timeout_timestamp?: { seconds: bigint; nanos: number } }
interface SignerInfo { public_key?: Any; mode_info?: { single?: { mode: number } }; sequence: bigint }
interface AuthInfo { signer_infos: SignerInfo[]; fee?: { amount: Coin[]; gas_limit: bigint; payer: string; granter: string } }

export const TxRawCodec = messageCodec<TxRaw>('cosmos.tx.v1beta1.TxRaw');
export const TxBodyCodec = messageCodec<TxBody>('cosmos.tx.v1beta1.TxBody');
export const AuthInfoCodec = messageCodec<AuthInfo>('cosmos.tx.v1beta1.AuthInfo');
export const SignDocCodec = messageCodec<{ body_bytes: Uint8Array; auth_info_bytes: Uint8Array; chain_id: string; account_number: bigint }>('cosmos.tx.v1beta1.SignDoc');
export const TxCodec = messageCodec<{ body?: TxBody; auth_info?: AuthInfo; signatures: Uint8Array[] }>('cosmos.tx.v1beta1.Tx');
const PubKeyCodec = messageCodec<{ key: Uint8Array }>('cosmos.crypto.secp256k1.PubKey');

const MSG_CREATE_CLAIM = '/pocket.proof.MsgCreateClaim';
const MSG_SUBMIT_PROOF = '/pocket.proof.MsgSubmitProof';
const SIGN_MODE_DIRECT = 1;
const MAX_MEMO = 256;
const MAX_UNORDERED_TTL_MS = 10 * 60 * 1000;
const MAX_UINT64 = (1n << 64n) - 1n;

type Msg = { kind: 'claim'; msg: MsgCreateClaim } | { kind: 'proof'; msg: MsgSubmitProof };

/** What one tx did in a block (the chain's view of it). */
export type TxResult = TxResultView;

export interface IndexedTx {
  hash: string;
  height: number;
  index: number;
  bytes: Uint8Array;
  result: TxResult;
  timeMs: number;
}

type Mode = 'check' | 'simulate' | 'deliver';

interface Decoded {
  bytes: Uint8Array;
  hash: string;
  raw: TxRaw;
  body: TxBody;
  auth: AuthInfo;
  msgs: Msg[];
  /** First height whose block may include it (a `delay_inclusion_blocks` fault pushes it back). */
  includeFrom?: number;
}

/** Faults armed on the node (`POST /localnet/faults`): what a real network does to transactions. */
export interface TxFaults {
  /** The next N transactions that pass CheckTx are answered "accepted" and never included. */
  drop_accepted_txs: number;
  /** Transactions accepted while this is N > 0 wait N more blocks before a block includes them. */
  delay_inclusion_blocks: number;
  /** The next `count` transactions are refused at CheckTx with this code and log. */
  reject_next: { count: number; code: number; codespace: string; log: string };
  /**
   * The next `count` transactions a block includes are refused there with this code and log, their fee
   * paid: what a message's own check does to a transaction that state changed under since CheckTx.
   */
  refuse_in_block: { count: number; code: number; codespace: string; log: string };
  /** The next N calls to the transaction service (Simulate, BroadcastTx) fail with gRPC UNAVAILABLE, as while a node restarts. */
  unavailable_next: number;
}

/** Go time.Time.String() for UTC, as the tx-timeout error prints it. */
function goTime(ms: number, nanos?: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const frac = nanos !== undefined ? nanos : (ms % 1000) * 1_000_000;
  const fracText = frac === 0 ? '' : `.${String(frac).padStart(9, '0').replace(/0+$/, '')}`;
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fracText} +0000 UTC`;
}

/** An unordered tx's nonce: its signer and timeout timestamp in nanoseconds. */
function nonceKey(addr: string, ts: { seconds: bigint; nanos: number }): string {
  return `${addr}|${BigInt(ts.seconds) * 1_000_000_000n + BigInt(ts.nanos)}`;
}

export class TxEngine {
  readonly #mempool: Decoded[] = [];
  /** Hashes and (signer, timeout) nonces of the txs in the mempool: CheckTx looks them up, not scans. */
  readonly #mempoolHashes = new Set<string>();
  readonly #mempoolNonces = new Set<string>();
  readonly #index = new Map<string, IndexedTx>();
  /** (signer, timeout_timestamp in ns) of unordered txs already used. */
  readonly #nonces = new Set<string>();
  /** Sequences as CheckTx sees them: committed ones advanced by txs waiting in the mempool. */
  readonly #checkSequences = new Map<string, bigint>();

  constructor(
    readonly chain: LocalChain,
    readonly proofs: ProofModule,
  ) {}

  static hashOf(bytes: Uint8Array): string {
    return Buffer.from(sha256(bytes)).toString('hex').toUpperCase();
  }

  #decode(bytes: Uint8Array): Decoded {
    let raw: TxRaw;
    let body: TxBody;
    let auth: AuthInfo;
    try {
      raw = TxRawCodec.decode(bytes);
      body = TxBodyCodec.decode(raw.body_bytes);
      auth = AuthInfoCodec.decode(raw.auth_info_bytes);
    } catch (err) {
      throw sdkError(2, `${err instanceof ProtoDecodeError ? err.message : String(err)}: tx parse error`);
    }
    const msgs: Msg[] = body.messages.map((any) => {
      try {
        if (any.type_url === MSG_CREATE_CLAIM) return { kind: 'claim', msg: MsgCreateClaimCodec.decode(any.value) };
        if (any.type_url === MSG_SUBMIT_PROOF) return { kind: 'proof', msg: MsgSubmitProofCodec.decode(any.value) };
      } catch (err) {
        throw sdkError(2, `${(err as Error).message}: tx parse error`);
      }
      throw sdkError(2, `unable to resolve type URL ${any.type_url}: tx parse error`);
    });
    return { bytes, hash: TxEngine.hashOf(bytes), raw, body, auth, msgs };
  }

  #signers(d: Decoded): string[] {
    const out: string[] = [];
    for (const m of d.msgs) if (!out.includes(m.msg.supplier_operator_address)) out.push(m.msg.supplier_operator_address);
    return out;
  }

  /** Balances a tx's messages may change: its signers' (a proof's submission fee), not every account's. */
  #balancesOf(d: Decoded): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const a of this.#signers(d)) {
      const acc = this.chain.accounts.get(a);
      if (acc) out.set(a, acc.balance);
    }
    return out;
  }

  #restoreBalances(saved: Map<string, bigint>): void {
    for (const [a, b] of saved) this.chain.accounts.get(a)!.balance = b;
  }

  #gasUsed(d: Decoded): bigint {
    return 30_000n + 10n * BigInt(d.bytes.length) + 20_000n * BigInt(d.msgs.length);
  }

  /** ValidateBasic of the messages, then the ante decorators in poktroll's order. */
  #ante(d: Decoded, mode: Mode, block: { height: number; timeMs: number }): void {
    if (d.msgs.length === 0) throw sdkError(18, 'must contain at least one message: invalid request');
    for (const m of d.msgs) {
      if (m.kind === 'claim') this.proofs.validateCreateClaim(m.msg);
      else this.proofs.validateSubmitProof(m.msg);
    }
    const signers = this.#signers(d);
    if (d.raw.signatures.length === 0) throw sdkError(15, 'no signatures supplied');
    if (d.raw.signatures.length !== signers.length || d.auth.signer_infos.length !== signers.length) {
      throw sdkError(4, `invalid number of signer;  expected: ${signers.length}, got ${d.raw.signatures.length}: unauthorized`);
    }
    if (d.body.timeout_height > 0n && BigInt(block.height) > d.body.timeout_height) {
      throw sdkError(30, `block height: ${block.height}, timeout height: ${d.body.timeout_height}: tx timeout height`);
    }
    const ts = d.body.timeout_timestamp;
    const tsMs = ts ? Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6) : undefined;
    if (ts && tsMs !== undefined && block.timeMs > tsMs) {
      throw sdkError(42, `block time: ${goTime(block.timeMs)}, timeout timestamp: ${goTime(Number(ts.seconds) * 1000, ts.nanos)}: tx timeout`);
    }
    if (d.body.memo.length > MAX_MEMO) throw sdkError(12, `maximum number of characters is ${MAX_MEMO} but received ${d.body.memo.length} characters: memo too large`);
    const gasLimit = d.auth.fee?.gas_limit ?? 0n;
    if (mode !== 'simulate' && gasLimit === 0n) throw sdkError(41, 'must provide positive gas: invalid gas limit');

    // DeductFee: the fee payer is the first signer.
    const payer = this.chain.accounts.get(signers[0]!);
    if (!payer) throw sdkError(9, `fee payer address: ${signers[0]} does not exist: unknown address`);
    const fee = (d.auth.fee?.amount ?? []).filter((c) => c.denom === 'upokt').reduce((n, c) => n + BigInt(c.amount), 0n);
    if (mode === 'check') {
      const required = BigInt(Math.ceil(this.chain.genesis.minimum_gas_price_upokt * Number(gasLimit)));
      if (fee < required) {
        const got = (d.auth.fee?.amount ?? []).map((c) => `${c.amount}${c.denom}`).join(',');
        throw sdkError(13, `insufficient fees; got: ${got} required: ${required}upokt: insufficient fee`);
      }
    }
    if (payer.balance < fee) throw sdkError(5, `spendable balance ${payer.balance}upokt is smaller than ${fee}upokt: insufficient funds: insufficient funds`);

    // SetPubKey, then signatures (not in simulate), sequences or unordered nonces.
    const pubkeys = signers.map((addr, i) => {
      const info = d.auth.signer_infos[i]!;
      const account = this.chain.accounts.get(addr);
      if (!account) throw sdkError(9, `account ${addr} does not exist: unknown address`);
      let key = account.publicKey;
      if (info.public_key) {
        if (info.public_key.type_url !== '/cosmos.crypto.secp256k1.PubKey') throw sdkError(8, `unsupported public key type ${info.public_key.type_url}: invalid pubkey`);
        const given = PubKeyCodec.decode(info.public_key.value).key;
        if (given.length !== 33 || addressFromPublicKey(given) !== addr) throw sdkError(8, `pubKey does not match signer address ${addr} with signer index: ${i}: invalid pubkey`);
        key = given;
      }
      if (!key) throw sdkError(8, 'pubkey on account is not set: invalid pubkey');
      return key;
    });
    if (d.body.unordered) {
      if (!ts || tsMs === undefined) throw sdkError(18, 'unordered transaction must have timeout_timestamp set: invalid request');
      if (tsMs - block.timeMs > MAX_UNORDERED_TTL_MS) throw sdkError(18, 'unordered tx ttl exceeds 10m0s: invalid request');
    }
    signers.forEach((addr, i) => {
      const account = this.chain.accounts.get(addr)!;
      const info = d.auth.signer_infos[i]!;
      if (!d.body.unordered) {
        const expected = mode === 'check' ? (this.#checkSequences.get(addr) ?? account.sequence) : account.sequence;
        if (info.sequence !== expected) throw sdkError(32, `account sequence mismatch, expected ${expected}, got ${info.sequence}: incorrect account sequence`);
      }
      if (mode === 'simulate') return;
      if (info.mode_info?.single?.mode !== SIGN_MODE_DIRECT) throw sdkError(4, 'unsupported sign mode: unauthorized');
      const signDoc = SignDocCodec.encode({ body_bytes: d.raw.body_bytes, auth_info_bytes: d.raw.auth_info_bytes, chain_id: this.chain.chainId, account_number: account.accountNumber });
      if (!verifySha256(signDoc, d.raw.signatures[i]!, pubkeys[i]!)) {
        throw sdkError(4, `signature verification failed; please verify account number (${account.accountNumber}) and chain-id (${this.chain.chainId}): (unable to verify single signer signature): unauthorized`);
      }
    });
    if (d.body.unordered && mode !== 'simulate') {
      for (const addr of signers) {
        const nonce = nonceKey(addr, ts!);
        if (this.#nonces.has(nonce)) throw sdkError(18, `failed to add unordered nonce: already used timeout ${goTime(tsMs!)}: invalid request`);
      }
    }
  }

  /** Effects of a passed ante: fee deducted, pubkey set, sequence or nonce recorded. */
  #applyAnte(d: Decoded, mode: Mode): void {
    const signers = this.#signers(d);
    if (mode === 'check') {
      if (!d.body.unordered) for (const addr of signers) this.#checkSequences.set(addr, (this.#checkSequences.get(addr) ?? this.chain.accounts.get(addr)!.sequence) + 1n);
      return;
    }
    const fee = (d.auth.fee?.amount ?? []).filter((c) => c.denom === 'upokt').reduce((n, c) => n + BigInt(c.amount), 0n);
    this.chain.accounts.get(signers[0]!)!.balance -= fee;
    signers.forEach((addr, i) => {
      const account = this.chain.accounts.get(addr)!;
      const info = d.auth.signer_infos[i]!;
      if (info.public_key && !account.publicKey) account.publicKey = PubKeyCodec.decode(info.public_key.value).key;
      if (!d.body.unordered) account.sequence += 1n;
    });
    if (d.body.unordered) {
      const ts = d.body.timeout_timestamp!;
      for (const addr of signers) this.#nonces.add(nonceKey(addr, ts));
    }
  }

  #runMessages(d: Decoded, height: number): ChainEvent[] {
    const events: ChainEvent[] = [];
    d.msgs.forEach((m, i) => {
      try {
        const out = m.kind === 'claim' ? this.proofs.createClaim(m.msg, height) : this.proofs.submitProof(m.msg, height);
        events.push({ type: 'message', attributes: [{ key: 'action', value: m.kind === 'claim' ? MSG_CREATE_CLAIM : MSG_SUBMIT_PROOF }] }, ...out);
      } catch (err) {
        if (err instanceof StatusError) throw handlerError(i, err.grpcCode, err.desc);
        throw err;
      }
    });
    return events;
  }

  readonly #faults: TxFaults = {
    drop_accepted_txs: 0,
    delay_inclusion_blocks: 0,
    reject_next: { count: 0, code: 0, codespace: '', log: '' },
    refuse_in_block: { count: 0, code: 0, codespace: '', log: '' },
    unavailable_next: 0,
  };

  /**
   * Fault injection for tests: the next `n` transactions that pass CheckTx are answered "accepted"
   * (code 0) but never reach a block, as when a node evicts them from its mempool.
   */
  dropNextAccepted(n: number): void {
    this.#faults.drop_accepted_txs = n;
  }

  /** Arms the faults given (the others keep their state); returns every fault as now armed. */
  armFaults(f: Partial<TxFaults>): TxFaults {
    if (f.drop_accepted_txs !== undefined) this.#faults.drop_accepted_txs = f.drop_accepted_txs;
    if (f.delay_inclusion_blocks !== undefined) this.#faults.delay_inclusion_blocks = f.delay_inclusion_blocks;
    if (f.reject_next !== undefined) this.#faults.reject_next = { ...f.reject_next };
    if (f.refuse_in_block !== undefined) this.#faults.refuse_in_block = { ...f.refuse_in_block };
    if (f.unavailable_next !== undefined) this.#faults.unavailable_next = f.unavailable_next;
    return this.faults;
  }

  /** Whether this call to the transaction service is one `unavailable_next` fails (it counts the call). */
  unavailable(): boolean {
    if (this.#faults.unavailable_next <= 0) return false;
    this.#faults.unavailable_next--;
    return true;
  }

  get faults(): TxFaults {
    return { ...this.#faults, reject_next: { ...this.#faults.reject_next }, refuse_in_block: { ...this.#faults.refuse_in_block } };
  }

  /** CheckTx for BroadcastTx SYNC: accepted txs wait in the mempool for the next block. */
  checkTx(bytes: Uint8Array): { hash: string; code: number; codespace: string; log: string } {
    const hash = TxEngine.hashOf(bytes);
    try {
      // CometBFT's mempool refuses it before CheckTx; the SDK's broadcast reports only the code (errors.md §5.1).
      if (bytes.length > this.chain.genesis.max_tx_bytes) throw sdkError(21, '');
      const reject = this.#faults.reject_next;
      if (reject.count > 0) {
        reject.count--;
        throw new AbciError(reject.codespace, reject.code, reject.log);
      }
      if (this.#mempoolHashes.has(hash)) throw sdkError(19, '');
      const d = this.#decode(bytes);
      this.#ante(d, 'check', { height: this.chain.height, timeMs: this.chain.latest.timeMs });
      // In CheckTx the nonce is inserted into the check state: a second identical timeout fails.
      if (d.body.unordered) {
        const ts = d.body.timeout_timestamp!;
        for (const addr of this.#signers(d)) {
          const nonce = nonceKey(addr, ts);
          if (this.#mempoolNonces.has(nonce)) {
            throw sdkError(18, `failed to add unordered nonce: already used timeout ${nonce}: invalid request`);
          }
        }
      }
      if (this.#faults.drop_accepted_txs > 0) {
        this.#faults.drop_accepted_txs--;
        return { hash, code: 0, codespace: '', log: '' };
      }
      this.#applyAnte(d, 'check');
      d.includeFrom = this.chain.height + 1 + this.#faults.delay_inclusion_blocks;
      this.#admit(d);
      return { hash, code: 0, codespace: '', log: '' };
    } catch (err) {
      if (err instanceof AbciError) return { hash, code: err.code, codespace: err.codespace, log: err.log };
      throw err;
    }
  }

  #admit(d: Decoded): void {
    this.#mempool.push(d);
    this.#mempoolHashes.add(d.hash);
    if (d.body.unordered) {
      const ts = d.body.timeout_timestamp!;
      for (const addr of this.#signers(d)) this.#mempoolNonces.add(nonceKey(addr, ts));
    }
  }

  /** Simulate: gas used, or the failure Go reports (gRPC Unknown with the gas suffix). */
  simulate(bytes: Uint8Array): { gasUsed: bigint; events: ChainEvent[] } {
    const d = this.#decode(bytes);
    const gasUsed = this.#gasUsed(d);
    const height = this.chain.height + 1;
    try {
      this.#ante(d, 'simulate', { height: this.chain.height, timeMs: this.chain.latest.timeMs });
      // Messages run against a throw-away view: the claims they touch (deep copies: a simulated proof
      // must not stay on the stored claim object) and the balances are put back afterwards.
      const restoreClaims = journal(this.proofs.claims, (v) => structuredClone(v));
      const balances = this.#balancesOf(d);
      try {
        return { gasUsed, events: this.#runMessages(d, height) };
      } finally {
        restoreClaims();
        this.#restoreBalances(balances);
      }
    } catch (err) {
      if (err instanceof AbciError) throw new SimulateError(`${err.log} With gas wanted: '${MAX_UINT64}' and gas used: '${gasUsed}' `);
      throw err;
    }
  }

  /** Runs the mempool in a new block: ante and messages per tx, atomically per tx. */
  executeBlock(height: number, timeMs: number): { txs: Uint8Array[]; results: TxResult[] } {
    // Transactions held back by a delay fault stay in the mempool for a later block.
    const batch = this.#mempool.filter((d) => (d.includeFrom ?? 0) <= height);
    const held = this.#mempool.filter((d) => (d.includeFrom ?? 0) > height);
    this.#mempool.length = 0;
    this.#mempoolHashes.clear();
    this.#mempoolNonces.clear();
    for (const d of held) this.#admit(d);
    const results: TxResult[] = [];
    batch.forEach((d, index) => {
      const gasWanted = d.auth.fee?.gas_limit ?? 0n;
      const gasUsed = this.#gasUsed(d);
      let result: TxResult;
      try {
        this.#ante(d, 'deliver', { height, timeMs });
        if (gasUsed > gasWanted) throw sdkError(11, `out of gas in location: txSize; gasWanted: ${gasWanted}, gasUsed: ${gasUsed}: out of gas`);
        this.#applyAnte(d, 'deliver');
        const refuse = this.#faults.refuse_in_block;
        if (refuse.count > 0) {
          refuse.count--;
          throw new AbciError(refuse.codespace, refuse.code, refuse.log);
        }
        const restoreClaims = journal(this.proofs.claims, (v) => structuredClone(v));
        const balances = this.#balancesOf(d);
        let ok = false;
        try {
          result = { code: 0, codespace: '', log: '', gasWanted, gasUsed, events: this.#runMessages(d, height) };
          ok = true;
        } catch (err) {
          // Atomic: message state is rolled back; the ante effects (fee, sequence, nonce) stay.
          this.#restoreBalances(balances);
          throw err;
        } finally {
          restoreClaims(ok);
        }
      } catch (err) {
        if (!(err instanceof AbciError)) throw err;
        result = { code: err.code, codespace: err.codespace, log: err.log, gasWanted, gasUsed, events: [] };
      }
      results.push(result);
      this.#index.set(d.hash, { hash: d.hash, height, index, bytes: d.bytes, result, timeMs });
    });
    this.#checkSequences.clear();
    return { txs: batch.map((d) => d.bytes), results };
  }

  getTx(hash: string): IndexedTx | undefined {
    return this.#index.get(hash.toUpperCase());
  }

  get mempoolSize(): number {
    return this.#mempool.length;
  }
}

export class SimulateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulateError';
  }
}

/**
 * Records the first state of every key a Map's get/set/delete touch until the returned function runs,
 * which puts those keys back as they were (or, with `keep`, just stops recording). Costs what the
 * messages touch, not the size of the store.
 */
function journal<K, V>(m: Map<K, V>, copy: (v: V) => V): (keep?: boolean) => void {
  const saved = new Map<K, { had: boolean; value?: V }>();
  const { get, set, delete: del, has } = Map.prototype as Map<K, V>;
  const note = (k: K) => {
    if (!saved.has(k)) saved.set(k, has.call(m, k) ? { had: true, value: copy(get.call(m, k) as V) } : { had: false });
  };
  const own = m as unknown as Record<string, unknown>;
  own.get = (k: K) => (note(k), get.call(m, k));
  own.set = (k: K, v: V) => (note(k), set.call(m, k, v));
  own.delete = (k: K) => (note(k), del.call(m, k));
  return (keep = false) => {
    delete own.get;
    delete own.set;
    delete own.delete;
    if (keep) return;
    for (const [k, s] of saved) {
      if (s.had) set.call(m, k, s.value as V);
      else del.call(m, k);
    }
  };
}
