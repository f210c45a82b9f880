import t from 'tap';
import { parseConfig, Runtime } from 'relayminer';
import { BUILTIN_PLUGINS } from '../../index.js';
import { KEYS, TEST_GENESIS, startTestLocalnet } from '../../../test/helpers/localnet-client.js';
import { captureLogs } from '../../../test/helpers/logs.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { until } from '../../../test/helpers/until.js';

t.test('relayer and miner in one process: a halted chain is said once, not once per role', async (t) => {
  const net = await startTestLocalnet(t, TEST_GENESIS.replace('block_interval_ms: 0', 'block_interval_ms: 0\nblock_time_ms: 1000'));
  net.chain.advance(3);
  const redis = await startRedis(t);
  const logs = captureLogs();
  const config = parseConfig(`
redis: { url: "${redis.url}", namespace: ha }
pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }
keys:
  supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }]
relayer:
  listen_address: "127.0.0.1:0"
  health_address: "127.0.0.1:0"
  metrics_address: "127.0.0.1:0"
miner: {}
plugins: [{ name: miner, options: { instance_id: m1, lease_ttl_ms: 1500 } }]
logging: { level: info }
`);
  const runtime = await Runtime.start({ config, roles: ['relayer', 'miner'], builtins: BUILTIN_PLUGINS, version: 'test', logger: logs.logger });
  t.teardown(() => runtime.shutdown());
  const metrics = async () => (await fetch(`http://${runtime.addresses.metrics}/metrics`)).text();
  // A block every 300 ms until both roles follow the chain (the relayer's interval gauge, the miner's pass
  // height), then for 1.5 s more so each role's once-a-second check has seen it healthy.
  const tick = async () => {
    net.chain.advance(1);
    await new Promise((r) => setTimeout(r, 300));
  };
  await until('both roles follow the chain', async () => {
    const text = await metrics();
    const minerHeight = Number(/^relayminer_miner_lifecycle_height (\d+)$/m.exec(text)?.[1] ?? 0);
    if (/^relayminer_chain_block_interval_seconds 1$/m.test(text) && minerHeight >= net.chain.height) return true;
    await tick();
    return false;
  });
  for (let i = 0; i < 5; i++) await tick();
  const said = (msg: string) => logs.lines.filter((l) => l.msg === msg).length;
  await until('halt logged', () => said('chain halted: no new block within the staleness bound') > 0, 10_000);
  net.chain.advance(1);
  await until('resumed logged', () => said('chain blocks resumed') > 0, 10_000);
  // Both roles' checks run every second: one more second would have brought the second role's lines.
  await new Promise((r) => setTimeout(r, 1500));
  const chain = logs.lines.filter((l) => /^chain /.test(String(l.msg))).map((l) => String(l.msg));
  t.same(chain.filter((msg, i) => chain.indexOf(msg) !== i), [], 'no chain line twice');
  t.same([said('chain halted: no new block within the staleness bound'), said('chain blocks resumed')], [1, 1]);
});
