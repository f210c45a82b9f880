import t from 'tap';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { parseConfig } from '../core/config/load.js';
import { Runtime } from '../core/runtime/runtime.js';
import { BUILTIN_PLUGINS } from '../plugins/index.js';
import { ADDR, KEYS, TEST_GENESIS, startTestLocalnet } from './helpers/localnet-client.js';
import { captureLogs } from './helpers/logs.js';
import { startRedis } from './helpers/redis.js';
import { gatewayRelay, postRelay, startBackend } from './helpers/relayer.js';
import { until } from './helpers/until.js';
import { tempDir } from './helpers/temp-dir.js';

/**
 * The operator dashboard in headless Chromium (Debian's, driven by playwright-core): it loads from the
 * metrics listener with no external resources, updates as relays flow, and shows a claim settling.
 * SCREENSHOT=path also saves a picture of it (docs/dashboard.png was made this way).
 */
t.test('the dashboard loads offline, follows relays, and shows a session settling', async (t) => {
  const net = await startTestLocalnet(t, TEST_GENESIS.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1'));
  net.chain.advance(11);
  const redis = await startRedis(t);
  const backend = await startBackend(t);
  const runtime = await Runtime.start({
    config: parseConfig(`
redis: { url: "${redis.url}", namespace: ha }
pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }
keys: { supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }] }
relayer: { listen_address: "127.0.0.1:0", health_address: "127.0.0.1:0", metrics_address: "127.0.0.1:0", dashboard: true }
miner: { metrics_address: "127.0.0.1:0" }
services:
  anvil:
    backends:
      jsonrpc: { url: "${backend.url}" }
plugins: [transport-jsonrpc, { name: miner, options: { instance_id: dash-1, lease_ttl_ms: 1500, consume: { block_ms: 100 } } }]
logging: { level: warn }
shutdown: { readiness_delay_ms: 0, drain_timeout_ms: 2000 }
`),
    roles: ['relayer', 'miner'],
    builtins: BUILTIN_PLUGINS,
    version: 'test',
    logger: captureLogs('warn').logger,
  });
  t.teardown(() => runtime.shutdown());

  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const external: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(`http://${runtime.addresses.metrics}/`)) external.push(r.url());
  });
  await page.goto(`http://${runtime.addresses.metrics}/dashboard`);
  t.equal(await page.title(), 'relayminer');
  await page.waitForSelector('#leases td:has-text("dash-1")', { timeout: 10_000 });
  t.pass('the supplier lease owner is shown');

  const header = (await runtime.context.relay!.chain.session(ADDR.app1, 'anvil', 12n)).header;
  const send = async (n: number) => {
    for (let i = 0; i < n; i++) t.equal((await postRelay(`http://${runtime.addresses.relay}`, gatewayRelay(header, { method: 'POST', url: '/', body: `{"id":${i}}` }))).status, 200);
  };
  await send(4);
  // Page-side expressions as strings: this file is compiled without the DOM library.
  await page.waitForFunction(`/jsonrpc (0\\.[1-9]|[1-9])/.test(document.getElementById('rates').textContent)`, undefined, { timeout: 10_000 });
  t.match(await page.textContent('#rates'), /jsonrpc \d+\.\d\/s/, 'relays per second by transport');
  t.match(await page.textContent('#lat'), /^p50 ≤ [\d.]+ ms · p99 ≤ [\d.]+ ms · relayer's own p99 ≤ [\d.]+ ms$/, "latency from the duration histogram, the relayer's own share from the overhead one");
  // The miner stores the relays as it reads them: wait for the row to show all four, not the first refresh.
  await page.waitForFunction(`/anvil20.*4.*4.*active/s.test(document.getElementById('sessions').textContent)`, undefined, { timeout: 10_000 }).catch(() => undefined);
  const row = await page.textContent('#sessions');
  t.match(row, /anvil20.*4.*4.*active/s, 'the session with its 4 relays and compute units');

  // Claim window [22, 26], proof from the seed block 25, settlement at 30.
  for (let h = 12; h < 30; h++) {
    net.chain.advance(1);
    await new Promise((r) => setTimeout(r, 200));
  }
  // The sessions table and the submission counters come from different reads: wait for both to show the settlement.
  await until(
    'settled in the store and counted as earned',
    async () => ((await page.textContent('#sessions')) ?? '').includes('settled') && ((await page.textContent('#submissions')) ?? '').includes('uPOKT earned'),
    20_000,
  );
  t.match(await page.textContent('#sessions'), /settled168threshold/, 'settled, 168 uPOKT (4 × 42), proof by threshold');
  t.match(await page.textContent('#submissions'), /claim included1/);
  t.match(await page.textContent('#submissions'), /uPOKT earned168/);
  t.same(external, [], 'no request left the metrics listener (works offline)');
  const shot = process.env.SCREENSHOT ?? join(tempDir(t, 'dashboard'), 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
});
