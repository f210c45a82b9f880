import type { FastifyBaseLogger } from 'fastify';
import { type AnyMessage, type BlockInfo, chainNotFound, type ChainQueryClient, type Claim, ClaimCodec, claimedUpokt, type CometClient, compactClosestProof, encodeCompactClosestProof, Frontier, frontierBits, type KeyBuilder, MAX_PLAUSIBLE_BLOCKS, MsgCreateClaimCodec, MsgSubmitProofCodec, proofPath, proofRequirement, proveClosest, type RedisClient, type SessionHeader, type SessionState, sessionWindows, type SessionWindows, type SharedParamsInfo, type StateSignals, type SubmissionPhase, sumAndCount, type SupplierKey, type TxClient, type TxOutcome, TX_OUT_OF_GAS, forEachLimit } from 'relayminer';
import { BlockClock, supplierOffset } from './block-clock.js';
import { type ChainReads, proofParamsKey } from './chain-reads.js';
import { claimCost } from './economics.js';
import type { MinerMetrics } from './metrics.js';
import { PassReport } from './pass-report.js';
import { FencedOutError, FINAL_STATES, type Refusal, type SessionRecord, type SessionStore, type Submission } from './session-store.js';

export interface LifecycleOptions {
  store: SessionStore;
  keys: KeyBuilder;
  redis: () => RedisClient;
  query: ChainQueryClient;
  comet: CometClient;
  tx: TxClient;
  suppliers: ReadonlyMap<string, SupplierKey>;
  /** Suppliers this replica owns now → fencing token. */
  owned: () => ReadonlyMap<string, string>;
  metrics: MinerMetrics;
  log: FastifyBaseLogger;
  submission: SubmissionPolicy;
  /** Conditions logged on change, not once per block. */
  signals: StateSignals;
  /** Chain reads shared by every supplier's pass. */
  reads: ChainReads;
  /** Suppliers whose pass runs at the same time (each pass is a chain of Redis and node round trips). */
  concurrency: number;
}

/** Thresholds of the miner's warnings (the miner plugin's `alerts` options). */
export interface MinerAlerts {
  /** Warn when the balance pays fewer than this many more transactions (at the last fee). */
  balanceTransactions: number;
  /** Warn when the stake covers this many or fewer missed-proof penalties. */
  missedProofsLeft: number;
}

/** How claims and proofs are sent and sent again (the miner plugin's `submission` options). */
export interface SubmissionPolicy {
  /** Blocks after a send with no inclusion before the messages are signed again and resent. */
  resubmitAfterBlocks: number;
  /** Sends of one submission at most, the first included. */
  maxAttempts: number;
  /** Fraction of the proof window over which an operator's suppliers spread their proofs. */
  proofSpread: number;
  /** Sessions starting below this height are left to the relay miner this one takes over from (0n: none). */
  handoverHeight: bigint;
  /** Largest transaction sent: a supplier's claims or proofs that do not fit wait for the next block. */
  maxTxBytes: number;
}

/** cosmos-sdk's ErrTxTooLarge: the node's mempool refuses a transaction over its `max_tx_bytes`. */
const TX_TOO_LARGE = 21;
/** A transaction's bytes besides its messages' (body framing, signer info, fee, signature, memo, timeout), generously. */
const TX_OVERHEAD_BYTES = 512;

/** The condition of a node that answers GetTx with an error (no transaction index, or failing). */
const OUTCOME_UNKNOWN = 'tx_outcome_unknown';

/** The chain's answer to a proof it does not require (x/proof ErrProofNotRequired), matched as prm matches it. */
const PROOF_NOT_REQUIRED = /proof not required/i;

const CLAIM_PROOF_STATUS_VALIDATED = 1;
const CLAIM_PROOF_STATUS_INVALID = 2;

interface Work {
  supplier: string;
  token: string;
  session: SessionRecord;
  windows: SessionWindows;
  params: SharedParamsInfo;
}

/**
 * What a block's refusal means for the messages: after an out of gas, sent again at once with more gas;
 * after a message's own check, `resubmitAfterBlocks` later (the same check in the next block would fail
 * the same way; later, what changed may have changed back, a balance topped up).
 */
function refusal(txhash: string, ran: TxOutcome, resubmitAfterBlocks: number): Refusal {
  const text = `${ran.codespace}/${ran.code}: ${ran.rawLog} (gas wanted ${ran.gasWanted}, used ${ran.gasUsed})`;
  if (ran.codespace === 'sdk' && ran.code === TX_OUT_OF_GAS) return { txhash, height: ran.height, text, dueAt: ran.height, gasWanted: ran.gasWanted };
  return { txhash, height: ran.height, text, dueAt: ran.height + resubmitAfterBlocks };
}

/** Without two consecutive blocks seen yet: how long an unordered transaction stays valid. */
const DEFAULT_TX_TTL_MS = 120_000;

const header = (s: SessionRecord): SessionHeader => ({
  application_address: s.applicationAddress,
  service_id: s.serviceId,
  session_id: s.sessionId,
  session_start_block_height: s.startHeight,
  session_end_block_height: s.endHeight,
});

/**
 * Drives each owned session through its windows on every block (docs/spec/protocol.md §5–§8):
 * active → claiming → claimed → proving → proved (or claimed with no proof required) → settled,
 * and the failure states when a window is missed or the chain refuses. Claims and proofs of one
 * supplier and one session end go in one transaction; what was sent is kept in Redis, checked
 * against chain state every block, and signed again and resent inside its window while it does not land.
 */
export class SessionLifecycle {
  readonly #o: LifecycleOptions;
  readonly #clock = new BlockClock();
  #running = false;
  #next: BlockInfo | undefined;
  /** The running block's report: what the supplier passes did, said together when they are done. */
  #report: PassReport | undefined;
  /** Sends looked up on chain at one height: the sessions of one transaction ask once. */
  #outcomes = { height: -1, byTx: new Map<string, Promise<TxOutcome | undefined>>() };

