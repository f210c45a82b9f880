import t from 'tap';
import { key } from '../helpers/localnet-client.js';
import { VERSION, cli } from '../helpers/cli.js';

t.test('version, help, and commands that arrive later', async (t) => {
  t.equal(cli(['version']).stdout, `relayminer ${VERSION}\n`);
  t.equal(cli(['--version']).stdout, `${VERSION}\n`);
  for (const sub of ['relayer', 'miner', 'start', 'validate', 'version', 'localnet', 'relay', 'redis']) {
    const r = cli([sub, '--help']);
    t.equal(r.code, 0, `${sub} --help`);
    t.match(r.stdout, `Usage: relayminer ${sub}`);
  }
  const noConfig = cli(['redis', 'sessions']);
  t.equal(noConfig.code, 1);
  t.match(noConfig.stderr, "required option '-c, --config <file>' not specified");
  const badView = cli(['redis', 'everything', '-c', 'x.yaml']);
  t.equal(badView.code, 1);
  t.match(badView.stderr, 'redis: unknown view "everything" (sessions, streams, leases, submissions)');
  const pigeon = cli(['relay', 'carrier-pigeon', '--key', 'aa', '--service', 'x', '--supplier', 'y']);
  t.equal(pigeon.code, 1);
  t.match(pigeon.stderr, 'relay: unknown transport "carrier-pigeon" (jsonrpc, rest, cometbft, websocket, grpc)');
  const r = cli(['relayer']);
  t.equal(r.code, 1);
  t.match(r.stderr, "required option '-c, --config <file>' not specified");
});
