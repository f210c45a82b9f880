import t from 'tap';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { checkRelayResponse, REJECT_REASONS } from 'relayminer';
import { gatewayRelay, startRelayer } from '../helpers/relayer.js';

const anvil = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`;

/** What curl's `--http2` and Java's HttpClient send with a request to an `http://` URL. */
const ASK_H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Reads HTTP/1.1 answers with a Content-Length off one connection, in order. */
function answers(socket: Socket) {
  let buf = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    waiting?.();
  });
  socket.on('close', () => waiting?.());
  return async (): Promise<Answer> => {
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
        const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const length = Number(headers['content-length'] ?? 0);
        if (buf.length >= end + 4 + length) {
          const body = buf.subarray(end + 4, end + 4 + length);
          buf = buf.subarray(end + 4 + length);
          return { status: Number(statusLine!.split(' ')[1]), headers, body };
        }
      }
      if (socket.destroyed) throw new Error(`connection closed with ${buf.length} bytes unanswered: ${buf.toString('latin1').slice(0, 120)}`);
      await new Promise<void>((resolve) => (waiting = resolve));
    }
  };
}

async function open(url: string): Promise<{ socket: Socket; next: () => Promise<Answer> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  t.teardown(() => socket.destroy());
  return { socket, next: answers(socket) };
}

const post = (body: Uint8Array, extra = '') =>
  Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: relayer\r\n${extra}Content-Type: application/json\r\nRpc-Type: 3\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);

for (const plugins of [['transport-jsonrpc', 'transport-websocket'], ['transport-jsonrpc']]) {
  t.test(`a request that asks to switch to h2c is served as the HTTP/1.1 request it is (plugins: ${plugins.join(', ')})`, async (t) => {
    const r = await startRelayer(t, { plugins, services: anvil });
    const header = await r.header();
    const relay = (id: number) => gatewayRelay(header, { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":${id},"method":"eth_blockNumber"}` });

    const { socket, next } = await open(r.url);
    socket.write(post(relay(1), ASK_H2C));
    const first = await next();
    t.equal(first.status, 200, 'a relay asking for h2c');
    t.equal(first.headers['content-type'], 'application/x-protobuf');
    const checked = checkRelayResponse(new Uint8Array(first.body), r.supplierPublicKey);
    t.ok(checked.ok, 'answered with a signed RelayResponse');
    t.equal(r.backend.calls.at(-1)?.body, '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}', 'the backend had the relayed call');
    t.equal(r.backend.calls.at(-1)?.headers.upgrade, undefined, 'the ask to switch is not passed to the backend');

    // The same connection goes on as HTTP/1.1: a plain relay, then one with a chunked body and the ask again.
    socket.write(post(relay(2)));
    t.equal((await next()).status, 200, 'the next request on the connection');
    const body = relay(3);
    socket.write(`POST / HTTP/1.1\r\nHost: relayer\r\n${ASK_H2C}Content-Type: application/json\r\nRpc-Type: 3\r\nTransfer-Encoding: chunked\r\n\r\n`);
    socket.write(Buffer.concat([Buffer.from(`${(100).toString(16)}\r\n`), body.subarray(0, 100), Buffer.from(`\r\n${(body.length - 100).toString(16)}\r\n`), body.subarray(100), Buffer.from('\r\n0\r\n\r\n')]));
    const chunked = await next();
    t.equal(chunked.status, 200, 'a chunked relay asking for h2c');
    t.ok(checkRelayResponse(new Uint8Array(chunked.body), r.supplierPublicKey).ok, 'signed');
    t.equal(r.backend.calls.length, 3, 'three relays forwarded');
    t.equal((await r.stream()).length, 3, 'and mined');

    const probe = await open(r.url);
    probe.socket.write(`GET /healthz HTTP/1.1\r\nHost: relayer\r\n${ASK_H2C}\r\n`);
    const health = await probe.next();
    t.same([health.status, JSON.parse(health.body.toString())], [200, { status: 'ok' }], "a load balancer's probe asking for h2c");

    if (plugins.includes('transport-websocket')) {
      // WebSocket upgrades still reach the transport: here one without a service id, refused by it.
      const ws = new WebSocket(r.url.replace('http', 'ws'));
      const status = await new Promise<number>((resolve, reject) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
        ws.on('open', () => reject(new Error('opened')));
        ws.on('error', () => {});
      });
      t.equal(status, REJECT_REASONS.missing_service_id.httpStatus, 'a WebSocket upgrade is still the transport’s');
    }
  });
}
