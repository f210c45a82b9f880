import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { Metrics } from './metrics.js';
import { registerDashboardRoutes, type Dashboard } from './dashboard.js';
import type { Readiness } from './readiness.js';

/**
 * Logger options of the operator servers: pino child named for the server, and no per-request lines
 * (metrics count requests instead).
 */
export function serverLogOptions(log: Logger, server: string) {
  return {
    loggerInstance: log.child({ server }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request: fastify logs no request here, and a child of a logger with redaction
    // paths costs every relay a redaction pass over its bindings.
    childLoggerFactory: (logger: FastifyBaseLogger) => logger,
  };
}

/**
 * The plugins' logger, given to `app.log` only: the process's own, with no `server` of its own, since
 * the plugins this app hosts log for the miner and for other listeners (gRPC) as much as for the relay
 * listener, and each names itself (`component`). Fastify itself gets none: with a logger it times every
 * response, with two listeners and a closure on each, for request lines this listener never writes, and
 * at relay rates those responses then outlive V8's young generation and fill the old one
 * (bench/README.md, last section). What fastify would log about a request here goes through the relay
 * pipeline's own reasons, metrics and log lines instead.
 */
export function setPluginLog(app: FastifyInstance, log: Logger): void {
  (app as { log: FastifyBaseLogger }).log = log as FastifyBaseLogger;
}

/** `/health` (liveness: the process answers) and `/ready` (readiness: it can do its job now). */
export function registerHealthRoutes(app: FastifyInstance, readiness: Readiness, metrics: Metrics): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    const report = await readiness.evaluate();
    metrics.ready.set(report.status === 'ready' ? 1 : 0);
    return reply.code(report.status === 'ready' ? 200 : 503).send(report);
  });
  app.get<{ Params: { service: string } }>('/ready/:service', async (req, reply) => {
    const report = readiness.service(req.params.service);
    if (!report) return reply.code(404).send({ error: `service ${req.params.service} is not served here` });
    const ready = report.ready && !readiness.draining;
    return reply.code(ready ? 200 : 503).send({ service: req.params.service, ...report, ready });
  });
}

/**
 * Caps a listener's open connections and counts what its limits refuse
 * (`relayminer_listener_refusals_total{listener}`): connections past the cap are closed on arrival.
 */
export function guardListener(app: FastifyInstance, listener: string, maxConnections: number, metrics?: Metrics): void {
  app.server.maxConnections = maxConnections;
  if (!metrics) return;
  app.server.on('drop', () => metrics.listenerRefusals.inc({ listener, reason: 'max_connections' }));
  app.server.on('clientError', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') metrics.listenerRefusals.inc({ listener, reason: 'request_timeout' });
  });
}

/** Scrapers, probes and a dashboard hold a handful of connections; more is a flood. */
export const OPERATOR_MAX_CONNECTIONS = 64;
/** A request to an operator listener arrives whole within this, else 408 and the connection closed. */
export const OPERATOR_REQUEST_TIMEOUT_MS = 10_000;

/**
 * The operator-facing listeners. They have no relay routes and no debug routes; request bodies are
 * refused (nothing here takes input), and their connections and request times are bounded.
 */
function operatorServer(log: Logger, name: string, metrics?: Metrics): FastifyInstance {
  const app = Fastify({
    ...serverLogOptions(log, name),
    bodyLimit: 1,
    requestTimeout: OPERATOR_REQUEST_TIMEOUT_MS,
    http: { headersTimeout: OPERATOR_REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
  });
  guardListener(app, name, OPERATOR_MAX_CONNECTIONS, metrics);
  return app;
}

export function createHealthServer(log: Logger, readiness: Readiness, metrics: Metrics): FastifyInstance {
  const app = operatorServer(log, 'health', metrics);
  registerHealthRoutes(app, readiness, metrics);
  return app;
}

export function createMetricsServer(
  log: Logger,
  metrics: Metrics,
  health?: { readiness: Readiness },
  dashboard?: Dashboard,
): FastifyInstance {
  const app = operatorServer(log, 'metrics', metrics);
  if (dashboard) registerDashboardRoutes(app, dashboard, metrics);
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  if (health) registerHealthRoutes(app, health.readiness, metrics);
  return app;
}

/**
 * `relayer --workers N`: the primary's `/metrics`, every worker's registry summed over IPC (counters and
 * histograms add up; gauges follow their `aggregator`). A scrape of a port the workers shared would
 * answer from whichever worker the kernel picked, and counters would jump between workers' values.
 */
export function createClusterMetricsServer(log: Logger): FastifyInstance {
  const aggregated = new AggregatorRegistry();
  const app = operatorServer(log, 'metrics');
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', aggregated.contentType);
    return aggregated.clusterMetrics();
  });
  return app;
}

/** In a `--workers` worker: answer the primary's metric requests from this process's registry. */
export function shareMetricsWithPrimary(metrics: Metrics): void {
  // Constructing one installs prom-client's worker-side IPC listener.
  void new AggregatorRegistry();
  AggregatorRegistry.setRegistries([metrics.registry]);
}
