import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ADDR, KEYS } from '../helpers/localnet-client.js';
import { cli, cliAsync } from '../helpers/cli.js';

t.test('relay: arguments that cannot work are refused before any query, in one line without a stack (the key never echoed)', async (t) => {
  const base = ['--node-grpc', '127.0.0.1:3', '--node-rpc', 'http://127.0.0.1:2', '--service', 'anvil', '--supplier', ADDR.supplier1];
  const refused = (args: string[]) => {
    const r = cli(['relay', ...args, ...base]);
    t.equal(r.code, 1, args.join(' '));
    t.equal(r.stdout, '');
    return r.stderr;
  };
  t.equal(refused(['jsonrpc', '--key', 'c0ffee-not-a-key']), 'relayminer: relay jsonrpc: --key: private key must be 64 hex characters (32 bytes), got 16 characters\n');
  t.equal(refused(['jsonrpc', '--key', KEYS.app1, '--relayer', '127.0.0.1:8080']), 'relayminer: relay jsonrpc: --relayer must be a URL (http://, https://) of the relay listener (got "127.0.0.1:8080")\n');
  t.equal(refused(['websocket', '--key', KEYS.app1, '--relayer', 'ftp://relayer']), 'relayminer: relay websocket: --relayer must be a URL (http://, https://, ws://, wss://) of the relay listener (got "ftp://relayer")\n');
  t.equal(refused(['grpc', '--key', KEYS.app1, '--relayer', 'http://127.0.0.1:8082/relay', '--path', '/demo.v1.Demo/Echo']), 'relayminer: relay grpc: --relayer must be host:port of the relayer\'s gRPC listener (got "http://127.0.0.1:8082/relay")\n');
  t.equal(refused(['grpc', '--key', KEYS.app1, '--path', '/demo.v1.Demo/Echo', '--data', 'hello']), 'relayminer: relay grpc: --data must be the request message as hex (e.g. 0a0568656c6c6f)\n');
  t.equal(refused(['grpc', '--key', KEYS.app1]), 'relayminer: relay grpc: --path must name the method, /package.Service/Method (got "/")\n');
  t.equal(refused(['jsonrpc', '--key', KEYS.app1, '--simulate', 'health']), 'relayminer: relay jsonrpc: --sim-app-pubkey must be the pinned application public key: 66 hex characters starting 02 or 03\n');
  const home = join(import.meta.dirname, '..', 'vectors', 'keyring', 'pocketd-home');
  t.equal(refused(['jsonrpc', '--key-name', 'gateway9', '--home', home]), `relayminer: relay jsonrpc: --key-name: key "gateway9" is not in the test keyring ${join(home, 'keyring-test')} (it holds app1, supplier1)\n`);
  t.equal(refused(['jsonrpc', '--key-name', 'app1', '--home', home, '--key', KEYS.app1]), 'relayminer: relay jsonrpc: give --key or --key-name, not both\n');
  t.equal(refused(['jsonrpc', '--key-name', 'app1', '--home', home, '--keyring-backend', 'os']), 'relayminer: relay jsonrpc: --keyring-backend must be test or file (got "os")\n');
  t.equal(refused(['jsonrpc', '--key-name', 'app1', '--home', home, '--keyring-backend', 'file']), 'relayminer: relay jsonrpc: --key-name: the file keyring needs its passphrase in $RELAY_KEYRING_PASSPHRASE\n');
});

t.test('localnet: an address that is not host:port, or one taken, is one line naming it, exit 1, no stack', async (t) => {
  const bad = cli(['localnet', '--rpc-address', 'nonsense']);
  t.equal(bad.code, 1);
  t.equal(bad.stderr, 'relayminer: localnet: --rpc-address: must be host:port, got "nonsense"\n');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  const rpc = await cliAsync(['localnet', '--rpc-address', `127.0.0.1:${port}`, '--grpc-address', '127.0.0.1:0']);
  t.equal(rpc.code, 1);
  t.equal(rpc.stderr, `relayminer: localnet CometBFT RPC cannot listen on 127.0.0.1:${port}: address already in use\n`);
  const grpc = await cliAsync(['localnet', '--rpc-address', '127.0.0.1:0', '--grpc-address', `127.0.0.1:${port}`]);
  t.equal(grpc.code, 1);
  t.match(grpc.stderr, new RegExp(`^relayminer: localnet Cosmos gRPC cannot listen on 127\\.0\\.0\\.1:${port}: address already in use$`, 'm'));
  t.notMatch(grpc.stderr, /\n\s+at /, 'no stack');
});
