import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../core/redis/local-server.js';
import { TEST_KEYS } from '../helpers/config.js';
import { startTestLocalnet } from '../helpers/localnet-client.js';
import { until } from '../helpers/until.js';
import { isAlive, startProcess } from '../helpers/process.js';
import { startRedis } from '../helpers/redis.js';
import { relayerFile } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('relayer --workers 2: the primary serves one /metrics for all workers, counting each relay once, and passes SIGHUP on', async (t) => {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const [relayPort, healthPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const dir = tempDir(t, 'relayminer-cli');
  const file = join(dir, 'relayer.yaml');
  const keysFile = join(dir, 'keys.yaml');
  writeFileSync(keysFile, `keys: ["${TEST_KEYS.app1.hex}"]\n`, { mode: 0o600 });
  writeFileSync(
    file,
    `keys: { keys_file: keys.yaml }\nrelayer:\n  listen_address: "127.0.0.1:${relayPort}"\n  health_address: "127.0.0.1:${healthPort}"\n  metrics_address: "127.0.0.1:${metricsPort}"\n  redis: { url: "${redis.url}" }\n  pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }\nservices:\n  anvil:\n    backends:\n      jsonrpc: { url: "http://127.0.0.1:9" }\nplugins: [transport-jsonrpc]\nshutdown: { readiness_delay_ms: 0 }\nlogging: { format: json }\n`,
  );
  const p = await startProcess(['relayer', '-c', file, '--workers', '2'], {});
  t.teardown(() => void p.child.kill('SIGKILL'));
  await until('both workers started', () => p.lines.filter((l) => l.msg === 'relayminer started').length === 2);
  // New connections each time, so the primary hands them to both workers in turn.
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`http://127.0.0.1:${relayPort}/`, { method: 'POST', body: 'not a relay', headers: { connection: 'close' } });
    await res.arrayBuffer();
  }
  const workers = new Set(p.lines.filter((l) => l.msg === 'relayminer started').map((l) => l.pid));
  t.equal(workers.size, 2, 'two worker processes');
  t.same(p.lines.filter((l) => String(l.msg).startsWith('node started without')), [], 'the workers start with the V8 flags');
  // The key (app1's) is not a staked supplier: one worker checks and says so, not both.
  await until('the stake check', () => p.lines.some((l) => String(l.msg).startsWith('stake check:')));
  await new Promise((res) => setTimeout(res, 500));
  t.same(
    p.lines.filter((l) => String(l.msg).startsWith('stake check:')).map((l) => l.msg),
    [
      `stake check: 1 supplier key(s) not staked on chain (${TEST_KEYS.app1.address}): gateways send them nothing yet`,
      'stake check: service "anvil" jsonrpc backend: no supplier key here is staked for "anvil" over jsonrpc',
      'stake check: every service transport the supplier keys are staked for is served',
    ],
    'one worker checks stakes',
  );
  for (let scrape = 0; scrape < 3; scrape++) {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const rejected = [...text.matchAll(/^relayminer_relay_rejections_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    t.equal(rejected, 10, `scrape ${scrape + 1}: the ten refused relays of both workers`);
    t.match(text, /^relayminer_build_info\{[^}]*\} 1$/m, 'build info once, not once per worker');
  }
  // A key added to the keys file: SIGHUP to the primary reloads it in every worker.
  writeFileSync(keysFile, `keys: ["${TEST_KEYS.app1.hex}", "${TEST_KEYS.gateway1.hex}"]\n`, { mode: 0o600 });
  p.child.kill('SIGHUP');
  const reloaded = () => p.lines.filter((l) => String(l.msg).startsWith('supplier keys reloaded'));
  await until('both workers to reload their keys', () => reloaded().length === 2);
  t.same(reloaded().map((l) => [l.msg, l.added]), [0, 1].map(() => ['supplier keys reloaded: 1 added, 0 removed', [TEST_KEYS.gateway1.address]]));
  t.same(new Set(reloaded().map((l) => l.pid)), workers, 'once in each worker');
  await until("the stake check of the new key set", () => p.lines.some((l) => String(l.msg).startsWith('stake check: 2 supplier key(s)')));
  await new Promise((res) => setTimeout(res, 300));
  t.same(
    p.lines.filter((l) => String(l.msg).startsWith('stake check: 2')).map((l) => l.msg),
    [`stake check: 2 supplier key(s) not staked on chain (${TEST_KEYS.app1.address}, ${TEST_KEYS.gateway1.address}): gateways send them nothing yet`],
    'the keys are checked again at once, by one worker',
  );
  t.equal((await fetch(`http://127.0.0.1:${healthPort}/health`)).status, 200, 'SIGHUP does not stop anything');
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0, 'the primary drains the workers and exits 0');
});

t.test('relayer --workers 2: a second signal to the primary stops the workers at once', async (t) => {
  const redis = await startRedis(t);
  const net = await startTestLocalnet(t);
  const file = relayerFile(t, redis.url, net, 'services:\n  anvil:\n    backends:\n      jsonrpc: { url: "http://127.0.0.1:9" }\nplugins: [transport-jsonrpc]\nshutdown: { readiness_delay_ms: 10000 }\n');
  const p = await startProcess(['relayer', '-c', file, '--workers', '2'], { KEY: TEST_KEYS.app1.hex });
  t.teardown(() => void p.child.kill('SIGKILL'));
  await until('both workers started', () => p.lines.filter((l) => l.msg === 'relayminer started').length === 2);
  const workers = [...new Set(p.lines.filter((l) => l.msg === 'relayminer started').map((l) => Number(l.pid)))];
  p.child.kill('SIGTERM');
  // Draining would last readiness_delay_ms (10 s).
  await until('both workers draining', () => p.lines.filter((l) => l.msg === 'shutting down').length === 2);
  await new Promise((res) => setTimeout(res, 400));
  const before = Date.now();
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 1);
  t.ok(Date.now() - before < 3000, 'without waiting out the drain');
  t.match(p.stderr(), /second signal \(SIGTERM\): stopping the workers without waiting/);
  await until('the workers gone', () => workers.every((pid) => !isAlive(pid)), 3000);
  t.same(workers.filter(isAlive), [], 'no worker left running');
});
