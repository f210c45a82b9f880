import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { type AdmittedFrame, type RefusedFrame, BoundedLabels, COMETBFT_OPERATOR_ROUTES, definePlugin, EVM_OPERATOR_METHODS, deniedCalls, jsonRpcCalls, namePatterns, namePatternsOption, notificationsAnswer, onlyNotifications, REJECT_REASONS, RelayRejection, settlesWithin, SIMULATION_HEADER, StateSignals, unservedMethodsAnswer, UrlReach, backendProbeIntervalOption, VERSION } from 'relayminer';
import { backendHeaders, Bridge, type BridgeLimits, probeBackend } from './bridge.js';
import { CLOSE } from './close-codes.js';
import { readHandshake, refuseUpgrade } from './handshake.js';
import { drawForMessages } from './message-budget.js';
import { WebSocketMetrics } from './metrics.js';

const MiB = 1024 * 1024;

/** transport-jsonrpc's and transport-cometbft's defaults: a WebSocket backend is an EVM node's or CometBFT's `/websocket`. */
const DENY_BY_DEFAULT = [...EVM_OPERATOR_METHODS, ...COMETBFT_OPERATOR_ROUTES];

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    max_frame_bytes: { type: 'integer', minimum: 1024, maximum: 256 * MiB, default: 15 * MiB, description: 'Largest frame either side may send; bigger closes with 1009.' },
    ping_interval_ms: { type: 'integer', minimum: 100, maximum: 600_000, default: 27_000, description: 'Ping the gateway this often.' },
    pong_timeout_ms: { type: 'integer', minimum: 100, maximum: 600_000, default: 30_000, description: 'Close (1001) a gateway silent to pings for this long.' },
    max_buffered_bytes: { type: 'integer', minimum: 1024, maximum: 1024 * MiB, default: 8 * MiB, description: 'Unsent bytes per direction before the other side is paused.' },
    write_timeout_ms: { type: 'integer', minimum: 100, maximum: 600_000, default: 30_000, description: 'Close (1011) a side that stays behind the limit this long.' },
    rollover_check_ms: { type: 'integer', minimum: 100, maximum: 60_000, default: 2_000, description: 'How often a bridge checks whether its session has ended.' },
    deny_methods: namePatternsOption(
      DENY_BY_DEFAULT,
      "JSON-RPC methods a gateway's frames may not call on the backend: answered here (-32601, as a node without them answers; signed and mined like the backend's answers) and never forwarded. Exact names or prefixes ending in `*`; `[]` forwards every frame. The default is transport-jsonrpc's and transport-cometbft's together.",
    ),
    max_connections_per_application: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      default: 1_000,
      description:
        "WebSocket connections one application may hold on this relayer at once, counted from its signed handshake or its first relay: past it a handshake is refused (503 `relayer_busy`) and an unsigned connection is closed (1013) at its first relay. A connection costs its application nothing until the backend answers it and lives until its session ends, so without this one application could hold every connection of `relayer.limits.max_connections` and shut every gateway out.",
    },
    backend_probe_interval_ms: backendProbeIntervalOption,
    first_frame_timeout_ms: {
      type: 'integer',
      minimum: 100,
      maximum: 600_000,
      default: 10_000,
      description:
        'A connection opened without a signed handshake must send its first relay within this, or it is closed (1008); a relay that arrived in time is judged by its validation, however long that takes (a refusal closes). Signed handshakes are bound by their session instead.',
    },
  },
} as const;

type Options = BridgeLimits & { deny_methods: string[]; max_connections_per_application: number; backend_probe_interval_ms?: number };

/**
 * WebSocket relays (Rpc-Type 2) on the relay listener (docs/spec/wire.md §4): a gateway connection is
 * bridged to the service's `websocket` backend; every gateway frame is a RelayRequest validated
 * eagerly before its payload is forwarded, every backend frame is a signed, metered, mined relay.
 */
