import t from 'tap';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { checkRelayResponse, POKTHTTPResponseCodec, RelayResponseCodec } from 'relayminer';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';

const anvil = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}/rpc" }`;
const rpc = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => ({ method: 'POST', url: '/', headers, body });

t.test('denied methods and oversized batches are answered by the transport, signed, and never reach the backend', async (t) => {
  const r = await startRelayer(t, { plugins: ['{ name: transport-jsonrpc, options: { max_batch_calls: 3 } }'], services: anvil });
  const header = await r.header();
  const answer = async (body: string) => {
    const res = await postRelay(r.url, gatewayRelay(header, rpc(body)));
    t.equal(res.status, 200);
    const check = checkRelayResponse(res.body, r.supplierPublicKey);
    t.ok(check.ok, check.ok ? 'signed by the supplier' : check.why);
    const http = POKTHTTPResponseCodec.decode(check.response!.payload);
    return { status: http.status_code, contentType: http.header.get('content-type')?.values, json: JSON.parse(Buffer.from(http.body_bz).toString()) as unknown };
  };

  t.same(await answer('{"jsonrpc":"2.0","id":7,"method":"admin_addPeer","params":["enode://x"]}'), {
    status: 200,
    contentType: ['application/json'],
    json: { jsonrpc: '2.0', id: 7, error: { code: -32601, message: 'the method admin_addPeer does not exist/is not available' } },
  }, 'a denied method (admin_* by default): -32601 with the call\'s id');
  t.same((await answer('[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":"b","method":"personal_unlockAccount"},{"jsonrpc":"2.0","method":"eth_chainId"}]')).json, [
    { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'not served: the batch holds a method this supplier does not serve' } },
    { jsonrpc: '2.0', id: 'b', error: { code: -32601, message: 'the method personal_unlockAccount does not exist/is not available' } },
  ], 'a batch holding one: every call answered here, the notification not at all');
  t.same((await answer('[{"jsonrpc":"2.0","id":3,"method":"admin_addPeer"},42]')).json, [
    { jsonrpc: '2.0', id: 3, error: { code: -32601, message: 'the method admin_addPeer does not exist/is not available' } },
    { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'not served: the batch holds a method this supplier does not serve' } },
  ], 'a batch element that is not an object does not let the rest through unread');
  t.same((await answer(JSON.stringify(Array.from({ length: 4 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_blockNumber' }))))).json, {
    jsonrpc: '2.0',
    id: null,
    error: { code: -32600, message: 'batch too large: at most 3 calls' },
  }, 'four calls past max_batch_calls 3: one error, as geth answers');
  // geth, erigon and CometBFT read requests with Go's encoding/json, which matches keys whatever their case
  // and keeps the last one sent, and geth reads a body's first JSON value only (test/vectors/jsonrpc): these
  // are calls of admin_addPeer to them.
  for (const [body, why] of [
    ['{"jsonrpc":"2.0","id":8,"Method":"admin_addPeer","params":["enode://x"]}', 'the method key capitalised'],
    ['{"jsonrpc":"2.0","id":8,"method":"eth_chainId","METHOD":"admin_addPeer"}', 'an allowed method, then the key again in capitals'],
    ['{"jsonrpc":"2.0","id":8,"method":"admin_addPeer"} and bytes geth never reads', 'trailing bytes after the call (geth reads the first JSON value)'],
  ] as const) {
    t.same((await answer(body)).json, { jsonrpc: '2.0', id: 8, error: { code: -32601, message: 'the method admin_addPeer does not exist/is not available' } }, why);
  }
  t.equal(r.backend.calls.length, 0, 'the backend saw none of them');

  const served = await postRelay(r.url, gatewayRelay(header, rpc('[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}]')));
  t.equal(served.status, 200);
  t.equal(r.backend.calls.length, 1, 'a batch within the limit and with no denied method is forwarded whole');

  const metrics = await r.metrics();
  t.match(metrics, /relayminer_jsonrpc_calls_total\{service="anvil",method="admin_addPeer",outcome="refused"\} 5/);
  t.match(metrics, /relayminer_jsonrpc_calls_total\{service="anvil",method="eth_blockNumber",outcome="refused"\} 1/);
  t.match(metrics, /relayminer_jsonrpc_calls_total\{service="anvil",method="eth_blockNumber",outcome="forwarded"\} 1/);
  t.match(metrics, /relayminer_jsonrpc_calls_total\{service="anvil",method="batch",outcome="refused"\} 4/);
  t.match(metrics, /relayminer_relays_total\{service="anvil",rpc_type="jsonrpc",outcome="served"\} 8/, 'answers given here are served relays (signed, mined), as a node without the namespace would answer');
});

t.test('by default the debug methods that rewind, rewrite or stall a node, or write files on its host, and CometBFT\'s node routes are refused; traces are served', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: anvil });
  const header = await r.header();
  const call = async (method: string, params: unknown[]) => {
    const res = await postRelay(r.url, gatewayRelay(header, rpc(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }))));
    return JSON.parse(Buffer.from(POKTHTTPResponseCodec.decode(checkRelayResponse(res.body, r.supplierPublicKey).response!.payload).body_bz).toString()) as { error?: { message: string }; result?: unknown };
  };
  const harmful: [string, unknown[]][] = [
    ['debug_setHead', ['0x1']],
    ['debug_writeMemProfile', ['/home/geth/.ethereum/geth/nodekey']],
    ['debug_setGCPercent', [-1]],
    ['debug_chaindbCompact', []],
    ['debug_cpuProfile', ['/tmp/p', 86400]],
    ['debug_resetHead', ['0x' + '00'.repeat(32)]],
    ['debug_deleteChainSlice', [1]],
    ['clique_propose', ['0x' + '11'.repeat(20), true]],
    ['unsafe_flush_mempool', []], // a jsonrpc backend may be a CometBFT RPC port
    ['dial_peers', []],
  ];
  for (const [method, params] of harmful) t.same(await call(method, params), { jsonrpc: '2.0', id: 1, error: { code: -32601, message: `the method ${method} does not exist/is not available` } }, method);
  t.equal(r.backend.calls.length, 0, 'none reached the node');
  // A CometBFT RPC port behind a jsonrpc backend serves its routes as URIs too.
  const uri = async (url: string) => {
    const res = await postRelay(r.url, gatewayRelay(header, { method: 'GET', url }));
    return JSON.parse(Buffer.from(POKTHTTPResponseCodec.decode(checkRelayResponse(res.body, r.supplierPublicKey).response!.payload).body_bz).toString()) as unknown;
  };
  t.same(await uri('/dial_seeds?seeds=["a@1.2.3.4:26656"]'), { jsonrpc: '2.0', id: null, error: { code: -32601, message: 'the method dial_seeds does not exist/is not available' } }, 'GET /dial_seeds');
  t.same(await uri('/unsafe%5Fflush_mempool/'), { jsonrpc: '2.0', id: null, error: { code: -32601, message: 'the method unsafe_flush_mempool does not exist/is not available' } }, 'encoded, with a trailing slash');
  t.equal(r.backend.calls.length, 0, 'none reached the node');
  t.equal((await postRelay(r.url, gatewayRelay(header, { method: 'GET', url: '/status' }))).status, 200);
  t.equal(r.backend.calls.length, 1, 'a route not denied is forwarded');
  for (const method of ['debug_traceTransaction', 'debug_traceCall', 'debug_getRawBlock', 'trace_block']) t.same(await call(method, ['0x1']), { jsonrpc: '2.0', id: 1, result: `answer to ${method}` }, `${method}: forwarded`);
  t.equal(r.backend.calls.length, 5);
});

