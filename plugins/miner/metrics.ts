import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Miner metrics. Labels: supplier addresses (from config, bounded) and result codes. */
export class MinerMetrics {
  readonly consumed: Counter<'supplier' | 'result'>;
  readonly reclaimed: Counter<'supplier'>;
  readonly leases: Gauge<'supplier'>;
  readonly leader: Gauge;
  readonly submissions: Counter<'supplier' | 'phase' | 'result'>;
  readonly upokt: Counter<'supplier' | 'kind'>;
  readonly failures: Counter<'supplier' | 'state'>;
  readonly settlements: Counter<'supplier' | 'outcome'>;
  readonly balance: Gauge<'supplier'>;
  readonly stake: Gauge<'supplier'>;
  readonly proofsLeft: Gauge<'supplier'>;
  readonly backlog: Gauge<'supplier'>;
  readonly lifecycleHeight: Gauge;
  readonly lifecyclePassSeconds: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.consumed = new Counter({
      name: 'relayminer_miner_relays_consumed_total',
      help: 'Relay stream entries handled, by result: stored, duplicate (same relay hash), late (session past active), malformed, fenced.',
      labelNames: ['supplier', 'result'],
      registers,
    });
    this.reclaimed = new Counter({ name: 'relayminer_miner_entries_reclaimed_total', help: 'Pending stream entries claimed from a dead or previous consumer.', labelNames: ['supplier'], registers });
    this.leases = new Gauge({ name: 'relayminer_miner_supplier_lease', help: '1 for each supplier whose lease this replica holds.', labelNames: ['supplier'], registers });
    this.submissions = new Counter({
      name: 'relayminer_miner_submissions_total',
      help: 'Claims and proofs, by phase and result: broadcast, included, rejected (by the node), failed (included by a block that refused its messages), resubmitted (signed again and resent after it did not land or failed), not_required.',
      labelNames: ['supplier', 'phase', 'result'],
      registers,
    });
    this.upokt = new Counter({
      name: 'relayminer_miner_upokt_total',
      help: 'uPOKT by kind: claimed (claims that landed), settled (sessions seen settled), earned (EventClaimSettled), lost (expired or discarded claims), slashed.',
      labelNames: ['supplier', 'kind'],
      registers,
    });
    this.failures = new Counter({
      name: 'relayminer_miner_sessions_failed_total',
      help: 'Sessions that will not be paid, by final state (claim_window_missed, claim_rejected, proof_window_missed, proof_rejected, expired, skipped_unprofitable, claim_not_ours).',
      labelNames: ['supplier', 'state'],
      registers,
    });
    this.settlements = new Counter({
      name: 'relayminer_miner_settlements_total',
      help: 'Tokenomics events for owned suppliers, by outcome: settled, expired, slashed, discarded.',
      labelNames: ['supplier', 'outcome'],
      registers,
    });
    this.balance = new Gauge({ name: 'relayminer_miner_supplier_balance_upokt', help: 'Balance of each owned supplier operator account (pays claim and proof fees).', labelNames: ['supplier'], registers });
    this.stake = new Gauge({ name: 'relayminer_miner_supplier_stake_upokt', help: 'Stake of each owned supplier.', labelNames: ['supplier'], registers });
    this.proofsLeft = new Gauge({
      name: 'relayminer_miner_missed_proofs_until_unstaked',
      help: "Missed-proof penalties the stake still covers above the supplier module's min_stake: one more and the chain unstakes the supplier.",
      labelNames: ['supplier'],
      registers,
    });
    this.backlog = new Gauge({ name: 'relayminer_miner_stream_backlog', help: 'Relay stream entries not yet stored in sessions (consumer lag).', labelNames: ['supplier'], registers });
    this.leader = new Gauge({ name: 'relayminer_miner_leader', help: '1 while this replica holds the global leader lock.', registers });
    this.lifecycleHeight = new Gauge({
      name: 'relayminer_miner_lifecycle_height',
      help: 'Height of the last block the claim/proof lifecycle finished a pass for; behind the chain means claims and proofs run late.',
      registers,
    });
    this.lifecyclePassSeconds = new Histogram({
      name: 'relayminer_miner_lifecycle_pass_seconds',
      help: "Time one block's claim/proof pass over every owned supplier took; near the block interval means passes queue up.",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
  }
}
