import { Counter, Gauge, type Registry } from 'prom-client';

/** Miner metrics. Labels: supplier addresses (from config, bounded) and result codes. */
export class MinerMetrics {
  readonly consumed: Counter<'supplier' | 'result'>;
  readonly reclaimed: Counter<'supplier'>;
  readonly leases: Gauge<'supplier'>;
  readonly leader: Gauge;

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
    this.leader = new Gauge({ name: 'relayminer_miner_leader', help: '1 while this replica holds the global leader lock.', registers });
  }
}
