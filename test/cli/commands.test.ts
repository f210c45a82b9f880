import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDR, KEYS, key } from '../helpers/localnet-client.js';
import { VERSION, cli, cliAsync } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('version, help, and commands that arrive later', async (t) => {
  t.equal(cli(['version']).stdout, `relayminer ${VERSION}\n`);
  t.equal(cli(['--version']).stdout, `${VERSION}\n`);
  // Side by side: each start of the CLI is a second or more of loading on a busy machine.
  const subs = ['relayer', 'miner', 'start', 'validate', 'version', 'localnet', 'relay', 'redis'];
  const helps = await Promise.all(subs.map((sub) => cliAsync([sub, '--help'])));
  for (const [i, sub] of subs.entries()) {
    t.equal(helps[i]!.code, 0, `${sub} --help`);
    t.match(helps[i]!.stdout, `Usage: relayminer ${sub}`);
  }
  const noConfig = cli(['redis', 'sessions']);
  t.equal(noConfig.code, 1);
  t.match(noConfig.stderr, "required option '-c, --config <file>' not specified");
  const badView = cli(['redis', 'everything', '-c', 'x.yaml']);
  t.equal(badView.code, 1);
  t.match(badView.stderr, 'redis: unknown view "everything" (sessions, streams, leases, submissions, meter, cache)');
  const pigeon = cli(['relay', 'carrier-pigeon', '--key', 'aa', '--service', 'x', '--supplier', 'y']);
  t.equal(pigeon.code, 1);
  t.match(pigeon.stderr, 'relay: unknown transport "carrier-pigeon" (jsonrpc, rest, cometbft, websocket, grpc)');
  const r = cli(['relayer']);
  t.equal(r.code, 1);
  t.match(r.stderr, "required option '-c, --config <file>' not specified");
});

t.test('an unreachable Redis or node: one line naming it and the cause, exit 1, no stack', async (t) => {
  const dir = tempDir(t, 'relayminer-cli');
  const file = join(dir, 'miner.yaml');
  writeFileSync(file, `miner:\n  redis: { url: "redis://admin:hunter2@127.0.0.1:1", pool: { connect_timeout_ms: 1000 } }\n  pocket_node: { rpc_url: "http://127.0.0.1:2", grpc_address: "127.0.0.1:3" }\n  supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }]\n`);
  const redis = cli(['redis', 'sessions', '-c', file]);
  t.equal(redis.code, 1);
  t.equal(redis.stderr, 'relayminer: cannot reach Redis at redis://admin:***@127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n');
  t.equal(redis.stdout, '');
  const relay = cli(['relay', 'jsonrpc', '--key', KEYS.app1, '--node-grpc', '127.0.0.1:3', '--node-rpc', 'http://127.0.0.1:2', '--service', 'anvil', '--supplier', ADDR.supplier1]);
  t.equal(relay.code, 1);
  t.equal(relay.stderr, 'relayminer: the Pocket node did not answer: status: http://127.0.0.1:2 did not answer (ECONNREFUSED)\n');
});
