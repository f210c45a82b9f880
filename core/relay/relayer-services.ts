import type { Logger } from 'pino';
import { BlockFollower } from '../chain/block-follower.js';
import { ChainPace } from '../chain/chain-pace.js';
import { nodeEndpoints } from '../chain/node-endpoints.js';
import { CometClient, type BlockInfo } from '../chain/comet-client.js';
import { ChainQueryClient } from '../chain/query-client.js';
import { CacheMetrics } from '../cache/cache-metrics.js';
import type { ResolvedConfig, ResolvedRelayer } from '../config/load.js';
import type { SupplierKey } from '../crypto/supplier-key.js';
import type { Metrics } from '../observability/metrics.js';
import type { Readiness } from '../observability/readiness.js';
import type { RedisPool } from '../redis/connection.js';
import type { KeyBuilder } from '../redis/key-builder.js';
import { RedisCircuits } from '../redis/redis-circuit.js';
import { HttpBackend } from '../backend/http-backend.js';
import type { RpcTypeName } from '../config/schema.js';
import { RelayChainState } from './chain-state.js';
import { AnswerCompression } from './answer-compression.js';
import { BodyBudget } from './body-budget.js';
import { HttpRelayRouter, HTTP_RPC_TYPES, backendKey, listenerBodyLimit } from './http-relay.js';
import { H2cHandoff } from './h2c-handoff.js';
import { UpgradeHandoff } from './upgrade-handoff.js';
import { ListenerProbes } from './listener-probes.js';
import type { RelayHooks } from './hooks.js';
import { RelayPipeline } from './pipeline.js';
import { RelayMeter } from './relay-meter.js';
import { RelayMetrics } from './relay-metrics.js';
import { RelayValidator } from './validator.js';
import { servedRelays } from './stake-coverage.js';
import { SimulatedRelays } from './simulated-relays.js';
import { StakeWatch } from './stake-watch.js';
import { Counter, Gauge } from 'prom-client';
import { CryptoPool, MAX_FAILED_STARTS } from '../crypto/crypto-pool.js';
import { configureRingTables } from '../crypto/ring/signature.js';
import { registerRingTablesGauge } from '../crypto/ring-tables-gauge.js';

/** What the relayer role adds to the plugin context: the pipeline transports call, and its chain view. */
export interface RelayerServices {
  pipeline: RelayPipeline;
  chain: RelayChainState;
  follower: BlockFollower;
  /** HTTP transports (JSON-RPC, REST, CometBFT) enable their RPC types here. */
  http: HttpRelayRouter;
  /** HTTP/2 connections with prior knowledge (h2c) on the relay listener: the transport that serves them (gRPC) takes them here. */
  h2c: H2cHandoff;
  /**
   * HTTP/1.1 Upgrade requests on the relay listener: a transport takes its protocol's (WebSocket) here; any other
   * (h2c, as curl's `--http2` asks) is served as a plain HTTP/1.1 request.
   */
  upgrades: UpgradeHandoff;
  /**
   * A transport that reaches its backends itself (WebSocket, gRPC) says how many of a service's backend URLs answer:
   * `/ready/<service>` and `relayminer_backend_urls_healthy` count them as they count the HTTP backends'.
   */
  reportBackend(service: string, rpcType: RpcTypeName, health: () => BackendHealth): void;
  /**
   * Whether Redis answers, as the relay path sees it. A plugin with Redis calls of its own on the relay path asks
   * `skipped(key)` before one and reports a failure with `failed(key, err)`: it then skips a Redis that has stopped
   * answering, as core does, instead of making every relay wait out the command timeout.
   */
  redisCircuits: RedisCircuits;
  /**
   * `relayer.limits.large_bodies_bytes`: what large request bodies and messages being received may hold,
   * all connections and transports together. A transport that reads messages itself draws on it for one
   * past `largeBody` bytes, and closes the connection when it does not fit.
   */
  largeBodies: BodyBudget;
  /** True once a block height is known; false if none arrived within `timeoutMs`. */
  waitForHeight(timeoutMs: number): Promise<boolean>;
  /** Starts comparing the supplier keys' stakes with what is served (`transports`: the enabled plugins' RPC types). */
  watchStake(transports: readonly RpcTypeName[]): void;
  /**
   * Serves relays for exactly these supplier keys from now on (a reload of the keys): relays for a key
   * no longer here are refused `supplier_not_loaded`, as any key never loaded.
   */
  setSuppliers(suppliers: readonly SupplierKey[]): void;
  close(): Promise<void>;
}

/** Of one (service, RPC type) backend: URLs that answer (as far as is known) and URLs configured. */
export interface BackendHealth {
  healthy: number;
  total: number;
}

