import t from 'tap';
import { createServer, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { grpcFrame, type ResolvedBackend } from 'relayminer';
import { H2Backend } from '../h2-backend.js';

t.test("a gRPC backend URL's own user and password are sent as basic auth, decoded; the backend's auth otherwise", async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer();
  server.on('stream', (stream, headers) => {
    seen.push(headers);
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(grpcFrame(new Uint8Array(0)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const backend = (url: string, o: Partial<ResolvedBackend> = {}) => {
    const b = new H2Backend({ urls: [url], headers: { 'x-api-key': 'k' }, timeout_ms: 2000, ...o } as ResolvedBackend);
    t.teardown(() => b.close());
    return b;
  };
  const call = async (b: H2Backend) => (await b.call({ path: '/demo.v1.Demo/Echo', headers: {}, body: grpcFrame(new Uint8Array(0)) }, {})).read(1024);

  await call(backend(`grpc://node%40provider:p%3Ass@127.0.0.1:${port}`));
  await call(backend(`grpc://127.0.0.1:${port}`, { auth: { bearer_token: 'tok' } }));
  await call(backend(`grpc://127.0.0.1:${port}`));
  t.same(
    seen.map((h) => [h.authorization, h['x-api-key']]),
    [
      [`Basic ${Buffer.from('node@provider:p:ss').toString('base64')}`, 'k'],
      ['Bearer tok', 'k'],
      [undefined, 'k'],
    ],
  );
});
