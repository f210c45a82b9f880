import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { ChainPace, definePlugin, StateSignals, TransactionSchema, VERSION } from 'relayminer';
import { MinerMetrics } from './metrics.js';
import { MinerService } from './miner-service.js';

const Ms = (def: number, description: string, minimum: number, maximum: number) => Type.Integer({ default: def, minimum, maximum, description });

/** The miner plugin's options: everything about how it mines. Its listeners, Redis, node and keys are the `miner` section's. */
const OptionsSchema = Type.Object(
  {
    instance_id: Type.String({
      default: '',
      pattern: '^[A-Za-z0-9._-]{0,64}$',
      description: "This replica's name: its consumer name on the relay streams and its identity in leases. Empty: the host name (stable across restarts of a pod).",
    }),
    lease_ttl_ms: Ms(15_000, 'Supplier lease lifetime: a dead owner is replaced within this (renewed every third of it).', 1_000, 600_000),
    consume: Type.Object(
      {
        batch: Type.Integer({ default: 500, minimum: 1, maximum: 10_000, description: 'Stream entries read per stream per round trip (a share of it when many streams have a backlog).' }),
        block_ms: Ms(1_000, 'How long one read waits for new entries.', 10, 60_000),
        reclaim_idle_ms: Ms(30_000, 'Pending entries idle this long are claimed again (a consumer that died between read and store).', 1_000, 3_600_000),
      },
      { additionalProperties: false, default: {}, description: 'Reading the relay streams.' },
    ),
    transaction: TransactionSchema,
    submission: Type.Object(
      {
        resubmit_after_blocks: Type.Integer({
          minimum: 1,
          maximum: 100,
          default: 2,
          description: 'A claim or proof not on chain this many blocks after it was sent (and past its unordered timeout) is signed again and resent.',
        }),
        max_attempts: Type.Integer({ minimum: 1, maximum: 50, default: 5, description: 'Sends of one claim or proof transaction at most; never after its window closes.' }),
        proof_spread: Type.Number({
          minimum: 0,
          maximum: 0.9,
          default: 0.5,
          description: "Proofs go out from the proof window's opening, each supplier at its own offset within this fraction of the window, so many suppliers of one operator do not all hit one block.",
        }),
        max_tx_bytes: Type.Integer({
          minimum: 4_096,
          maximum: 104_857_600,
          default: 1_048_576,
          description:
            "Largest claim or proof transaction sent. A supplier's messages that do not fit one wait for the next block; a node that still refuses a transaction as too large (its mempool's `max_tx_bytes`, CometBFT's 1 MiB by default) gets half of it now and half next block, and a proof alone too large for it is reported `proof_rejected` (it can never land). A proof carries its relay's request whole (the answer only as a hash), so large requests make large proofs.",
        }),
        handover_height: Type.Integer({
          minimum: 0,
          default: 0,
          description:
            'Taking over from another relay miner that holds the same keys (the Go one, or another deployment): sessions that start below this height are left to it (state `handed_over`, never claimed), so the two never claim one session; stop its relayers at this height. 0: every session is claimed.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'How claims and proofs are sent and sent again.' },
    ),
    scale: Type.Object(
      {
        concurrency: Type.Integer({
          minimum: 1,
          maximum: 1_000,
          default: 32,
          description: 'Owned suppliers whose block pass (session checks, claims, proofs) runs at the same time; each pass is a chain of Redis and node round trips.',
        }),
        streams_per_connection: Type.Integer({
          minimum: 1,
          maximum: 5_000,
          default: 256,
          description: 'Relay streams one blocking Redis connection reads at once (standalone Redis and Sentinel; on a Cluster each lane polls its streams).',
        }),
      },
      { additionalProperties: false, default: {}, description: 'How the miner spreads work over many suppliers.' },
    ),
    alerts: Type.Object(
      {
        balance_transactions: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10, description: 'Warn when a supplier balance pays fewer than this many more claim or proof transactions (at the last fee).' }),
        missed_proofs: Type.Integer({ minimum: 0, maximum: 1_000, default: 3, description: "Warn when a supplier's stake covers this many or fewer missed-proof penalties before the chain unstakes it (a slash that leaves the stake under the supplier module's min_stake)." }),
        repeat_minutes: Type.Integer({ minimum: 1, maximum: 1_440, default: 15, description: 'A condition that lasts is reported again at most this often.' }),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'When the miner warns. A warning is logged when its condition starts, again at most every `repeat_minutes` while it lasts, and once when it clears.',
      },
    ),
  },
  { additionalProperties: false },
);

/** Validated with defaults filled in by the loader. */
type Options = Static<typeof OptionsSchema>;

/**
 * The miner role (docs/spec/protocol.md §5–§8): supplier leases with fencing tokens and the global
 * leader lock, relay stream consumption into per-session storage, claims and proofs in their windows
 * (sent again while they do not land), settlement tracking.
 */
export default definePlugin(
  { name: 'miner', version: VERSION, roles: ['miner'], description: 'Consumes relay streams into sessions under fenced supplier leases; claims, proves, tracks settlement.', optionsSchema: OptionsSchema },
  async (app, opts: Options) => {
    const ctx = app.relayminer;
    const miner = ctx.config.miner;
    if (!miner) throw new Error('the miner plugin needs a miner section');
    const node = miner.pocket_node;
    // With the relayer in the same process, its pace already logs how the chain goes: this one stays quiet.
    const pace = new ChainPace({ staleAfterBlocks: node.stale_after_blocks, staleAfterMs: node.stale_after_ms, log: ctx.relay ? undefined : app.log.child({ component: 'chain' }), registry: ctx.metrics.registry });
    const service = new MinerService({
      miner,
      redis: ctx.redis,
      keys: ctx.keys,
      metrics: new MinerMetrics(ctx.metrics.registry),
      log: app.log.child({ component: 'miner' }),
      submission: {
        resubmitAfterBlocks: opts.submission.resubmit_after_blocks,
        maxAttempts: opts.submission.max_attempts,
        proofSpread: opts.submission.proof_spread,
        handoverHeight: BigInt(opts.submission.handover_height),
        maxTxBytes: opts.submission.max_tx_bytes,
      },
      pace,
      concurrency: opts.scale.concurrency,
      streamsPerConnection: opts.scale.streams_per_connection,
      alerts: { balanceTransactions: opts.alerts.balance_transactions, missedProofsLeft: opts.alerts.missed_proofs },
      signals: new StateSignals(opts.alerts.repeat_minutes * 60_000),
      instanceId: opts.instance_id || hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64),
      leaseTtlMs: opts.lease_ttl_ms,
      consume: { batch: opts.consume.batch, blockMs: opts.consume.block_ms, reclaimIdleMs: opts.consume.reclaim_idle_ms },
      transaction: opts.transaction,
    });
    // With the relayer in the same process, its `chain` check already watches the same chain.
    if (!ctx.relay) ctx.readiness.add('chain', () => pace.assertFresh());
    // Blocks may arrive (CometBFT, or other replicas through Redis) while gRPC, which claims and proofs need, is down.
    ctx.readiness.add('node_grpc', () => service.assertNodeQueries());
    ctx.readiness.add('leases', () => service.leases.assertRenewing());
    ctx.onSuppliersReloaded(({ miner: keys }) => {
      if (!keys) return;
      const kept = service.setSuppliers(keys);
      if (kept.length > 0) {
        app.log.warn(
          { component: 'miner', suppliers: kept },
          `${kept.length} supplier key(s) no longer in the configuration stay with this miner until every session of theirs is final and their relay stream empty: those sessions may still need claims and proofs`,
        );
      }
    });
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
