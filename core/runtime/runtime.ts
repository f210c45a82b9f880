import cluster from 'node:cluster';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ConfigError, formatProblem } from '../config/problems.js';
import { parseHostPort } from '../config/host-port.js';
import { settlesWithin } from '../async/settles-within.js';
import { loadConfigFile, requireRole, type ResolvedConfig, type ResolvedRedis, type RoleSettings } from '../config/load.js';
import type { SupplierKey } from '../crypto/supplier-key.js';
import { defaultRingBackend } from '../crypto/ring/signature.js';
import { supplierSignatureBackend } from '../crypto/supplier-signature.js';
import { createLogger } from '../observability/logger.js';
import { routeGrpcLibraryLog } from '../observability/grpc-library-log.js';
import { Metrics } from '../observability/metrics.js';
import { Readiness } from '../observability/readiness.js';
import { StateSignals } from '../observability/state-signals.js';
import { dataNodes, judgeSettings, readServerSettings } from '../redis/redis-settings.js';
import { watchKeyFiles } from './key-watch.js';
import { listenFailureReason, OperatorError } from './operator-error.js';
import { Gauge } from 'prom-client';
import { createHealthServer, createMetricsServer, guardListener, setPluginLog, shareMetricsWithPrimary } from '../observability/servers.js';
import type { PluginRole } from '../plugins/define.js';
import type { RelayMinerContext, ReloadedSuppliers } from '../plugins/context.js';
import { impliedPluginEntries, registerPlugins, resolvePlugins, type BuiltinPlugins } from '../plugins/loader.js';
import { RedisPool } from '../redis/connection.js';
import { KeyBuilder } from '../redis/key-builder.js';
import { redactRedisUrl } from '../config/redis-url.js';
import { maskUrlSecrets } from '../config/url-secrets.js';
import { RelayHooks } from '../relay/hooks.js';
import { Dashboard } from '../observability/dashboard.js';
import { listenerBodyLimit } from '../relay/http-relay.js';
import { startRelayerServices } from '../relay/relayer-services.js';

export interface RuntimeOptions {
  config: ResolvedConfig;
  roles: readonly PluginRole[];
  builtins: BuiltinPlugins;
  version: string;
  /** Tests pass a logger that captures lines. */
  logger?: Logger;
  /**
   * Whether a relayer checks its keys' stakes against what it serves (default true). `relayer --workers N` sets it
   * in one worker only: N checks would say the same thing N times.
   */
  stakeCheck?: boolean;
}

/** Steps of a shutdown, in the order they happen; logged as `shutdown_step` and kept for tests. */
export type ShutdownStep = 'draining' | 'listeners_closed' | 'plugins_closed' | 'redis_closed' | 'operator_servers_closed' | 'stopped';

export interface Listener {
  name: 'relay' | 'health' | 'metrics';
  app: FastifyInstance;
  address: string;
  configKey: string;
}

/**
 * One process running one or both roles. Start order: config checks → plugins imported and their
 * options validated → Redis → plugins registered (avvio, in config order) → listeners. Nothing listens
 * before every plugin has loaded, so a bad plugin never leaves a half-started process behind.
 */
export class Runtime {
  readonly log: Logger;
  readonly context: RelayMinerContext;
  readonly shutdownSteps: ShutdownStep[] = [];
  /** Bound addresses, `host:port`, after start (port 0 in the config gets a real port). */
  get addresses(): Record<string, string> {
    return this.context.addresses;
  }
  readonly #app: FastifyInstance;
  readonly #operatorServers: Listener[];
  readonly #listenRelay: Listener | undefined;
  readonly #setSuppliers: (keys: ReloadedSuppliers) => void;
  #unwatchKeys: () => void = () => {};
  #shutdown: Promise<void> | undefined;
  /** Set once shutdown has dropped the Redis connections. */
  #redisCut = false;

  private constructor(
    log: Logger,
    context: RelayMinerContext,
    app: FastifyInstance,
    listenRelay: Listener | undefined,
    operatorServers: Listener[],
    setSuppliers: (keys: ReloadedSuppliers) => void,
  ) {
    this.log = log;
    this.context = context;
    this.#app = app;
    this.#listenRelay = listenRelay;
    this.#operatorServers = operatorServers;
    this.#setSuppliers = setSuppliers;
  }

