import t from 'tap';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { checkRelayResponse, minedRelayBytes, POKTHTTPResponseCodec, RelayRequestCodec, RelayResponseCodec } from 'relayminer';
import { acceptsGzip } from '../../core/relay/answer-compression.js';
import { gatewayRelay, startRelayer } from '../helpers/relayer.js';

const anvil = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`;
const RPC = { method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":1,"method":"eth_getLogs"}' };

/** A relay POSTed with exactly these headers (node:http adds no Accept-Encoding and decompresses nothing). */
function post(url: string, body: Uint8Array, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'rpc-type': '3', 'content-length': body.length, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(Buffer.from(body));
  });
}

const counted = (metrics: string, stage: string) => Number(new RegExp(`^relayminer_relay_answer_compression_bytes_total\\{stage="${stage}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);

t.test('acceptsGzip reads Accept-Encoding as RFC 9110 does', async (t) => {
  const cases: [string | string[] | undefined, boolean][] = [
    [undefined, false],
    ['', false],
    ['identity', false],
    ['deflate, br', false],
    ['gzip', true],
    ['GZIP', true],
    ['x-gzip', true],
    ['gzip, deflate, br, zstd', true],
    ['br;q=1, gzip;q=0.5', true],
    ['gzip; q=0', false],
    ['gzip;q=0.000', false],
    ['gzip;q=abc', false],
    ['*', true],
    ['*;q=0', false],
    ['gzip;q=0, *', false],
    ['br, *;q=0.1', true],
    [['br', 'gzip'], true],
  ];
  for (const [header, want] of cases) t.equal(acceptsGzip(header), want, JSON.stringify(header));
});

t.test('response_compression: a large answer is gzipped for a client that asks, signed and mined as it was before', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil, relayerYaml: '  response_compression: { enabled: true, min_bytes: 1024 }' });
  const header = await r.header();
  r.backend.state.mode = 'large';
  let signed = 0;
  let sent = 0;
  // 5,000 bytes is compressed on the event loop, 400,000 on zlib's threads.
  for (const size of [5_000, 400_000]) {
    r.backend.state.largeBytes = size;
    const body = gatewayRelay(header, RPC);
    const res = await post(r.url, body, { 'accept-encoding': 'gzip, deflate' });
    t.equal(res.status, 200);
    t.equal(res.headers['content-encoding'], 'gzip', `${size}: gzipped`);
    t.equal(res.headers['vary'], 'accept-encoding');
    t.equal(Number(res.headers['content-length']), res.body.length, 'Content-Length is the gzipped length');
    const answer = gunzipSync(res.body);
    t.ok(res.body.length < answer.length / 10, `${size}: ${answer.length} bytes sent as ${res.body.length}`);
    const check = checkRelayResponse(answer, r.supplierPublicKey);
    t.ok(check.ok, check.ok ? 'the gunzipped answer verifies' : check.why);
    t.equal(POKTHTTPResponseCodec.decode(check.response!.payload).body_bz.length, size, "the backend's whole answer");
    const entry = (await r.stream()).at(-1)!;
    const mined = minedRelayBytes(RelayRequestCodec.decode(body), RelayResponseCodec.decode(answer));
    t.equal(Buffer.from(entry.relay).toString('hex'), Buffer.from(mined).toString('hex'), 'the stream holds the relay of the uncompressed answer');
    signed += answer.length;
    sent += res.body.length;
  }
  const metrics = await r.metrics();
  t.equal(counted(metrics, 'signed'), signed, 'bytes before gzip counted');
  t.equal(counted(metrics, 'sent'), sent, 'bytes after gzip counted');

  // The same relay for clients that do not take gzip: the signed bytes as they are.
  for (const accept of [undefined, 'br', 'gzip;q=0']) {
    const res = await post(r.url, gatewayRelay(header, RPC), accept === undefined ? {} : { 'accept-encoding': accept });
    t.equal(res.headers['content-encoding'], undefined, `Accept-Encoding ${accept}: not compressed`);
    t.equal(res.headers['vary'], 'accept-encoding', 'but it could have been');
    t.ok(checkRelayResponse(res.body, r.supplierPublicKey).ok, 'and verifies as sent');
  }
  // Under min_bytes: as it is, and nothing to vary on.
  r.backend.state.mode = 'ok';
  const small = await post(r.url, gatewayRelay(header, RPC), { 'accept-encoding': 'gzip' });
  t.equal(small.headers['content-encoding'], undefined, 'a small answer is not compressed');
  t.equal(small.headers['vary'], undefined);
  t.ok(checkRelayResponse(small.body, r.supplierPublicKey).ok);
  t.equal(counted(await r.metrics(), 'signed'), signed, 'only gzipped answers are counted');

  // fetch (undici) asks for gzip and decompresses on its own, as Go's HTTP client does.
  r.backend.state.mode = 'large';
  const viaFetch = await fetch(r.url, { method: 'POST', headers: { 'rpc-type': '3' }, body: Buffer.from(gatewayRelay(header, RPC)) });
  t.equal(viaFetch.headers.get('content-encoding'), 'gzip');
  t.ok(checkRelayResponse(new Uint8Array(await viaFetch.arrayBuffer()), r.supplierPublicKey).ok, "a client's transparent decompression yields the signed answer");

  // A streamed answer (6 KB of events) goes out batch by batch, as it comes: never gzipped.
  r.backend.state.mode = 'sse-long';
  const streamed = await post(r.url, gatewayRelay(header, RPC), { 'accept-encoding': 'gzip' });
  t.equal(streamed.status, 200);
  t.equal(streamed.headers['content-encoding'], undefined, 'a streamed answer is not compressed');
  t.ok(streamed.body.length > 6_000, `${streamed.body.length} bytes of signed batches`);
});

t.test('response_compression is off by default: nothing is gzipped, whatever the client accepts', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil });
  const header = await r.header();
  r.backend.state.mode = 'large';
  const res = await post(r.url, gatewayRelay(header, RPC), { 'accept-encoding': 'gzip' });
  t.equal(res.status, 200);
  t.equal(res.headers['content-encoding'], undefined);
  t.equal(res.headers['vary'], undefined);
  t.ok(checkRelayResponse(res.body, r.supplierPublicKey).ok);
  t.notMatch(await r.metrics(), /relayminer_relay_answer_compression_bytes_total/);
});
