import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { ChainQueryClient } from '../../core/chain/query-client.js';
import { readSupplierStakes, stakeCoverage, type ServedRelays, type SupplierStake } from '../../core/relay/stake-coverage.js';
import { StakeWatch } from '../../core/relay/stake-watch.js';
import { cliAsync } from '../helpers/cli.js';
import { ADDR, KEYS, startTestLocalnet } from '../helpers/localnet-client.js';
import { captureLogs } from '../helpers/logs.js';
import { startRelayer } from '../helpers/relayer.js';
import { until } from '../helpers/until.js';
import { tempDir } from '../helpers/temp-dir.js';

const OUTSIDER = 'pokt1l3e9pgs3mmwuwrh95fecme0s0qtn28805vd04p'; // the address of key 11…11: never staked

t.test('stakeCoverage: what is staked but not served, and what is served but not staked, by service and transport', async (t) => {
  const stakes: SupplierStake[] = [
    {
      address: 'pokt1a',
      services: [
        { serviceId: 'eth', endpoints: [{ url: 'https://a/eth', rpcType: 'jsonrpc' }, { url: 'wss://a/eth', rpcType: 'websocket' }, { url: 'https://a/grpc', rpcType: 'grpc' }] },
        { serviceId: 'sol', endpoints: [{ url: 'https://a/sol', rpcType: 'jsonrpc' }] },
      ],
    },
    { address: 'pokt1b' },
    { address: 'pokt1c', services: [] },
    { address: 'pokt1d', services: [{ serviceId: 'eth', endpoints: [{ url: 'wss://d/eth', rpcType: 'websocket' }] }] },
  ];
  const served: ServedRelays = { backends: { eth: ['jsonrpc', 'grpc', 'rest'] }, transports: ['jsonrpc', 'websocket', 'rest'] };
  const { refused, notes } = stakeCoverage(stakes, served);
  t.same(
    refused.map((r) => [r.service, r.rpcType, r.suppliers, r.urls]),
    [
      ['eth', 'websocket', ['pokt1a', 'pokt1d'], ['wss://a/eth', 'wss://d/eth']],
      ['eth', 'grpc', ['pokt1a'], ['https://a/grpc']],
      ['sol', 'jsonrpc', ['pokt1a'], ['https://a/sol']],
    ],
  );
  t.same(
    refused.map((r) => r.message),
    [
      `"eth" over websocket: 2 supplier key(s) staked for it (pokt1a, pokt1d; at wss://a/eth, wss://d/eth), but service "eth" has no websocket backend: gateways' relays there fail and earn nothing`,
      `"eth" over grpc: 1 supplier key(s) staked for it (pokt1a; at https://a/grpc), but no grpc transport is enabled: gateways' relays there fail and earn nothing`,
      `"sol" over jsonrpc: 1 supplier key(s) staked for it (pokt1a; at https://a/sol), but this configuration has no service "sol": gateways' relays there fail and earn nothing`,
    ],
  );
  t.same(notes, ['1 supplier key(s) not staked on chain (pokt1b): gateways send them nothing yet', 'service "eth" rest backend: no supplier key here is staked for "eth" over rest']);
  const all: ServedRelays = { backends: { eth: ['jsonrpc', 'websocket', 'grpc'], sol: ['jsonrpc'] }, transports: ['jsonrpc', 'websocket', 'grpc'] };
  t.same(stakeCoverage(stakes, all).refused, [], 'everything staked is served');

  // An operator's hundreds of keys: one line per pair, however many keys share it.
  const many = Array.from({ length: 500 }, (_, i): SupplierStake => ({ address: `pokt1s${i}`, services: [{ serviceId: 'sol', endpoints: [{ url: `https://s${i}/sol`, rpcType: 'jsonrpc' }] }] }));
  const wide = stakeCoverage([...many, ...Array.from({ length: 40 }, (_, i) => ({ address: `pokt1u${i}` }))], served);
  t.same(
    wide.refused.map((r) => r.message),
    [`"sol" over jsonrpc: 500 supplier key(s) staked for it (pokt1s0, pokt1s1, pokt1s2 and 497 more; at https://s0/sol, https://s1/sol and 498 more), but this configuration has no service "sol": gateways' relays there fail and earn nothing`],
  );
  t.equal(wide.notes[0], '40 supplier key(s) not staked on chain (pokt1u0, pokt1u1, pokt1u2 and 37 more): gateways send them nothing yet');
});

