import { join } from 'node:path';
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { ChainQueryClient, CometClient } from '../../core/chain/index.js';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { POKTHTTPResponseCodec } from '../../core/protocol/index.js';
import { freePort } from '../../core/redis/local-server.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest } from '../../core/relay/relay-client.js';
import { ADDR, KEYS, key } from '../helpers/localnet-client.js';
import { until } from '../helpers/until.js';
import { startProcess } from '../helpers/process.js';
import { cli } from '../helpers/cli.js';

t.test('start --dev (what npm start runs) brings up a private redis-server and both roles, and leaves nothing behind', async (t) => {
  const [grpcPort, rpcPort] = [await freePort(), await freePort()];
  const env = {
    REDIS_URL: '',
    DEVNET_RELAY_PORT: '0',
    DEVNET_HEALTH_PORT: '0',
    DEVNET_METRICS_PORT: '0',
    DEVNET_MINER_METRICS_PORT: '0',
    DEVNET_RPC_PORT: String(rpcPort),
    DEVNET_GRPC_PORT: String(grpcPort),
    DEVNET_BACKEND_PORT: '0',
    DEVNET_WS_BACKEND_PORT: '0',
    DEVNET_GRPC_BACKEND_PORT: '0',
    DEVNET_RELAY_GRPC_PORT: '0',
    DEVNET_MINER2_METRICS_PORT: '0',
  };
  const p = await startProcess(['start', '--dev'], env);
  const started = p.lines.find((l) => l.msg === 'relayminer started')!;
  t.equal(started.roles, 'relayer,miner', 'every line names its roles, once');
  const minerStarted = p.lines.find((l) => l.msg === 'miner started')!;
  t.same([minerStarted.component, minerStarted.server], ['miner', undefined], "a plugin's line names the plugin and no listener");
  t.ok(p.lines.some((l) => l.msg === `relay listener at http://${p.addresses.relay}`), 'the relay listener names itself');
  const redisUrl = started.redis as string;
  t.match(redisUrl, /^redis:\/\/127\.0\.0\.1:\d+$/);
  t.same(started.suppliers, ['pokt1tt7l5gu99zdpc7qnaty77xspta94dprls4xwz7'], "the localnet genesis's supplier1");
  const ready = await fetch(`http://${p.addresses.health}/ready`);
  t.equal(ready.status, 200, 'ready: Redis answers and the embedded chain produces blocks');
  t.match(JSON.parse(await ready.text()), { checks: { redis: { ok: true }, chain: { ok: true } } });

  // A gateway's relay through the devnet: localnet session, relayer, demo backend, signed answer.
  const q = new ChainQueryClient({ grpc_address: `127.0.0.1:${grpcPort}`, tls: false, query_timeout_ms: 2000 });
  t.teardown(() => q.close());
  const latest = (await new CometClient(`http://127.0.0.1:${rpcPort}`).status()).latest.height;
  const header = (await q.session(ADDR.app1, 'anvil', BigInt(latest))).header;
  const relay = encodeRelayRequest(
    buildRelayRequest({
      header,
      supplierAddress: ADDR.supplier1,
      payload: encodeHttpPayload({ body: '{"jsonrpc":"2.0","id":7,"method":"eth_chainId"}' }),
      signerKey: key(KEYS.gateway1),
      ring: [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k))),
    }),
  );
  const res = await fetch(`http://${p.addresses.relay}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'rpc-type': '3' }, body: Buffer.from(relay) });
  t.equal(res.status, 200);
  const check = checkRelayResponse(new Uint8Array(await res.arrayBuffer()), publicKeyFromPrivateKey(key(KEYS.supplier1)));
  t.ok(check.ok, check.ok ? 'signed by the devnet supplier' : check.why);
  t.equal(Buffer.from(POKTHTTPResponseCodec.decode(check.response!.payload).body_bz).toString(), '{"jsonrpc":"2.0","id":7,"result":"0x7a69"}');

  // The same through `relayminer relay`: 20 distinct gateway-signed relays, every signature checked.
  const client = cli([
    'relay', 'jsonrpc',
    '--relayer', `http://${p.addresses.relay}/`,
    '--node-grpc', `127.0.0.1:${grpcPort}`,
    '--node-rpc', `http://127.0.0.1:${rpcPort}`,
    '--key', KEYS.gateway1,
    '--app', ADDR.app1,
    '--service', 'anvil',
    '--supplier', ADDR.supplier1,
    '--count', '20',
    '--concurrency', '4',
  ]);
  t.equal(client.code, 0, client.stderr);
  t.match(client.stdout, /^20\/20 ok, signatures verified; \d+ relays\/s; p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms$/m);
  // Signed by the application itself, its key read from pocketd's keyring (poktroll's localnet keyring holds app1).
  const fromKeyring = cli(['relay', 'jsonrpc', '--relayer', `http://${p.addresses.relay}/`, '--node-grpc', `127.0.0.1:${grpcPort}`, '--node-rpc', `http://127.0.0.1:${rpcPort}`, '--key-name', 'app1', '--home', join(import.meta.dirname, '..', 'vectors', 'keyring', 'pocketd-home'), '--service', 'anvil', '--supplier', ADDR.supplier1, '--count', '2']);
  t.equal(fromKeyring.code, 0, fromKeyring.stderr);
  t.match(fromKeyring.stdout, /^2\/2 ok, signatures verified;/m);
  const wrongSupplier = cli(['relay', 'jsonrpc', '--relayer', `http://${p.addresses.relay}/`, '--node-grpc', `127.0.0.1:${grpcPort}`, '--node-rpc', `http://127.0.0.1:${rpcPort}`, '--key', KEYS.gateway1, '--app', ADDR.app1, '--service', 'anvil', '--supplier', ADDR.supplier2]);
  t.equal(wrongSupplier.code, 1, 'a refused relay makes the client exit 1');
  t.match(wrongSupplier.stdout, /relay 0: relay miner error 9: supplier key not loaded by this relayer/);
  // What the node refuses is said as its answer, not as a node that did not answer; a relayer that cannot be
  // reached fails each relay, and no latency is made up for answers that never came.
  const unknownSupplier = cli(['relay', 'jsonrpc', '--relayer', `http://${p.addresses.relay}/`, '--node-grpc', `127.0.0.1:${grpcPort}`, '--node-rpc', `http://127.0.0.1:${rpcPort}`, '--key', KEYS.gateway1, '--app', ADDR.app1, '--service', 'anvil', '--supplier', 'pokt1nosuchsupplier']);
  t.equal(unknownSupplier.code, 1);
  t.match(unknownSupplier.stderr, /^relayminer: the Pocket node refused the query: cosmos\.auth\.v1beta1\.Query\/Account: NOT_FOUND: .*pokt1nosuchsupplier.*\n$/);
  const closedPort = await freePort();
  const noRelayer = cli(['relay', 'jsonrpc', '--relayer', `http://127.0.0.1:${closedPort}/`, '--node-grpc', `127.0.0.1:${grpcPort}`, '--node-rpc', `http://127.0.0.1:${rpcPort}`, '--key', KEYS.gateway1, '--app', ADDR.app1, '--service', 'anvil', '--supplier', ADDR.supplier1, '--count', '2']);
  t.equal(noRelayer.code, 1);
  t.match(noRelayer.stdout, new RegExp(`^relay 0: connect ECONNREFUSED 127\\.0\\.0\\.1:${closedPort}$`, 'm'));
  t.equal(noRelayer.stdout.trimEnd().split('\n').at(-1), '0/2 ok');

  // Simulated relays (the devnet pins app2 and gateway1 as devnet-health): each signature checked, nothing mined.
  const simulate = ['--relayer', `http://${p.addresses.relay}/`, '--node-grpc', `127.0.0.1:${grpcPort}`, '--node-rpc', `http://127.0.0.1:${rpcPort}`, '--key', KEYS.gateway1, '--service', 'anvil', '--supplier', ADDR.supplier1];
  const app2 = Buffer.from(publicKeyFromPrivateKey(key(KEYS.app2))).toString('hex');
  const simulated = cli(['relay', 'jsonrpc', ...simulate, '--simulate', 'devnet-health', '--sim-app-pubkey', app2, '--count', '3']);
  t.equal(simulated.code, 0, simulated.stderr);
  t.match(simulated.stdout, `simulated relays as identity devnet-health (application ${ADDR.app2})`);
  t.match(simulated.stdout, /^3\/3 ok, signatures verified;/m);
  const unknownIdentity = cli(['relay', 'jsonrpc', ...simulate, '--simulate', 'nobody', '--sim-app-pubkey', app2]);
  t.equal(unknownIdentity.code, 1);
  t.match(unknownIdentity.stdout, 'relay 0: relay miner error 1: simulation rejected: unknown key_id "nobody"');
  // Over WebSocket: a subscription whose request is a simulated relay; no session to roll over, so any time will do.
  const simulatedWs = cli(['relay', 'websocket', ...simulate, '--simulate', 'devnet-health', '--sim-app-pubkey', app2, '--data', '{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}', '--count', '2']);
  t.equal(simulatedWs.code, 0, simulatedWs.stdout + simulatedWs.stderr);
  t.match(simulatedWs.stdout, /^2\/2 ok, signatures verified; /m);

  const node = ['--node-grpc', `127.0.0.1:${grpcPort}`, '--node-rpc', `http://127.0.0.1:${rpcPort}`, '--key', KEYS.gateway1, '--app', ADDR.app1, '--service', 'anvil', '--supplier', ADDR.supplier1];
  // WebSocket: a subscription on the demo backend (one event a second), every message's signature checked.
  // It lasts ~3 s after the client has started (seconds more on a loaded machine), so it starts with at
  // least 7 of the session's 10 one-second blocks left: a subscription that straddles a session rollover
  // is answered 410 by design (tested in the websocket plugin).
  const comet = new CometClient(`http://127.0.0.1:${rpcPort}`);
  await until('a fresh session', async () => {
    const inSession = Number((await comet.status()).latest.height) % 10;
    return inSession >= 1 && inSession <= 3;
  });
  const ws = cli(['relay', 'websocket', '--relayer', `http://${p.addresses.relay}/`, ...node, '--data', '{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}', '--count', '3']);
  t.equal(ws.code, 0, ws.stdout + ws.stderr);
  t.match(ws.stdout, /^3 message\(s\) on 1 connection\(s\)$/m);
  t.match(ws.stdout, /^3\/3 ok, signatures verified; /m);
  // gRPC: unary Echo ("hello") and the server-streaming Count (to 3) of demo.v1.Demo.
  const unary = cli(['relay', 'grpc', '--relayer', p.addresses.grpc!, ...node, '--path', '/demo.v1.Demo/Echo', '--data', '0a0568656c6c6f']);
  t.equal(unary.code, 0, unary.stdout + unary.stderr);
  const echoReply = `00000000340a0568656c6c6f122b${Buffer.from(ADDR.supplier1).toString('hex')}`; // EchoReply{hello, supplier}
  t.match(unary.stdout, new RegExp(`^${echoReply}$`, 'm'), 'the Echo reply frame: the message and the Pocket-Supplier the backend saw');
  const streamed = cli(['relay', 'grpc', '--stream', '--relayer', p.addresses.grpc!, ...node, '--path', '/demo.v1.Demo/Count', '--data', '0803', '--count', '2']);
  t.equal(streamed.code, 0, streamed.stdout + streamed.stderr);
  t.match(streamed.stdout, /^2\/2 ok, signatures verified; /m);
  // The built-in traffic: verified relays on all five transports, and the miners settling a session
  // (1 s blocks, 10-block sessions: the first settles at height 20).
  await until('a settled session in the devnet status line', () => /sessions: [^|]*settled [1-9][^|]*\| settled [1-9]\d* uPOKT/.test(p.stderr()), 60_000);
  const status = p.stderr().split('\n').filter((l) => l.startsWith('devnet: height')).at(-1)!;
  const nonZero = '[\\d.]*[1-9][\\d.]*';
  t.match(status, new RegExp(`verified relays/s: jsonrpc ${nonZero}, rest ${nonZero}, cometbft ${nonZero}, websocket ${nonZero}, grpc ${nonZero} \\(failed 0\\)`), status);
  t.match(p.stderr(), /devnet: second miner replica \(devnet-b\) started/);
  t.match(status, /lease: devnet-[ab] \|/);
  p.child.kill('SIGINT');
  t.equal(await p.exit, 0);
  const port = redisUrl.split(':').at(-1)!;
  const secondPid = Number(/second miner replica \(devnet-b\) started, pid (\d+)/.exec(p.stderr())?.[1]);
  t.throws(() => process.kill(secondPid, 0), { code: 'ESRCH' }, 'the second miner replica is gone');
  const left = spawnSync('redis-cli', ['-p', port, 'ping'], { encoding: 'utf8' });
  t.notMatch(left.stdout, 'PONG', 'the private redis-server is gone');
});