export interface RelayerServicesOptions {
  config: ResolvedConfig;
  relayer: ResolvedRelayer;
  suppliers: readonly SupplierKey[];
  redis: RedisPool;
  keys: KeyBuilder;
  metrics: Metrics;
  readiness: Readiness;
  hooks: RelayHooks;
  log: Logger;
}

export function startRelayerServices(o: RelayerServicesOptions): RelayerServices {
  const node = o.relayer.pocket_node;
  const endpoints = nodeEndpoints(node);
  const query = new ChainQueryClient({ ...node, maxInFlight: o.relayer.limits.chain_queries });
  const comet = new CometClient(endpoints.rpcUrl, node.query_timeout_ms, endpoints.ca);
  const log = o.log.child({ component: 'relayer' });
  const follower = new BlockFollower({
    comet,
    log,
    redis: { subscriber: o.redis.dedicated('block-events', { blocking: true }), publisher: o.redis.next(), channel: o.keys.blockEventsChannel() },
  });
  // Readiness: the relayer cannot validate without a recent block; "recent" follows the chain's own pace.
  const pace = new ChainPace({ staleAfterBlocks: node.stale_after_blocks, staleAfterMs: node.stale_after_ms, log, registry: o.metrics.registry });
  follower.on('block', (b: BlockInfo) => pace.saw(b.height, b.timeMs));
  // Not awaited: with Redis or the node unreachable the process still starts, and answers
  // chain_unavailable (and /ready 503) until a height is known.
  follower.start().catch((err: Error) => log.error({ err: err.message }, 'block follower failed to start'));
  const redisCircuits = relayRedisCircuits(o.redis, log, o.relayer, o.metrics);
  const chain = new RelayChainState({
    query,
    keys: o.keys,
    log,
    metrics: new CacheMetrics(o.metrics.registry),
    redis: () => o.redis.next(),
    redisCircuits,
    currentHeight: () => (follower.latest ? BigInt(follower.latest.height) : undefined),
  });
  chain.listen(o.redis.dedicated('cache-invalidation', { blocking: true })).catch((err: Error) => log.warn({ err: err.message }, 'cache invalidation subscription failed'));
  const services = new Set(Object.keys(o.config.services));
  // By address: a reload brings new SupplierKey objects for the keys it keeps.
  const keyIndex = new Map(o.suppliers.map((k, i) => [k.address, i]));
  const loaded = new Map(o.suppliers.map((k) => [k.address, k]));
  const stuckThreads = new Counter({
    name: 'relayminer_crypto_threads_stuck_total',
    help: 'Crypto threads given up because they had work and answered nothing for 10 s (each is replaced; the stuck one runs on until the process restarts).',
    registers: [o.metrics.registry],
  });
  configureRingTables(o.relayer.ring_tables);
  const cryptoPool =
    o.relayer.ring_verify_threads > 0
      ? new CryptoPool(o.relayer.ring_verify_threads, {
          signingKeys: o.suppliers.map((k) => k.privateKeyBytes()),
          ringTables: o.relayer.ring_tables,
          onThreadExit: (err, replaced) =>
            replaced
              ? log.warn({ err: err.message }, 'crypto thread exited; a new thread replaces it and takes over the jobs it had not answered')
              : log.error({ err: err.message, threads: cryptoPool?.threadsRunning }, `crypto thread died before answering anything, ${MAX_FAILED_STARTS} times in a row; not replaced, its work is done on the event loop`),
          onThreadStuck: (ms) => {
            stuckThreads.inc();
            log.error({ stuck_ms: Math.round(ms) }, 'crypto thread answered nothing with work waiting; the relay it was on failed, a new thread took over the others, the stuck one is left running: restart the relayer to free it');
          },
        })
      : undefined;
  if (cryptoPool) {
    new Gauge({
      name: 'relayminer_crypto_threads',
      help: 'Crypto threads running (relayer.ring_verify_threads less those that could not start and were not replaced).',
      registers: [o.metrics.registry],
      collect() {
        this.set(cryptoPool.threadsRunning);
      },
    });
  }
  registerRingTablesGauge(o.metrics.registry, cryptoPool, o.relayer.ring_tables);
  const validator = new RelayValidator({
    chain,
    services,
    suppliers: loaded,
    verifyRing: cryptoPool && ((msg, sig, parsed, credit) => cryptoPool.verify(msg, sig, parsed, credit)),
  });
  const meterCfg = o.relayer.meter;
  const meter = meterCfg.enabled
    ? new RelayMeter({
        chain,
        keys: o.keys,
        redis: () => o.redis.next(),
        redisCircuits,
        log,
        registry: o.metrics.registry,
        failMode: meterCfg.fail_mode,
        serviceFactors: new Map(Object.entries(meterCfg.service_factors)),
        ttlSeconds: meterCfg.ttl_seconds,
        leaseRelays: meterCfg.lease_relays,
        leaseMs: meterCfg.lease_ms,
        leaseIdleMs: meterCfg.lease_idle_ms,
        commandTimeoutMs: o.relayer.redis.pool.command_timeout_ms,
      })
    : undefined;
  const simulationConfig = o.relayer.simulation;
  const simulation = simulationConfig.enabled
    ? new SimulatedRelays({
        config: simulationConfig,
        keys: o.keys,
        redis: () => o.redis.next(),
        redisCircuits,
        registry: o.metrics.registry,
        verifyRing: cryptoPool && ((msg, sig, parsed, credit) => cryptoPool.verify(msg, sig, parsed, credit)),
      })
    : undefined;
  if (simulation) log.info({ identities: simulationConfig.identities.filter((i) => i.enabled).map((i) => i.key_id) }, 'simulated relays admitted (relayer.simulation): never metered, mined or published');
  const pipeline = new RelayPipeline({
    simulation,
    validator,
    chain,
    keys: o.keys,
    redis: () => o.redis.next(),
    redisCircuits,
    hooks: o.hooks,
    metrics: new RelayMetrics(o.metrics.registry),
    log,
    errorModel: o.relayer.error_model,
    meter,
    signResponse: cryptoPool && ((signable, supplier) => cryptoPool.sign(signable, keyIndex.get(supplier.address) ?? -1)),
    optimisticServices: new Set(Object.entries(o.config.services).filter(([, s]) => s.validation_mode === 'optimistic').map(([id]) => id)),
  });
  const backends = new Map<string, HttpBackend>();
  const shareWaits = new Counter({
    name: 'relayminer_backend_share_waits_total',
    help: "Relays that waited because their application held its `application_share` of a backend URL's requests in flight, by service and RPC type.",
    labelNames: ['service', 'rpc_type'],
    registers: [o.metrics.registry],
  });
  /** The other transports' backends, by the same key, as they report them. */
  const reported = new Map<string, () => BackendHealth>();
  for (const [service, cfg] of Object.entries(o.config.services)) {
    for (const [rpcType, backend] of Object.entries(cfg.backends)) {
      // Pools for the RPC types the HTTP kit serves; other transports (gRPC, WebSocket) reach their backends themselves.
      if (!backend || !(HTTP_RPC_TYPES as readonly string[]).includes(rpcType)) continue;
      const b = new HttpBackend(backend, {
        onShareFull: () => shareWaits.inc({ service, rpc_type: rpcType }),
        onCircuit: ({ url, up, reason }) =>
          up ? log.info({ service, rpc_type: rpcType, url }, 'backend URL answers again; back in rotation') : log.warn({ service, rpc_type: rpcType, url, reason }, 'backend URL failing: its circuit breaker opened; out of rotation'),
      });
      b.startHealthChecks(({ url, up, reason }) =>
        up ? log.info({ service, rpc_type: rpcType, url }, 'backend URL healthy again') : log.warn({ service, rpc_type: rpcType, url, reason }, 'backend URL failed its health checks; out of rotation'),
      );
      backends.set(backendKey(service, rpcType as RpcTypeName), b);
    }
  }
  new Gauge({
    name: 'relayminer_backend_urls_healthy',
    help: 'Backend URLs in rotation (active probes passing, circuit closed), by service and RPC type; for WebSocket and gRPC backends, URLs whose last connection did not fail.',
    labelNames: ['service', 'rpc_type'],
    registers: [o.metrics.registry],
    // Under --workers each process probes on its own; the summed /metrics shows the least healthy view.
    aggregator: 'min',
    collect() {
      for (const [key, b] of backends) {
        const [service, rpc_type] = key.split('|');
        this.set({ service: service!, rpc_type: rpc_type! }, b.healthy);
      }
      for (const [key, health] of reported) {
        const [service, rpc_type] = key.split('|');
        this.set({ service: service!, rpc_type: rpc_type! }, health().healthy);
      }
    },
  });
  const compression = o.relayer.response_compression;
  const http = new HttpRelayRouter(pipeline, backends, compression.enabled ? new AnswerCompression(compression, o.metrics.registry) : undefined, new ListenerProbes(o.readiness));
  const { large_body_bytes, large_bodies_bytes } = o.relayer.limits;
  const largeBodies = new BodyBudget(large_body_bytes, large_bodies_bytes, listenerBodyLimit(o.config));
  new Gauge({
    name: 'relayminer_relay_large_body_bytes',
    help: 'Bytes of relay request bodies, gRPC requests, HTTP and gRPC unary answers and WebSocket messages over relayer.limits.large_body_bytes held now; past relayer.limits.large_bodies_bytes more are refused (relayer_busy; WebSocket 1013).',
    registers: [o.metrics.registry],
    aggregator: 'sum',
    collect() {
      this.set(largeBodies.held);
    },
  });
  o.readiness.setServiceReadiness((service) => {
    const cfg = o.config.services[service];
    if (!cfg) return undefined;
    const backendsReport: Record<string, { healthy: number; total: number; transport_enabled: boolean }> = {};
    for (const rpcType of Object.keys(cfg.backends) as RpcTypeName[]) {
      const b = backends.get(backendKey(service, rpcType));
      if (b) backendsReport[rpcType] = { healthy: b.healthy, total: b.total, transport_enabled: http.enabled.includes(rpcType as never) };
      const health = reported.get(backendKey(service, rpcType));
      if (health) backendsReport[rpcType] = { ...health(), transport_enabled: true };
    }
    const served = Object.values(backendsReport).filter((b) => b.transport_enabled);
    const height = follower.latest?.height;
    return { ready: height !== undefined && served.length > 0 && served.every((b) => b.healthy > 0), height: height ?? null, backends: backendsReport };
  });
  o.readiness.add('chain', () => pace.assertFresh());
  let stakeWatch: StakeWatch | undefined;
  return {
    pipeline,
    chain,
    follower,
    http,
    h2c: new H2cHandoff(),
    upgrades: new UpgradeHandoff(),
    redisCircuits,
    reportBackend(service, rpcType, health) {
      reported.set(backendKey(service, rpcType), health);
    },
    largeBodies,
    waitForHeight(timeoutMs) {
      if (follower.latest) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          follower.off('block', onBlock);
          resolve(ok);
        };
        const onBlock = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        follower.once('block', onBlock);
        // A node that refuses connections fails at once: no reason to wait out the timeout.
        comet.status().catch(() => done(false));
      });
    },
    watchStake(transports) {
      if (stakeWatch) return;
      stakeWatch = new StakeWatch({
        query,
        suppliers: o.suppliers.map((k) => k.address),
        served: servedRelays(o.config.services, transports),
        log,
        registry: o.metrics.registry,
      });
      stakeWatch.start();
    },
    setSuppliers(suppliers) {
      loaded.clear();
      for (const k of suppliers) {
        loaded.set(k.address, k);
        if (cryptoPool && !keyIndex.has(k.address)) keyIndex.set(k.address, cryptoPool.addSigningKey(k.privateKeyBytes()));
      }
      stakeWatch?.setSuppliers(suppliers.map((k) => k.address));
    },
    async close() {
      stakeWatch?.close();
      pace.close();
      // First, so the charges of relays aborted at their backend are refunded before the meter gives its leases back.
      await Promise.all([...backends.values()].map((b) => b.close()));
      await follower.stop();
      await meter?.close();
      query.close();
      await comet.close();
      await cryptoPool?.close();
      redisCircuits.stop();
    },
  };
}