t.test('the backend gets Content-Type: application/json when the relay carries none; other bodies pass as they are', async (t) => {
  const r = await startRelayer(t, { plugins: ['{ name: transport-jsonrpc, options: { deny_methods: [] } }'], services: anvil });
  const header = await r.header();
  t.equal((await postRelay(r.url, gatewayRelay(header, rpc('{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo"}', {})))).status, 200);
  t.equal((await postRelay(r.url, gatewayRelay(header, rpc('not json at all', { 'content-type': 'text/plain' })))).status, 200);
  t.same(
    r.backend.calls.map((c) => [c.body, c.headers['content-type']]),
    [
      ['{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo"}', 'application/json'],
      ['not json at all', 'text/plain'],
    ],
    'deny_methods: [] forwards admin_*; a body that is not JSON-RPC (Rpc-Type may name the wrong protocol) is untouched',
  );
});

t.test('a compressed body is read as a decompressing backend reads it, and forwarded decoded', async (t) => {
  // geth reads a body as sent; a backend or proxy that undoes Content-Encoding would run a gzipped admin_addPeer.
  const services = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}/rpc", max_body_bytes: 4096 }`;
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services });
  const header = await r.header();
  const send = async (body: Uint8Array, encoding: string) => {
    const res = await postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', headers: { 'content-type': 'application/json', 'Content-Encoding': encoding }, body }));
    t.equal(res.status, 200);
    const relay = RelayResponseCodec.decode(res.body);
    if (relay.relay_miner_error) return { refused: relay.relay_miner_error.message };
    return { json: JSON.parse(Buffer.from(POKTHTTPResponseCodec.decode(relay.payload).body_bz).toString()) as unknown };
  };
  const addPeer = Buffer.from('{"jsonrpc":"2.0","id":8,"method":"admin_addPeer","params":["enode://x"]}');
  const denied = { json: { jsonrpc: '2.0', id: 8, error: { code: -32601, message: 'the method admin_addPeer does not exist/is not available' } } };
  t.same(await send(gzipSync(addPeer), 'gzip'), denied, 'gzip');
  t.same(await send(gzipSync(addPeer), 'X-GZIP'), denied, 'x-gzip, in capitals');
  t.same(await send(deflateSync(addPeer), 'deflate'), denied, 'deflate');
  t.same(await send(brotliCompressSync(addPeer), 'br'), denied, 'br');
  t.same(await send(brotliCompressSync(gzipSync(addPeer)), 'gzip, identity, br'), denied, 'gzip then br: undone in reverse');
  t.same(await send(gzipSync(Buffer.from('[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"personal_sign"}]')), 'gzip'), {
    json: [
      { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'not served: the batch holds a method this supplier does not serve' } },
      { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'the method personal_sign does not exist/is not available' } },
    ],
  }, 'a gzipped batch holding a denied call');
  t.match(await send(addPeer, 'compress'), { refused: 'content encoding "compress" is not one the relayer can read' }, 'a coding the relayer cannot read: refused, never forwarded unread');
  t.match(await send(addPeer, 'gzip'), { refused: /: gzip body does not decode: incorrect header check$/ }, 'a body that is not what its header says');
  t.match(await send(addPeer, 'constructor'), { refused: 'content encoding "constructor" is not one the relayer can read' }, 'a coding named like an object property is no coding');
  t.match(await send(gzipSync(gzipSync(gzipSync(gzipSync(gzipSync(addPeer))))), 'gzip, gzip, gzip, gzip, gzip'), { refused: '5 content encodings, at most 4 are read' }, 'nor more codings than any client applies');
  t.match(await send(gzipSync(Buffer.alloc(5000, 0x20)), 'gzip'), { refused: 'gzip body decodes past 4096 bytes' }, 'a body that decodes past the backend\'s max_body_bytes');
  t.equal(r.backend.calls.length, 0, 'the backend saw none of them');

  const chainId = '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}';
  t.same(await send(brotliCompressSync(Buffer.from(chainId)), 'br'), { json: { jsonrpc: '2.0', id: 1, result: 'answer to eth_chainId' } }, 'an allowed call is served');
  t.same(r.backend.calls.map((c) => [c.body, c.headers['content-encoding']]), [[chainId, undefined]], 'forwarded decoded, without the header: what was checked is what the backend reads');
  const metrics = await r.metrics();
  t.match(metrics, /relayminer_relay_rejections_total\{service="anvil",rpc_type="jsonrpc",reason="malformed_payload"\} 4/);
  t.match(metrics, /relayminer_relay_rejections_total\{service="anvil",rpc_type="jsonrpc",reason="body_too_large"\} 1/);
});

