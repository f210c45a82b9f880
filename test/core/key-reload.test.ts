import t from 'tap';
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfigFile } from '../../core/config/load.js';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { MinedRelayCodec } from '../../core/protocol/index.js';
import { KeyBuilder } from '../../core/redis/key-builder.js';
import { checkRelayResponse } from '../../core/relay/relay-client.js';
import { Runtime } from '../../core/runtime/runtime.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { ADDR, KEYS, key, startTestLocalnet } from '../helpers/localnet-client.js';
import { captureLogs } from '../helpers/logs.js';
import { startRedis } from '../helpers/redis.js';
import { gatewayRelay, postRelay, startBackend } from '../helpers/relayer.js';
import { until } from '../helpers/until.js';
import { addTestKeyringKey } from '../helpers/keyring.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('reloadKeys: keys added are served and leased, keys removed refused (the miner keeps them until their sessions are final), a bad file changes nothing', async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(11); // height 12: session [11, 20], both suppliers in app1's anvil session
  const redisServer = await startRedis(t);
  const client = new Redis(redisServer.url);
  t.teardown(() => client.disconnect());
  const backend = await startBackend(t);
  const dir = tempDir(t, 'relayminer-reload');
  const keysFile = join(dir, 'keys.yaml');
  const writeKeys = (text: string) => {
    writeFileSync(keysFile, text);
    chmodSync(keysFile, 0o600);
  };
  writeKeys(`keys: ["${KEYS.supplier1}"]\n`);
  mkdirSync(join(dir, 'keys.d'));
  const file = join(dir, 'config.yaml');
  const config = (level: string) => `
keys: { keys_file: keys.yaml, keys_dir: keys.d }
redis: { url: "${redisServer.url}", namespace: ha }
pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }
relayer:
  listen_address: "127.0.0.1:0"
  health_address: "127.0.0.1:0"
  metrics_address: "127.0.0.1:0"
miner: { metrics_address: "127.0.0.1:0" }
services:
  anvil: { backends: { jsonrpc: { url: "${backend.url}" } } }
plugins: [transport-jsonrpc, { name: miner, options: { instance_id: reload-test, lease_ttl_ms: 1500 } }]
logging: { level: ${level} }
shutdown: { readiness_delay_ms: 0, drain_timeout_ms: 2000 }
`;
  writeFileSync(file, config('info'));
  const logs = captureLogs();
  const runtime = await Runtime.start({ config: loadConfigFile(file), roles: ['relayer', 'miner'], builtins: BUILTIN_PLUGINS, version: 'test', logger: logs.logger });
  t.teardown(() => runtime.shutdown());
  const url = `http://${runtime.addresses.relay}`;
  const header = (await runtime.context.relay!.chain.session(ADDR.app1, 'anvil', BigInt(net.chain.height))).header;
  const payload = { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' };
  const relayFor = async (supplier: string, supplierKey: string) => {
    const res = await postRelay(url, gatewayRelay(header, payload, { supplier }));
    const check = checkRelayResponse(res.body, publicKeyFromPrivateKey(key(supplierKey)));
    return { status: res.status, verdict: check.ok ? 'signed' : check.why };
  };
  const keys = new KeyBuilder('ha');
  const leaseOwner = async (supplier: string) => (await client.get(keys.supplierLease(supplier)))?.split(' ')[0];
  const reloadLines = () => logs.lines.filter((l) => String(l.msg).startsWith('supplier keys'));

  const notLoaded = (supplier: string) => ({ status: 200, verdict: `relay miner error 9: supplier key not loaded by this relayer: ${supplier}` });
  t.same(await relayFor(ADDR.supplier2, KEYS.supplier2), notLoaded(ADDR.supplier2), 'supplier2 not loaded yet');
  await until('the miner to lease supplier1', async () => (await leaseOwner(ADDR.supplier1)) === 'reload-test');
  t.equal(await leaseOwner(ADDR.supplier2), undefined, 'nobody leases supplier2');

  writeKeys(`keys: ["${KEYS.supplier1}", "${KEYS.supplier2}"]\n`);
  t.same(runtime.reloadKeys(), { outcome: 'changed', added: [ADDR.supplier2], removed: [] });
  t.same(runtime.context.suppliers.map((k) => k.address), [ADDR.supplier1, ADDR.supplier2], 'the context has the keys loaded now');
  t.same(await relayFor(ADDR.supplier2, KEYS.supplier2), { status: 200, verdict: 'signed' }, 'supplier2 served and signing');
  // In supplier2's stream, unless the miner (which leases supplier2 within a tick of the reload) has taken it already
  // into supplier2's session.
  const mined = await client.xrangeBuffer(keys.relayStream(ADDR.supplier2), '-', '+');
  if (mined.length) {
    t.equal(mined.length, 1, "the relay is in supplier2's stream");
    t.equal(MinedRelayCodec.decode(mined[0]![1][1]!).supplier_operator_address, ADDR.supplier2);
  } else {
    t.equal(await client.hget(keys.minerSession(ADDR.supplier2, header.session_id), 'count'), '1', "the relay went through supplier2's stream into its session");
  }
  await until('the miner to lease supplier2', async () => (await leaseOwner(ADDR.supplier2)) === 'reload-test');

  writeKeys(`keys: ["${KEYS.supplier2}"]\n`);
  t.same(runtime.reloadKeys(), { outcome: 'changed', added: [], removed: [ADDR.supplier1] });
  t.same(await relayFor(ADDR.supplier1, KEYS.supplier1), notLoaded(ADDR.supplier1), 'supplier1 refused');
  t.same(await relayFor(ADDR.supplier2, KEYS.supplier2), { status: 200, verdict: 'signed' });
  const kept = () => logs.lines.filter((l) => String(l.msg).includes('stay with this miner until every session of theirs is final'));
  const letGo = () => logs.lines.filter((l) => String(l.msg).startsWith('removed supplier key let go')).map((l) => l.supplier);
  t.same(kept().map((l) => [l.level, l.suppliers]), [[40, [ADDR.supplier1]]], 'the miner keeps supplier1 for its sessions, and says so once');
  // supplier1 never had a relay: no session, an empty stream. After the next block's pass the miner lets it go.
  net.chain.advance(1);
  await until('supplier1 let go and its lease given back', async () => (await leaseOwner(ADDR.supplier1)) === undefined);
  t.same(letGo(), [ADDR.supplier1], 'said once');

  writeKeys('keys: ["not hex"]\n');
  t.same(runtime.reloadKeys(), { outcome: 'failed', added: [], removed: [] });
  const failed = logs.lines.filter((l) => String(l.msg).startsWith('supplier keys not reloaded'));
  t.equal(failed.length, 1);
  t.equal(failed[0]!.msg, `supplier keys not reloaded, the ones loaded stay: ${file}:2:9: keys.keys_file (${keysFile}, keys[0]): private key must be 64 hex characters (32 bytes), got 7 characters`);
  t.notMatch(JSON.stringify(logs.lines), KEYS.supplier2, 'no key material in the log');
  t.same(await relayFor(ADDR.supplier2, KEYS.supplier2), { status: 200, verdict: 'signed' }, 'supplier2 still served');

  writeKeys(`keys: ["${KEYS.supplier2}"]\n`);
  writeFileSync(file, config('debug'));
  t.same(runtime.reloadKeys(), { outcome: 'unchanged', added: [], removed: [] });
  const elsewhere = logs.lines.filter((l) => String(l.msg).startsWith('configuration reloaded for supplier keys only'));
  t.same(elsewhere.map((l) => [l.level, l.sections, l.msg]), [[40, ['logging'], 'configuration reloaded for supplier keys only: the changes to logging take effect at the next restart']]);

  // A file added to the keys directory (the Go relay miner's keys_dir format).
  const supplier1File = join(dir, 'keys.d', 'supplier1.yaml');
  writeFileSync(supplier1File, `operator_address: ${ADDR.supplier1}\nprivate_key_hex: "${KEYS.supplier1}"\n`, { mode: 0o600 });
  t.same(runtime.reloadKeys(), { outcome: 'changed', added: [ADDR.supplier1], removed: [] });
  t.same(await relayFor(ADDR.supplier1, KEYS.supplier1), { status: 200, verdict: 'signed' }, 'supplier1 served again');
  await until('the miner to lease supplier1 again', async () => (await leaseOwner(ADDR.supplier1)) === 'reload-test');
  t.same(
    reloadLines().map((l) => [l.level, l.msg]),
    [
      [30, 'supplier keys reloaded: 1 added, 0 removed'],
      [30, 'supplier keys reloaded: 0 added, 1 removed'],
      [50, failed[0]!.msg],
      [30, 'supplier keys reloaded: no change'],
      [30, 'supplier keys reloaded: 1 added, 0 removed'],
    ],
  );

  // supplier2 has a session with a relay in it: removed, the miner keeps working it (its lease renewed past a TTL
  // and a block) until that session is final, then lets it go.
  rmSync(supplier1File);
  writeKeys(`keys: ["${KEYS.supplier1}"]\n`);
  t.same(runtime.reloadKeys(), { outcome: 'changed', added: [], removed: [ADDR.supplier2] });
  await until("supplier2's relay stored", async () => (await client.xlen(keys.relayStream(ADDR.supplier2))) === 0);
  t.equal(await client.hget(keys.minerSession(ADDR.supplier2, header.session_id), 'state'), 'active', 'its session is open');
  net.chain.advance(1);
  await new Promise((r) => setTimeout(r, 2000));
  t.equal(await leaseOwner(ADDR.supplier2), 'reload-test', 'supplier2 still leased');
  t.same(letGo(), [ADDR.supplier1], 'not let go');
  await client.hset(keys.minerSession(ADDR.supplier2, header.session_id), 'state', 'settled'); // as the chain's settlement ends it
  net.chain.advance(1);
  await until('supplier2 let go and its lease given back', async () => (await leaseOwner(ADDR.supplier2)) === undefined);
  t.same(letGo(), [ADDR.supplier1, ADDR.supplier2]);
  t.equal(await leaseOwner(ADDR.supplier1), 'reload-test', 'supplier1 kept');
});

