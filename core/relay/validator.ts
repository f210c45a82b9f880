import { status as grpcStatus } from '@grpc/grpc-js';
import { ChainQueryError, chainNotFound, type SessionInfo } from '../chain/query-client.js';
import { deserializeRingSignature, MAX_RING_MEMBERS, ringMembersAllowed, verifyParsedRingSignature, type RingSignature } from '../crypto/ring/index.js';
import type { SupplierKey } from '../crypto/supplier-key.js';
import { isPoktAddress } from '../crypto/address.js';
import { RelayRequestCodec, type RelayRequest, type SessionHeader } from '../protocol/messages.js';
import { relayRequestSignableHash } from '../protocol/relay.js';
import type { RelayChainState } from './chain-state.js';
import type { RelayInfo } from './events.js';
import { RelayRejection } from './reasons.js';
import { TokenBucket } from './token-bucket.js';

/** Longest session and furthest distance from the current height a header may claim (as the Go HA miner). */
export const MAX_PLAUSIBLE_BLOCKS = 10_000n;

/**
 * Ring members a second (in bursts of as many) whose verification relays naming an application not known here
 * may take: about a fifth of a crypto thread, and a thousand such applications' first relays a second.
 */
export const UNKNOWN_APPLICATION_RING_MEMBERS = 2048;
/** Gateways an application may have gained since its cached entry was read (the chain's default allows 7 in all). */
const RING_SLACK = 8;

export interface RelayValidatorOptions {
  chain: RelayChainState;
  /** Services this relayer serves. */
  services: ReadonlySet<string>;
  /** Supplier keys by operator address. */
  suppliers: ReadonlyMap<string, SupplierKey>;
  /** Verifies a ring signature (e.g. on a CryptoPool); in-thread when absent. */
  verifyRing?: VerifyRing;
  /** The clock of the budget for relays naming applications not known here (Date.now). */
  now?: () => number;
}

/**
 * A ring signature's verification elsewhere (a CryptoPool): `parsed` is `signature` deserialized; `credit` false
 * for a ring not yet checked against the application's (its points do not count toward ring tables).
 */
export type VerifyRing = (msg: Uint8Array, signature: Uint8Array, parsed: RingSignature, credit: boolean) => Promise<boolean>;

/**
 * Whether `parsed` (the request's signature, deserialized) signs the request's signable bytes: through
 * `verifyRing` when given, in this thread otherwise. A verifier that fails is `internal`, not "invalid".
 */
export async function relaySignatureValid(request: RelayRequest, parsed: RingSignature, verifyRing: VerifyRing | undefined, credit = true): Promise<boolean> {
  const msg = relayRequestSignableHash(request);
  if (!verifyRing) return verifyParsedRingSignature(msg, parsed, undefined, request.meta.signature, credit);
  return verifyRing(msg, request.meta.signature, parsed, credit).catch((err: Error) => {
    throw new RelayRejection('internal', `ring verification: ${err.message}`);
  });
}

export interface DecodedRelay {
  request: RelayRequest;
  header: SessionHeader;
  supplier: SupplierKey;
}

export interface ValidatedRelay extends DecodedRelay {
  session: SessionInfo;
  /** Height this relayer knew when it validated the relay. */
  height: bigint;
  /** False past the reward-eligibility height: served, not mined. */
  rewardEligible: boolean;
}

/** A relay whose session, supplier and service are checked; its ring signature not yet. */
export interface SignaturePendingRelay {
  /** Valid only once `verifySignature()` has resolved. */
  relay: ValidatedRelay;
  /** Rejects with invalid_ring_signature (or internal, if the verifier failed). */
  verifySignature(): Promise<void>;
}

/**
 * Relay validation (docs/spec/protocol.md §4.1, §6.5): everything that can be checked without the chain
 * first, so a malformed or implausible relay costs no query.
 */
export class RelayValidator {
  readonly #o: RelayValidatorOptions;
  readonly #unknownRings: TokenBucket;

  constructor(o: RelayValidatorOptions) {
    this.#o = o;
    this.#unknownRings = new TokenBucket(UNKNOWN_APPLICATION_RING_MEMBERS, o.now);
  }

  serves(serviceId: string): boolean {
    return this.#o.services.has(serviceId);
  }