export default definePlugin(
  {
    name: 'transport-websocket',
    version: VERSION,
    roles: ['relayer'],
    rpcTypes: ['websocket'],
    description: 'WebSocket relays (Rpc-Type 2): subscriptions bridged to the backend, every event a signed relay.',
    optionsSchema,
  },
  async (app, opts: Partial<Options>) => {
    const ctx = app.relayminer;
    const relay = ctx.relay;
    if (!relay) throw new Error('transport-websocket needs the relayer role');
    const limits: BridgeLimits = {
      max_frame_bytes: opts.max_frame_bytes ?? 15 * MiB,
      ping_interval_ms: opts.ping_interval_ms ?? 27_000,
      pong_timeout_ms: opts.pong_timeout_ms ?? 30_000,
      max_buffered_bytes: opts.max_buffered_bytes ?? 8 * MiB,
      write_timeout_ms: opts.write_timeout_ms ?? 30_000,
      rollover_check_ms: opts.rollover_check_ms ?? 2_000,
      first_frame_timeout_ms: opts.first_frame_timeout_ms ?? 10_000,
    };
    const log = app.log.child({ component: 'transport-websocket' });
    const metrics = new WebSocketMetrics(ctx.metrics.registry);
    // PATH sends protobuf in text frames: UTF-8 checks would close every bridge with 1007.
    const wss = new WebSocketServer({ noServer: true, skipUTF8Validation: true, maxPayload: limits.max_frame_bytes, perMessageDeflate: false });
    const bridges = new Set<Bridge>();
    /** Resolves the shutdown's wait once the last bridge has closed. */
    let allClosed: (() => void) | undefined;
    const perApplication = new ApplicationConnections(opts.max_connections_per_application ?? 1_000);
    const denied = namePatterns(opts.deny_methods ?? DENY_BY_DEFAULT);
    const refusedNames = new BoundedLabels(100);
    // A frame is the payload a node reads as JSON-RPC: what the operator denies is answered as a node without it would.
    // A bridge is paid for by the backend's frames, so notifications, which a node runs and answers with nothing,
    // are answered here: forwarded, any application could have its calls run for nothing.
    const answerHere = (service: string) => (payload: Uint8Array) => {
      const parsed = jsonRpcCalls(payload);
      if (!parsed) return undefined;
      if (onlyNotifications(parsed)) {
        metrics.refusedNotifications.inc({ service });
        return notificationsAnswer().body;
      }
      const refused = deniedCalls(parsed.calls, denied);
      if (refused.size === 0) return undefined;
      for (const name of refused.values()) metrics.refusedCalls.inc({ service, method: refusedNames.label(name) });
      return unservedMethodsAnswer(parsed, refused).body;
    };
    // A dead backend fails every gateway that connects: said when it starts (again at most once a minute
    // while it lasts) and once when a dial opens again, per service; the counter has every failure.
    const reach = new StateSignals(60_000);
    const onDial = (service: string) => (err: Error | undefined) => {
      if (err) reach.update(service, true, () => log.warn({ service, err: err.message }, 'websocket backend connection failed; gateways are closed with 4003 until it answers'));
      else if (reach.clear(service)) log.info({ service }, 'websocket backend answers again');
    };

    // Per service, the backend URLs whose last dial failed (probed until one opens): /ready/<service> and
    // relayminer_backend_urls_healthy count the rest. The dials' own lines above say the service's state.
    const backendUrls = new Map<string, UrlReach>();
    for (const [service, s] of Object.entries(ctx.config.services)) {
      const backend = s.backends.websocket;
      if (!backend) continue;
      const hc = backend.health_check;
      const waitMs = UrlReach.probeWaitMs(backend);
      const urls = new UrlReach(backend.urls, {
        probe: (url) => probeBackend(url, backendHeaders(backend, service), waitMs, hc?.body),
        intervalMs: opts.backend_probe_interval_ms,
        active: UrlReach.activeProbes(backend),
        // The dials say a service's state; a health check's own findings are said per URL.
        onChange: hc
          ? ({ url, up, reason, healthCheck }) =>
              up
                ? log.info({ service, url }, 'websocket backend URL answers again')
                : log.warn({ service, url, reason }, healthCheck ? 'websocket backend URL failed its health checks; new gateway connections dial the others first' : 'websocket backend URL cannot be reached; new gateway connections dial the others first')
          : undefined,
      });
      urls.start();
      backendUrls.set(service, urls);
      relay.reportBackend(service, 'websocket', () => urls.health);
    }
    app.addHook('onClose', async () => {
      for (const urls of backendUrls.values()) urls.close();
    });
    const onUrl = (service: string) => (url: string, err: Error | undefined) => (err ? backendUrls.get(service)?.failed(url, err) : backendUrls.get(service)?.answered(url));

    /** A handshake refused: its rejection's message names the reason, then the detail. */
    const refuseAdmission = (socket: Duplex, rejection: RefusedFrame['rejection']) => {
      metrics.handshakeRefusals.inc({ reason: rejection.reason });
      refuseUpgrade(socket, REJECT_REASONS[rejection.reason].httpStatus, rejection.message);
    };
    const refuse = (socket: Duplex, reason: keyof typeof REJECT_REASONS, detail?: string) => refuseAdmission(socket, new RelayRejection(reason, detail));

    const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => {}); // a reset before the handshake is not a process error
      if (ctx.readiness.draining) return refuse(socket, 'no_healthy_backend', 'relayer is shutting down');
      const hs = readHandshake(req);
      if (!hs.serviceId) return refuse(socket, 'missing_service_id', 'send Target-Service-Id');
      const service = ctx.config.services[hs.serviceId];
      if (!service) return refuse(socket, 'unknown_service', hs.serviceId);
      const backend = service.backends.websocket;
      if (!backend) return refuse(socket, 'no_healthy_backend', `service ${hs.serviceId} has no websocket backend configured`);
      if (hs.problem) return refuse(socket, 'malformed_request', hs.problem);
      if (backendUrls.get(hs.serviceId)?.probedOut) return refuse(socket, 'no_healthy_backend', 'every backend URL fails its health checks');
      let handshake: AdmittedFrame | undefined;
      const simulation = req.headers[SIMULATION_HEADER];
      const simulationKeyId = typeof simulation === 'string' ? simulation : undefined;
      if (hs.signedRequest) {
        const admitted = await relay.pipeline.admit(hs.signedRequest, 'websocket', 'websocket', simulationKeyId);
        if ('rejection' in admitted) return refuseAdmission(socket, admitted.rejection);
        handshake = admitted;
        const full = perApplication.full(admitted.relay.header.application_address);
        if (full) return refuse(socket, 'relayer_busy', full);
      }
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        const bridge = new Bridge({
          gateway: ws,
          pipeline: relay.pipeline,
          backend,
          serviceId: hs.serviceId!,
          supplierAddress: hs.supplierAddress,
          handshake,
          simulationKeyId,
          limits,
          metrics,
          log,
          applications: perApplication,
          onClosed: (b) => {
            bridges.delete(b);
            if (bridges.size === 0) allClosed?.();
          },
          onIdleTimeout: () => ctx.metrics.listenerRefusals.inc({ listener: 'relay', reason: 'first_frame_timeout' }),
          onDial: onDial(hs.serviceId!),
          onUrl: onUrl(hs.serviceId!),
          backendUrls: () => backendUrls.get(hs.serviceId!)?.ordered ?? backend.urls,
          answerHere: answerHere(hs.serviceId!),
        });
        if (bridge.closed) return;
        bridges.add(bridge);
        drawForMessages(socket, ws, relay.largeBodies, () => {
          // The rest of the message goes nowhere: `ws` resumes a paused socket when its parser drains, so
          // it stops reading by losing its reader, while the close frame goes out and the bridge ends.
          socket.removeAllListeners('data');
          socket.resume();
          bridge.close(CLOSE.tryAgainLater, 'relayer busy: too many large messages in flight');
        });
      });
    };

    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      onUpgrade(req, socket, head).catch((err: Error) => {
        log.error({ err: err.message }, 'websocket upgrade failed');
        refuseUpgrade(socket, 500, 'internal error');
      });
    };
    const stopUpgrades = relay.upgrades.serve('transport-websocket', 'websocket', listener);
    // Before the listener stops: bridges are told the relayer is going away (1001), so gateways reconnect elsewhere.
    let drainUntil = 0;
    app.addHook('preClose', async () => {
      drainUntil = performance.now() + ctx.config.shutdown.drain_timeout_ms;
      stopUpgrades();
      for (const b of bridges) b.close(CLOSE.goingAway, 'relayer shutting down');
    });
    app.addHook('onClose', async () => {
      // Bridges waiting for their backend's answers to calls already made keep waiting until the drain bound (the
      // answers are mined); then they stop: Redis closes after the plugins.
      if (bridges.size > 0) await settlesWithin(new Promise<void>((resolve) => (allClosed = resolve)), drainUntil - performance.now());
      for (const b of bridges) b.close(CLOSE.goingAway, 'relayer shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
  },
);

/** Connections held per application (`max_connections_per_application`), counted by the bridges. */
export class ApplicationConnections {
  readonly #held = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Why `app` may not open another connection now; undefined when it may. */
  full(app: string): string | undefined {
    const n = this.#held.get(app) ?? 0;
    return n < this.limit ? undefined : `application ${app} holds ${n} WebSocket connections here, at most ${this.limit}`;
  }

  /** Counts one more connection of `app`; false (nothing counted) when it holds its limit. */
  hold(app: string): boolean {
    const n = this.#held.get(app) ?? 0;
    if (n >= this.limit) return false;
    this.#held.set(app, n + 1);
    return true;
  }

  release(app: string): void {
    const n = (this.#held.get(app) ?? 1) - 1;
    if (n > 0) this.#held.set(app, n);
    else this.#held.delete(app);
  }
}