t.test('keys.watch: a key file added to keys_dir, or the keys file replaced, reloads the keys by itself; other files do not', async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(11);
  const redisServer = await startRedis(t);
  const backend = await startBackend(t);
  const dir = tempDir(t, 'relayminer-watch');
  mkdirSync(join(dir, 'keys.d'));
  writeFileSync(join(dir, 'keys.yaml'), `keys: ["${KEYS.supplier1}"]\n`, { mode: 0o600 });
  const file = writeRelayerConfig(dir, 'keys: { keys_file: keys.yaml, keys_dir: keys.d, watch: true }', { redis: redisServer.url, net, backend: backend.url });
  const logs = captureLogs();
  const runtime = await Runtime.start({ config: loadConfigFile(file), roles: ['relayer'], builtins: BUILTIN_PLUGINS, version: 'test', logger: logs.logger });
  t.teardown(() => runtime.shutdown());
  t.same(
    logs.lines.filter((l) => String(l.msg).startsWith('keys.watch')).map((l) => l.dirs),
    [[join(dir, 'keys.yaml'), join(dir, 'keys.d')]],
    'what is watched, said once at start',
  );
  const reloads = () => logs.lines.filter((l) => String(l.msg).startsWith('supplier keys')).map((l) => [l.msg, l.added, l.removed]);

  // Another file beside the keys file is no key change.
  writeFileSync(join(dir, 'notes.txt'), 'not a key');
  await new Promise((r) => setTimeout(r, 1500));
  t.same(reloads(), [], 'a file beside the keys file: nothing');

  writeFileSync(join(dir, 'keys.d', 'supplier2.yaml'), `operator_address: ${ADDR.supplier2}\nprivate_key_hex: "${KEYS.supplier2}"\n`, { mode: 0o600 });
  await until('the reload of keys_dir', () => reloads().length === 1);
  t.same(reloads(), [['supplier keys reloaded: 1 added, 0 removed', [ADDR.supplier2], []]]);
  const header = (await runtime.context.relay!.chain.session(ADDR.app1, 'anvil', BigInt(net.chain.height))).header;
  const payload = { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}' };
  const res = await postRelay(`http://${runtime.addresses.relay}`, gatewayRelay(header, payload, { supplier: ADDR.supplier2 }));
  t.equal(checkRelayResponse(res.body, publicKeyFromPrivateKey(key(KEYS.supplier2))).ok, true, 'supplier2 served');

  // An editor's save: a new file renamed over the keys file.
  writeFileSync(join(dir, 'keys.yaml.tmp'), 'keys: []\n', { mode: 0o600 });
  renameSync(join(dir, 'keys.yaml.tmp'), join(dir, 'keys.yaml'));
  await until('the reload of the keys file', () => reloads().length === 2);
  t.same(reloads()[1], ['supplier keys reloaded: 0 added, 1 removed', [], [ADDR.supplier1]]);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(reloads().length, 2, 'one reload per edit');
});

