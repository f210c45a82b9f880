import { definePlugin } from '../../core/plugins/define.js';
import { VERSION } from '../../core/version.js';
import { MinerMetrics } from './metrics.js';
import { MinerService } from './miner-service.js';

/**
 * The miner role (spec/protocol.md §5–§8): supplier leases with fencing tokens and the global
 * leader lock, relay stream consumption into per-session storage. Claims and proofs build on the
 * session store (not in this version yet).
 */
export default definePlugin(
  { name: 'miner', version: VERSION, roles: ['miner'], description: 'Consumes relay streams into sessions under fenced supplier leases.' },
  async (app) => {
    const ctx = app.relayminer;
    const miner = ctx.config.miner;
    if (!miner) throw new Error('the miner plugin needs a miner section');
    const service = new MinerService({
      miner,
      redis: ctx.redis,
      keys: ctx.keys,
      metrics: new MinerMetrics(ctx.metrics.registry),
      log: app.log.child({ component: 'miner' }),
    });
    app.decorate('minerService', service);
    ctx.dashboard.add('miner', () => service.dashboardState());
    app.addHook('onReady', async () => service.start());
    app.addHook('preClose', async () => service.stop());
  },
);

declare module 'fastify' {
  interface FastifyInstance {
    minerService?: MinerService;
  }
}
