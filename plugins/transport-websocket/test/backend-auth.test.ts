import t from 'tap';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { ResolvedBackend } from 'relayminer';
import { backendHeaders, probeBackend } from '../bridge.js';

t.test("a WebSocket backend URL's own user and password are sent as basic auth, decoded; the backend's auth otherwise", async (t) => {
  const seen: (string | undefined)[] = [];
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (_ws, req) => seen.push(req.headers.authorization));
  await new Promise<void>((r) => server.once('listening', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const headers = (o: Partial<ResolvedBackend> = {}) => backendHeaders({ urls: [], headers: {}, ...o } as unknown as ResolvedBackend, 'anvil');

  await probeBackend(`ws://node%40provider:p%3Ass@127.0.0.1:${port}`, headers(), 2000);
  await probeBackend(`ws://127.0.0.1:${port}`, headers({ auth: { bearer_token: 'tok' } }), 2000);
  await probeBackend(`ws://127.0.0.1:${port}`, headers(), 2000);
  t.same(seen, [`Basic ${Buffer.from('node@provider:p:ss').toString('base64')}`, 'Bearer tok', undefined]);
});