t.test('keys.watch with a pocketd keyring: a key added with pocketd is served without a restart', async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(11);
  const redisServer = await startRedis(t);
  const backend = await startBackend(t);
  const home = tempDir(t, 'relayminer-keyring-watch');
  addTestKeyringKey(home, 'supplier1', KEYS.supplier1);
  const file = writeRelayerConfig(home, `keys: { keyring: { backend: test, dir: "${home}" }, watch: true }`, { redis: redisServer.url, net, backend: backend.url });
  const logs = captureLogs();
  const runtime = await Runtime.start({ config: loadConfigFile(file), roles: ['relayer'], builtins: BUILTIN_PLUGINS, version: 'test', logger: logs.logger });
  t.teardown(() => runtime.shutdown());
  t.same(logs.lines.filter((l) => String(l.msg).startsWith('keys.watch')).map((l) => l.dirs), [[join(home, 'keyring-test')]]);
  const reloads = () => logs.lines.filter((l) => String(l.msg).startsWith('supplier keys')).map((l) => [l.msg, l.added, l.removed]);
  const header = (await runtime.context.relay!.chain.session(ADDR.app1, 'anvil', BigInt(net.chain.height))).header;
  const payload = { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}' };
  const served = async (supplier: string, supplierKey: string) =>
    checkRelayResponse((await postRelay(`http://${runtime.addresses.relay}`, gatewayRelay(header, payload, { supplier }))).body, publicKeyFromPrivateKey(key(supplierKey))).ok;
  t.equal(await served(ADDR.supplier1, KEYS.supplier1), true, 'supplier1, from the keyring at start, served');
  t.equal(await served(ADDR.supplier2, KEYS.supplier2), false, 'supplier2 not yet');

  addTestKeyringKey(home, 'supplier2', KEYS.supplier2);
  await until('the reload of the keyring', () => reloads().length === 1);
  t.same(reloads(), [['supplier keys reloaded: 1 added, 0 removed', [ADDR.supplier2], []]]);
  t.equal(await served(ADDR.supplier2, KEYS.supplier2), true, 'supplier2 served after `keys add`');
});

/** `<dir>/config.yaml`: a relayer of the anvil service with `keys` as given. */
function writeRelayerConfig(dir: string, keys: string, at: { redis: string; net: { rpcAddress: string; grpcAddress: string }; backend: string }): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    `${keys}
redis: { url: "${at.redis}", namespace: ha }
pocket_node: { rpc_url: "http://${at.net.rpcAddress}", grpc_address: "${at.net.grpcAddress}" }
relayer: { listen_address: "127.0.0.1:0", health_address: "127.0.0.1:0", metrics_address: "127.0.0.1:0" }
services:
  anvil: { backends: { jsonrpc: { url: "${at.backend}" } } }
plugins: [transport-jsonrpc]
shutdown: { readiness_delay_ms: 0, drain_timeout_ms: 2000 }
`,
  );
  return file;
}
