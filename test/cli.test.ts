import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ChainQueryClient, CometClient } from '../core/chain/index.js';
import { publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { defaultRingBackend } from '../core/crypto/ring/signature.js';
import { supplierSignatureBackend } from '../core/crypto/supplier-signature.js';
import { POKTHTTPResponseCodec } from '../core/protocol/index.js';
import { freePort } from '../core/redis/local-server.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest } from '../core/relay/relay-client.js';
import { TEST_KEYS } from './helpers/config.js';
import { ADDR, KEYS, key, startTestLocalnet } from './helpers/localnet-client.js';
import { until } from './helpers/until.js';
import { startProcess } from './helpers/process.js';
import { startRedis } from './helpers/redis.js';

// The CLI as operators run it: the compiled bin from dist/ (npm test builds first).
const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('validate: each example passes', async (t) => {
  for (const f of ['config.relayer.yaml', 'config.miner.yaml', 'config.devnet.yaml', 'config.with-plugin.yaml']) {
    const r = cli(['validate', '-c', `examples/${f}`]);
    t.equal(r.code, 0, `${f}: ${r.stderr}`);
    t.match(r.stdout, new RegExp(`^ok: examples/${f.replace('.', '\\.')}: `));
  }
  t.equal(cli(['validate', '-c', 'examples/config.relayer.yaml']).stdout, 'ok: examples/config.relayer.yaml: relayer (1 supplier key(s)); 2 service(s); 0 plugin(s)\n');
});

t.test('validate: a broken copy exits 1 with the file, line and path of each problem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-cli-'));
  const relayer = join(dir, 'relayer.yaml');
  writeFileSync(relayer, readFileSync(join(ROOT, 'examples/config.relayer.yaml'), 'utf8').replace('listen_address: ":8080"', 'listen_adress: ":8080"'));
  const r = cli(['validate', '-c', relayer]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, `${relayer}: 1 problem`);
  t.match(r.stderr, `${relayer}:5:3: relayer.listen_adress: unknown key; did you mean "listen_address"?`);

  const miner = join(dir, 'miner.yaml');
  copyFileSync(join(ROOT, 'examples/config.miner.yaml'), miner);
  writeFileSync(miner, readFileSync(miner, 'utf8').replace('metrics_address: ":9092"', 'metrics_address: 9092').replace('gas_adjustment: 1.7', 'gas_adjustment: "high"'));
  const m = cli(['validate', '-c', miner]);
  t.equal(m.code, 1);
  t.match(m.stderr, `${miner}: 2 problems`);
  t.match(m.stderr, `${miner}:9:3: miner.metrics_address: must be a string, got number (9092)`);
  t.match(m.stderr, `${miner}:14:5: miner.transaction.gas_adjustment: must be a number, got a string ("high")`);
  // Cross-field checks (keys, urls) run once the file has the right shape: the copy has no keys file.
  writeFileSync(miner, readFileSync(join(ROOT, 'examples/config.miner.yaml'), 'utf8'));
  const k = cli(['validate', '-c', miner]);
  t.equal(k.code, 1);
  t.match(k.stderr, `keys.keys_file: cannot read keys file ${join(dir, 'keys/supplier-keys.example.yaml')}: file not found`);

  const none = cli(['validate', '-c', join(dir, 'missing.yaml')]);
  t.equal(none.code, 1);
  t.match(none.stderr, 'missing.yaml: 1 problem\n  ' + join(dir, 'missing.yaml') + ': (root): file not found');
});

t.test('version, help, and commands that arrive later', async (t) => {
  t.equal(cli(['version']).stdout, `relayminer ${VERSION}\n`);
  t.equal(cli(['--version']).stdout, `${VERSION}\n`);
  for (const sub of ['relayer', 'miner', 'start', 'validate', 'version', 'localnet', 'relay', 'redis']) {
    const r = cli([sub, '--help']);
    t.equal(r.code, 0, `${sub} --help`);
    t.match(r.stdout, `Usage: relayminer ${sub}`);
  }
  const noConfig = cli(['redis', 'sessions']);
  t.equal(noConfig.code, 1);
  t.match(noConfig.stderr, "required option '-c, --config <file>' not specified");
  const badView = cli(['redis', 'everything', '-c', 'x.yaml']);
  t.equal(badView.code, 1);
  t.match(badView.stderr, 'redis: unknown view "everything" (sessions, streams, leases, submissions)');
  const pigeon = cli(['relay', 'carrier-pigeon', '--key', 'aa', '--service', 'x', '--supplier', 'y']);
  t.equal(pigeon.code, 1);
  t.match(pigeon.stderr, 'relay: unknown transport "carrier-pigeon" (jsonrpc, rest, cometbft, websocket, grpc)');
  const r = cli(['relayer']);
  t.equal(r.code, 1);
  t.match(r.stderr, "required option '-c, --config <file>' not specified");
});


