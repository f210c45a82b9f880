import { ChainPace, definePlugin, StateSignals, VERSION } from 'relayminer';
import { MinerMetrics } from './metrics.js';
import { MinerService } from './miner-service.js';

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    submission: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How claims and proofs are sent and sent again.',
      properties: {
        resubmit_after_blocks: {
          type: 'integer',
          minimum: 1,
          maximum: 100,
          default: 2,
          description: 'A claim or proof not on chain this many blocks after it was sent (and past its unordered timeout) is signed again and resent.',
        },
        max_attempts: { type: 'integer', minimum: 1, maximum: 50, default: 5, description: 'Sends of one claim or proof transaction at most; never after its window closes.' },
        proof_spread: {
          type: 'number',
          minimum: 0,
          maximum: 0.9,
          default: 0.5,
          description: "Proofs go out from the proof window's opening, each supplier at its own offset within this fraction of the window, so many suppliers of one operator do not all hit one block.",
        },
      },
    },
    scale: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How the miner spreads work over many suppliers.',
      properties: {
        concurrency: {
          type: 'integer',
          minimum: 1,
          maximum: 1_000,
          default: 32,
          description: "Owned suppliers whose block pass (session checks, claims, proofs) runs at the same time; each pass is a chain of Redis and node round trips.",
        },
        streams_per_connection: {
          type: 'integer',
          minimum: 1,
          maximum: 5_000,
          default: 256,
          description: 'Relay streams one blocking Redis connection reads at once (standalone Redis and Sentinel; on a Cluster each lane polls its streams).',
        },
      },
    },
    alerts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'When the miner warns. A warning is logged when its condition starts, again at most every `repeat_minutes` while it lasts, and once when it clears.',
      properties: {
        balance_transactions: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10, description: 'Warn when a supplier balance pays fewer than this many more claim or proof transactions (at the last fee).' },
        missed_proofs: { type: 'integer', minimum: 0, maximum: 1_000, default: 3, description: 'Warn when a supplier stake covers this many or fewer missed-proof penalties.' },
        repeat_minutes: { type: 'integer', minimum: 1, maximum: 1_440, default: 15, description: 'A condition that lasts is reported again at most this often.' },
      },
    },
  },
} as const;

interface Options {
  scale?: { concurrency?: number; streams_per_connection?: number };
  submission?: { resubmit_after_blocks?: number; max_attempts?: number; proof_spread?: number };
  alerts?: { balance_transactions?: number; missed_proofs?: number; repeat_minutes?: number };
}

/**
 * The miner role (docs/spec/protocol.md §5–§8): supplier leases with fencing tokens and the global
 * leader lock, relay stream consumption into per-session storage, claims and proofs in their windows
 * (sent again while they do not land), settlement tracking.
 */
export default definePlugin(
  { name: 'miner', version: VERSION, roles: ['miner'], description: 'Consumes relay streams into sessions under fenced supplier leases; claims, proves, tracks settlement.', optionsSchema },
  async (app, opts: Options) => {
    const ctx = app.relayminer;
    const miner = ctx.config.miner;
    if (!miner) throw new Error('the miner plugin needs a miner section');
    const node = miner.pocket_node;
    const pace = new ChainPace({ staleAfterBlocks: node.stale_after_blocks, staleAfterMs: node.stale_after_ms, log: app.log.child({ component: 'chain' }), registry: ctx.metrics.registry });
    const service = new MinerService({
      miner,
      redis: ctx.redis,
      keys: ctx.keys,
      metrics: new MinerMetrics(ctx.metrics.registry),
      log: app.log.child({ component: 'miner' }),
      submission: {
        resubmitAfterBlocks: opts.submission?.resubmit_after_blocks ?? 2,
        maxAttempts: opts.submission?.max_attempts ?? 5,
        proofSpread: opts.submission?.proof_spread ?? 0.5,
      },
      pace,
      concurrency: opts.scale?.concurrency ?? 32,
      streamsPerConnection: opts.scale?.streams_per_connection ?? 256,
      alerts: { balanceTransactions: opts.alerts?.balance_transactions ?? 10, missedProofsLeft: opts.alerts?.missed_proofs ?? 3 },
      signals: new StateSignals((opts.alerts?.repeat_minutes ?? 15) * 60_000),
    });
    // With the relayer in the same process, its `chain` check already watches the same chain.
    if (!ctx.relay) ctx.readiness.add('chain', () => pace.assertFresh());
    // Blocks may arrive (CometBFT, or other replicas through Redis) while gRPC, which claims and proofs need, is down.
    ctx.readiness.add('node_grpc', () => service.assertNodeQueries());
    ctx.readiness.add('leases', () => service.leases.assertRenewing());
    app.decorate('minerService', service);
    ctx.dashboard.add('miner', () => service.dashboardState());
    app.addHook('onReady', async () => service.start());
    app.addHook('preClose', async () => {
      pace.close();
      await service.stop();
    });
  },
);

declare module 'fastify' {
  interface FastifyInstance {
    minerService?: MinerService;
  }
}
