import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A demo WebSocket JSON-RPC backend (used by tests, the devnet and benchmarks): `eth_subscribe`
 * answers with a subscription id and then pushes an `eth_subscription` event every `intervalMs`;
 * `eth_unsubscribe` stops it; `demo_flood [count, bytes]` pushes `count` large events at once (for
 * backpressure tests; no answer); `demo_sleep [ms]` is answered after `ms`, as a slow call; any other method gets
 * `"answer to <method>"`. Text frames in, text
 * frames out, like an Ethereum node; a binary frame is echoed back as binary.
 */
export interface WebSocketBackendOptions {
  host?: string;
  port?: number;
  /** Time between subscription events. */
  intervalMs?: number;
  /** Send a frame as soon as a client connects, before it asks anything. */
  greeting?: boolean;
}

export interface WebSocketBackend {
  url: string;
  /** Text of every frame received, in order. */
  received: string[];
  /** Handshake headers of every connection. */
  handshakes: IncomingHttpHeaders[];
  /** Close codes received from clients. */
  closes: number[];
  /** Events pushed so far. */
  eventsSent: () => number;
  connections: () => number;
  close(): Promise<void>;
}

export async function startWebSocketBackend(o: WebSocketBackendOptions = {}): Promise<WebSocketBackend> {
  const wss = new WebSocketServer({ host: o.host ?? '127.0.0.1', port: o.port ?? 0, skipUTF8Validation: true });
  await new Promise<void>((resolve, reject) => {
    wss.once('error', reject);
    wss.once('listening', () => (wss.off('error', reject), resolve()));
  });
  const received: string[] = [];
  const handshakes: IncomingHttpHeaders[] = [];
  const closes: number[] = [];
  let events = 0;
  let nextSub = 1;
  const timers = new Set<NodeJS.Timeout>();

  wss.on('connection', (ws: WebSocket, req) => {
    handshakes.push(req.headers);
    const subs = new Map<string, NodeJS.Timeout>();
    ws.on('close', (code) => {
      closes.push(code);
      for (const t of subs.values()) (clearInterval(t), timers.delete(t));
    });
    if (o.greeting) ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'hello', params: { server: 'demo' } }));
    ws.on('message', (data, isBinary) => {
      received.push(data.toString());
      if (isBinary) return ws.send(data, { binary: true });
      let call: { id?: unknown; method?: string; params?: unknown[] };
      try {
        call = JSON.parse(data.toString());
      } catch {
        return ws.send(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } }));
      }
      const reply = (result: unknown) => ws.send(JSON.stringify({ jsonrpc: '2.0', id: call.id ?? null, result }));
      if (call.method === 'eth_subscribe') {
        const id = `0x${(nextSub++).toString(16)}`;
        reply(id);
        let n = 0;
        const timer = setInterval(() => {
          if (ws.readyState !== ws.OPEN) return;
          n++;
          events++;
          ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'eth_subscription', params: { subscription: id, result: { number: `0x${n.toString(16)}` } } }));
        }, o.intervalMs ?? 100);
        timers.add(timer);
        subs.set(id, timer);
      } else if (call.method === 'demo_flood') {
        // [count, bytes]: `count` events of about `bytes` each, as fast as the socket takes them.
        const [count, bytes] = (call.params ?? [10, 1024]) as [number, number];
        const pad = 'x'.repeat(Math.max(0, bytes - 80));
        for (let i = 0; i < count && ws.readyState === ws.OPEN; i++) {
          events++;
          ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'demo_flood', params: { n: i, pad } }));
        }
      } else if (call.method === 'demo_sleep') {
        // [ms]: answered after that long, as a node answers a slow call (a trace, a wide eth_getLogs).
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (ws.readyState === ws.OPEN) reply(`slept ${call.params?.[0]} ms`);
        }, Number(call.params?.[0] ?? 0));
        timers.add(timer);
      } else if (call.method === 'eth_unsubscribe') {
        const id = String(call.params?.[0]);
        const timer = subs.get(id);
        if (timer) (clearInterval(timer), timers.delete(timer), subs.delete(id));
        reply(timer !== undefined);
      } else {
        reply(`answer to ${call.method}`);
      }
    });
  });

  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    received,
    handshakes,
    closes,
    eventsSent: () => events,
    connections: () => wss.clients.size,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

// `node dist/examples/backends/websocket-jsonrpc.js [port]` runs it on its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  startWebSocketBackend({ port: Number(process.argv[2] ?? 8546) }).then((b) => process.stdout.write(`WebSocket JSON-RPC demo backend on ${b.url}\n`));
}