/**
 * The relay path's view of whether Redis answers (on a Cluster, per supplier and key: one master's
 * silence says nothing of the others'). While it does not, relays skip Redis instead of each waiting out
 * the command timeout for the meter, the caches and the stream: metered by the fail mode, cached from
 * the node, unpublished.
 */
function relayRedisCircuits(redis: RedisPool, log: Logger, relayer: ResolvedRelayer, metrics: Metrics): RedisCircuits {
  const { meter } = relayer;
  const relays = !meter.enabled
    ? 'relays are served unpublished (relayminer_relay_publish_failures_total)'
    : meter.fail_mode === 'open'
      ? "relays are served unpublished, and unmetered once this relayer's leases are spent (relayminer_relay_publish_failures_total, relayminer_meter_fail_open_total)"
      : "relays are refused meter_unavailable once this relayer's leases are spent, and served unpublished until then";
  const which = redis.clustered ? ' for some keys (a Cluster master: the suppliers and cache entries it holds)' : '';
  const circuits = new RedisCircuits({
    client: () => redis.next(),
    // A probe waits as long as any command does: it is in flight, and answered, the moment Redis runs again.
    probeTimeoutMs: relayer.redis.pool.command_timeout_ms || PROBE_MS,
    onChange: (answering, err) =>
      answering ? log.info('Redis answers again; relays use it again') : log.warn({ err: err?.message }, `Redis does not answer${which}: until it does, ${relays}, and chain caches ask the node`),
  });
  new Gauge({
    name: 'relayminer_redis_answering',
    help: 'Usually 1; 0 once a relay-path command to Redis timed out or lost its connection, until a probe is answered (relays then skip it: metered by relayer.meter.fail_mode, not published). On a Cluster, 0 while any master does not answer.',
    registers: [metrics.registry],
    aggregator: 'min',
    collect() {
      this.set(circuits.answering ? 1 : 0);
    },
  });
  return circuits;
}

/** How long a circuit's probe waits for its answer before it tries again, with no command timeout. */
const PROBE_MS = 5000;
