import { sha256 } from '@noble/hashes/sha2.js';
import { isPoktAddress } from '../core/crypto/address.js';
import { deserializeRingSignature, ringMembersAllowed, verifyParsedRingSignature } from '../core/crypto/ring/index.js';
import { PLACEHOLDER_RING_ADDRESS, PLACEHOLDER_RING_PUBLIC_KEY } from '../core/crypto/placeholder-ring-key.js';
import { verifySupplierResponse } from '../core/crypto/supplier-signature.js';
import {
  ClaimCodec,
  RelayCodec,
  relayRequestSignableHash,
  relayResponseSignableHash,
  type MsgCreateClaim,
  type MsgSubmitProof,
  type SessionHeader,
} from '../core/protocol/index.js';
import { claimedUpokt, isRelayVolumeApplicable, proofPath, proofRequirement, relayDifficultyMultiplier, sessionEndHeight, sessionWindows } from '../core/session/index.js';
import { decodeCompactClosestProof, decompactClosestProof, sumAndCount, verifyClosestProof, type ClosestProof } from '../core/smst/index.js';
import { ChainError, type ChainEvent, type LocalChain } from './chain.js';
import { FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, proofError, sdkError, StatusError } from './tx-errors.js';

/**
 * x/proof as the localnet runs it: claims and proofs with poktroll's checks in poktroll's order and
 * with its messages (docs/spec/protocol.md §7, docs/spec/errors.md §2), proof validation in the EndBlocker, and
 * settlement at the proof-window-close block.
 */

export type ProofStatus = 'PENDING_VALIDATION' | 'VALIDATED' | 'INVALID';
const STATUS_CODE: Record<ProofStatus, number> = { PENDING_VALIDATION: 0, VALIDATED: 1, INVALID: 2 };

export interface StoredClaim {
  supplierOperatorAddress: string;
  header: SessionHeader;
  rootHash: Uint8Array;
  status: ProofStatus;
  createdHeight: number;
  proof?: { bytes: Uint8Array; submittedHeight: number };
  outcome?: { kind: 'settled' | 'expired'; height: number; upokt: string; reason?: string };
}

const key = (sessionId: string, supplier: string) => `${sessionId}|${supplier}`;

