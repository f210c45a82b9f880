import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Redis } from 'ioredis';
import { ChainQueryClient, KeyBuilder } from 'relayminer';
import { ADDR, KEYS, startTestLocalnet } from '../../../test/helpers/localnet-client.js';
import { startProcess } from '../../../test/helpers/process.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { gatewayRelay, postRelay, startBackend } from '../../../test/helpers/relayer.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';

const RPC = { body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' };

t.test('a relayer killed with SIGKILL loses no relay it acknowledged; a new one carries on', async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(11);
  const redisServer = await startRedis(t);
  const backend = await startBackend(t);
  const dir = tempDir(t, 'relayminer-restart');
  const file = join(dir, 'relayer.yaml');
  writeFileSync(
    file,
    `relayer:
  listen_address: "127.0.0.1:0"
  health_address: "127.0.0.1:0"
  metrics_address: "127.0.0.1:0"
  redis: { url: "${redisServer.url}" }
  pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }
  supplier_keys: [{ private_key_hex: "\${KEY}" }]
services:
  anvil:
    backends:
      jsonrpc: { url: "${backend.url}" }
plugins: [{ name: transport-jsonrpc }]
logging: { format: json }
`,
  );
  const redis = new Redis(redisServer.url);
  t.teardown(() => redis.disconnect());
  const stream = new KeyBuilder('ha').relayStream(ADDR.supplier1);
  const q = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 2000 });
  t.teardown(() => q.close());
  const header = (await q.session(ADDR.app1, 'anvil', 12n)).header;

  let acknowledged = 0;
  for (const round of [1, 2]) {
    const p = await startProcess(['relayer', '-c', file], { KEY: KEYS.supplier1 });
    const url = `http://${p.addresses.relay}/`;
    const replies = await Promise.all(Array.from({ length: 25 }, () => postRelay(url, gatewayRelay(header, RPC))));
    acknowledged += replies.filter((r) => r.status === 200).length;
    p.child.kill('SIGKILL');
    await p.exit;
    t.equal(await redis.xlen(stream), acknowledged, `round ${round}: every acknowledged relay is in the stream`);
  }
  t.equal(acknowledged, 50);
});