  /** Decode and `ValidateBasic`; fills `info` as it learns. */
  decode(body: Uint8Array, info: RelayInfo): DecodedRelay {
    let request: RelayRequest;
    try {
      request = RelayRequestCodec.decode(body);
    } catch (err) {
      throw new RelayRejection('malformed_request', (err as Error).message);
    }
    const header = request.meta?.session_header;
    if (!header) throw new RelayRejection('malformed_request', 'missing session header');
    if (!header.service_id) throw new RelayRejection('missing_service_id');
    info.serviceId = header.service_id;
    info.applicationAddress = header.application_address || undefined;
    info.sessionId = header.session_id || undefined;
    info.sessionStartHeight = header.session_start_block_height;
    info.sessionEndHeight = header.session_end_block_height;
    if (!this.#o.services.has(header.service_id)) throw new RelayRejection('unknown_service', header.service_id);
    const supplierAddress = request.meta.supplier_operator_address;
    if (!supplierAddress) throw new RelayRejection('missing_supplier');
    info.supplierAddress = supplierAddress;
    const supplier = this.#o.suppliers.get(supplierAddress);
    if (!supplier) throw new RelayRejection('supplier_not_loaded', supplierAddress);
    if (!header.application_address) throw new RelayRejection('invalid_session', 'missing application address');
    if (!header.session_id) throw new RelayRejection('invalid_session', 'missing session id');
    if (request.meta.signature.length === 0) throw new RelayRejection('invalid_ring_signature', 'missing signature');
    return { request, header, supplier };
  }

  /**
   * Before a relay of a session not cached here is verified against the ring it carries (each member costs a crypto
   * thread ~0.1 ms there, no tables yet, and such a relay is free to make): a known application's ring can be no
   * larger than its cached entry allows, and relays naming an application not known here share a budget of members.
   */
  #affordUnverified(app: string, signature: RingSignature): void {
    const members = signature.ring.length;
    const entryBound = this.#o.chain.cached.ringSizeBound(app);
    if (entryBound !== undefined) {
      const bound = entryBound + RING_SLACK;
      if (members > bound) throw new RelayRejection('signer_not_in_ring', `a ring of ${members} members; the application's has at most ${bound}`);
    } else if (!this.#unknownRings.take(members)) {
      throw new RelayRejection('chain_busy', `signature checks of relays naming applications not known here are at their bound (${UNKNOWN_APPLICATION_RING_MEMBERS} ring members a second)`);
    }
  }

