import { readFileSync } from 'node:fs';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import t, { type Test } from 'tap';
import { ChainQueryClient, CometClient } from '../../core/chain/index.js';
import { nodeEndpoints } from '../../core/chain/node-endpoints.js';
import { Runtime } from '../../core/runtime/runtime.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { cliAsync } from '../helpers/cli.js';
import { relayerConfig } from '../helpers/config.js';
import { ADDR, KEYS, startTestLocalnet } from '../helpers/localnet-client.js';
import { captureLogs } from '../helpers/logs.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

const TLS_DIR = join(import.meta.dirname, '..', 'fixtures', 'tls');
const CA = join(TLS_DIR, 'ca.pem');

/** TLS in front of a plaintext port (h2 and HTTP/1.1 offered), as a node behind a load balancer is. */
async function tlsProxy(t: Test, target: string): Promise<string> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const server: TlsServer = createTlsServer(
    { key: readFileSync(join(TLS_DIR, 'server.key')), cert: readFileSync(join(TLS_DIR, 'server.pem')), ALPNProtocols: ['h2', 'http/1.1'] },
    (socket) => {
      const upstream = netConnect(port, host);
      sockets.add(socket).add(upstream);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
      upstream.on('close', () => sockets.delete(upstream));
    },
  );
  const sockets = new Set<{ destroy(): void }>();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    // Kept-alive client connections would hold close() open.
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('tls: true | false | auto decides the gRPC transport and the RPC scheme', async (t) => {
  const e = (tls: boolean | 'auto', rpc_url: string, grpc_address: string) => {
    const x = nodeEndpoints({ rpc_url, grpc_address, tls });
    return [x.rpcUrl, x.grpcTls];
  };
  t.same(e('auto', 'http://node:26657', 'node:9090'), ['http://node:26657', false], 'auto: plaintext off 443');
  t.same(e('auto', 'http://node:443', 'node:443'), ['https://node', true], 'auto: TLS on 443');
  t.same(e('auto', 'https://node', 'node:9090'), ['https://node', false], 'an https URL is TLS whatever the mode');
  t.same(e('auto', 'wss://node/', 'node:9090'), ['https://node', false], 'a WebSocket URL names the same RPC');
  t.same(e(true, 'http://node:26657', 'node:9090'), ['https://node:26657', true], 'true: TLS everywhere');
  t.same(e(false, 'http://node:443', 'node:443'), ['http://node:443', false], 'false: none');
});

t.test('a relayer and the relay CLI reach a node over TLS with a private CA (ca_file), and fail clearly without it', async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(11);
  const grpcTls = await tlsProxy(t, net.grpcAddress);
  const rpcTls = await tlsProxy(t, net.rpcAddress);

  // The chain clients alone.
  const query = new ChainQueryClient({ grpc_address: grpcTls, tls: true, ca_file: CA, query_timeout_ms: 3000 });
  t.teardown(() => query.close());
  const app = (await query.call('pocket.application.Query', 'Application', { address: ADDR.app1 })).application as { address: string };
  t.equal(app.address, ADDR.app1, 'gRPC over TLS');
  const comet = new CometClient(`https://${rpcTls}`, 3000, readFileSync(CA));
  t.equal((await comet.status()).latest.height, net.chain.height, 'CometBFT RPC over https');
  const untrusted = new ChainQueryClient({ grpc_address: grpcTls, tls: true, query_timeout_ms: 3000 });
  t.teardown(() => untrusted.close());
  await t.rejects(untrusted.call('pocket.application.Query', 'Application', { address: ADDR.app1 }), /UNAVAILABLE/, 'without the CA: refused, not silently plaintext');

  // A relayer: readiness needs blocks (WebSocket over wss, or polls) and queries.
  const redis = await startRedis(t);
  const config = relayerConfig(redis.url, '', { node: { rpcAddress: rpcTls, grpcAddress: grpcTls } });
  config.relayer!.pocket_node = { ...config.relayer!.pocket_node, rpc_url: `https://${rpcTls}`, tls: true, ca_file: CA };
  const runtime = await Runtime.start({ config, roles: ['relayer'], builtins: BUILTIN_PLUGINS, version: 'test', logger: captureLogs().logger });
  t.teardown(() => runtime.shutdown());
  await until('ready over TLS', async () => (await fetch(`http://${runtime.addresses.health}/ready`)).status === 200);
  // New blocks until one arrives over the WebSocket (wss through the proxy; its subscription may still be opening).
  await until('a block over wss', async () => {
    const seen = new Promise<boolean>((resolve) => {
      runtime.context.relay!.follower.once('block', (_b: unknown, source: string) => resolve(source === 'websocket'));
      setTimeout(() => resolve(false), 500);
    });
    net.chain.advance(1);
    return seen;
  });

  // The relay CLI, against the node only (no relayer listening on :9): it fails at the relay, not at the node.
  const r = await cliAsync(['relay', 'jsonrpc', '--key', KEYS.app1, '--node-grpc', grpcTls, '--node-rpc', `https://${rpcTls}`, '--node-tls', 'true', '--node-ca-file', CA, '--service', 'anvil', '--supplier', ADDR.supplier1, '--relayer', 'http://127.0.0.1:9/']);
  t.match(r.stdout, /^session [0-9a-f]{64} \[11, 20\]\n1 relay\(s\) signed\n/, 'the session and ring came from the node over TLS');
  t.match(r.stdout, /relay 0: connect ECONNREFUSED 127\.0\.0\.1:9/, 'and it failed only at the relayer');
  const plain = await cliAsync(['relay', 'jsonrpc', '--key', KEYS.app1, '--node-grpc', grpcTls, '--node-rpc', `https://${rpcTls}`, '--node-tls', 'true', '--service', 'anvil', '--supplier', ADDR.supplier1]);
  t.equal(plain.code, 1);
  t.match(plain.stderr, /^relayminer: the Pocket node did not answer: status: https:\/\/127\.0\.0\.1:\d+ did not answer \(\w+\)\n$/, 'without the CA: one line');
});