  static async start(opts: RuntimeOptions): Promise<Runtime> {
    const { config } = opts;
    const roles = new Set(opts.roles);
    const relayer = roles.has('relayer') ? requireRole(config, 'relayer') : undefined;
    const miner = roles.has('miner') ? requireRole(config, 'miner') : undefined;
    const settings = (relayer ?? miner) as RoleSettings;
    if (relayer && miner) assertSameRedis(relayer.redis, miner.redis, config.file);

    const log = opts.logger ?? createLogger(config.logging, { base: { roles: [...roles].join(',') } });
    routeGrpcLibraryLog(log);
    for (const w of config.warnings) log.warn(w);

    const entries = config.pluginsImplied ? await impliedPluginEntries(config, opts.builtins) : config.plugins;
    if (config.pluginsImplied) log.info({ plugins: entries.map((e) => e.name) }, 'no plugins list in the configuration: running what its sections describe');
    const { active, skipped } = await resolvePlugins({
      entries,
      roles,
      builtins: opts.builtins,
      configDir: config.dir,
      configFile: config.file,
    });
    for (const s of skipped) log.info({ plugin: s.entryName, runsIn: s.roles }, 'plugin skipped: it does not run in this role');

    const metrics = new Metrics({ version: opts.version, roles: [...roles] });
    const readiness = new Readiness();
    // Connections retrying against a Redis that is down fail many times a second: every error is
    // counted; the process's connections together say it at most once a minute, and once when every one
    // of them works again.
    const redisSignals = new StateSignals(60_000);
    const redis = new RedisPool(
      settings.redis,
      `relayminer-${[...roles].join('-')}-${process.pid}`,
      (err, connection, failing) => {
        metrics.redisErrors.inc({ connection: connection.replace(/-\d+$/, '') });
        redisSignals.update('redis', true, () => log.warn({ connection, failing, err: err.message }, 'redis connection error (logged at most once a minute; relayminer_redis_connection_errors_total counts them all)'));
      },
      () => {
        if (redisSignals.clear('redis')) log.info('redis connections work again');
      },
    );
    readiness.add('redis', () => redis.ping(1000), 1500);
    metrics.followReadiness(async () => (await readiness.evaluate()).status === 'ready');
    // Wait briefly so a healthy start is ready at once; an unreachable Redis is not fatal (it is
    // retried forever and /ready says 503 until it answers).
    const role = miner ? 'miner' : 'relayer';
    if (await redis.waitReady(settings.redis.pool.connect_timeout_ms)) {
      const fatal = await checkRedisSettings(redis, role, log);
      if (fatal) {
        await redis.close();
        throw new OperatorError('REDIS_MAY_EVICT', fatal);
      }
    } else {
      log.warn({ redis: redactRedisUrl(settings.redis.url), status: redis.status }, 'redis not reachable yet; /ready answers 503 until it is');
      // Checked once it answers: a miner on a Redis that may evict stays not ready (and says why).
      let verdict: string | undefined = 'the Redis settings were not checked yet';
      readiness.add('redis_settings', () => {
        if (verdict) throw new Error(verdict);
      });
      void redis.waitReady(Number.MAX_SAFE_INTEGER).then(async (up) => {
        if (up) verdict = await checkRedisSettings(redis, role, log);
        if (verdict) log.error(verdict);
      });
    }
    registerRedisGauges(metrics, redis);

    let suppliers = uniqueSuppliers([...(relayer?.suppliers ?? []), ...(miner?.suppliers ?? [])]);
    const reloadListeners: ((keys: ReloadedSuppliers) => void)[] = [];
    const keys = new KeyBuilder(settings.redis.namespace);
    const relayHooks = new RelayHooks(log.child({ component: 'relay-hooks' }), (hook, plugin) => metrics.relayHookErrors.inc({ hook, plugin }));
    const relay = relayer
      ? startRelayerServices({ config, relayer, suppliers: relayer.suppliers, redis, keys, metrics, readiness, hooks: relayHooks, log })
      : undefined;
    if (relay && !(await relay.waitForHeight(relayer!.pocket_node.query_timeout_ms))) {
      log.warn({ rpc_url: maskUrlSecrets(relayer!.pocket_node.rpc_url) }, 'no block height from the node yet; relays get chain_unavailable and /ready answers 503 until one arrives');
    }
    const context: RelayMinerContext & { setSuppliers(keys: ReloadedSuppliers): void } = {
      roles,
      config,
      get suppliers() {
        return suppliers;
      },
      onSuppliersReloaded(listener) {
        reloadListeners.push(listener);
      },
      setSuppliers(keys) {
        suppliers = uniqueSuppliers([...(keys.relayer ?? []), ...(keys.miner ?? [])]);
        if (keys.relayer) relay?.setSuppliers(keys.relayer);
        for (const listener of reloadListeners) listener(keys);
      },
      redis,
      keys,
      metrics,
      readiness,
      relayHooks,
      relay,
      addresses: {},
      dashboard: new Dashboard(),
    };

    const bodyLimit = listenerBodyLimit(config);
    const limits = relayer?.limits;
    const app = Fastify({
      bodyLimit,
      forceCloseConnections: 'idle',
      return503OnClosing: true,
      // avvio bounds onClose hooks by this too: past the drain bound, shutdown cuts them itself instead.
      pluginTimeout: Math.max(30_000, config.shutdown.drain_timeout_ms + 5 * CUT_GRACE_MS),
      // A request must arrive whole in time (408 and the connection closed otherwise): a dripping
      // body or one shorter than its Content-Length would hold a connection forever.
      ...(limits && {
        keepAliveTimeout: limits.idle_timeout_ms,
        requestTimeout: limits.request_timeout_ms,
        http: {
          headersTimeout: limits.request_timeout_ms,
          connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.request_timeout_ms / 4)),
          // From Node 24.9: an Upgrade no transport takes stays an HTTP/1.1 request (UpgradeHandoff does it before).
          ...(relay && { shouldUpgradeCallback: (req: IncomingMessage) => relay.upgrades.takes(req) }),
        },
      }),
    });
    setPluginLog(app, log);
    if (limits) guardListener(app, 'relay', limits.max_connections, metrics);
    app.decorate('relayminer', context);
    // While draining, answer and hang up: a kept-alive idle connection would hold server.close()
    // open until the drain bound, and the client should reconnect to another replica anyway.
    // Callback style: an async hook costs every relay a promise and a tick.
    app.addHook('onSend', (_req, reply, payload, done) => {
      if (readiness.draining) reply.header('connection', 'close');
      done(null, payload);
    });

    const relayListener: Listener | undefined = relayer
      ? { name: 'relay', app, address: relayer.listen_address, configKey: 'relayer.listen_address' }
      : undefined;
    const operatorServers: Listener[] = [];
    if (relayer) {
      operatorServers.push(
        { name: 'health', app: createHealthServer(log, readiness, metrics), address: relayer.health_address, configKey: 'relayer.health_address' },
      );
      // Under `--workers` the primary serves /metrics for all workers (and the dashboard is not served).
      if (cluster.isWorker) shareMetricsWithPrimary(metrics);
      else operatorServers.push({ name: 'metrics', app: createMetricsServer(log, metrics, undefined, relayer.dashboard ? context.dashboard : undefined), address: relayer.metrics_address, configKey: 'relayer.metrics_address' });
      if (miner) log.info('relayer and miner share the relayer health and metrics listeners; miner.*_address are not used');
    } else if (miner) {
      if (miner.health_address) {
        operatorServers.push({ name: 'health', app: createHealthServer(log, readiness, metrics), address: miner.health_address, configKey: 'miner.health_address' });
      }
      operatorServers.push({
        name: 'metrics',
        app: createMetricsServer(log, metrics, miner.health_address ? undefined : { readiness }, miner.dashboard ? context.dashboard : undefined),
        address: miner.metrics_address,
        configKey: 'miner.metrics_address',
      });
    }

    const runtime = new Runtime(log, context, app, relayListener, operatorServers, (keys) => context.setSuppliers(keys));
    try {
      registerPlugins(app, active, config.file);
      // After the plugins: avvio loads it once they have enabled their RPC types.
      relay?.http.register(
        app,
        bodyLimit,
        limits && {
          budget: relay.largeBodies,
          answerTimeoutMs: limits.answer_timeout_ms,
          onAnswerTimeout: () => metrics.listenerRefusals.inc({ listener: 'relay', reason: 'answer_timeout' }),
        },
      );
      await app.ready();
      // Upgrades first: a connection it gives back goes to the HTTP/1.1 server's own listener, not the h2c check.
      if (relay && limits) relay.upgrades.install(app.server);
      if (relay && limits) relay.h2c.install(app.server, limits.request_timeout_ms, () => metrics.listenerRefusals.inc({ listener: 'relay', reason: 'request_timeout' }));
      for (const l of [...(relayListener ? [relayListener] : []), ...operatorServers]) {
        runtime.addresses[l.name] = await listen(l);
      }
    } catch (err) {
      await runtime.#teardown().catch(() => {});
      throw err;
    }

    if (opts.stakeCheck !== false) relay?.watchStake(active.flatMap((p) => p.plugin.meta.rpcTypes ?? []));
    const keyWatch = [...(relayer?.key_watch ?? []), ...(miner?.key_watch ?? [])];
    const watched = [...new Map(keyWatch.map((w) => [`${w.dir}\n${w.file ?? ''}`, w])).values()];
    if (watched.length > 0) runtime.#unwatchKeys = watchKeyFiles(watched, () => runtime.reloadKeys(), log);
    if (relayer && active.every((p) => !p.plugin.meta.rpcTypes?.length)) {
      log.warn('no transport plugin is enabled: the relay listener answers 404 to everything (add one under "plugins")');
    }
    log.info(
      {
        version: opts.version,
        suppliers: suppliers.map((s) => s.address),
        plugins: active.map((p) => `${p.plugin.meta.name}@${p.plugin.meta.version}`),
        redis: redactRedisUrl(settings.redis.url),
        addresses: runtime.addresses,
        // Which curve arithmetic this process got (see docs/operations.md, "Native crypto").
        crypto: { ring: defaultRingBackend().name, supplier: supplierSignatureBackend },
      },
      'relayminer started',
    );
    return runtime;
  }

  /**
   * Reads the configuration file again and takes its supplier keys (what SIGHUP does): relays for keys
   * added are served and their suppliers mined from now on, relays for keys removed refused. Nothing else
   * of the file is applied; a change elsewhere is named in a warning, to take effect at the next restart.
   * A file that no longer loads changes nothing (the error is logged). Never throws.
   */
  reloadKeys(): KeysReload {
    const { config, roles } = this.context;
    const log = this.log;
    if (!config.file) {
      log.warn('supplier keys not reloaded: this process was not started from a configuration file');
      return { outcome: 'failed', added: [], removed: [] };
    }
    let next: ResolvedConfig;
    try {
      next = loadConfigFile(config.file);
      if (roles.has('relayer')) requireRole(next, 'relayer');
      if (roles.has('miner')) requireRole(next, 'miner');
    } catch (err) {
      const why = err instanceof ConfigError ? err.problems.map((p) => formatProblem(p, err.file)).join('; ') : (err as Error).message;
      log.error({ file: config.file }, `supplier keys not reloaded, the ones loaded stay: ${why}`);
      return { outcome: 'failed', added: [], removed: [] };
    }
    for (const w of next.warnings) if (!config.warnings.includes(w)) log.warn(w);
    const keys: ReloadedSuppliers = { ...(roles.has('relayer') && { relayer: next.relayer!.suppliers }), ...(roles.has('miner') && { miner: next.miner!.suppliers }) };
    const before = new Set(this.context.suppliers.map((k) => k.address));
    const after = new Set([...(keys.relayer ?? []), ...(keys.miner ?? [])].map((k) => k.address));
    const added = [...after].filter((a) => !before.has(a));
    const removed = [...before].filter((a) => !after.has(a));
    const elsewhere = changedSections(config, next);
    if (elsewhere.length > 0) log.warn({ sections: elsewhere }, `configuration reloaded for supplier keys only: the changes to ${elsewhere.join(', ')} take effect at the next restart`);
    if (added.length === 0 && removed.length === 0) {
      log.info({ suppliers: after.size }, 'supplier keys reloaded: no change');
      return { outcome: 'unchanged', added, removed };
    }
    this.#setSuppliers(keys);
    log.info({ suppliers: after.size, added, removed }, `supplier keys reloaded: ${added.length} added, ${removed.length} removed`);
    return { outcome: 'changed', added, removed };
  }

  /**
   * Graceful stop, in this order: readiness turns 503 (`draining`); after `readiness_delay_ms` the
   * relay listener stops accepting and in-flight requests finish; plugins' onClose hooks run (reverse
   * load order); all of it bounded by `drain_timeout_ms`, after which open connections are cut, and
   * the Redis connections under whatever still waits (at once when Redis does not answer, else a
   * second later); then Redis and the health and metrics listeners close. Safe to call more than once.
   */
  shutdown(reason = 'shutdown'): Promise<void> {
    this.#shutdown ??= this.#graceful(reason);
    return this.#shutdown;
  }

  async #graceful(reason: string): Promise<void> {
    const { shutdown } = this.context.config;
    this.log.info({ reason, ...shutdown }, 'shutting down');
    this.#unwatchKeys();
    this.context.readiness.markDraining();
    this.context.metrics.ready.set(0);
    this.#step('draining');
    if (shutdown.readiness_delay_ms > 0) await sleep(shutdown.readiness_delay_ms);

    const deadline = performance.now() + shutdown.drain_timeout_ms;
    // A plugin whose close fails is logged and passed over: the rest still closes.
    const closing = this.#app.close().catch((err: unknown) => this.log.error({ err }, 'a plugin failed to close'));
    if (this.#listenRelay) {
      // fastify closes the server first, then runs onClose hooks; record the boundary when it is known.
      this.#app.server.once('close', () => this.#stepOnce('listeners_closed'));
    }
    let timedOut = false;
    if (!(await settlesWithin(closing, shutdown.drain_timeout_ms))) {
      timedOut = true;
      this.log.warn({ drain_timeout_ms: shutdown.drain_timeout_ms }, 'drain timeout: cutting open connections');
      this.#app.server.closeAllConnections();
      // Cleanup waiting on a Redis that does not answer is cut at once; on one that does, a second later.
      const answers = await this.#redisAnswers();
      if (!answers || !(await settlesWithin(closing, CUT_GRACE_MS))) {
        this.#cutRedis('plugins', answers);
        if (!(await settlesWithin(closing, CUT_GRACE_MS))) this.log.warn("shutdown: the plugins' cleanup still waits after the Redis connections were cut; stopping without it");
      }
    }
    if (this.#listenRelay) this.#stepOnce('listeners_closed');
    this.#step('plugins_closed');
    const relayClosed = this.context.relay?.close();
    if (relayClosed && !(await settlesWithin(relayClosed, Math.max(CUT_GRACE_MS, deadline - performance.now())))) {
      if (!this.#redisCut) this.#cutRedis('relayer', await this.#redisAnswers());
      // A command queued while ioredis waits to reconnect is not failed by a disconnect (redis/ioredis#2169), so
      // this is bounded too. The crypto threads leave their job before the process exits all the same (CryptoPool).
      if (!(await settlesWithin(relayClosed, CUT_GRACE_MS))) this.log.warn("shutdown: the relayer's cleanup still waits after its Redis connections were cut; stopping without it");
    }
    await this.context.redis.close(CUT_GRACE_MS);
    this.#step('redis_closed');
    await Promise.all(this.#operatorServers.map((s) => s.app.close()));
    this.#step('operator_servers_closed');
    this.#step('stopped');
    this.log.info({ timedOut }, 'relayminer stopped');
  }

  /**
   * Past the drain bound, work still waiting on Redis (lease releases, meter refunds, stream appends) is
   * given up: its connections are dropped, so those commands fail now instead of at their timeout, or
   * never on a connection without one.
   */
  #cutRedis(waiting: 'plugins' | 'relayer', redisAnswers: boolean): void {
    this.#redisCut = true;
    const left = [
      ...(this.context.roles.has('miner') ? ['supplier leases not given back expire after lease_ttl_ms'] : []),
      ...(this.context.relay ? ['meter leases not given back stay charged to their sessions'] : []),
    ];
    this.log.warn(
      { waiting, redis_answers: redisAnswers },
      `shutdown: the ${waiting === 'plugins' ? "plugins' cleanup" : "relayer's cleanup"} is past the drain bound${redisAnswers ? '' : ' and Redis does not answer'}; dropping the Redis connections (${left.join('; ')})`,
    );
    this.context.redis.disconnect();
  }

  #redisAnswers(): Promise<boolean> {
    return this.context.redis.ping(PING_MS).then(
      () => true,
      () => false,
    );
  }

  /** A step that two paths may reach (the server's close event, or shutdown going on without it). */
  #stepOnce(step: ShutdownStep): void {
    if (!this.shutdownSteps.includes(step)) this.#step(step);
  }

  #step(step: ShutdownStep): void {
    this.shutdownSteps.push(step);
    this.log.info({ shutdown_step: step }, `shutdown: ${step.replace(/_/g, ' ')}`);
  }

  /** Start failed: release whatever was opened, quietly. */
  async #teardown(): Promise<void> {
    this.#unwatchKeys();
    await this.#app.close().catch(() => {});
    await this.context.relay?.close().catch(() => {});
    await this.context.redis.close();
    await Promise.all(this.#operatorServers.map((s) => s.app.close().catch(() => {})));
  }
}

