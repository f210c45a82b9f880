import { encodePubkey, makeAuthInfoBytes, makeSignBytes, makeSignDoc } from '@cosmjs/proto-signing';
import { encodeSecp256k1Pubkey } from '@cosmjs/amino';
import type { TransactionConfig } from '../config/schema.js';
import { messageCodec } from '../protocol/codec.js';
import type { SupplierKey } from '../crypto/supplier-key.js';
import { signSha256 } from '../crypto/supplier-signature.js';
import { chainNotFound, type ChainQueryClient } from './query-client.js';

/** A message for a transaction: its type URL and canonical bytes. */
export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

export interface BroadcastResult {
  /** 0: accepted into the mempool (CheckTx passed); anything else is the node's refusal. */
  code: number;
  codespace: string;
  txhash: string;
  rawLog: string;
  txBytes: Uint8Array;
  /** Unordered transactions: the time after which no block can include it (ms since the epoch). */
  timeoutMs?: number;
}

/** What a block did with an included transaction (GetTx). */
export interface TxOutcome {
  height: number;
  /** 0: its messages ran; anything else: the block refused them (the fee is still paid). */
  code: number;
  codespace: string;
  rawLog: string;
  gasWanted: number;
  gasUsed: number;
}

/** cosmos-sdk's ErrOutOfGas. */
export const TX_OUT_OF_GAS = 11;

/** ADR-070: a node refuses an unordered transaction whose timeout is more than 10 minutes after the block time. */
export const MAX_UNORDERED_TTL_MS = 10 * 60_000 - 1_000;

interface TimestampMsg {
  seconds: bigint;
  nanos: number;
}

const TxBodyCodec = messageCodec<{ messages: { type_url: string; value: Uint8Array }[]; memo: string; unordered: boolean; timeout_timestamp?: TimestampMsg }>('cosmos.tx.v1beta1.TxBody');
const TxRawCodec = messageCodec<{ body_bytes: Uint8Array; auth_info_bytes: Uint8Array; signatures: Uint8Array[] }>('cosmos.tx.v1beta1.TxRaw');
const BaseAccountCodec = messageCodec<{ address: string; account_number: bigint; sequence: bigint }>('cosmos.auth.v1beta1.BaseAccount');
const SIGN_MODE_DIRECT = 1;
const BROADCAST_MODE_SYNC = 2;

// Loaded on the first fee: only a miner signs, and the package costs every other process its start-up time.
let stargate: Promise<typeof import('@cosmjs/stargate')> | undefined;

/**
 * The fee for `gas` at `price` ("0.000001upokt"): cosmjs' GasPrice and calculateFee, in exact decimals
 * (0.07 × 100 is 7, where floating point gives 7.000000000000001 and a fee of 8), at least 1.
 */
export async function feeFor(price: string, gas: number): Promise<{ denom: string; amount: bigint }> {
  const { GasPrice, calculateFee } = await (stargate ??= import('@cosmjs/stargate'));
  let parsed: InstanceType<typeof GasPrice>;
  try {
    parsed = GasPrice.fromString(price);
  } catch (err) {
    throw new Error(`gas price ${JSON.stringify(price)}: ${(err as Error).message}`);
  }
  const coin = calculateFee(gas, parsed).amount[0]!;
  const amount = BigInt(coin.amount);
  return { denom: coin.denom, amount: amount > 0n ? amount : 1n };
}

/**
 * Builds, signs (SIGN_MODE_DIRECT with the supplier operator key, via cosmjs) and broadcasts (gRPC,
 * sync) one transaction. Unordered mode (ADR-070) sets `timeout_timestamp` from the latest block time
 * instead of a sequence, so replicas never race on sequence numbers; a per-signer offset keeps two
 * otherwise identical transactions distinct. Ordered mode reads the account sequence each time.
 */
export class TxClient {
  readonly #accounts = new Map<string, bigint>();
  #unorderedOffset = 0;
  /** Fee of the last transaction signed for broadcast. */
  lastFee = 0n;

  constructor(
    readonly query: ChainQueryClient,
    readonly cfg: TransactionConfig,
    readonly chainId: string,
    /** How far past the latest block time an unordered transaction stays valid. */
    readonly unorderedTtlMs = 120_000,
  ) {}