t.test('relayer: SIGTERM drains and exits 0, logging each shutdown step in order', async (t) => {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-cli-'));
  const file = join(dir, 'relayer.yaml');
  writeFileSync(
    file,
    `relayer:\n  listen_address: "127.0.0.1:0"\n  health_address: "127.0.0.1:0"\n  metrics_address: "127.0.0.1:0"\n  redis: { url: "${redis.url}" }\n  pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\nshutdown: { readiness_delay_ms: 200 }\nlogging: { format: json }\n`,
  );
  const p = await startProcess(['relayer', '-c', file], { KEY: TEST_KEYS.app1.hex });
  t.equal((await fetch(`http://${p.addresses.health}/ready`)).status, 200);
  const startedLine = p.lines.find((l) => l.msg === 'relayminer started')!;
  t.same(startedLine.suppliers, [TEST_KEYS.app1.address]);
  t.same(startedLine.crypto, { ring: defaultRingBackend().name, supplier: supplierSignatureBackend }, 'the log names the curve arithmetic in use');
  t.notMatch(JSON.stringify(p.lines), TEST_KEYS.app1.hex, 'the key never reaches the log');
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0);
  const steps = p.lines.filter((l) => typeof l.shutdown_step === 'string').map((l) => l.shutdown_step);
  t.same(steps, ['draining', 'listeners_closed', 'plugins_closed', 'redis_closed', 'operator_servers_closed', 'stopped']);
  t.equal(p.lines.find((l) => l.msg === 'shutting down')?.reason, 'SIGTERM');
});

t.test('a second signal exits at once', async (t) => {
  const redis = await startRedis(t);
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-cli-'));
  const file = join(dir, 'miner.yaml');
  writeFileSync(
    file,
    `miner:\n  metrics_address: "127.0.0.1:0"\n  redis: { url: "${redis.url}" }\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\nshutdown: { readiness_delay_ms: 10000 }\nlogging: { format: json }\n`,
  );
  const p = await startProcess(['miner', '-c', file], { KEY: TEST_KEYS.app1.hex });
  p.child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await fetch(`http://${p.addresses.metrics}/ready`)).status, 503, 'draining');
  const before = Date.now();
  p.child.kill('SIGINT');
  t.equal(await p.exit, 1);
  t.ok(Date.now() - before < 2000, 'without waiting out the 10 s readiness delay');
  t.ok(p.lines.some((l) => l.msg === 'second signal: exiting without waiting'));
});

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
  t.same(started.roles, ['relayer', 'miner']);
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
  const wrongSupplier = cli(['relay', 'jsonrpc', '--relayer', `http://${p.addresses.relay}/`, '--node-grpc', `127.0.0.1:${grpcPort}`, '--node-rpc', `http://127.0.0.1:${rpcPort}`, '--key', KEYS.gateway1, '--app', ADDR.app1, '--service', 'anvil', '--supplier', ADDR.supplier2]);
  t.equal(wrongSupplier.code, 1, 'a refused relay makes the client exit 1');
  t.match(wrongSupplier.stdout, /relay 0: relay miner error 9: supplier key not loaded by this relayer/);

  const node = ['--node-grpc', `127.0.0.1:${grpcPort}`, '--node-rpc', `http://127.0.0.1:${rpcPort}`, '--key', KEYS.gateway1, '--app', ADDR.app1, '--service', 'anvil', '--supplier', ADDR.supplier1];
  // WebSocket: a subscription on the demo backend (one event a second), every message's signature checked.
  // It lasts ~3 s, so it starts with at least 4 of the session's 10 one-second blocks left: a subscription
  // that straddles a session rollover is answered 410 by design (tested in the websocket plugin).
  const comet = new CometClient(`http://127.0.0.1:${rpcPort}`);
  await until('a fresh session', async () => {
    const inSession = Number((await comet.status()).latest.height) % 10;
    return inSession >= 1 && inSession <= 6;
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

t.test('localnet: the default genesis serves CometBFT RPC until SIGTERM', async (t) => {
  const p = await startProcess(['localnet', '--rpc-address', '127.0.0.1:0', '--grpc-address', '127.0.0.1:0'], {}, 'localnet started');
  const status = (await (await fetch(`http://${p.addresses.rpc}/status`)).json()) as { result: { node_info: { network: string } } };
  t.equal(status.result.node_info.network, 'pocket');
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0);
});

t.test('relayer --workers 2: the primary serves one /metrics for all workers, counting each relay once', async (t) => {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const [relayPort, healthPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-cli-'));
  const file = join(dir, 'relayer.yaml');
  writeFileSync(
    file,
    `relayer:\n  listen_address: "127.0.0.1:${relayPort}"\n  health_address: "127.0.0.1:${healthPort}"\n  metrics_address: "127.0.0.1:${metricsPort}"\n  redis: { url: "${redis.url}" }\n  pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\nservices:\n  anvil:\n    backends:\n      jsonrpc: { url: "http://127.0.0.1:9" }\nplugins: [transport-jsonrpc]\nshutdown: { readiness_delay_ms: 0 }\nlogging: { format: json }\n`,
  );
  const p = await startProcess(['relayer', '-c', file, '--workers', '2'], { KEY: TEST_KEYS.app1.hex });
  t.teardown(() => void p.child.kill('SIGKILL'));
  await until('both workers started', () => p.lines.filter((l) => l.msg === 'relayminer started').length === 2);
  // New connections each time, so the primary hands them to both workers in turn.
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`http://127.0.0.1:${relayPort}/`, { method: 'POST', body: 'not a relay', headers: { connection: 'close' } });
    await res.arrayBuffer();
  }
  const workers = new Set(p.lines.filter((l) => l.msg === 'relayminer started').map((l) => l.pid));
  t.equal(workers.size, 2, 'two worker processes');
  for (let scrape = 0; scrape < 3; scrape++) {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const rejected = [...text.matchAll(/^relayminer_relay_rejections_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    t.equal(rejected, 10, `scrape ${scrape + 1}: the ten refused relays of both workers`);
    t.match(text, /^relayminer_build_info\{[^}]*\} 1$/m, 'build info once, not once per worker');
  }
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0, 'the primary drains the workers and exits 0');
});