/** A listener that cannot bind, as the one-line configuration error naming the key (for plugins' listeners too). */
export function listenError(err: unknown, address: string, configKey: string): ConfigError {
  return new ConfigError([{ path: configKey, message: `cannot listen on ${address}: ${listenFailureReason(err)}` }]);
}

/** Listens on `l.address`; a bind failure is a ConfigError naming the config key. Returns host:port. */
export async function listen(l: Listener): Promise<string> {
  const { host, port } = parseHostPort(l.address);
  try {
    // Named in the text: the relay app's logger is the plugins' too, so it carries no listener's name.
    await l.app.listen({ host, port, listenTextResolver: (address) => `${l.name} listener at ${address}` });
  } catch (err) {
    throw listenError(err, l.address, l.configKey);
  }
  const addr = l.app.server.address();
  return typeof addr === 'object' && addr ? `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
}

/**
 * Reads the Redis servers' eviction policy and persistence: warnings are logged; for a miner, a policy
 * that may evict keys is returned as the reason to refuse to run.
 */
async function checkRedisSettings(redis: RedisPool, role: 'miner' | 'relayer', log: Logger): Promise<string | undefined> {
  try {
    for (const node of dataNodes(redis.next())) {
      const verdict = judgeSettings(await readServerSettings(node), role, `${node.options.host ?? ''}:${node.options.port ?? ''}`);
      for (const w of verdict.warnings) log.warn(w);
      if (verdict.fatal) return verdict.fatal;
    }
  } catch (err) {
    // INFO refused (an ACL without it): say so, and do not guess.
    log.warn({ err: (err as Error).message }, 'could not read the Redis eviction policy and persistence settings (INFO memory/persistence); check them by hand');
  }
  return undefined;
}

/** `relayminer_redis_used_memory_bytes` and `relayminer_redis_maxmemory_bytes`, read at each scrape. */
function registerRedisGauges(metrics: Metrics, redis: RedisPool): void {
  const read = async (pick: (s: Awaited<ReturnType<typeof readServerSettings>>) => number) => {
    const nodes = dataNodes(redis.next());
    const all = await Promise.all(nodes.map((n) => readServerSettings(n)));
    return all.reduce((sum, s) => sum + pick(s), 0);
  };
  for (const [name, help, pick] of [
    ['relayminer_redis_used_memory_bytes', 'Memory Redis uses (summed over cluster masters), read at each scrape.', (s: Awaited<ReturnType<typeof readServerSettings>>) => s.usedMemoryBytes],
    ['relayminer_redis_maxmemory_bytes', "Redis's maxmemory (summed over cluster masters; 0: no limit), read at each scrape.", (s: Awaited<ReturnType<typeof readServerSettings>>) => s.maxmemoryBytes],
  ] as const) {
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      aggregator: 'max',
      async collect() {
        // A Redis that does not answer leaves the last value; /ready says it is down.
        const v = await Promise.race([read(pick), new Promise<undefined>((r) => setTimeout(() => r(undefined), 500).unref())]).catch(() => undefined);
        if (v !== undefined) this.set(v);
      },
    });
  }
}

function assertSameRedis(a: ResolvedRedis, b: ResolvedRedis, file?: string): void {
  if (a.url !== b.url || a.namespace !== b.namespace) {
    throw new ConfigError(
      [{ path: 'miner.redis', message: 'one process running both roles uses one Redis: relayer.redis and miner.redis differ (url or namespace)' }],
      file,
    );
  }
}

/** What a reload of the keys did. */
export interface KeysReload {
  outcome: 'changed' | 'unchanged' | 'failed';
  added: string[];
  removed: string[];
}

/** Sections of the file, keys aside, that differ between two loads (by their resolved values). */
function changedSections(a: ResolvedConfig, b: ResolvedConfig): string[] {
  const withoutKeys = (v: unknown) => JSON.stringify(v, (k, x: unknown) => (k === 'suppliers' || k === 'supplier_sources' ? undefined : x));
  const sections = ['relayer', 'miner', 'services', 'plugins', 'logging', 'shutdown'] as const;
  return sections.filter((s) => withoutKeys(a[s]) !== withoutKeys(b[s]));
}

function uniqueSuppliers(keys: readonly SupplierKey[]): SupplierKey[] {
  const m = new Map<string, SupplierKey>();
  for (const k of keys) m.set(k.address, k);
  return [...m.values()];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** How long shutdown waits, past the drain bound, for what it has cut (connections, then Redis) to let go. */
const CUT_GRACE_MS = 1000;
/** How long the shutdown's look at Redis waits for a PING. */
const PING_MS = 300;