  async #account(address: string): Promise<{ accountNumber: bigint; sequence: bigint }> {
    // An account number never changes; unordered transactions need no sequence.
    const known = this.#accounts.get(address);
    if (known !== undefined && this.cfg.mode === 'unordered') return { accountNumber: known, sequence: 0n };
    const any = (await this.query.call('cosmos.auth.v1beta1.Query', 'Account', { address })).account as { value: Uint8Array };
    const base = BaseAccountCodec.decode(any.value);
    this.#accounts.set(address, base.account_number);
    return { accountNumber: base.account_number, sequence: base.sequence };
  }

  async #sign(key: SupplierKey, messages: AnyMessage[], latestBlockTimeMs: number, gasLimit: number, ttlMs = this.unorderedTtlMs): Promise<{ bytes: Uint8Array; timeoutMs?: number }> {
    const { accountNumber, sequence } = await this.#account(key.address);
    const unordered = this.cfg.mode === 'unordered';
    // Distinct per transaction: a re-signed submission of the same messages must not be a duplicate unordered tx.
    const timeoutMs = latestBlockTimeMs + Math.min(ttlMs, MAX_UNORDERED_TTL_MS) + (this.#unorderedOffset++ % 1000);
    const bodyBytes = TxBodyCodec.encode({
      messages: messages.map((m) => ({ type_url: m.typeUrl, value: m.value })),
      memo: 'relayminer',
      unordered,
      timeout_timestamp: unordered ? { seconds: BigInt(Math.floor(timeoutMs / 1000)), nanos: (timeoutMs % 1000) * 1e6 } : undefined,
    });
    const fee = await feeFor(this.cfg.gas_price, gasLimit);
    this.lastFee = fee.amount;
    const pubkey = encodePubkey(encodeSecp256k1Pubkey(key.publicKey));
    const authInfoBytes = makeAuthInfoBytes([{ pubkey, sequence: unordered ? 0 : Number(sequence) }], [{ denom: fee.denom, amount: String(fee.amount) }], gasLimit, undefined, undefined, SIGN_MODE_DIRECT);
    const signDoc = makeSignDoc(bodyBytes, authInfoBytes, this.chainId, Number(accountNumber));
    // cosmos-sdk secp256k1 PrivKey.Sign over the sign bytes (what cosmjs' wallet computes, natively where it can).
    const signature = signSha256(makeSignBytes(signDoc), key.privateKeyBytes());
    const bytes = TxRawCodec.encode({ body_bytes: bodyBytes, auth_info_bytes: authInfoBytes, signatures: [signature] });
    return unordered ? { bytes, timeoutMs } : { bytes };
  }

  /** Gas for the messages: the fixed `gas_limit`, or a simulation × `gas_adjustment`. */
  async gasFor(key: SupplierKey, messages: AnyMessage[], latestBlockTimeMs: number): Promise<number> {
    if (this.cfg.gas_limit > 0) return this.cfg.gas_limit;
    const probe = await this.#sign(key, messages, latestBlockTimeMs, 10_000_000);
    const res = await this.query.call('cosmos.tx.v1beta1.Service', 'Simulate', { tx_bytes: probe.bytes });
    const used = Number((res.gas_info as { gas_used: bigint }).gas_used);
    return Math.ceil(used * this.cfg.gas_adjustment);
  }

  /** The fee the messages would pay, in the gas price's denom, and the gas it is for (to broadcast with). */
  async feeFor(key: SupplierKey, messages: AnyMessage[], latestBlockTimeMs: number): Promise<bigint> {
    return (await this.estimate(key, messages, latestBlockTimeMs)).fee;
  }

  async estimate(key: SupplierKey, messages: AnyMessage[], latestBlockTimeMs: number): Promise<{ gas: number; fee: bigint }> {
    const gas = await this.gasFor(key, messages, latestBlockTimeMs);
    return { gas, fee: (await feeFor(this.cfg.gas_price, gas)).amount };
  }

  /**
   * Signs (a fresh timeout, or the account's current sequence) and broadcasts. `ttlMs`: how long past
   * the latest block time an unordered transaction may be included (capped at ADR-070's 10 minutes).
   */
  async broadcast(key: SupplierKey, messages: AnyMessage[], latestBlockTimeMs: number, ttlMs?: number, knownGas?: number): Promise<BroadcastResult> {
    const gas = knownGas ?? (await this.gasFor(key, messages, latestBlockTimeMs));
    const signed = await this.#sign(key, messages, latestBlockTimeMs, gas, ttlMs);
    const res = await this.broadcastBytes(signed.bytes);
    return signed.timeoutMs === undefined ? res : { ...res, timeoutMs: signed.timeoutMs };
  }

  /** What the block that included `txhash` did with it; undefined while no block has (or the node does not index it). */
  async outcome(txhash: string): Promise<TxOutcome | undefined> {
    try {
      const r = (await this.query.call('cosmos.tx.v1beta1.Service', 'GetTx', { hash: txhash })).tx_response as {
        height: bigint;
        code: number;
        codespace: string;
        raw_log: string;
        gas_wanted: bigint;
        gas_used: bigint;
      };
      return { height: Number(r.height), code: r.code, codespace: r.codespace, rawLog: r.raw_log, gasWanted: Number(r.gas_wanted), gasUsed: Number(r.gas_used) };
    } catch (err) {
      if (chainNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Broadcasts signed bytes as they are. */
  async broadcastBytes(txBytes: Uint8Array): Promise<BroadcastResult> {
    const res = await this.query.call('cosmos.tx.v1beta1.Service', 'BroadcastTx', { tx_bytes: txBytes, mode: BROADCAST_MODE_SYNC });
    const r = res.tx_response as { code: number; codespace: string; txhash: string; raw_log: string };
    return { code: r.code, codespace: r.codespace, txhash: r.txhash, rawLog: r.raw_log, txBytes };
  }
}
