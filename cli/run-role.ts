import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { loadConfigFile } from '../core/config/load.js';
import { createLogger } from '../core/observability/logger.js';
import { createClusterMetricsServer } from '../core/observability/servers.js';
import type { PluginRole } from '../core/plugins/define.js';
import { Runtime, listen } from '../core/runtime/runtime.js';
import { VERSION } from '../core/version.js';
import { BUILTIN_PLUGINS } from '../plugins/index.js';
import { missingNodeFlags, RELAYER_NODE_FLAGS } from './node-flags.js';

/** Signals this close after the first are the same event (see runRoles). */
const SAME_SIGNAL_MS = 250;

export interface RunningProcess {
  runtime: Runtime;
  /** Resolves when the process has stopped (after a signal). */
  stopped: Promise<void>;
}

/**
 * Starts the roles and owns the process lifecycle: the first SIGTERM or SIGINT shuts down
 * gracefully; a second one exits at once. The signals are taken before anything starts: one that comes
 * while the roles start (an orchestrator stopping a pod that is still starting) shuts them down once
 * they are up, instead of Node's default, which would end the process with leases held and, for
 * SIGHUP, end it at all.
 */
export async function runRoles(
  configFile: string,
  roles: PluginRole[],
  onStopped: () => Promise<void> = async () => {},
  opts: { exitOnSecondSignal?: boolean } = {},
): Promise<RunningProcess> {
  let runtime: Runtime | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let signals = 0;
  let firstAt = 0;
  /** A stop asked for while starting, served once started. */
  let stopWhenStarted: NodeJS.Signals | undefined;
  /** A key reload asked for while starting: the file may have changed after it was read. */
  let reloadWhenStarted = false;
  const shutdown = (rt: Runtime, signal: NodeJS.Signals) =>
    rt
      .shutdown(signal)
      .then(onStopped)
      .then(
        () => {
          resolveStopped();
          process.exit(0);
        },
        (err: unknown) => {
          rt.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  const onSignal = (signal: NodeJS.Signals) => {
    // The same signal again at once is one event delivered twice: a terminal's Ctrl-C goes to the whole
    // foreground group, and npm passes it on to its script too.
    if (signals > 0 && performance.now() - firstAt < SAME_SIGNAL_MS) return;
    signals += 1;
    if (signals === 1) firstAt = performance.now();
    if (signals > 1 && opts.exitOnSecondSignal === false) return;
    if (signals > 1) {
      if (runtime) runtime.log.warn({ signal }, 'second signal: exiting without waiting');
      else process.stderr.write(`relayminer: second signal (${signal}) while starting: exiting without waiting\n`);
      process.exit(1);
    }
    if (runtime) void shutdown(runtime, signal);
    else stopWhenStarted = signal;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // The daemon convention: SIGHUP reloads (the supplier keys), it does not stop the process.
  process.on('SIGHUP', () => {
    if (signals > 0) return;
    if (runtime) runtime.reloadKeys();
    else reloadWhenStarted = true;
  });

  const config = loadConfigFile(configFile);
  const slot = process.env[WORKER_SLOT];
  runtime = await Runtime.start({ config, roles, builtins: BUILTIN_PLUGINS, version: VERSION, stakeCheck: slot === undefined || slot === '0' });
  installCrashGuards(runtime.log);
  const missing = roles.includes('relayer') ? missingNodeFlags() : [];
  if (missing.length > 0) {
    runtime.log.info(
      { missing, recommended: RELAYER_NODE_FLAGS },
      `node started without ${missing.join(' ')}: V8 collects the whole heap every second or two under load, which lengthens the relays' tail (run node ${RELAYER_NODE_FLAGS.join(' ')} dist/cli/main.js …, as the container image does; --workers passes them to its workers)`,
    );
  }
  if (stopWhenStarted) {
    runtime.log.info({ signal: stopWhenStarted }, 'a signal came while starting: shutting down now that every role has started');
    void shutdown(runtime, stopWhenStarted);
  } else if (reloadWhenStarted) runtime.reloadKeys();
  return { runtime, stopped };
}

function installCrashGuards(log: Logger): void {
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled promise rejection (a bug: please report it)');
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception (a bug: please report it); exiting');
    process.exit(1);
  });
}

/** The environment variable that tells a `relayer --workers N` worker its place (0 … N−1). */
const WORKER_SLOT = 'RELAYMINER_WORKER_SLOT';
/**
 * The exit code of a `--workers` worker that failed to start (sysexits' EX_CONFIG): the primary then stops
 * them all, where a worker that dies later is replaced.
 */
export const WORKER_COULD_NOT_START = 78;

/**
 * `relayer --workers N`: N relayer processes (node:cluster) sharing the listeners, so one host uses
 * more than one core. The primary only supervises: it restarts a worker that dies (and stops them all, exit 1,
 * when one cannot start), passes SIGHUP on
 * (each worker reloads its keys), and on SIGTERM or SIGINT tells every worker to drain and exits when they have;
 * a second signal stops them at once (exit 1).
 */
export async function runClustered(configFile: string, roles: PluginRole[], workers: number): Promise<void> {
  if (workers <= 1 || !cluster.isPrimary) {
    // A terminal's Ctrl-C reaches the workers and the primary forwards it too: one drain, not an abort.
    await runRoles(configFile, roles, undefined, { exitOnSecondSignal: cluster.isPrimary });
    return;
  }
  const config = loadConfigFile(configFile); // fail fast in the primary on a bad config, before forking
  const metricsAddress = config.relayer?.metrics_address;
  const metrics = metricsAddress ? createClusterMetricsServer(createLogger(config.logging, { base: { role: 'primary' } })) : undefined;
  let stopping = false;
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...missingNodeFlags()] });
  // Each worker keeps its slot across restarts, so the one duty a single worker does (slot 0) always has one.
  const slots = new Map<number, number>();
  const fork = (slot: number) => slots.set(cluster.fork({ [WORKER_SLOT]: String(slot) }).id, slot);
  // Replacements of dead workers not yet started: a stop cancels them.
  const replacing = new Set<NodeJS.Timeout>();
  let exitCode = 0;
  const exitOnceAllDead = () => {
    // Not `cluster.workers` being empty: Node removes a worker from it only once it has both exited and
    // disconnected, and the last worker's exit can come before its disconnect, with no exit event after it.
    if (Object.values(cluster.workers ?? {}).every((w) => !w || w.isDead())) void (metrics?.close() ?? Promise.resolve()).finally(() => process.exit(exitCode));
  };
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return exitOnceAllDead();
    if (code === WORKER_COULD_NOT_START) {
      // What stops one process from starting (a port taken, keys unreadable) stops the next one too: the
      // worker said why on stderr, and restarting it every second would only repeat that.
      process.stderr.write(`relayminer: worker ${worker.process.pid} could not start; stopping the other workers\n`);
      exitCode = 1;
      return stop('SIGTERM');
    }
    process.stderr.write(`relayminer: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    const slot = slots.get(worker.id) ?? 0;
    slots.delete(worker.id);
    const timer = setTimeout(() => {
      replacing.delete(timer);
      fork(slot);
    }, 1000);
    replacing.add(timer);
  });
  let firstAt = 0;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // The workers take no second signal (a terminal's Ctrl-C reaches them as well as the primary's): a second
      // one to the primary, later than a duplicate of the first, stops them at once.
      if (performance.now() - firstAt < SAME_SIGNAL_MS) return;
      process.stderr.write(`relayminer: second signal (${signal}): stopping the workers without waiting\n`);
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    firstAt = performance.now();
    for (const timer of replacing) clearTimeout(timer);
    replacing.clear();
    for (const w of Object.values(cluster.workers ?? {})) if (w && !w.isDead()) w.process.kill(signal);
    // With every worker already dead (each waiting to be replaced), no exit event is left to come.
    exitOnceAllDead();
  };
  // Taken before the metrics listener opens: a stop in that moment ends the primary with no worker forked, and a
  // SIGHUP (nothing to reload yet) does not end it.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (!stopping) for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  });
  if (metrics) await listen({ name: 'metrics', app: metrics, address: metricsAddress!, configKey: 'relayer.metrics_address' });
  if (stopping) return;
  for (let i = 0; i < workers; i++) fork(i);
}