  /** True once the session's grace period is over at the current height (false while unknown). */
  async sessionOver(header: SessionHeader): Promise<boolean> {
    const current = this.#o.chain.currentHeight();
    if (current === undefined) return false;
    const end = header.session_end_block_height;
    if (current <= end) return false;
    const params = await ask(() => this.#o.chain.sharedParams(end));
    return current > end + params.grace_period_end_offset_blocks;
  }

  /** Session, supplier membership and ring signature against the chain. */
  async validate(relay: DecodedRelay): Promise<ValidatedRelay> {
    const checked = await this.checkSession(relay);
    await checked.verifySignature();
    return checked.relay;
  }

  /**
   * Everything but the ring signature's arithmetic: session, supplier, and that the signature parses
   * and names only ring members. The relay is valid once `verifySignature()` resolves; when the meter
   * charge needs Redis (a new lease), the pipeline sends it in between so the round trip overlaps the
   * verification.
   */
  async checkSession(relay: DecodedRelay): Promise<SignaturePendingRelay> {
    const { header } = relay;
    const chain = this.#o.chain;
    const current = chain.currentHeight();
    if (current === undefined) throw new RelayRejection('chain_unavailable', 'no block height known yet');
    const start = header.session_start_block_height;
    const end = header.session_end_block_height;
    if (start <= 0n || end <= start || end - start > MAX_PLAUSIBLE_BLOCKS || start > current + 1n || current - end > MAX_PLAUSIBLE_BLOCKS) {
      throw new RelayRejection('implausible_heights', `start ${start}, end ${end}, current ${current}`);
    }

    const paramsAtEnd = chain.cached.sharedParams(end) ?? (await ask(() => chain.sharedParams(end)));
    const graceEnd = end + paramsAtEnd.grace_period_end_offset_blocks;
    if (current > graceEnd) throw new RelayRejection('session_expired', `session ended at ${end}, grace ended at ${graceEnd}, current ${current}`);
    // prm/poktroll: an active session is looked up at its start, an ended one at its end.
    const lookupHeight = end >= current ? start : end;
    const signature = deserializeRingSignature(relay.request.meta.signature);
    if (!signature) throw new RelayRejection('invalid_ring_signature', `not a ring signature of at most ${MAX_RING_MEMBERS} members`);
    const verify = async (credit = true): Promise<void> => {
      if (!(await relaySignatureValid(relay.request, signature, this.#o.verifyRing, credit))) throw new RelayRejection('invalid_ring_signature');
    };
    const cached = chain.cached.session(header.application_address, header.service_id, lookupHeight);
    // SessionHeader.ValidateBasic's address rule, where it can matter: a cached session's address is one the chain returned.
    if (!cached && !isPoktAddress(header.application_address)) throw new RelayRejection('invalid_session', 'the application address is not a pokt bech32 account address');
    // A session not cached here costs the node a query, and a relay naming one nobody has is free to make:
    // it must first be signed by the ring it carries (whether that ring is the application's is checked
    // below), so each such query costs its sender a signature. Not yet known to be the application's, its
    // ring's points are not credited toward ring tables.
    if (!cached) this.#affordUnverified(header.application_address, signature);
    const verified = cached ? undefined : verify(false);
    if (verified) await verified;
    const session = cached ?? (await ask(() => chain.session(header.application_address, header.service_id, lookupHeight), 'invalid_session'));
    const onChain = session.header;
    if (
      onChain.session_id !== header.session_id ||
      onChain.application_address !== header.application_address ||
      onChain.service_id !== header.service_id ||
      onChain.session_start_block_height !== start ||
      onChain.session_end_block_height !== end
    ) {
      throw new RelayRejection('invalid_session', `on-chain session is ${onChain.session_id} [${onChain.session_start_block_height}, ${onChain.session_end_block_height}]`);
    }
    if (!session.supplierOperatorAddresses.includes(relay.supplier.address)) throw new RelayRejection('supplier_not_in_session', relay.supplier.address);

    const ring = chain.cached.ringPublicKeys(header.application_address, end) ?? (await ask(() => chain.ringPublicKeys(header.application_address, end), 'invalid_session'));
    if (!ringMembersAllowed(signature, ring)) throw new RelayRejection('signer_not_in_ring');
    // Verified above: the application's own relay, whose next sessions legitimate traffic will need.
    if (verified) chain.noteValidated(header.application_address);

    // Mined while a full block remains before the claim window opens (at end + cw_open + 1), the block
    // the miner waits for before it takes a session's relays as all stored. With cw_open = grace (the
    // defaults) the last grace block's relays are served, not mined; with cw_open > grace (mainnet's)
    // every relay served is mined.
    const rewardEligible = current < end + paramsAtEnd.claim_window_open_offset_blocks;
    return {
      // Spelled out: V8 gives an object spread and then extended a hidden class of its own, a new one for
      // every relay, which makes every property read of it megamorphic and keeps garbage alive past scavenges.
      relay: { request: relay.request, header, supplier: relay.supplier, session, height: current, rewardEligible },
      verifySignature: verified ? () => verified : verify,
    };
  }
}

/**
 * A chain query; "not found", or INVALID_ARGUMENT (what GetSession answers for an application it cannot
 * find or that is not staked for the service, docs/spec/errors.md §3.1), means the relay names something
 * the chain lacks. RESOURCE_EXHAUSTED is a query never sent, `relayer.limits.chain_queries` being full (or
 * the node's own limit): `chain_busy`, so it is told apart from a node that cannot be reached.
 */
async function ask<T>(query: () => Promise<T>, notFound: 'invalid_session' | 'chain_unavailable' = 'chain_unavailable'): Promise<T> {
  try {
    return await query();
  } catch (err) {
    throw err instanceof ChainQueryError ? chainRejection(err, notFound) : err;
  }
}

/** The rejection for a failed chain query (as `ask` above describes). */
export function chainRejection(err: ChainQueryError, notFound: 'invalid_session' | 'chain_unavailable' = 'chain_unavailable'): RelayRejection {
  if (err.code === grpcStatus.RESOURCE_EXHAUSTED) return new RelayRejection('chain_busy', err.details);
  const missing = chainNotFound(err) || err.code === grpcStatus.INVALID_ARGUMENT;
  return new RelayRejection(missing ? notFound : 'chain_unavailable', err.details);
}
