import t from 'tap';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEYS, key } from '../helpers/localnet-client.js';
import { ROOT, cli, cliAsync } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('validate: each example passes', async (t) => {
  const files = ['config.relayer.yaml', 'config.miner.yaml', 'config.devnet.yaml', 'config.with-plugin.yaml'];
  const results = await Promise.all(files.map((f) => cliAsync(['validate', '-c', `examples/${f}`])));
  for (const [i, f] of files.entries()) {
    t.equal(results[i]!.code, 0, `${f}: ${results[i]!.stderr}`);
    t.match(results[i]!.stdout, new RegExp(`^ok: examples/${f.replace('.', '\\.')}: `));
  }
  t.equal(
    cli(['validate', '-c', 'examples/config.relayer.yaml']).stdout,
    'ok: examples/config.relayer.yaml: relayer (1 supplier key(s)); 2 service(s); 2 plugin(s): transport-jsonrpc, transport-websocket (no plugins list: what the sections describe)\n',
    'a relayer file without a plugins list runs the transports of the backends it names',
  );
});

t.test('seed-shaped files run what they describe; the documented miner file without keys validates with a warning', async (t) => {
  const dir = tempDir(t, 'relayminer-cli');
  const miner = join(dir, 'miner.yaml');
  writeFileSync(miner, 'miner:\n  redis:\n    address: "redis:6379"\n  chain:\n    rpc_url: "http://pocket-node:26657"\n    grpc_address: "pocket-node:9090"\n  metrics_address: ":9092"\n');
  const m = cli(['validate', '-c', miner]);
  t.equal(m.code, 0, m.stderr);
  t.equal(m.stdout, `ok: ${miner}: miner (0 supplier key(s)); 0 service(s); 1 plugin(s): miner (no plugins list: what the sections describe)\n`);
  t.equal(m.stderr, 'warning: miner: no supplier keys, so this miner claims and proves for no supplier until they are given: set keys.keys_file, keys.keys_dir, keys.keys_env, keys.keyring or supplier_keys (top level or in this section)\n');

  const relayer = join(dir, 'relayer.yaml');
  writeFileSync(relayer, `relayer:\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\nservices:\n  eth:\n    backends:\n      jsonrpc: { url: "http://geth:8545" }\n      rest: { url: "http://geth:8080" }\n      grpc: { url: "http://cosmos:9090" }\n`);
  const r = cli(['validate', '-c', relayer], { KEY: '11'.repeat(32) });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `ok: ${relayer}: relayer (1 supplier key(s)); 1 service(s); 3 plugin(s): transport-jsonrpc, transport-grpc, transport-rest-sse (no plugins list: what the sections describe)\n`);

  const empty = join(dir, 'empty-list.yaml');
  writeFileSync(empty, readFileSync(relayer, 'utf8') + 'plugins: []\n');
  t.match(cli(['validate', '-c', empty], { KEY: '11'.repeat(32) }).stdout, /; 0 plugin\(s\): none\n$/, 'an explicit list, even empty, is taken as written');
});

t.test('validate: a broken copy exits 1 with the file, line and path of each problem', async (t) => {
  const dir = tempDir(t, 'relayminer-cli');
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
  t.match(m.stderr, `${miner}:19:9: plugins[0].options.transaction.gas_adjustment: must be a number, got a string ("high")`, "the miner plugin's options, checked with the rest");
  // Cross-field checks (keys, urls) run once the file has the right shape: the copy has no keys file.
  writeFileSync(miner, readFileSync(join(ROOT, 'examples/config.miner.yaml'), 'utf8'));
  const k = cli(['validate', '-c', miner]);
  t.equal(k.code, 1);
  t.match(k.stderr, `keys.keys_file: cannot read keys file ${join(dir, 'keys/supplier-keys.example.yaml')}: file not found`);

  const none = cli(['validate', '-c', join(dir, 'missing.yaml')]);
  t.equal(none.code, 1);
  t.match(none.stderr, 'missing.yaml: 1 problem\n  ' + join(dir, 'missing.yaml') + ': (root): file not found');
  const folder = cli(['validate', '-c', dir]);
  t.equal(folder.code, 1);
  t.equal(folder.stderr, `${dir}: 1 problem\n  ${dir}: (root): cannot read: a directory, not a file\n`);

  // An empty (or wrongly mounted) file runs nothing: a systemd ExecStartPre of validate must not pass it.
  writeFileSync(join(dir, 'empty.yaml'), '');
  const empty = cli(['validate', '-c', join(dir, 'empty.yaml')]);
  t.equal(empty.code, 1);
  t.equal(empty.stderr, `${join(dir, 'empty.yaml')}: 1 problem\n  ${join(dir, 'empty.yaml')}: (root): no "relayer" or "miner" section: this file runs nothing\n`);
  t.equal(empty.stdout, '');
});

t.test('validate --keys: each role\'s supplier addresses and where each key was read, never the key', async (t) => {
  const dir = tempDir(t, 'relayminer-cli');
  const file = join(dir, 'both.yaml');
  const home = join(ROOT, 'test', 'vectors', 'keyring', 'pocketd-home');
  writeFileSync(
    file,
    `keys: { keyring: { backend: test, dir: "${home}", key_names: [supplier1] } }\nrelayer:\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\n  backends: { eth: { url: "http://geth:8545" } }\nminer: {}\n`,
  );
  const r = cli(['validate', '-c', file, '--keys'], { KEY: KEYS.app1 });
  t.equal(r.code, 0, r.stderr);
  t.same(r.stdout.split('\n').slice(1), [
    `relayer pokt19a3t4yunp0dlpfjrp7qwnzwlrzd5fzs2gjaaaj keys.keyring (${join(home, 'keyring-test', 'supplier1.info')})`,
    'relayer pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4 relayer.supplier_keys[0].private_key_hex',
    `miner pokt19a3t4yunp0dlpfjrp7qwnzwlrzd5fzs2gjaaaj keys.keyring (${join(home, 'keyring-test', 'supplier1.info')})`,
    '',
  ]);
  t.notMatch(r.stdout, /2d00ef07|cd41a98a/, 'no key material');
});
