import t from 'tap';
import type { Test } from 'tap';
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

/**
 * A miner that takes its time to start: its Redis does not answer (a closed port), which it waits for
 * `connect_timeout_ms` before going on. The transport listed beside it is skipped in this role, and says so
 * before that wait: the signal a test sends on that line comes while the roles start.
 */
function slowStartingMiner(t: Test): string {
  const dir = tempDir(t, 'relayminer-cli');
  const file = join(dir, 'miner.yaml');
  writeFileSync(
    file,
    [
      'miner:',
      '  metrics_address: "127.0.0.1:0"',
      '  redis: { url: "redis://127.0.0.1:1", pool: { connect_timeout_ms: 2000 } }',
      '  supplier_keys: [{ private_key_hex: "${KEY}" }]',
      'plugins: [transport-jsonrpc, miner]',
      'shutdown: { readiness_delay_ms: 0 }',
      'logging: { format: json }',
      '',
    ].join('\n'),
  );
  return file;
}

t.test('a signal while the roles start: they shut down once started, not killed half-way by Node\'s default', async (t) => {
  const p = await startProcess(['miner', '-c', slowStartingMiner(t)], { KEY: TEST_KEYS.app1.hex }, 'plugin skipped: it does not run in this role');
  t.notOk(p.lines.some((l) => l.msg === 'relayminer started'), 'the signal comes before the start is over');
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0, 'a graceful exit, not one by the signal');
  const msgs = p.lines.map((l) => l.msg);
  const started = msgs.indexOf('relayminer started');
  const told = msgs.indexOf('a signal came while starting: shutting down now that every role has started');
  t.ok(started >= 0 && told > started, 'said after the start line');
  t.equal(p.lines[told]?.signal, 'SIGTERM');
  t.equal(p.lines.find((l) => l.msg === 'shutting down')?.reason, 'SIGTERM');
  t.equal(p.lines.at(-1)?.msg, 'relayminer stopped');
});

t.test('SIGHUP while the roles start reloads the keys once started; the process goes on', async (t) => {
  const p = await startProcess(['miner', '-c', slowStartingMiner(t)], { KEY: TEST_KEYS.app1.hex }, 'plugin skipped: it does not run in this role');
  p.child.kill('SIGHUP');
  const reloaded = () => p.lines.some((l) => l.msg === 'supplier keys reloaded: no change');
  await until('the keys reloaded, or the process gone', () => reloaded() || p.child.exitCode !== null || p.child.signalCode !== null, 30_000);
  t.equal(p.child.signalCode, null, 'not ended by the signal');
  const msgs = p.lines.map((l) => l.msg);
  t.ok(msgs.indexOf('supplier keys reloaded: no change') > msgs.indexOf('relayminer started'), 'reloaded after the start');
  t.equal(p.child.exitCode, null, 'still running');
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0);
});

t.test('a second signal while the roles start exits at once', async (t) => {
  const p = await startProcess(['miner', '-c', slowStartingMiner(t)], { KEY: TEST_KEYS.app1.hex }, 'plugin skipped: it does not run in this role');
  p.child.kill('SIGINT');
  await new Promise((res) => setTimeout(res, 400)); // past a duplicate of the first
  p.child.kill('SIGINT');
  t.equal(await p.exit, 1);
  t.notOk(p.lines.some((l) => l.msg === 'relayminer started'), 'without finishing the start');
  t.equal(p.stderr().trim(), 'relayminer: second signal (SIGINT) while starting: exiting without waiting');
});

t.test('localnet: the default genesis serves CometBFT RPC until SIGTERM', async (t) => {
  const p = await startProcess(['localnet', '--rpc-address', '127.0.0.1:0', '--grpc-address', '127.0.0.1:0'], {}, 'localnet started');
  const status = (await (await fetch(`http://${p.addresses.rpc}/status`)).json()) as { result: { node_info: { network: string } } };
  t.equal(status.result.node_info.network, 'pocket');
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0);
});
