import { Counter, Gauge, type Registry } from 'prom-client';

/** WebSocket bridge metrics; labels are bounded (service ids from config, close codes, reason codes). */
export class WebSocketMetrics {
  readonly connections: Gauge<'service'>;
  readonly handshakeRefusals: Counter<'reason'>;
  readonly closes: Counter<'service' | 'code' | 'by'>;
  readonly refusedFrames: Counter<'service' | 'reason'>;
  readonly framesRelayed: Counter<'service'>;
  readonly refusedCalls: Counter<'service' | 'method'>;
  readonly refusedNotifications: Counter<'service'>;
  readonly droppedBackendFrames: Counter<'service'>;
  readonly backendConnectFailures: Counter<'service'>;
  readonly sessionRollovers: Counter<'service'>;
  readonly slowReaders: Counter<'service'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connections = new Gauge({ name: 'relayminer_websocket_connections', help: 'Open gateway WebSocket connections.', labelNames: ['service'], registers });
    this.handshakeRefusals = new Counter({ name: 'relayminer_websocket_handshake_refusals_total', help: 'Upgrades refused before the handshake, by reason code.', labelNames: ['reason'], registers });
    this.closes = new Counter({ name: 'relayminer_websocket_closes_total', help: 'Bridges closed, by close code and by which side closed first.', labelNames: ['service', 'code', 'by'], registers });
    this.refusedFrames = new Counter({ name: 'relayminer_websocket_refused_frames_total', help: 'Gateway frames refused (the connection is closed), by reason code.', labelNames: ['service', 'reason'], registers });
    this.refusedCalls = new Counter({ name: 'relayminer_websocket_refused_calls_total', help: 'JSON-RPC calls in gateway frames answered here instead of reaching the backend (deny_methods), by method (the first 100 names seen; later ones as "other").', labelNames: ['service', 'method'], registers });
    this.refusedNotifications = new Counter({ name: 'relayminer_websocket_refused_notifications_total', help: 'Gateway frames of JSON-RPC notifications alone (calls without an id, which a node answers with nothing) answered here with an error instead of reaching the backend.', labelNames: ['service'], registers });
    this.framesRelayed = new Counter({ name: 'relayminer_websocket_frames_relayed_total', help: 'Backend frames sent to the gateway as signed relays.', labelNames: ['service'], registers });
    this.droppedBackendFrames = new Counter({ name: 'relayminer_websocket_dropped_backend_frames_total', help: 'Backend frames dropped because no request preceded them.', labelNames: ['service'], registers });
    this.backendConnectFailures = new Counter({ name: 'relayminer_websocket_backend_connect_failures_total', help: 'Backend dials that failed on every URL (gateway closed with 4003).', labelNames: ['service'], registers });
    this.sessionRollovers = new Counter({ name: 'relayminer_websocket_session_expiries_total', help: 'Bridges closed with 410 + 4000 because their session ended.', labelNames: ['service'], registers });
    this.slowReaders = new Counter({ name: 'relayminer_websocket_slow_reader_closes_total', help: 'Bridges closed because one side read too slowly for write_timeout_ms.', labelNames: ['service'], registers });
  }
}