t.test('a compressed body draws on the large-bodies budget: the most it may decode to while it decodes, then its size until answered', async (t) => {
  const services = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}/rpc", max_body_bytes: 1048576, timeout_ms: 1500 }`;
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services, relayerYaml: '  limits: { large_bodies_bytes: 1048576 }' });
  const header = await r.header();
  const gzipped = (body: string) => gatewayRelay(header, { method: 'POST', url: '/', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(Buffer.from(body)) });
  const large = `{"jsonrpc":"2.0","id":1,"method":"eth_call","params":["${'0'.repeat(600_000)}"]}`;
  r.backend.state.mode = 'slow';
  const held = postRelay(r.url, gzipped(large));
  for (let tries = 0; r.backend.calls.length === 0 && tries < 200; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(r.backend.calls.length, 1, 'the large relay reached the backend, which does not answer');
  t.equal(await r.largeBodyBytes(), large.length, 'its decoded body is held on the budget, not the most it might have been');
  const refused = RelayResponseCodec.decode((await postRelay(r.url, gzipped('{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}'))).body);
  t.match(refused.relay_miner_error?.message, /^relayer busy, retry later: a compressed body may decode to 1048576 bytes: \d+ bytes of large bodies held$/, 'another compressed relay cannot decode to max_body_bytes beside it');
  t.equal((await held).status, 200);
  t.equal(await r.largeBodyBytes(), 0, 'once the first is answered (its backend timed out), nothing is held');
  r.backend.state.mode = 'ok';
  const served = RelayResponseCodec.decode((await postRelay(r.url, gzipped('{"jsonrpc":"2.0","id":3,"method":"eth_chainId"}'))).body);
  t.equal(served.relay_miner_error, undefined, 'and a compressed relay is served again');
  t.equal(await r.largeBodyBytes(), 0, 'a small decoded body holds nothing once decoded');
  t.match(await r.metrics(), /relayminer_relay_rejections_total\{service="anvil",rpc_type="jsonrpc",reason="relayer_busy"\} 1/);
});