  constructor(o: LifecycleOptions) {
    this.#o = o;
  }

  get tx(): TxClient {
    return this.#o.tx;
  }

  /**
   * Runs one pass for the block. Blocks that arrive during a pass are coalesced: one more pass runs
   * for the latest of them as soon as the current one ends, so no height is left without a pass.
   */
  async onBlock(block: BlockInfo): Promise<void> {
    // Known at once, even mid-pass: transactions signed later in this pass take their timeout from it.
    this.#clock.saw(block.height, block.timeMs);
    if (this.#running) {
      if (!this.#next || block.height > this.#next.height) this.#next = block;
      return;
    }
    this.#running = true;
    try {
      let current: BlockInfo | undefined = block;
      while (current) {
        this.#clock.saw(current.height, current.timeMs);
        const block = current;
        const started = performance.now();
        // Suppliers are independent (own sessions, own account): their passes overlap, up to the bound.
        // Each supplier's failing pass is a condition of its own; what changed is said for all at once.
        const report = (this.#report = new PassReport());
        await forEachLimit([...this.#o.owned()], this.#o.concurrency, async ([supplier, token]) => {
          const failing = `lifecycle_failed|${supplier}`;
          await this.#supplierPass(supplier, token, block).then(
            () => {
              if (this.#o.signals.clear(failing)) report.recovered(supplier);
            },
            (err: Error) => this.#o.signals.update(failing, true, () => report.failed(supplier, err.message)),
          );
        });
        report.log(this.#o.log, block.height);
        this.#o.metrics.lifecyclePassSeconds.observe((performance.now() - started) / 1000);
        this.#o.metrics.lifecycleHeight.set(Number(current.height));
        current = this.#next;
        this.#next = undefined;
      }
    } finally {
      this.#running = false;
      this.#report = undefined;
    }
  }

  async #supplierPass(supplier: string, token: string, block: BlockInfo): Promise<void> {
    const h = BigInt(block.height);
    // Sessions that ended more than MAX_PLAUSIBLE_BLOCKS ago are long settled or expired: out of the index.
    await this.#o.store.pruneIndex(supplier, h - MAX_PLAUSIBLE_BLOCKS);
    const ids = await this.#o.store.sessionIds(supplier, '-inf', h);
    const work: Work[] = [];
    const params = new Map<bigint, SharedParamsInfo>();
    for (const session of await this.#o.store.sessions(supplier, ids)) {
      if (!session || FINAL_STATES.has(session.state)) continue;
      let p = params.get(session.endHeight);
      if (!p) params.set(session.endHeight, (p = await this.#o.reads.sharedParams(session.endHeight)));
      work.push({ supplier, token, session, windows: sessionWindows(p, session.endHeight), params: p });
    }
    const byState = (s: SessionState) => work.filter((w) => w.session.state === s);
    // One session's failure (a claim the node refuses, a query that times out) must not hold back the
    // supplier's other sessions: every step runs, and the first failure is reported after them all.
    const failures: unknown[] = [];
    const step = async (fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        failures.push(err);
      }
    };

    // Claims: one transaction per session end height, as soon as its claim window is open and every
    // relay of the session is stored (or when the window is about to close, whatever is left behind).
    const open = byState('active').filter((w) => h >= w.windows.claimWindowOpen);
    const handedOver = (w: Work) => w.session.startHeight < this.#o.submission.handoverHeight;
    for (const w of open.filter(handedOver)) await step(() => this.#handOver(w));
    const due = open.filter((w) => !handedOver(w));
    for (const w of due.filter((w) => h >= w.windows.claimWindowClose)) await step(() => this.#fail(w, 'active', 'claim_window_missed', `claim window closed at ${w.windows.claimWindowClose}`));
    const oldestEntry = once(() => this.#oldestStreamEntryMs(supplier));
    const claimable: Work[] = [];
    for (const w of due) if (h < w.windows.claimWindowClose && (await this.#relaysAllStored(w, h, oldestEntry))) claimable.push(w);
    for (const [end, group] of groupBy(claimable, (w) => w.session.endHeight)) await step(() => this.#claim(supplier, token, end, group, block));

    for (const w of byState('claiming')) await step(() => this.#checkClaim(w, block));
    // Proofs: from the proof window's opening, each supplier at its own offset in the window's first part.
    const proofDue = (w: Work) => h >= w.windows.proofSeedHeight + BigInt(this.#proofOffset(w));
    // The chain decides at settlement, with the proof params it has then: a proof found not required is
    // decided again while it can still land when governance has changed them since.
    const unproven = byState('claimed').filter((w) => w.session.proof === 'not_required' && proofDue(w) && h < w.windows.proofWindowClose);
    for (const w of unproven) await step(() => this.#paramsChanged(w, block));
    // A decision without a send (the node or Redis failed between them) is taken again: the proof is due all the same.
    for (const [end, group] of groupBy(byState('claimed').filter((w) => proofDue(w) && w.session.proof !== 'not_required'), (w) => w.session.endHeight)) {
      await step(() => this.#prove(supplier, token, end, group, block));
    }
    for (const w of byState('proving')) await step(() => this.#checkProof(w, block));
    for (const w of [...byState('claimed'), ...byState('proved')]) await step(() => this.#checkSettled(w, h));
    if (failures.length) throw failures[0];
  }

  /**
   * True once every relay of the session is in the store: relayers mine a session's relays only below
   * the block before its claim window opens (and never past the grace period's end), so once this miner
   * has seen that block, every stream entry published before that moment must be consumed. Entries
   * published later belong to later sessions. Near the window's close the claim goes out regardless.
   */
  async #relaysAllStored(w: Work, h: bigint, oldestEntryMs: () => Promise<number | undefined>): Promise<boolean> {
    if (h >= w.windows.claimWindowClose - 2n) return true;
    const cutoffHeight = w.windows.claimWindowOpen - 1n > w.windows.gracePeriodEnd ? w.windows.claimWindowOpen - 1n : w.windows.gracePeriodEnd;
    const cutoff = this.#clock.arrivedAt(Number(cutoffHeight));
    if (cutoff === undefined) return false;
    const oldest = await oldestEntryMs();
    return oldest === undefined || oldest > cutoff;
  }

  /** Publication time of the oldest entry still in the supplier's stream (consumed entries are deleted). */
  async #oldestStreamEntryMs(supplier: string): Promise<number | undefined> {
    const [first] = await this.#o.redis().xrange(this.#o.keys.relayStream(supplier), '-', '+', 'COUNT', 1);
    return first ? Number(first[0].split('-')[0]) : undefined;
  }

  /** The newest chain time known: a transaction signed late in a slow pass must not time out early. */
  #chainTimeMs(block: BlockInfo): number {
    return Math.max(block.timeMs, this.#clock.latestTimeMs() ?? 0);
  }

  #proofOffset(w: Work): number {
    const span = Math.floor(Number(w.windows.proofWindowClose - w.windows.proofWindowOpen) * this.#o.submission.proofSpread);
    return supplierOffset(w.supplier, span);
  }

  /**
   * How long past the latest block time an unordered transaction stays valid: until it is time to
   * send it again, so a resend can never land beside the first.
   */
  #txTtlMs(): number {
    const interval = this.#clock.medianIntervalMs();
    return interval === undefined ? DEFAULT_TX_TTL_MS : this.#o.submission.resubmitAfterBlocks * interval;
  }

  /**
   * The sealed session's bucket digests: computed from its leaves in path order (one bucket in memory
   * at a time) and kept in Redis, where a resend or the proof, on any replica, finds them.
   */
  async #frontier(supplier: string, sessionId: string): Promise<Frontier> {
    const { store } = this.#o;
    const saved = await store.frontier(supplier, sessionId);
    if (saved) return saved;
    const s = await store.session(supplier, sessionId);
    if (s && s.count > 0 && (await store.pathCount(supplier, sessionId)) === 0) {
      const moved = await store.upgradeLegacyLeaves(supplier, sessionId, s.computeUnits / BigInt(s.count));
      this.#o.log.info({ supplier, session: sessionId, leaves: moved }, 'session stored by an older version: leaves re-keyed by path');
    }
    const f = await Frontier.build(store.leafPages(supplier, sessionId), frontierBits(await store.pathCount(supplier, sessionId)));
    await store.saveFrontier(supplier, sessionId, f);
    return f;
  }

  async #claim(supplier: string, token: string, end: bigint, group: Work[], block: BlockInfo): Promise<void> {
    const key = this.#o.suppliers.get(supplier)!;
    const messages: AnyMessage[] = [];
    const claimed: Work[] = [];
    const rewards: bigint[] = [];
    const roots: Uint8Array[] = [];
    for (const w of group) {
      // From here the session's leaves are fixed: relays still arriving for it are late.
      if ((await this.#o.store.seal(supplier, w.session.sessionId, token)) !== 'sealed') continue;
      const s = (await this.#o.store.session(supplier, w.session.sessionId)) ?? w.session;
      const cupr = await this.#o.reads.computeUnitsPerRelay(s.serviceId, s.startHeight);
      const root = (await this.#frontier(supplier, s.sessionId)).root();
      const [sum, count] = sumAndCount(root);
      // The chain refuses a claim whose sum is not count × compute units per relay (docs/spec/protocol.md §7).
      if (sum !== count * cupr || sum !== s.computeUnits || count !== BigInt(s.count)) {
        await this.#fail(w, 'active', 'claim_rejected', `sum ${sum} of ${count} relays is not count × ${cupr} compute units per relay, or not the ${s.computeUnits} of ${s.count} stored`);
        continue;
      }
      const target = await this.#o.reads.difficultyTarget(s.serviceId, s.startHeight);
      rewards.push(claimedUpokt(sum, target, w.params.compute_units_to_tokens_multiplier, w.params.compute_unit_cost_granularity));
      messages.push({
        typeUrl: '/pocket.proof.MsgCreateClaim',
        value: MsgCreateClaimCodec.encode({ supplier_operator_address: supplier, session_header: header(s), root_hash: root }),
      });
      roots.push(root);
      claimed.push({ ...w, session: s });
    }
    if (!messages.length) return;
    // A claim whose reward does not cover what being paid for it costs (its fee share, and the proof's
    // fees as far as a proof may be required) loses money: skip it, and say why.
    let estimate: { gas: number; fee: bigint } | undefined;
    while (!estimate && messages.length) {
      try {
        estimate = await this.#o.tx.estimate(key, messages, this.#chainTimeMs(block));
      } catch (err) {
        // The simulation runs the messages: one the chain refuses is left for the next block, alone.
        const i = messages.length > 1 ? refusedMessage((err as Error).message) : undefined;
        if (i === undefined || i >= messages.length) throw err;
        await this.#leaveOut(key.address, 'claim', claimed[i]!, (err as Error).message);
        for (const list of [messages, claimed, rewards, roots] as unknown[][]) list.splice(i, 1);
      }
    }
    if (!estimate) return;
    const fee = estimate.fee;
    const share = fee / BigInt(messages.length);
    const proofParams = await this.#o.reads.proofParams(block.height);
    const costs = claimed.map((_, i) =>
      claimCost({
        rewardUpokt: rewards[i]!,
        claimFeeShareUpokt: share,
        // A proof transaction carries one message per session, as the claim does: its fee share is estimated as the claim's.
        proofFeeShareUpokt: share,
        proofSubmissionFeeUpokt: BigInt(proofParams.proof_submission_fee?.amount ?? '0'),
        proofRequirementThresholdUpokt: BigInt(proofParams.proof_requirement_threshold?.amount ?? '0'),
        proofRequestProbability: proofParams.proof_request_probability ?? 0,
      }),
    );
    const keep = costs.map((c) => c.worthIt);
    for (const [i, w] of claimed.entries()) {
      if (!keep[i]) await this.#fail(w, 'active', 'skipped_unprofitable', `reward ${rewards[i]} uPOKT ≤ cost ${costs[i]!.costUpokt} (claim fee share ${share}, proof ${(costs[i]!.proofProbability * 100).toFixed(0)}% likely)`);
    }
    if (!keep.includes(true)) return;
    const { res, messages: send, works: sent } = await this.#broadcast(key, messages.filter((_, i) => keep[i]), claimed.filter((_, i) => keep[i]), block, 'claim', { messages, gas: estimate.gas });
    if (!send.length) return;
    if (res.code !== 0) {
      this.#o.metrics.submissions.inc({ supplier, phase: 'claim', result: 'rejected' }, send.length);
      // A refusal at CheckTx inside the window is retried next block; the window check above ends it.
      this.#refusedByNode(supplier, 'claim', 'claim transaction refused by the node', { end: String(end) }, res);
      return;
    }
    this.#acceptedByNode(supplier, 'claim');
    await this.#recordSend(supplier, token, 'claim', end, { txhash: res.txhash, height: block.height, firstHeight: block.height, attempts: 1, timeoutMs: res.timeoutMs, sessions: sent.map((w) => w.session.sessionId), messages: send });
    for (const w of sent) {
      const i = claimed.indexOf(w);
      const moved = await this.#o.store.transition(supplier, w.session.sessionId, token, 'active', 'claiming', { claimed_upokt: String(rewards[i]), root: Buffer.from(roots[i]!).toString('hex') });
      if (moved === 'fenced') throw new FencedOutError(supplier);
    }
    this.#o.metrics.submissions.inc({ supplier, phase: 'claim', result: 'broadcast' }, sent.length);
    this.#said('claims broadcast', { supplier, end: String(end), sessions: sent.length, txhash: res.txhash });
  }

  /**
   * Broadcasts the messages of one supplier; when the node refuses the transaction because of one
   * message (its log names the index), that message is left for the next block's pass, alone, and the
   * rest go out at once: one session's problem does not hold back the others.
   */
  async #broadcast(
    key: SupplierKey,
    messages: AnyMessage[],
    works: Work[],
    block: BlockInfo,
    phase: SubmissionPhase,
    estimated?: { messages: AnyMessage[]; gas: number },
  ): Promise<{ res: Awaited<ReturnType<TxClient['broadcast']>>; messages: AnyMessage[]; works: Work[] }> {
    // The gas estimated for exactly these messages is used as it is; a smaller set is estimated again.
    let knownGas = estimated && sameMessages(estimated.messages, messages) ? estimated.gas : undefined;
    messages = [...messages];
    works = [...works];
    const fit = messagesThatFit(messages, this.#o.submission.maxTxBytes);
    if (fit < messages.length) {
      knownGas = undefined;
      messages.splice(fit);
      await this.#carryOver(key.address, phase, works.splice(fit), `more than submission.max_tx_bytes (${this.#o.submission.maxTxBytes}) in one transaction`);
    }
    for (;;) {
      let res: Awaited<ReturnType<TxClient['broadcast']>>;
      let why: string;
      try {
        res = await this.#o.tx.broadcast(key, messages, this.#chainTimeMs(block), this.#txTtlMs(), knownGas);
        why = res.rawLog;
      } catch (err) {
        // A failed simulation (gas estimate) names the message the same way.
        why = (err as Error).message;
        const i = messages.length > 1 ? refusedMessage(why) : undefined;
        // The proof it names (or the only one) is not required by the chain: set aside, the others go on.
        const k = messages.length === 1 ? 0 : i;
        if (notRequired(phase, why) && k !== undefined && k < messages.length) {
          const [w] = works.splice(k, 1);
          messages.splice(k, 1);
          knownGas = undefined;
          await this.#notRequiredByChain(w!, block, 'claimed', why);
          if (!messages.length) return { res: { code: 0, codespace: '', txhash: '', rawLog: '', txBytes: new Uint8Array() }, messages, works };
          continue;
        }
        if (i === undefined || i >= messages.length) throw err;
        res = { code: -1, codespace: '', txhash: '', rawLog: why, txBytes: new Uint8Array() };
      }
      // Over the node's own size limit (its mempool's max_tx_bytes, unknown here): half now, half next block.
      if (res.code === TX_TOO_LARGE && res.codespace === 'sdk' && messages.length > 1) {
        const half = Math.ceil(messages.length / 2);
        knownGas = undefined;
        await this.#carryOver(key.address, phase, works.splice(half), `the node refused ${messages.length} messages (${res.txBytes.length} bytes) as too large a transaction`);
        messages.splice(half);
        continue;
      }
      const refused = res.code === 0 || messages.length < 2 ? undefined : refusedMessage(why);
      if (refused === undefined || refused >= messages.length) return { res, messages, works };
      const [w] = works.splice(refused, 1);
      messages.splice(refused, 1);
      knownGas = undefined;
      await this.#leaveOut(key.address, phase, w!, why);
    }
  }

  /** Messages that did not fit one transaction: sent on the next block (a proof's decision is taken again there). */
  async #carryOver(supplier: string, phase: SubmissionPhase, carried: Work[], why: string): Promise<void> {
    if (phase === 'proof') for (const w of carried) await this.#unsetProofDecision(w);
    this.#said(`${phase}s carried to the next block`, { supplier, sessions: carried.length, why });
  }

  /** A message the node refused, left out of its transaction: tried again, alone, on the next block. */
  async #leaveOut(supplier: string, phase: SubmissionPhase, w: Work, why: string): Promise<void> {
    // A proof left out is decided again next block.
    if (phase === 'proof') await this.#unsetProofDecision(w);
    this.#o.metrics.submissions.inc({ supplier, phase, result: 'rejected' });
    this.#o.log.error({ supplier, session: w.session.sessionId, why }, `${phase} message refused by the node; the others sent without it`);
  }

  async #onChainClaim(supplier: string, sessionId: string): Promise<Claim | undefined> {
    try {
      return (await this.#o.query.call('pocket.proof.Query', 'Claim', { session_id: sessionId, supplier_operator_address: supplier })).claim as unknown as Claim;
    } catch (err) {
      if (chainNotFound(err)) return undefined;
      throw err;
    }
  }

  async #checkClaim(w: Work, block: BlockInfo): Promise<void> {
    const claim = await this.#onChainClaim(w.supplier, w.session.sessionId);
    if (claim) {
      await this.#o.store.transition(w.supplier, w.session.sessionId, w.token, 'claiming', 'claimed');
      this.#o.metrics.submissions.inc({ supplier: w.supplier, phase: 'claim', result: 'included' });
      this.#o.metrics.upokt.inc({ supplier: w.supplier, kind: 'claimed' }, Number(await this.#field(w, 'claimed_upokt')));
      return;
    }
    await this.#notLanded(w, block, 'claim', 'claiming', 'claim_window_missed', w.windows.claimWindowClose);
  }

  async #prove(supplier: string, token: string, end: bigint, group: Work[], block: BlockInfo): Promise<void> {
    const key = this.#o.suppliers.get(supplier)!;
    const seed = await this.#o.reads.block(Number(group[0]!.windows.proofSeedHeight));
    const proofParams = await this.#o.reads.proofParams(block.height);
    const messages: AnyMessage[] = [];
    const proving: Work[] = [];
    for (const w of group) {
      const s = w.session;
      const claim = await this.#onChainClaim(supplier, s.sessionId);
      if (!claim) continue; // the settlement check will tell what happened
      // A claim is upserted: another relay miner holding this key (a second deployment, the one being migrated
      // from) that claimed after this one replaced its root. A proof of this tree would be INVALID and replace
      // any proof of the claim that stands. (No root stored: claimed by a release that kept none; not judged.)
      const [ours, claimed] = await this.#o.redis().hmget(this.#o.keys.minerSession(supplier, s.sessionId), 'root', 'claimed_upokt');
      const standing = Buffer.from(claim.root_hash).toString('hex');
      if (ours && standing !== ours) {
        await this.#fail(w, 'claimed', 'claim_not_ours', `the claim on chain has root ${standing}, this miner claimed ${ours}: another relay miner with this supplier's key claimed the session after it; no proof sent`);
        continue;
      }
      const required = proofRequirement({
        claimedUpokt: BigInt(claimed || '0'),
        thresholdUpokt: BigInt(proofParams.proof_requirement_threshold?.amount ?? '0'),
        probability: proofParams.proof_request_probability ?? 0,
        claimBytes: ClaimCodec.encode({ ...claim, proof_validation_status: 0 }),
        seedBlockHash: seed.hash,
      });
      const decision = { proof: required === 'NOT_REQUIRED' ? 'not_required' : required.toLowerCase(), proofParams: proofParamsKey(proofParams) };
      const decided = await this.#o.store.annotate(supplier, s.sessionId, token, { proof: decision.proof, proof_params: decision.proofParams });
      if (decided === 'fenced') throw new FencedOutError(supplier);
      w.session = { ...s, ...decision };
      if (required === 'NOT_REQUIRED') {
        this.#o.metrics.submissions.inc({ supplier, phase: 'proof', result: 'not_required' });
        continue;
      }
      const frontier = await this.#frontier(supplier, s.sessionId);
      const closest = await proveClosest(frontier, proofPath(seed.hash, s.sessionId), this.#o.store.leafSource(supplier, s.sessionId));
      const proof = encodeCompactClosestProof(compactClosestProof(closest));
      messages.push({ typeUrl: '/pocket.proof.MsgSubmitProof', value: MsgSubmitProofCodec.encode({ supplier_operator_address: supplier, session_header: header(s), proof }) });
      proving.push(w);
    }
    // No proof required of any: nothing to send (a transaction without messages is refused).
    if (!messages.length) return;
    const sent = await this.#broadcast(key, messages, proving, block, 'proof');
    const res = sent.res;
    messages.splice(0, messages.length, ...sent.messages);
    proving.splice(0, proving.length, ...sent.works);
    if (!messages.length) return;
    if (res.code !== 0) {
      this.#o.metrics.submissions.inc({ supplier, phase: 'proof', result: 'rejected' }, messages.length);
      // One proof alone over the node's size limit never lands: its closest relay is fixed by the seed.
      if (res.code === TX_TOO_LARGE && res.codespace === 'sdk' && proving.length === 1) {
        return this.#fail(proving[0]!, 'claimed', 'proof_rejected', `the node refuses its proof transaction (${res.txBytes.length} bytes) as too large for its mempool (max_tx_bytes): the proof cannot land`);
      }
      this.#refusedByNode(supplier, 'proof', 'proof transaction refused by the node', { end: String(end) }, res);
      for (const w of proving) await this.#unsetProofDecision(w);
      return;
    }
    this.#acceptedByNode(supplier, 'proof');
    await this.#recordSend(supplier, token, 'proof', end, { txhash: res.txhash, height: block.height, firstHeight: block.height, attempts: 1, timeoutMs: res.timeoutMs, sessions: proving.map((w) => w.session.sessionId), messages });
    for (const w of proving) await this.#o.store.transition(supplier, w.session.sessionId, token, 'claimed', 'proving');
    this.#o.metrics.submissions.inc({ supplier, phase: 'proof', result: 'broadcast' }, proving.length);
    this.#said('proofs broadcast', { supplier, end: String(end), sessions: proving.length, txhash: res.txhash });
  }

  async #checkProof(w: Work, block: BlockInfo): Promise<void> {
    const h = BigInt(block.height);
    const claim = await this.#onChainClaim(w.supplier, w.session.sessionId);
    const status = claim?.proof_validation_status;
    if (status === CLAIM_PROOF_STATUS_VALIDATED) {
      await this.#o.store.transition(w.supplier, w.session.sessionId, w.token, 'proving', 'proved');
      this.#o.metrics.submissions.inc({ supplier: w.supplier, phase: 'proof', result: 'included' });
      return;
    }
    if (status === CLAIM_PROOF_STATUS_INVALID) return this.#fail(w, 'proving', 'proof_rejected', 'the chain marked the proof INVALID');
    if (!claim && h >= w.windows.settlementHeight) return this.#fail(w, 'proving', 'expired', 'the claim left state without a validated proof');
    await this.#notLanded(w, block, 'proof', 'proving', 'proof_window_missed', w.windows.proofWindowClose);
  }

  /**
   * Fallback when no settlement event was seen (e.g. block_results unavailable): a claim that left
   * state one block after the settlement height is taken as settled.
   */
  async #checkSettled(w: Work, h: bigint): Promise<void> {
    if (h <= w.windows.settlementHeight) return;
    if (await this.#onChainClaim(w.supplier, w.session.sessionId)) return;
    const ok = await this.#o.store.transition(w.supplier, w.session.sessionId, w.token, w.session.state, 'settled');
    if (ok === 'moved') {
      this.#o.metrics.upokt.inc({ supplier: w.supplier, kind: 'settled' }, Number(await this.#field(w, 'claimed_upokt')));
      this.#said('session settled', { supplier: w.supplier, session: w.session.sessionId, upokt: await this.#field(w, 'claimed_upokt') }, 'sessions');
    }
  }

  /**
   * A submission not on chain yet. From the block after a send, the node is asked what became of it.
   * A block included it and refused its messages (out of gas, a message's own check; the fee is paid):
   * the chain's reason is said once and kept, and the messages are signed again, at once with twice the
   * gas after an out of gas, else `resubmitAfterBlocks` after that block; a message the refusal names,
   * in a transaction of several, goes on alone, and the others are signed again at once. No block
   * included it: `resubmitAfterBlocks` after the send, once no block can include it any more (its
   * unordered timeout passed), its messages are signed again (a fresh timeout, or the account's current
   * sequence). Up to `maxAttempts` sends, never after the window closes: a node that accepted a
   * transaction and lost it costs a resend, not the session. A proof the block refused as not required
   * is not sent again: its session waits for settlement as one found not required here.
   */
  async #notLanded(w: Work, block: BlockInfo, phase: SubmissionPhase, from: SessionState, missed: SessionState, windowClose: bigint): Promise<void> {
    const h = BigInt(block.height);
    const sends = await this.#sends(w.supplier, phase, w.session.endHeight);
    // The transaction that carried the session (the latest, were it ever in two).
    let i = sends.findLastIndex((s) => s.sessions.includes(w.session.sessionId));
    let sub = sends[i];
    if (h >= windowClose) {
      const refused = sub?.failure ? `; the chain refused its transaction ${sub.failure.txhash} in block ${sub.failure.height}: ${sub.failure.text}` : '';
      return this.#fail(w, from, missed, `${phase} not on chain when its window closed at ${windowClose}${refused}`);
    }
    if (!sub || h <= BigInt(sub.height)) return;
    const { resubmitAfterBlocks, maxAttempts } = this.#o.submission;
    if (sub.failure?.txhash !== sub.txhash) {
      const ran = await this.#outcome(sub.txhash, block.height);
      // Included and done: the claim or proof shows on the next query (this one was answered from a node behind).
      if (ran?.code === 0) return;
      if (ran) {
        const failure = refusal(sub.txhash, ran, resubmitAfterBlocks);
        // A proof refused as not required: what its own send's record says (a split's others only carry the refusal).
        const unrequired = notRequired(phase, ran.rawLog);
        const ownFailure: Refusal = unrequired ? { ...failure, proofNotRequired: true } : failure;
        const k = failure.gasWanted === undefined && sub.messages.length > 1 && (sub.attempts < maxAttempts || unrequired) ? refusedMessage(ran.rawLog) : undefined;
        if (k !== undefined && k < sub.messages.length) {
          // One message failed the transaction: it goes on alone, the others at once.
          const alone: Submission = { ...sub, sessions: [sub.sessions[k]!], messages: [sub.messages[k]!], failure: ownFailure };
          const others: Submission = { ...sub, sessions: sub.sessions.filter((_, j) => j !== k), messages: sub.messages.filter((_, j) => j !== k), failure: { ...failure, dueAt: ran.height } };
          sends.splice(i, 1, alone);
          sends.push(others);
          await this.#record(w.supplier, w.token, phase, w.session.endHeight, sends);
          const next = alone.failure!.proofNotRequired ? `not required by the chain, the other ${others.messages.length} signed again now` : `signed again alone in ${resubmitAfterBlocks} blocks, the other ${others.messages.length} now`;
          this.#saidRefused(w, phase, sub, ran, `message ${k} (session ${sub.sessions[k]}) ${next}`);
          if (alone.sessions[0] === w.session.sessionId) sub = alone;
          else {
            i = sends.length - 1;
            sub = others;
          }
        } else {
          sub = sends[i] = { ...sub, failure: sub.messages.length === 1 ? ownFailure : failure };
          await this.#record(w.supplier, w.token, phase, w.session.endHeight, sends);
          const next =
            sub.failure!.proofNotRequired
              ? 'the chain does not require this proof'
              : sub.attempts >= maxAttempts
                ? 'no attempt left'
                : failure.gasWanted !== undefined
                  ? 'signing it again now with twice the gas'
                  : `signing it again in ${resubmitAfterBlocks} blocks`;
          this.#saidRefused(w, phase, sub, ran, next);
        }
      }
    }
    const refused = sub.failure?.txhash === sub.txhash ? sub.failure : undefined;
    // Its own message refused as not required: the claim settles without it (sent again, it would be refused again).
    if (refused?.proofNotRequired) return this.#notRequiredByChain(w, block, 'proving', refused.text);
    if (sub.attempts >= maxAttempts) return;
    if (refused) {
      if (h < BigInt(refused.dueAt)) return;
    } else {
      if (h < BigInt(sub.height + resubmitAfterBlocks)) return;
      if (sub.timeoutMs !== undefined && block.timeMs <= sub.timeoutMs) return;
    }
    const key = this.#o.suppliers.get(w.supplier)!;
    const attempt = sub.attempts + 1;
    // Out of gas: the estimate (or the fixed gas_limit) fell short of what the block ran; twice what it had.
    const gas = refused?.gasWanted !== undefined ? Math.max(await this.#o.tx.gasFor(key, sub.messages, this.#chainTimeMs(block)), 2 * refused.gasWanted) : undefined;
    const res = await this.#o.tx.broadcast(key, sub.messages, this.#chainTimeMs(block), this.#txTtlMs(), gas);
    if (res.code !== 0) {
      // Counted as an attempt (bounded), and tried again next block.
      sends[i] = { ...sub, attempts: attempt };
      await this.#record(w.supplier, w.token, phase, w.session.endHeight, sends);
      this.#o.metrics.submissions.inc({ supplier: w.supplier, phase, result: 'rejected' });
      this.#refusedByNode(w.supplier, phase, `${phase} resend refused by the node`, { attempt }, res);
      return;
    }
    this.#acceptedByNode(w.supplier, phase);
    sends[i] = { ...sub, txhash: res.txhash, height: block.height, attempts: attempt, timeoutMs: res.timeoutMs };
    await this.#record(w.supplier, w.token, phase, w.session.endHeight, sends);
    this.#o.metrics.submissions.inc({ supplier: w.supplier, phase, result: 'resubmitted' });
    this.#o.log.warn(
      { supplier: w.supplier, phase, session_end: String(w.session.endHeight), previous_txhash: sub.txhash, txhash: res.txhash, attempt, max_attempts: maxAttempts, window_closes_at: String(windowClose), sessions: sub.sessions.length, ...(gas ? { gas } : {}) },
      refused ? `${phase} refused in block ${refused.height}: signed again and resent` : `${phase} not included ${block.height - sub.height} blocks after it was sent: signed again and resent`,
    );
  }

  /**
   * The chain answered that it does not require this session's proof, where this miner found it required:
   * the proof params changed between the decision and the block, or the computation differs from the
   * chain's. Not sent again; the claim settles without it.
   */
  async #notRequiredByChain(w: Work, block: BlockInfo, from: 'claimed' | 'proving', why: string): Promise<void> {
    const params = await this.#o.reads.proofParams(block.height);
    const moved = await this.#o.store.transition(w.supplier, w.session.sessionId, w.token, from, 'claimed', { proof: 'not_required', proof_params: proofParamsKey(params) });
    if (moved === 'fenced') throw new FencedOutError(w.supplier);
    if (moved !== 'moved') return;
    this.#o.metrics.submissions.inc({ supplier: w.supplier, phase: 'proof', result: 'not_required' });
    this.#o.log.warn(
      { supplier: w.supplier, session: w.session.sessionId, decided: w.session.proof, threshold_upokt: params.proof_requirement_threshold?.amount ?? '0', probability: params.proof_request_probability ?? 0, why },
      'the chain does not require a proof this miner found required: not sent again, the claim settles without it',
    );
  }

  /**
   * A proof found not required, decided again (in this pass) when the chain's proof params are no longer
   * those it was decided with.
   */
  async #paramsChanged(w: Work, block: BlockInfo): Promise<void> {
    const params = await this.#o.reads.proofParams(block.height);
    const now = proofParamsKey(params);
    if (w.session.proofParams === now) return;
    await this.#unsetProofDecision(w);
    w.session = { ...w.session, proof: undefined };
    this.#said('proof decided again: the proof params changed', { supplier: w.supplier, session: w.session.sessionId, decided_with: w.session.proofParams ?? null, now }, 'sessions');
  }

  /** Said once per send a block refused: the chain's reason, and what happens next. */
  #saidRefused(w: Work, phase: SubmissionPhase, sub: Submission, ran: TxOutcome, next: string): void {
    const { maxAttempts } = this.#o.submission;
    this.#o.metrics.submissions.inc({ supplier: w.supplier, phase, result: 'failed' });
    const attempt = sub.attempts < maxAttempts ? ` (attempt ${sub.attempts + 1} of ${maxAttempts})` : '';
    this.#o.log.error(
      { supplier: w.supplier, phase, session_end: String(w.session.endHeight), txhash: sub.txhash, height: ran.height, code: ran.code, codespace: ran.codespace, log: ran.rawLog, gas_wanted: ran.gasWanted, gas_used: ran.gasUsed, sessions: sub.sessions.length },
      `${phase} transaction refused in block ${ran.height}; ${next}${attempt}`,
    );
  }

  /**
   * What the chain did with a send, asked once per block for all the sessions it carried. A node that
   * cannot answer (no transaction index) leaves sends to be resent when they are due, as if not included;
   * that is said when it starts (and every `alerts.repeat_minutes` while it lasts) and when it ends.
   */
  #outcome(txhash: string, height: number): Promise<TxOutcome | undefined> {
    if (this.#outcomes.height !== height) this.#outcomes = { height, byTx: new Map() };
    let known = this.#outcomes.byTx.get(txhash);
    if (!known) {
      const { signals, log } = this.#o;
      known = this.#o.tx.outcome(txhash).then(
        (ran) => {
          if (signals.clear(OUTCOME_UNKNOWN)) log.info('the node says again what became of transactions (GetTx)');
          return ran;
        },
        (err: unknown) => {
          const warn = () => log.warn({ err: (err as Error).message }, 'the node does not say what became of a transaction (GetTx); one refused in its block is resent when a lost one would be');
          signals.update(OUTCOME_UNKNOWN, true, warn);
          return undefined;
        },
      );
      this.#outcomes.byTx.set(txhash, known);
    }
    return known;
  }

  /**
   * A send the node refused at CheckTx (tried again next block): said when a supplier's sends of a phase start
   * being refused, or are refused for another reason, and again after `alerts.repeat_minutes` while they are;
   * with the other suppliers refused alike in the block, in one line. A refusal that lasts (an account out of
   * fees, a node's minimum gas price raised) would otherwise be said for every supplier in every block.
   */
  #refusedByNode(supplier: string, phase: SubmissionPhase, msg: string, fields: Record<string, unknown>, res: { code: number; codespace: string; rawLog: string }): void {
    const reason = { code: res.code, codespace: res.codespace, log: res.rawLog };
    const say = () => (this.#report ? this.#report.refused(msg, reason, { supplier, ...fields }) : this.#o.log.error({ supplier, ...fields, ...reason }, msg));
    this.#o.signals.update(`${phase}_refused_by_node|${supplier}`, true, say, undefined, `${res.codespace}/${res.code}`);
  }

  /** A send the node accepted: the end of its refusals, said once. */
  #acceptedByNode(supplier: string, phase: SubmissionPhase): void {
    if (this.#o.signals.clear(`${phase}_refused_by_node|${supplier}`)) this.#said(`${phase} transactions accepted by the node again`, { supplier });
  }

  /** An info line of a supplier's pass: with the block's others when a pass is running, else at once. */
  #said(msg: string, fields: { supplier: string } & Record<string, unknown>, counted?: 'suppliers' | 'sessions'): void {
    if (this.#report) this.#report.said(msg, fields, counted);
    else this.#o.log.info(fields, msg);
  }

  /** A session of the relay miner this one takes over from (`handover_height`): not claimed, not a failure. */
  async #handOver(w: Work): Promise<void> {
    const handover = this.#o.submission.handoverHeight;
    const why = `starts at ${w.session.startHeight}, below handover_height ${handover}: the relay miner taken over from claims it`;
    const moved = await this.#o.store.transition(w.supplier, w.session.sessionId, w.token, 'active', 'handed_over', { reason: why });
    if (moved === 'fenced') throw new FencedOutError(w.supplier);
    // Every owned supplier's sessions below the height are handed over in the same block: one line for many.
    const said = `session handed over: below handover_height ${handover}, the relay miner taken over from claims it`;
    if (moved === 'moved') this.#said(said, { supplier: w.supplier, session: w.session.sessionId, session_start: String(w.session.startHeight), relays: w.session.count }, 'sessions');
  }

  async #fail(w: Work, from: SessionState, to: SessionState, why: string): Promise<void> {
    const moved = await this.#o.store.transition(w.supplier, w.session.sessionId, w.token, from, to, { reason: why });
    if (moved === 'fenced') throw new FencedOutError(w.supplier);
    if (moved !== 'moved') return;
    this.#o.metrics.failures.inc({ supplier: w.supplier, state: to });
    this.#o.log.error({ supplier: w.supplier, session: w.session.sessionId, relays: w.session.count, state: to, why }, 'session not paid');
  }

  async #field(w: Work, field: string): Promise<string> {
    return (await this.#o.redis().hget(this.#o.keys.minerSession(w.supplier, w.session.sessionId), field)) ?? '0';
  }

  /** A session's proof decision undone: it is taken again on the next block. */
  async #unsetProofDecision(w: Work): Promise<void> {
    if ((await this.#o.store.annotate(w.supplier, w.session.sessionId, w.token, {}, ['proof'])) === 'fenced') throw new FencedOutError(w.supplier);
  }

  /** A new transaction for (supplier, phase, end), kept beside the ones sent before it (their sessions may still need a resend). */
  async #recordSend(supplier: string, token: string, phase: SubmissionPhase, end: bigint, s: Submission): Promise<void> {
    await this.#record(supplier, token, phase, end, [...(await this.#sends(supplier, phase, end)), s]);
  }

  /** The transactions sent for (supplier, phase, end), replaced under the supplier's lease. */
  async #record(supplier: string, token: string, phase: SubmissionPhase, end: bigint, sends: Submission[]): Promise<void> {
    if ((await this.#o.store.recordSubmission(supplier, phase, end, token, sends)) === 'fenced') throw new FencedOutError(supplier);
  }

  #sends(supplier: string, phase: SubmissionPhase, end: bigint): Promise<Submission[]> {
    return this.#o.store.submissions(supplier, phase, end);
  }
}

/** How many of `messages`, from the first, fit one transaction of `maxBytes` (always one at least: the node decides). */
function messagesThatFit(messages: AnyMessage[], maxBytes: number): number {
  let bytes = TX_OVERHEAD_BYTES;
  for (let i = 0; i < messages.length; i++) {
    // Each is an Any in the body's repeated field: its type URL and value, each with a tag and length.
    bytes += messages[i]!.typeUrl.length + messages[i]!.value.length + 16;
    if (bytes > maxBytes) return Math.max(1, i);
  }
  return messages.length;
}

const sameMessages = (a: AnyMessage[], b: AnyMessage[]) => a.length === b.length && a.every((m, i) => m === b[i]);

/** A proof message the chain refused because it does not require that proof. */
function notRequired(phase: SubmissionPhase, log: string): boolean {
  return phase === 'proof' && PROOF_NOT_REQUIRED.test(log);
}

/** The message a refused transaction's log blames (cosmos-sdk: "message index: N"). */
function refusedMessage(log: string): number | undefined {
  const m = /message index: (\d+)/.exec(log);
  return m ? Number(m[1]) : undefined;
}

/** A lazy value computed at most once (a Redis read a pass may not need). */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

function groupBy<T, K>(items: T[], key: (t: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const i of items) m.set(key(i), [...(m.get(key(i)) ?? []), i]);
  return m;
}
