import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChainQueryClient } from '../../core/chain/query-client.js';
import { ADDR, KEYS, startTestLocalnet } from '../helpers/localnet-client.js';
import { startProcess } from '../helpers/process.js';
import { startRedis } from '../helpers/redis.js';
import { gatewayRelay, postRelay, startBackend } from '../helpers/relayer.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

/** A stop with Redis not answering: the process still ends, soon after its drain bound, and says why. */

for (const redisState of ['hung', 'gone'] as const) {
  t.test(`relayer and miner in one process, Redis ${redisState}: SIGTERM ends soon after the drain bound, saying why`, async (t) => {
    const net = await startTestLocalnet(t);
    net.chain.advance(11);
    const redis = await startRedis(t);
    t.teardown(() => redis.resume());
    const backend = await startBackend(t);
    const dir = tempDir(t, 'relayminer-cli');
    const file = join(dir, 'both.yaml');
    const node = `pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }`;
    writeFileSync(
      file,
      `relayer:\n  listen_address: "127.0.0.1:0"\n  health_address: "127.0.0.1:0"\n  metrics_address: "127.0.0.1:0"\n  redis: { url: "${redis.url}" }\n  ${node}\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\nminer:\n  redis: { url: "${redis.url}" }\n  ${node}\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\nservices:\n  anvil:\n    backends:\n      jsonrpc: { url: "${backend.url}" }\nplugins: [transport-jsonrpc, { name: miner, options: { lease_ttl_ms: 1500 } }]\nshutdown: { readiness_delay_ms: 0, drain_timeout_ms: 3000 }\nlogging: { format: json }\n`,
    );
    const p = await startProcess(['start', '-c', file], { KEY: KEYS.supplier1 });
    t.teardown(() => void p.child.kill('SIGKILL'));
    const q = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 2000 });
    t.teardown(() => q.close());
    const header = (await q.session(ADDR.app1, 'anvil', 12n)).header;
    // A relay, so the meter holds a lease, and the miner owning the supplier: both have Redis work to do on the way out.
    const res = await postRelay(`http://${p.addresses.relay}/`, gatewayRelay(header, { method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' }));
    t.equal(res.status, 200);
    await until('the miner to own the supplier', () => p.lines.some((l) => l.msg === 'supplier lease acquired'));
    // Hung: connections stay open and nothing answers (a stopped server, a partition). Gone: connections refused.
    if (redisState === 'hung') redis.pause();
    else await redis.stopProcess();
    const signalled = Date.now();
    p.child.kill('SIGTERM');
    t.equal(await p.exit, 0, 'a stop, not a failure');
    const took = Date.now() - signalled;
    // The 3 s drain bound; then Redis, which does not answer, is cut at once under what still waits on it.
    t.ok(took < 3000 + 5000, `ended ${took} ms after the signal`);
    const steps = p.lines.filter((l) => typeof l.shutdown_step === 'string').map((l) => l.shutdown_step);
    t.same(steps, ['draining', 'listeners_closed', 'plugins_closed', 'redis_closed', 'operator_servers_closed', 'stopped']);
    t.same(p.lines.filter((l) => l.msg === 'shutdown failed' || l.msg === 'a plugin failed to close'), [], 'no failure, no stack');
    t.match(p.lines.find((l) => String(l.msg).startsWith('shutdown: the ')), {
      level: 40,
      waiting: 'plugins',
      redis_answers: false,
      msg: "shutdown: the plugins' cleanup is past the drain bound and Redis does not answer; dropping the Redis connections (supplier leases not given back expire after lease_ttl_ms; meter leases not given back stay charged to their sessions)",
    });
    t.same(p.lines.filter((l) => String(l.msg).startsWith('reading relay streams failed')).map((l) => l.msg), [], 'the stream reader stopped before the leases were given back, so its failing read is not reported');
    t.match(p.lines.find((l) => l.msg === 'relayminer stopped'), { timedOut: true });
  });
}
