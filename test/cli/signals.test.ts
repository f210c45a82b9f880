import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRingBackend } from '../../core/crypto/ring/signature.js';
import { supplierSignatureBackend } from '../../core/crypto/supplier-signature.js';
import { TEST_KEYS } from '../helpers/config.js';
import { startTestLocalnet } from '../helpers/localnet-client.js';
import { until } from '../helpers/until.js';
import { startProcess } from '../helpers/process.js';
import { startRedis } from '../helpers/redis.js';
import { relayerFile } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('relayer: SIGTERM drains and exits 0, logging each shutdown step in order', async (t) => {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const file = relayerFile(t, redis.url, net, 'shutdown: { readiness_delay_ms: 200 }\n');
  const p = await startProcess(['relayer', '-c', file], { KEY: TEST_KEYS.app1.hex });
  t.equal((await fetch(`http://${p.addresses.health}/ready`)).status, 200);
  const startedLine = p.lines.find((l) => l.msg === 'relayminer started')!;
  t.same(startedLine.suppliers, [TEST_KEYS.app1.address]);
  t.same(startedLine.crypto, { ring: defaultRingBackend().name, supplier: supplierSignatureBackend }, 'the log names the curve arithmetic in use');
  t.notMatch(JSON.stringify(p.lines), TEST_KEYS.app1.hex, 'the key never reaches the log');
  const hint = p.lines.filter((l) => String(l.msg).startsWith('node started without'));
  t.same(hint.map((l) => [l.level, l.missing]), [[30, ['--initial-old-space-size=128']]], 'node without the V8 flags: said once, at info');
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0);
  const steps = p.lines.filter((l) => typeof l.shutdown_step === 'string').map((l) => l.shutdown_step);
  t.same(steps, ['draining', 'listeners_closed', 'plugins_closed', 'redis_closed', 'operator_servers_closed', 'stopped']);
  t.equal(p.lines.find((l) => l.msg === 'shutting down')?.reason, 'SIGTERM');
});

t.test('a second signal exits at once', async (t) => {
  const redis = await startRedis(t);
  const dir = tempDir(t, 'relayminer-cli');
  const file = join(dir, 'miner.yaml');
  writeFileSync(
    file,
    `miner:\n  metrics_address: "127.0.0.1:0"\n  redis: { url: "${redis.url}" }\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\nshutdown: { readiness_delay_ms: 10000 }\nlogging: { format: json }\n`,
  );
  const p = await startProcess(['miner', '-c', file], { KEY: TEST_KEYS.app1.hex });
  p.child.kill('SIGINT');
  // Draining lasts readiness_delay_ms (10 s): /ready turns 503 once the signal is handled, and stays so.
  await until('/ready to say draining', async () => (await fetch(`http://${p.addresses.metrics}/ready`)).status === 503);
  t.equal((await fetch(`http://${p.addresses.metrics}/ready`)).status, 503, 'draining');
  // Later than a duplicate of the first (runRoles takes one within 250 ms for the same event), as a person presses again.
  await new Promise((res) => setTimeout(res, 400));
  const before = Date.now();
  p.child.kill('SIGINT');
  t.equal(await p.exit, 1);
  t.ok(Date.now() - before < 2000, 'without waiting out the 10 s readiness delay');
  t.ok(p.lines.some((l) => l.msg === 'second signal: exiting without waiting'));
});

t.test('localnet: the default genesis serves CometBFT RPC until SIGTERM', async (t) => {
  const p = await startProcess(['localnet', '--rpc-address', '127.0.0.1:0', '--grpc-address', '127.0.0.1:0'], {}, 'localnet started');
  const status = (await (await fetch(`http://${p.addresses.rpc}/status`)).json()) as { result: { node_info: { network: string } } };
  t.equal(status.result.node_info.network, 'pocket');
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0);
});