function validateSessionHeader(h: SessionHeader | undefined): string | undefined {
  if (!h) return undefined;
  if (!isPoktAddress(h.application_address)) {
    return `"${h.application_address}"; (${h.application_address === '' ? 'empty address string is not allowed' : 'decoding bech32 failed'}): invalid application address for session`;
  }
  if (!h.session_id) return '"": invalid sessionId';
  if (!h.service_id) return 'empty service ID: invalid service ID';
  if (h.service_id.length > 42) return `service ID '${h.service_id}' exceeds maximum length: 42: invalid service ID`;
  if (!/^[A-Za-z0-9_-]+$/.test(h.service_id)) return `service ID '${h.service_id}' contains invalid characters: invalid service ID`;
  if (h.session_start_block_height < 1n) return 'sessions can only start at height 1 or greater: invalid block height for session';
  if (h.session_end_block_height <= h.session_start_block_height) {
    return 'session end block height cannot be less than or equal to session start block height: invalid block height for session';
  }
  return undefined;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const typedAttr = (key: string, value: unknown) => ({ key, value: JSON.stringify(value) });

export class ProofModule {
  readonly claims = new Map<string, StoredClaim>();

  constructor(readonly chain: LocalChain) {}

  validateCreateClaim(m: MsgCreateClaim): void {
    if (!isPoktAddress(m.supplier_operator_address)) throw proofError(1101, `${m.supplier_operator_address}: invalid address`);
    if (!m.session_header) throw proofError(1115, 'session header is nil: invalid session header');
    const inner = validateSessionHeader(m.session_header);
    if (inner) throw proofError(1115, `invalid session header: ${inner}: invalid session header`);
    if (m.root_hash.length !== 48) throw proofError(1104, `expecting root hash to be 48 bytes, got ${m.root_hash.length} bytes: invalid root hash`);
    const [sum, count] = sumAndCount(m.root_hash);
    if (count === 0n) throw proofError(1104, `has zero count in Merkle root (hex) ${hex(m.root_hash)}: invalid root hash`);
    if (sum === 0n) throw proofError(1104, `has zero sum in Merkle root (hex) ${hex(m.root_hash)}: invalid root hash`);
  }

  validateSubmitProof(m: MsgSubmitProof): void {
    if (!isPoktAddress(m.supplier_operator_address)) {
      throw sdkError(7, `supplier operator address "${m.supplier_operator_address}", error: decoding bech32 failed: invalid address`);
    }
    if (!m.session_header) throw proofError(1115, 'session header is nil: invalid session header');
    const inner = validateSessionHeader(m.session_header);
    if (inner) throw proofError(1115, `${inner}: invalid session header`);
    if (m.proof.length === 0) throw proofError(1108, 'proof cannot be empty: invalid proof');
  }

  /** The on-chain session for a message header; errors in the shape session.go gives them. */
  #session(header: SessionHeader, supplier: string, code: number): SessionHeader {
    let view;
    try {
      view = this.chain.getSession(header.application_address, header.service_id, Number(header.session_start_block_height));
    } catch (err) {
      throw new StatusError(code, err instanceof ChainError ? err.message : String(err));
    }
    if (view.sessionId !== header.session_id) {
      throw new StatusError(code, `session ID does not match onchain session ID; expected "${view.sessionId}", got "${header.session_id}": invalid session ID`);
    }
    if (!view.supplierOperatorAddresses.includes(supplier)) {
      throw new StatusError(code, `supplier operator address "${supplier}" not found in session ID "${view.sessionId}": supplier not found`);
    }
    return view.header;
  }

  #service(serviceId: string) {
    return this.chain.genesis.services.find((s) => s.id === serviceId);
  }

  createClaim(m: MsgCreateClaim, height: number): ChainEvent[] {
    const header = this.#session(m.session_header!, m.supplier_operator_address, INVALID_ARGUMENT);
    const w = sessionWindows(this.chain.sharedParams, header.session_end_block_height);
    if (BigInt(height) < w.claimWindowOpen) {
      throw new StatusError(FAILED_PRECONDITION, `current block height (${height}) is less than the session's earliest claim commit height (${w.claimWindowOpen}): claim attempted outside of the session's claim window`);
    }
    if (BigInt(height) > w.claimWindowClose) {
      throw new StatusError(FAILED_PRECONDITION, `current block height (${height}) is greater than session claim window close height (${w.claimWindowClose}): claim attempted outside of the session's claim window`);
    }
    const service = this.#service(header.service_id);
    if (!service) throw new StatusError(NOT_FOUND, `service ${header.service_id} not found: service not found: service not found`);
    const [sum, count] = sumAndCount(m.root_hash);
    const cupr = BigInt(service.compute_units_per_relay);
    if (sum !== count * cupr) {
      throw new StatusError(
        INVALID_ARGUMENT,
        `claim compute units: ${sum} is not equal to number of relays ${count} * compute units per relay ${cupr} for service ${header.service_id}: mismatch: claim compute units != number of relays * service compute units per relay`,
      );
    }
    const k = key(header.session_id, m.supplier_operator_address);
    const updated = this.claims.has(k);
    const claim: StoredClaim = { supplierOperatorAddress: m.supplier_operator_address, header: m.session_header!, rootHash: m.root_hash, status: 'PENDING_VALIDATION', createdHeight: height };
    this.claims.set(k, claim);
    return [this.#claimEvent(updated ? 'pocket.proof.EventClaimUpdated' : 'pocket.proof.EventClaimCreated', claim)];
  }

  #claimedUpokt(claim: StoredClaim): bigint {
    const service = this.#service(claim.header.service_id)!;
    const s = this.chain.genesis.params.shared;
    return claimedUpokt(
      sumAndCount(claim.rootHash)[0],
      Uint8Array.from(Buffer.from(service.relay_difficulty_target_hex, 'hex')),
      BigInt(s.compute_units_to_tokens_multiplier),
      BigInt(s.compute_unit_cost_granularity),
    );
  }

  #claimEvent(type: string, claim: StoredClaim, extra: { key: string; value: string }[] = []): ChainEvent {
    const [sum, count] = sumAndCount(claim.rootHash);
    return {
      type,
      attributes: [
        typedAttr('supplier_operator_address', claim.supplierOperatorAddress),
        typedAttr('service_id', claim.header.service_id),
        typedAttr('session_end_block_height', String(claim.header.session_end_block_height)),
        typedAttr('num_relays', String(count)),
        typedAttr('num_claimed_compute_units', String(sum)),
        typedAttr('claimed_upokt', `${this.#claimedUpokt(claim)}upokt`),
        typedAttr('claim_proof_status_int', STATUS_CODE[claim.status]),
        ...extra,
      ],
    };
  }

  /** Encoding of the stored claim the proof requirement hashes (status 0, as at submission). */
  #claimBytes(claim: StoredClaim): Uint8Array {
    return ClaimCodec.encode({ supplier_operator_address: claim.supplierOperatorAddress, session_header: claim.header, root_hash: claim.rootHash, proof_validation_status: 0 });
  }

  requirement(claim: StoredClaim) {
    const w = sessionWindows(this.chain.sharedParams, claim.header.session_end_block_height);
    const p = this.chain.genesis.params.proof;
    return proofRequirement({
      claimedUpokt: this.#claimedUpokt(claim),
      thresholdUpokt: BigInt(p.proof_requirement_threshold_upokt),
      probability: p.proof_request_probability,
      claimBytes: this.#claimBytes(claim),
      seedBlockHash: this.chain.blockHash(Number(w.proofSeedHeight)),
    });
  }

  submitProof(m: MsgSubmitProof, height: number): ChainEvent[] {
    const header = this.#session(m.session_header!, m.supplier_operator_address, FAILED_PRECONDITION);
    const w = sessionWindows(this.chain.sharedParams, header.session_end_block_height);
    if (BigInt(height) < w.proofWindowOpen) {
      throw new StatusError(FAILED_PRECONDITION, `current block height (${height}) is less than session's earliest proof commit height (${w.proofWindowOpen}): proof attempted outside of the session's proof window`);
    }
    if (BigInt(height) > w.proofWindowClose) {
      throw new StatusError(FAILED_PRECONDITION, `current block height (${height}) is greater than session proof window close height (${w.proofWindowClose}): proof attempted outside of the session's proof window`);
    }
    this.#wellFormed(m, header);
    const claim = this.claims.get(key(header.session_id, m.supplier_operator_address));
    if (!claim) throw new StatusError(FAILED_PRECONDITION, `no claim found for session ID "${header.session_id}" and supplier "${m.supplier_operator_address}": claim not found`);
    const fee = BigInt(this.chain.genesis.params.proof.proof_submission_fee_upokt);
    const account = this.chain.accounts.get(m.supplier_operator_address);
    if (fee > 0n) {
      const balance = account?.balance ?? 0n;
      if (balance <= fee) throw new StatusError(FAILED_PRECONDITION, `account has ${balance}, but the proof submission fee is ${fee}upokt: not enough funds to submit proof`);
    }
    if (this.requirement(claim) === 'NOT_REQUIRED') throw new StatusError(FAILED_PRECONDITION, 'proof not required');
    if (fee > 0n && account) account.balance -= fee;
    const updated = claim.proof !== undefined;
    claim.proof = { bytes: m.proof, submittedHeight: height };
    return [this.#claimEvent(updated ? 'pocket.proof.EventProofUpdated' : 'pocket.proof.EventProofSubmitted', claim)];
  }

  /** EnsureWellFormedProof: everything but signatures and the closest path (those run in the EndBlocker). */
  #wellFormed(m: MsgSubmitProof, onchain: SessionHeader): ClosestProof {
    const fp = (desc: string): never => {
      throw new StatusError(FAILED_PRECONDITION, desc);
    };
    let proof: ClosestProof;
    let compact;
    try {
      compact = decodeCompactClosestProof(m.proof);
    } catch (err) {
      return fp(`failed to unmarshal sparse compact merkle closest proof: ${(err as Error).message}: invalid proof`);
    }
    try {
      proof = decompactClosestProof(compact);
    } catch (err) {
      return fp(`failed to decompact sparse erkle closest proof: ${(err as Error).message}: invalid proof`);
    }
    const vh = proof.closestValueHash;
    if (!vh || vh.length < 16) return fp('failed to unmarshal relay: empty value hash: invalid relay');
    const relayBytes = vh.subarray(0, vh.length - 16);
    let relay;
    try {
      relay = RelayCodec.decode(relayBytes);
    } catch (err) {
      return fp(`failed to unmarshal relay: ${(err as Error).message}: invalid relay`);
    }
    const req = relay.req;
    if (!req?.meta.session_header) return fp('missing session header: invalid relay request');
    const reqInner = validateSessionHeader(req.meta.session_header);
    if (reqInner) return fp(`invalid session header: ${reqInner}: invalid relay request`);
    if (req.meta.signature.length === 0) return fp('missing application signature: invalid relay request');
    if (!req.meta.supplier_operator_address) return fp('relay metadata missing supplier operator address: invalid relay request');
    if (req.meta.supplier_operator_address !== m.supplier_operator_address) return fp('supplier type mismatch: supplier operator address does not match the claim or proof');
    const res = relay.res;
    if (!res) return fp('missing meta: invalid relay response');
    if (!res.meta.session_header) return fp('missing meta: invalid relay response');
    const resInner = validateSessionHeader(res.meta.session_header);
    if (resInner) return fp(`invalid session header: ${resInner}: invalid relay response`);
    if (res.meta.supplier_operator_signature.length === 0) return fp('missing supplier operator signature: invalid relay response');
    for (const h of [req.meta.session_header, res.meta.session_header]) {
      if (h.application_address !== onchain.application_address) return fp(`session headers application addresses mismatch; expect: "${onchain.application_address}", got: "${h.application_address}": invalid relay`);
      if (h.service_id !== onchain.service_id) return fp(`session headers service IDs mismatch; expected: "${onchain.service_id}", got: "${h.service_id}": invalid relay`);
      if (h.session_start_block_height !== onchain.session_start_block_height) return fp(`session headers session start heights mismatch; expected: ${onchain.session_start_block_height}, got: ${h.session_start_block_height}: invalid relay`);
      if (h.session_end_block_height !== onchain.session_end_block_height) return fp(`session headers session end heights mismatch; expected: ${onchain.session_end_block_height}, got: ${h.session_end_block_height}: invalid relay`);
      if (h.session_id !== onchain.session_id) return fp(`session headers session IDs mismatch; expected: "${onchain.session_id}", got: "${h.session_id}": invalid relay`);
    }
    const target = Uint8Array.from(Buffer.from(this.#service(onchain.service_id)!.relay_difficulty_target_hex, 'hex'));
    const relayHash = sha256(relayBytes);
    if (!isRelayVolumeApplicable(relayHash, target)) {
      const mult = (t: Uint8Array) => {
        const r = relayDifficultyMultiplier(t);
        return `${r.num}/${r.den}`;
      };
      return fp(`failed to validate relay difficulty for service ${onchain.service_id} due to: the difficulty relay being proven is (${mult(relayHash)}), and is smaller than the target difficulty (${mult(target)}): invalid relay: invalid relay difficulty`);
    }
    return proof;
  }

  /** The ring of an application at a session end (poktroll rings client), as compressed pubkeys. */
  #ring(appAddress: string, sessionEnd: bigint): Uint8Array[] | undefined {
    const app = this.chain.genesis.applications.find((a) => a.address === appAddress);
    if (!app) return undefined;
    const gateways = [...app.delegatee_gateway_addresses];
    for (const [h, list] of Object.entries(app.pending_undelegations)) {
      if (BigInt(h) >= sessionEnd) for (const gw of list) if (!gateways.includes(gw)) gateways.push(gw);
    }
    const members = [appAddress, ...(gateways.length > 0 ? gateways : [PLACEHOLDER_RING_ADDRESS])].sort();
    const keys: Uint8Array[] = [];
    for (const m of members) {
      if (m === PLACEHOLDER_RING_ADDRESS) keys.push(PLACEHOLDER_RING_PUBLIC_KEY);
      else {
        const pk = this.chain.accounts.get(m)?.publicKey;
        if (!pk) return undefined;
        keys.push(pk);
      }
    }
    return keys;
  }

  /**
   * EndBlocker: proofs submitted in this block are checked for signatures and closest path
   * (EnsureValidProofSignaturesAndClosestPath); the verdict goes to the claim's validation status.
   */
  validateProofs(height: number): ChainEvent[] {
    for (const claim of this.claims.values()) {
      if (!claim.proof || claim.proof.submittedHeight !== height || claim.status !== 'PENDING_VALIDATION') continue;
      claim.status = this.#proofValid(claim) ? 'VALIDATED' : 'INVALID';
    }
    return [];
  }

  #proofValid(claim: StoredClaim): boolean {
    try {
      const proof = decompactClosestProof(decodeCompactClosestProof(claim.proof!.bytes));
      const relay = RelayCodec.decode(proof.closestValueHash!.subarray(0, proof.closestValueHash!.length - 16));
      const ring = this.#ring(claim.header.application_address, claim.header.session_end_block_height);
      const sig = deserializeRingSignature(relay.req!.meta.signature);
      if (!ring || !sig || !ringMembersAllowed(sig, ring) || !verifyParsedRingSignature(relayRequestSignableHash(relay.req!), sig)) return false;
      const supplierKey = this.chain.accounts.get(claim.supplierOperatorAddress)?.publicKey;
      if (!supplierKey || !verifySupplierResponse(relayResponseSignableHash(relay.res!), relay.res!.meta.supplier_operator_signature, supplierKey)) return false;
      const w = sessionWindows(this.chain.sharedParams, claim.header.session_end_block_height);
      const expectedPath = proofPath(this.chain.blockHash(Number(w.proofSeedHeight)), claim.header.session_id);
      if (Buffer.compare(proof.path, expectedPath) !== 0) return false;
      return verifyClosestProof(proof, claim.rootHash);
    } catch {
      return false;
    }
  }

  /** tokenomics EndBlocker: claims whose proof window closes at this height settle or expire. */
  settle(height: number): ChainEvent[] {
    const events: ChainEvent[] = [];
    for (const [k, claim] of this.claims) {
      const w = sessionWindows(this.chain.sharedParams, claim.header.session_end_block_height);
      if (w.settlementHeight !== BigInt(height)) continue;
      const required = this.requirement(claim) !== 'NOT_REQUIRED';
      const upokt = this.#claimedUpokt(claim);
      if (!required || claim.status === 'VALIDATED') {
        const supplier = this.chain.genesis.suppliers.find((s) => s.operator_address === claim.supplierOperatorAddress)!;
        const owner = supplier.owner_address ?? supplier.operator_address;
        const acct = this.chain.accounts.get(owner);
        if (acct) acct.balance += upokt;
        else this.chain.accounts.set(owner, { address: owner, publicKey: undefined, balance: upokt, accountNumber: BigInt(this.chain.accounts.size), sequence: 0n });
        claim.outcome = { kind: 'settled', height, upokt: upokt.toString() };
        events.push(this.#claimEvent('pocket.tokenomics.EventClaimSettled', claim, [typedAttr('proof_requirement_int', required ? 1 : 0)]));
      } else {
        const reason = claim.proof ? 'PROOF_INVALID' : 'PROOF_MISSING';
        const penalty = BigInt(this.chain.genesis.params.proof.proof_missing_penalty_upokt);
        const supplier = this.chain.genesis.suppliers.find((s) => s.operator_address === claim.supplierOperatorAddress);
        if (supplier) supplier.stake_upokt = Math.max(0, supplier.stake_upokt - Number(penalty));
        claim.outcome = { kind: 'expired', height, upokt: '0', reason };
        events.push(this.#claimEvent('pocket.tokenomics.EventClaimExpired', claim, [typedAttr('expiration_reason', reason)]));
        events.push({
          type: 'pocket.tokenomics.EventSupplierSlashed',
          attributes: [typedAttr('supplier_operator_address', claim.supplierOperatorAddress), typedAttr('proof_missing_penalty', `${penalty}upokt`)],
        });
        // As poktroll's settlement: a slash that leaves the stake under min_stake begins the supplier's unbonding at
        // the end of the current session. (It stays in this localnet's sessions, which are fixed at genesis.)
        if (supplier && supplier.unstake_session_end_height === undefined && supplier.stake_upokt < this.chain.genesis.params.supplier.min_stake_upokt) {
          const shared = this.chain.sharedParams;
          const end = sessionEndHeight(shared, BigInt(height));
          supplier.unstake_session_end_height = Number(end);
          const unbondingEnd = end + BigInt(this.chain.genesis.params.shared.supplier_unbonding_period_sessions) * shared.num_blocks_per_session;
          const owner = supplier.owner_address ?? supplier.operator_address;
          events.push({
            type: 'pocket.supplier.EventSupplierUnbondingBegin',
            attributes: [
              typedAttr('supplier', { owner_address: owner, operator_address: supplier.operator_address, stake: { denom: 'upokt', amount: String(supplier.stake_upokt) }, unstake_session_end_height: String(end) }),
              typedAttr('reason', 'SUPPLIER_UNBONDING_REASON_BELOW_MIN_STAKE'),
              typedAttr('session_end_height', String(end)),
              typedAttr('unbonding_end_height', String(unbondingEnd)),
            ],
          });
        }
      }
      // Settled and expired claims leave state; the outcome stays visible through /localnet/state.
      this.settledClaims.push({ key: k, ...claim });
      this.claims.delete(k);
    }
    return events;
  }

  readonly settledClaims: (StoredClaim & { key: string })[] = [];

  claimMessage(c: StoredClaim) {
    return { supplier_operator_address: c.supplierOperatorAddress, session_header: c.header, root_hash: c.rootHash, proof_validation_status: STATUS_CODE[c.status] };
  }

  claimedUpoktOf(c: StoredClaim): bigint {
    return this.#claimedUpokt(c);
  }
}