t.test('readSupplierStakes: the chain as the localnet answers it', async (t) => {
  const net = await startTestLocalnet(t);
  const query = new ChainQueryClient({ grpc_address: net.grpcAddress, query_timeout_ms: 5000, tls: false });
  t.teardown(() => query.close());
  t.same(await readSupplierStakes(query, [ADDR.supplier1, OUTSIDER, ADDR.supplier2], 2), [
    {
      address: ADDR.supplier1,
      stakeUpokt: 1_000_000_000n,
      services: [
        { serviceId: 'anvil', endpoints: [{ url: 'http://127.0.0.1:8080', rpcType: 'jsonrpc' }, { url: 'ws://127.0.0.1:8080', rpcType: 'websocket' }] },
        { serviceId: 'rest', endpoints: [{ url: 'http://127.0.0.1:8080', rpcType: 'rest' }] },
      ],
    },
    { address: OUTSIDER },
    { address: ADDR.supplier2, stakeUpokt: 1_000_000_000n, services: [{ serviceId: 'anvil', endpoints: [{ url: 'http://127.0.0.1:8080', rpcType: 'jsonrpc' }] }] },
  ]);
});

t.test('the relayer warns at start about what its keys are staked for and it does not serve, and counts it', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }` });
  const unserved = () => r.logs.lines.filter((l) => String(l.msg).startsWith('staked but not served')).map((l) => [l.level, l.service, l.rpc_type, l.suppliers]);
  const metric = () => r.metrics().then((m) => Number(/^relayminer_staked_transports_not_served (\d+)$/m.exec(m)?.[1]));
  await until('the start-up stake check', () => unserved().length >= 2);
  t.same(unserved(), [
    [40, 'anvil', 'websocket', 1],
    [40, 'rest', 'rest', 1],
  ]);
  t.equal(await metric(), 2);
});

t.test('StakeWatch: a warning when a pair turns unserved, an info line when it is served again, nothing while nothing changes', async (t) => {
  const net = await startTestLocalnet(t);
  const query = new ChainQueryClient({ grpc_address: net.grpcAddress, query_timeout_ms: 5000, tls: false });
  t.teardown(() => query.close());
  const logs = captureLogs();
  const registry = new Registry();
  const served: ServedRelays = { backends: { anvil: ['jsonrpc'], rest: ['rest'] }, transports: ['jsonrpc', 'rest'] };
  const watch = new StakeWatch({ query, suppliers: [ADDR.supplier1], served, log: logs.logger, registry });
  t.teardown(() => watch.close());
  const said = () => logs.lines.map((l) => [l.level, String(l.msg).split(':')[0]]);
  const gauge = async () => (await registry.getSingleMetric('relayminer_staked_transports_not_served')!.get()).values[0]!.value;

  await watch.check();
  t.same(said(), [[40, 'staked but not served']]);
  t.equal(await gauge(), 1);
  await watch.check();
  t.equal(logs.lines.length, 1, 'the same finding twice: said once');

  (served.backends as Record<string, string[]>).anvil!.push('websocket');
  (served.transports as string[]).push('websocket');
  await watch.check();
  t.same(said().at(-1), [30, 'a staked service transport is served now, or no longer staked']);
  t.equal(await gauge(), 0);

  // The node gone: said once, not at every check.
  await net.stop();
  await watch.check();
  await watch.check();
  t.same(said().slice(-1), [[40, 'stake check']], 'a node that does not answer is a warning');
  t.equal(logs.lines.filter((l) => String(l.msg).startsWith('stake check: the node did not answer')).length, 1, 'once, not every check');
});

t.test('StakeWatch: a relayer started before its node says so once, checks again every retryAfterFailureMs, and finds what is not served once the node answers', async (t) => {
  const { startLocalnet, parseGenesis } = await import('../../localnet/index.js');
  const { freePort } = await import('../../core/redis/local-server.js');
  const { TEST_GENESIS } = await import('../helpers/localnet-client.js');
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const query = new ChainQueryClient({ grpc_address: grpcAddress, query_timeout_ms: 500, tls: false });
  t.teardown(() => query.close());
  const logs = captureLogs();
  const served: ServedRelays = { backends: { anvil: ['jsonrpc'], rest: ['rest'] }, transports: ['jsonrpc', 'rest'] };
  const watch = new StakeWatch({ query, suppliers: [ADDR.supplier1], served, log: logs.logger, registry: new Registry(), retryAfterFailureMs: 200 });
  t.teardown(() => watch.close());
  let checks = 0;
  const check = watch.check.bind(watch);
  watch.check = () => (checks++, check());
  watch.start();
  await until('a retry has failed too', () => checks >= 3);
  t.same(
    logs.lines.map((l) => [l.level, l.msg]),
    [[40, 'stake check: the node did not answer; checking again every 0.2 s until it does']],
    'said once, whatever the retries',
  );

  const net = await startLocalnet(parseGenesis(TEST_GENESIS), { rpcAddress: '127.0.0.1:0', grpcAddress, log: captureLogs().logger });
  t.teardown(() => net.stop());
  await until('the check once the node answers', () => logs.lines.some((l) => String(l.msg).startsWith('staked but not served')));
  t.same(
    logs.lines.slice(1).map((l) => [l.level, String(l.msg).split(':')[0], l.service, l.rpc_type]),
    [
      [30, 'stake check works again', undefined, undefined],
      [40, 'staked but not served', 'anvil', 'websocket'],
    ],
  );
  const after = checks;
  await new Promise((r) => setTimeout(r, 600));
  t.equal(checks, after, 'back to the long interval once a check works');
});

t.test('validate --check-stake: exit 1 and one line per staked pair not served; 0 once everything staked is served', async (t) => {
  const net = await startTestLocalnet(t);
  const dir = tempDir(t, 'relayminer-stake');
  const file = (services: string) => {
    const path = join(dir, `relayer-${services.length}.yaml`);
    writeFileSync(
      path,
      `relayer:\n  pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }\n  supplier_keys: [{ private_key_hex: "\${KEY1}" }, { private_key_hex: "\${KEY2}" }]\nservices:\n${services}`,
    );
    return path;
  };
  const env = { KEY1: KEYS.supplier1, KEY2: '11'.repeat(32) };
  const partial = file('  anvil:\n    backends:\n      jsonrpc: { url: "http://127.0.0.1:8545" }\n      cometbft: { url: "http://127.0.0.1:26657" }\n');
  const r = await cliAsync(['validate', '-c', partial, '--check-stake'], env);
  t.equal(r.code, 1, r.stderr);
  t.same(r.stdout.split('\n').slice(1), [
    `refused: "anvil" over websocket: 1 supplier key(s) staked for it (${ADDR.supplier1}; at ws://127.0.0.1:8080), but service "anvil" has no websocket backend: gateways' relays there fail and earn nothing`,
    `refused: "rest" over rest: 1 supplier key(s) staked for it (${ADDR.supplier1}; at http://127.0.0.1:8080), but this configuration has no service "rest": gateways' relays there fail and earn nothing`,
    `note: 1 supplier key(s) not staked on chain (${OUTSIDER}): gateways send them nothing yet`,
    'note: service "anvil" cometbft backend: no supplier key here is staked for "anvil" over cometbft',
    `stake: 2 supplier key(s), 1 staked on ${net.grpcAddress}; 2 staked service transport(s) not served`,
    // The localnet's supplier1: 1e9 staked, 3.2e8 per missed proof, min_stake 1.
    `warning: ${ADDR.supplier1} stakes 1000000000 uPOKT: 3 missed proof(s) of 320000000 uPOKT each before its stake is under min_stake 1 and the chain unstakes it`,
    `stake margin: 1 of 1 staked key(s) at 3 or fewer missed proofs before the chain unstakes them; the fewest 3 (${ADDR.supplier1})`,
    'sessions: height 1 is in session [1, 10] of 10 blocks; the next start at 11 and 21',
    '',
  ]);
  net.chain.advance(11);
  t.match((await cliAsync(['validate', '-c', partial, '--check-stake'], env)).stdout, /\nsessions: height 12 is in session \[11, 20\] of 10 blocks; the next start at 21 and 31\n$/, 'where a handover_height can go');
  const full = file('  anvil:\n    backends:\n      jsonrpc: { url: "http://127.0.0.1:8545" }\n      websocket: { url: "ws://127.0.0.1:8546" }\n  rest:\n    backends:\n      rest: { url: "http://127.0.0.1:8000" }\n');
  const ok = await cliAsync(['validate', '-c', full, '--check-stake'], env);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, `\nstake: 2 supplier key(s), 1 staked on ${net.grpcAddress}; every staked service transport is served\n`);
  t.notMatch(ok.stdout, /refused:/);

  await net.stop();
  const down = await cliAsync(['validate', '-c', full, '--check-stake'], env);
  t.equal(down.code, 1);
  t.match(down.stderr, /^relayminer: the Pocket node did not answer: pocket\.supplier\.Query\/Supplier: UNAVAILABLE/m, 'one line, no stack');
  t.notMatch(down.stderr, /\n\s+at /);
  t.match(down.stderr, /: connect ECONNREFUSED 127\.0\.0\.1:\d+\n$/, "grpc-js's reason kept, its empty resolution note after it left out");
});
