import type { ResolvedConfig } from '../config/load.js';
import type { SupplierKey } from '../crypto/supplier-key.js';
import type { Metrics } from '../observability/metrics.js';
import type { Dashboard } from '../observability/dashboard.js';
import type { Readiness } from '../observability/readiness.js';
import type { RedisPool } from '../redis/connection.js';
import type { KeyBuilder } from '../redis/key-builder.js';
import type { RelayHooks } from '../relay/hooks.js';
import type { RelayerServices } from '../relay/relayer-services.js';
import type { PluginRole } from './define.js';

/**
 * What core gives every plugin, as `app.relayminer`. Plugins use this and core's exports only;
 * they never reach into another plugin.
 */
export interface RelayMinerContext {
  /** Roles this process runs (`start` runs both). */
  readonly roles: ReadonlySet<PluginRole>;
  readonly config: ResolvedConfig;
  /** Supplier keys of the roles running here, as last loaded (addresses only are ever serialized). */
  readonly suppliers: readonly SupplierKey[];
  /**
   * Calls `listener` after each reload of the supplier keys (SIGHUP: `Runtime.reloadKeys`) with the keys each
   * running role has now. A plugin that keeps keys of its own (the miner's leases) takes the change here.
   */
  onSuppliersReloaded(listener: (keys: ReloadedSuppliers) => void): void;
  readonly redis: RedisPool;
  readonly keys: KeyBuilder;
  readonly metrics: Metrics;
  /** Add checks that must pass for `/ready` (e.g. a backend pool, chain freshness). */
  readonly readiness: Readiness;
  /** Subscribe with `relayHooks.add('onRelayMined', handler, 'my-plugin')`. */
  readonly relayHooks: RelayHooks;
  /** The relay pipeline and its chain view; present where the relayer role runs. Transports call `relay.pipeline.handle`. */
  readonly relay: RelayerServices | undefined;
  /** Bound listener addresses (`host:port`) by name: core's (relay, health, metrics) and plugins' own (e.g. grpc). */
  readonly addresses: Record<string, string>;
  /** The operator dashboard (`/dashboard` on the metrics listener): plugins add named parts of its state. */
  readonly dashboard: Dashboard;
}

/** Each running role's supplier keys after a reload. */
export interface ReloadedSuppliers {
  readonly relayer?: readonly SupplierKey[];
  readonly miner?: readonly SupplierKey[];
}

declare module 'fastify' {
  interface FastifyInstance {
    relayminer: RelayMinerContext;
  }
}
