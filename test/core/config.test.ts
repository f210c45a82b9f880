import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile, parseConfig, requireRole, DEFAULT_REDIS_URL } from '../../core/config/load.js';
import { ConfigError, suggestKey } from '../../core/config/problems.js';
import { renderConfigReference, renderJsonSchema } from '../../core/config/reference.js';
import { TEST_KEYS } from '../helpers/config.js';
import { builtinPluginDocs } from '../../plugins/docs.js';
import { tempDir } from '../helpers/temp-dir.js';
import { listenerBodyLimit } from '../../core/relay/http-relay.js';

const ROOT = join(import.meta.dirname, '..', '..');

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}, file = '/etc/relayminer/test.yaml') {
  try {
    parseConfig(text, { env, file });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const KEY = `supplier_keys: [{ private_key_hex: "\${K}" }]`;
const ENV = { K: TEST_KEYS.app1.hex };

t.test('the documented relayer example loads as written', async (t) => {
  const c = loadConfigFile(join(ROOT, 'examples/config.relayer.yaml'), { env: {} });
  const r = requireRole(c, 'relayer');
  t.equal(r.listen_address, ':8080');
  t.equal(r.health_address, ':8081');
  t.equal(r.metrics_address, ':9090');
  t.equal(r.redis.url, 'redis://redis:6379', 'redis.address becomes a redis:// URL');
  t.equal(r.redis.namespace, 'ha');
  t.same(c.services.eth?.backends.jsonrpc?.urls, ['http://your-eth-node:8545'], 'relayer.backends shorthand is a jsonrpc backend');
  t.same(c.services.eth?.backends.websocket?.urls, ['ws://your-eth-node:8546']);
  t.equal(c.services.solana?.backends.jsonrpc?.load_balancing, 'first_healthy');
  t.equal(c.services.solana?.backends.jsonrpc?.auth?.bearer_token, 'change-me', '${VAR:-default} uses the default');
  t.same(r.suppliers.map((s) => s.address), [TEST_KEYS.app1.address]);
  t.equal(r.pocket_node.grpc_address, 'pocket-node:9090', 'top-level pocket_node applies to the role');
  t.equal(c.miner, undefined);
  t.match(c.warnings, [/relayer\.supplier_keys\[0\]\.private_key_hex is a literal key/]);
});

t.test('the documented miner example loads as written', async (t) => {
  const c = loadConfigFile(join(ROOT, 'examples/config.miner.yaml'), { env: {} });
  const m = requireRole(c, 'miner');
  t.equal(m.metrics_address, ':9092');
  t.equal(m.health_address, undefined);
  t.equal(m.redis.url, 'redis://redis:6379');
  t.equal(m.pocket_node.rpc_url, 'http://pocket-node:26657', 'miner.chain is the pocket node');
  t.equal(m.pocket_node.grpc_address, 'pocket-node:9090');
  t.equal(m.pocket_node.chain_id, 'pocket');
  t.same(m.suppliers.map((s) => s.address), [TEST_KEYS.app1.address, TEST_KEYS.gateway1.address], 'keys_file, addresses derived');
  t.same(c.plugins, [{ name: 'miner', options: { instance_id: 'miner-0', lease_ttl_ms: 15000, transaction: { gas_price: '0.000001upokt', gas_adjustment: 1.7, mode: 'unordered' } } }], "how it mines: the miner plugin's options");
  t.throws(() => requireRole(c, 'relayer'), /has no "relayer" section/);
});

t.test('defaults fill every key an operator leaves out', async (t) => {
  const c = parseConfig(`relayer: { ${KEY} }\nminer: { ${KEY} }`, { env: ENV });
  t.equal(c.relayer?.listen_address, ':8080');
  t.equal(c.relayer?.health_address, ':8081');
  t.equal(c.relayer?.metrics_address, ':9090');
  t.equal(c.miner?.metrics_address, ':9092');
  t.equal(c.relayer?.redis.url, DEFAULT_REDIS_URL);
  t.same(c.relayer?.redis.pool, { size: 4, connect_timeout_ms: 5000, command_timeout_ms: 5000, max_retries_per_request: 2 });
  t.same(c.relayer?.pocket_node, { rpc_url: 'http://127.0.0.1:26657', grpc_address: '127.0.0.1:9090', tls: 'auto', chain_id: 'pocket', query_timeout_ms: 5000, stale_after_blocks: 3, stale_after_ms: 0 });
  t.same(c.logging, { level: 'info', format: 'auto' });
  t.same(c.shutdown, { readiness_delay_ms: 1000, drain_timeout_ms: 15000 });
  t.same(c.plugins, []);
  t.same(c.warnings, [], 'a key from ${ENV} is not a literal-key warning');
});

t.test('a misspelled key is named with its path, line and the nearest valid key', async (t) => {
  const problems = problemsOf(`relayer:\n  listen_adress: ":8080"\n  ${KEY}\n`, ENV);
  t.equal(problems.length, 1);
  t.equal(problems[0]!.path, 'relayer.listen_adress');
  t.equal(problems[0]!.line, 2);
  t.equal(problems[0]!.column, 3);
  t.match(problems[0]!.message, /^unknown key; did you mean "listen_address"\?/);
  const err = t.throws(() => parseConfig(`relayer:\n  listen_adress: ":8080"\n`, { file: '/x/relayer.yaml', env: {} })) as ConfigError;
  t.match(err.message, '/x/relayer.yaml:2:3: relayer.listen_adress: unknown key; did you mean "listen_address"?');
});

t.test("poktroll's relay miner configuration: each of its keys says what stands for it here", async (t) => {
  // The top of poktroll's localnet/pocketd/config/relayminer_config_full_example.yaml, as an operator would bring it.
  const problems = problemsOf(`default_signing_key_names: [supplier1]
smt_store_path: ":memory:"
enable_eager_relay_request_validation: false
enable_over_servicing: false
metrics: { enabled: true, addr: ":9090" }
pprof: { enabled: false, addr: "localhost:6060" }
ping: { enabled: false, addr: "localhost:8081" }
pocket_node:
  query_node_rpc_url: tcp://pocket-validator:26657
  query_node_grpc_url: tcp://pocket-validator:9090
  tx_node_rpc_url: tcp://pocket-validator:26657
suppliers:
  - service_id: ethereum
    listen_url: http://0.0.0.0:80
    service_config: { backend_url: "http://anvil.servicer:8545" }
`).map((p) => `${p.line} ${p.path}: ${p.message.replace(/ \(valid: .*\)$/, '')}`);
  const here = "is a Go relay miner's setting; here:";
  t.same(problems, [
    `1 default_signing_key_names: ${here} keys.keyring: { backend: <its --keyring-backend>, dir: <its --home>, key_names: [<these names>] }`,
    `2 smt_store_path: ${here} session trees are kept in Redis (redis), nothing to set`,
    `3 enable_eager_relay_request_validation: ${here} services.<service_id>.validation_mode (eager unless set)`,
    `4 enable_over_servicing: ${here} relayer.meter.enabled: false serves past the stake meter (enabled unless set)`,
    `5 metrics: ${here} relayer.metrics_address and miner.metrics_address, always served`,
    `6 pprof: ${here} no profiling endpoint is served; node --cpu-prof profiles a process`,
    `7 ping: ${here} relayer.health_address serves /ready and /ready/<service>, which check the backends`,
    `12 suppliers: ${here} services.<service_id>.backends.jsonrpc.url for service_config.backend_url (rpc_type_service_configs: the other backends, rest, cometbft, websocket, grpc), relayer.listen_address for listen_url, one listener for every service`,
    '9 pocket_node.query_node_rpc_url: unknown key; did you mean "rpc_url"?',
    '10 pocket_node.query_node_grpc_url: unknown key; did you mean "grpc_address"?',
    '11 pocket_node.tx_node_rpc_url: unknown key; did you mean "rpc_url"?',
  ]);
});

t.test("the HA relay miner's relayer configuration: its flat keys and renamed ones say what stands for them here", async (t) => {
  // Lines of pocket-relay-miner's config.relayer.example.yaml.
  const problems = problemsOf(`listen_addr: "0.0.0.0:8080"
keys: { keys_file: "/keys/supplier-keys.yaml", hot_reload_enabled: true }
services:
  develop-http:
    timeout_profile: fast
    pool_profile: low
    max_body_size_bytes: 10485760
    default_backend: jsonrpc
    backends:
      jsonrpc:
        urls: ["http://backend:8545", { name: backup, url: "http://backend-2:8545" }]
        authentication: { bearer_token: "your-token" }
        health_check: { endpoint: "/health", interval_seconds: 10 }
relay_meter: { enabled: true, fail_behavior: "open", cache_ttl: 2h }
response_compression: { enabled: false, min_size_bytes: 1024 }
`).map((p) => `${p.line} ${p.path}: ${p.message.replace(/ \(valid: .*\)$/, '')}`);
  const here = "is a Go relay miner's setting; here:";
  t.same(problems, [
    `1 listen_addr: ${here} relayer.listen_address`,
    `14 relay_meter: ${here} relayer.meter (enabled; fail_mode for fail_behavior; ttl_seconds for cache_ttl)`,
    `15 response_compression: ${here} relayer.response_compression (enabled; min_bytes for min_size_bytes)`,
    '2 keys.hot_reload_enabled: unknown key; did you mean "watch"?',
    '5 services.develop-http.timeout_profile: unknown key; did you mean "backends.<rpc type>.timeout_ms"?',
    '6 services.develop-http.pool_profile: unknown key; did you mean "backends.<rpc type>.connections"?',
    '7 services.develop-http.max_body_size_bytes: unknown key; did you mean "backends.<rpc type>.max_body_bytes"?',
    `8 services.develop-http.default_backend: ${here} a relay without an Rpc-Type header goes to the service's jsonrpc backend: give the URL of the backend it named there too`,
    '12 services.develop-http.backends.jsonrpc.authentication: unknown key; did you mean "auth"?',
    `11 services.develop-http.backends.jsonrpc.urls[1]: must be a string, got a map (the HA relay miner's { name, url } entry: write its url alone)`,
    '13 services.develop-http.backends.jsonrpc.health_check.endpoint: unknown key; did you mean "path"?',
    '13 services.develop-http.backends.jsonrpc.health_check.interval_seconds: unknown key; did you mean "interval_ms"?',
  ]);
});

t.test("the HA relay miner's miner configuration: its flat keys say what stands for them here", async (t) => {
  // Lines of pocket-relay-miner's config.miner.example.yaml.
  const problems = problemsOf(`block_time_seconds: 10
balance_monitor: { enabled: true, check_interval_seconds: 300 }
supplier_claiming: { claim_ttl_seconds: 90 }
deduplication_ttl_blocks: 10
batch_size: 1000
hot_reload_enabled: true
cache_ttl: "2h"
default_service_factor: 0.01
`).map((p) => `${p.line} ${p.path}: ${p.message}`);
  const here = "is a Go relay miner's setting; here:";
  t.same(problems, [
    `1 block_time_seconds: ${here} nothing to set: claims and proofs are timed by the chain's blocks and their header times`,
    `2 balance_monitor: ${here} the miner plugin's alerts (balance_transactions, missed_proofs)`,
    `3 supplier_claiming: ${here} the miner plugin's lease_ttl_ms (renewed every third of it)`,
    `4 deduplication_ttl_blocks: ${here} nothing to set: a session's tree keeps one leaf per relay for the session's whole life`,
    `5 batch_size: ${here} the miner plugin's consume.batch`,
    `6 hot_reload_enabled: ${here} keys.watch`,
    `7 cache_ttl: ${here} nothing to set: a session is kept until it is final (its leaves a day more, its record a week)`,
    `8 default_service_factor: ${here} relayer.meter.service_factors, per service id (the relayers apply them; without one, the baseline split)`,
  ]);
});

t.test('suggestions: typos, Go relay miner names, and nothing for unrelated words', async (t) => {
  t.equal(suggestKey('listen_adress', ['listen_address', 'health_address']), 'listen_address');
  t.equal(suggestKey('metrcs_address', ['listen_address', 'metrics_address']), 'metrics_address');
  t.equal(suggestKey('listen_addr', ['listen_address']), 'listen_address', 'Go key name');
  t.equal(suggestKey('query_node_grpc_url', ['grpc_address']), 'grpc_address', 'Go key name');
  t.equal(suggestKey('banana', ['listen_address', 'metrics_address']), undefined);
  const [p] = problemsOf(`redis: { namespce: x }`);
  t.equal(p!.path, 'redis.namespce');
  t.match(p!.message, 'did you mean "namespace"?');
});

t.test('problems never echo a secret: a URL password or a key field', async (t) => {
  const [url] = problemsOf(`redis: { url: "http://admin:hunter2@10.0.0.1:6379" }`);
  t.equal(url!.path, 'redis.url');
  t.match(url!.message, /got a string \("http:\/\/admin:\*\*\*@10\.0\.0\.1:6379"\)$/);
  t.notMatch(url!.message, /hunter2/);
  const [sentinel] = problemsOf(`redis: { url: "x://s/m?sentinel_password=hunter2" }`);
  t.equal(sentinel!.path, 'redis.url');
  t.match(sentinel!.message, /got a string \("x:\/\/s\/m\?sentinel_password=\*\*\*"\)$/, "a Sentinel's password in the query as well");
  const [key] = problemsOf(`relayer: {}\nkeys: { supplier_keys: [{ private_key_hex: "not-hex-but-secret" }] }`);
  t.equal(key!.path, 'keys.supplier_keys[0].private_key_hex');
  t.notMatch(key!.message, /not-hex-but-secret/);
  const [auth] = problemsOf(`services: { anvil: { backends: { jsonrpc: { url: "http://x", auth: { password: "hunter2" }, nope: 1 } } } }`);
  t.notMatch(JSON.stringify(auth), /hunter2/);
});

t.test('a key or mnemonic pasted where something else belongs is not echoed either', async (t) => {
  const hex = '4a5b'.repeat(16);
  const mnemonic = 'abandon '.repeat(11) + 'about';
  const problems = problemsOf(`relayer: {}
keys: { supplier_keys: ["0x${hex}"] }
redis: { namespace: "${mnemonic}" }
logging: { level: "${hex}" }`);
  t.same(
    problems.map((p) => [p.path, p.message.replace(/^.*, got /, 'got ')]).sort(),
    [
      ['keys.supplier_keys[0]', 'got a string (not shown: it looks like a private key or a mnemonic)'],
      ['logging.level', 'got a string (not shown: it looks like a private key or a mnemonic)'],
      ['redis.namespace', 'got a string (not shown: it looks like a private key or a mnemonic)'],
    ],
  );
  t.notMatch(JSON.stringify(problems), /4a5b|abandon/);
  const [short] = problemsOf(`logging: { level: "verbose words here" }`);
  t.match(short!.message, 'got a string ("verbose words here")', 'other strings are shown as before');
});

t.test('wrong types and out-of-range values name the path and the expected form', async (t) => {
  const problems = problemsOf(
    [
      'relayer:',
      '  metrics_address: 9090',
      '  listen_address: "localhost"',
      `  ${KEY}`,
      'redis:',
      '  url: "http://redis:6379"',
      '  pool: { size: "four", connect_timeout_ms: 10 }',
      'logging: { level: wrn }',
      'miner:',
      '  lease_ttl_ms: 5000',
      `  ${KEY}`,
    ].join('\n'),
    ENV,
  );
  const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
  t.same(Object.keys(byPath).sort(), [
    'logging.level',
    'miner.lease_ttl_ms',
    'redis.pool.connect_timeout_ms',
    'redis.pool.size',
    'redis.url',
    'relayer.listen_address',
    'relayer.metrics_address',
  ]);
  t.equal(byPath['relayer.metrics_address']!.message, 'must be a string, got number (9090)');
  t.equal(byPath['relayer.metrics_address']!.line, 2);
  t.match(byPath['relayer.listen_address']!.message, /^must be host:port, e\.g\. ":8080"/);
  t.match(byPath['redis.url']!.message, /scheme redis:\/\/, rediss:\/\/, unix:\/\/\/path, redis-sentinel/);
  t.equal(byPath['redis.pool.size']!.message, 'must be an integer, got a string ("four")');
  t.equal(byPath['redis.pool.connect_timeout_ms']!.message, 'must be >= 100, got 10');
  t.equal(byPath['miner.lease_ttl_ms']!.message, 'is a setting of the miner plugin: write it under its options (plugins: [{ name: miner, options: { lease_ttl_ms: … } }])');
  t.match(byPath['logging.level']!.message, /must be one of fatal, error, warn, info, debug, trace, silent, got a string \("wrn"\); did you mean "warn"\?/);
});

t.test('the Redis URL is read whole with the file: what connecting would refuse is a problem here', async (t) => {
  const shared = problemsOf(['redis:', '  url: "redis://h:6379/abc"', 'relayer:', `  ${KEY}`, 'miner:', `  ${KEY}`].join('\n'), ENV);
  t.same(shared.map((p) => [p.path, p.line, p.message]), [['redis.url', 2, 'bad Redis database "abc"']], 'said once for the section both roles share');
  const own = problemsOf(['relayer:', `  ${KEY}`, '  redis:', '    url: "redis-sentinel://s1,s2/m?sentinel_password=hunter2&timeout=5"'].join('\n'), ENV);
  t.same(own.map((p) => [p.path, p.line]), [['relayer.redis.url', 4]]);
  t.match(own[0]!.message, /^redis-sentinel:\/\/ takes no "timeout" parameter; it reads "db", "tls", "sentinel_password"$/);
  t.notMatch(JSON.stringify(own), /hunter2/);
  const [scheme, ...more] = problemsOf(['redis:', '  url: "http://h:6379"', 'relayer:', `  ${KEY}`].join('\n'), ENV);
  t.equal(scheme!.path, 'redis.url');
  t.same(more, [], 'a wrong scheme is said once, by the schema');
  const unix = parseConfig(['redis:', '  url: "unix:///run/redis.sock?db=2"', 'relayer:', `  ${KEY}`].join('\n'), { env: ENV, file: '/etc/relayminer/test.yaml' });
  t.equal(requireRole(unix, 'relayer').redis.url, 'unix:///run/redis.sock?db=2');
});

t.test("redis.tls_ca_file: read from the config file's folder, and only with TLS", async (t) => {
  const dir = tempDir(t, 'relayminer-redis-ca');
  mkdirSync(join(dir, 'certs'));
  writeFileSync(join(dir, 'certs/redis-ca.pem'), readFileSync(join(ROOT, 'test/fixtures/tls/ca.pem')));
  const file = join(dir, 'relayer.yaml');
  const ok = parseConfig(['redis:', '  url: "rediss://redis.internal:6380"', '  tls_ca_file: certs/redis-ca.pem', 'relayer:', `  ${KEY}`].join('\n'), { env: ENV, file });
  t.equal(requireRole(ok, 'relayer').redis.tls_ca_file, join(dir, 'certs/redis-ca.pem'), 'relative to the file, not to the working directory');
  const viaQuery = parseConfig(['redis:', '  url: "redis-sentinel://s1,s2/m?tls=true"', '  tls_ca_file: certs/redis-ca.pem', 'relayer:', `  ${KEY}`].join('\n'), { env: ENV, file });
  t.equal(requireRole(viaQuery, 'relayer').redis.tls_ca_file, join(dir, 'certs/redis-ca.pem'));
  const missing = problemsOf(['redis:', '  url: "rediss://redis.internal:6380"', '  tls_ca_file: certs/other.pem', 'relayer:', `  ${KEY}`].join('\n'), ENV);
  t.same(missing.map((p) => [p.path, p.line, p.message]), [['redis.tls_ca_file', 3, 'cannot read /etc/relayminer/certs/other.pem: file not found']]);
  const plain = problemsOf(['relayer:', `  ${KEY}`, '  redis:', '    url: "redis://redis.internal:6379"', '    tls_ca_file: /etc/ssl/ca.pem'].join('\n'), ENV);
  t.same(plain.map((p) => [p.path, p.message]), [['relayer.redis.tls_ca_file', 'is read only for a TLS connection: use rediss:// (or tls=true in the URL), or remove it']]);
});

t.test('a CA file that TLS could not read is a problem when the file is read, not a stack when a connection is', async (t) => {
  const dir = tempDir(t, 'relayminer-bad-ca');
  mkdirSync(join(dir, 'certs.d'));
  writeFileSync(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n');
  const ca = readFileSync(join(ROOT, 'test/fixtures/tls/ca.pem'), 'utf8');
  writeFileSync(join(dir, 'bundle.pem'), `${ca}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`);
  const file = join(dir, 'c.yaml');
  const problem = (redisCa: string, nodeCa: string) =>
    problemsOf(['redis:', '  url: "rediss://r:6380"', `  tls_ca_file: ${redisCa}`, 'pocket_node:', `  ca_file: ${nodeCa}`, 'relayer:', `  ${KEY}`].join('\n'), ENV, file).map((p) => [p.path, p.message]);
  t.same(problem('certs.d', 'key.pem'), [
    ['redis.tls_ca_file', `cannot read ${join(dir, 'certs.d')}: a directory, not a file`],
    ['pocket_node.ca_file', `${join(dir, 'key.pem')} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`],
  ]);
  t.same(problem('bundle.pem', 'bundle.pem'), [
    ['redis.tls_ca_file', `${join(dir, 'bundle.pem')}: certificate 2 of 2 cannot be read`],
    ['pocket_node.ca_file', `${join(dir, 'bundle.pem')}: certificate 2 of 2 cannot be read`],
  ]);
});

t.test('backend and node URLs are read whole with the file: what a connection would refuse is a problem here', async (t) => {
  const problems = problemsOf(
    [
      'pocket_node: { rpc_url: "http://node:265570", grpc_address: "node:99999" }',
      'services:',
      '  anvil:',
      '    backends:',
      '      jsonrpc: { urls: ["http://a:8545", "ftp://b:21", "http://"] }',
      '      websocket: { url: "grpc://c:9090" }',
      '      grpc: { url: "grpcs://d:9090" }',
      '  eth:',
      '    backends:',
      '      rest: { url: "https://user:hunter2@host name/" }',
      '      cometbft: { url: "http://e:26657" }',
      'relayer:',
      `  ${KEY}`,
      '  backends:',
      '    polygon: { url: "wss://f:8546" }',
    ].join('\n'),
    ENV,
  );
  const byPath = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
  t.same(problems.map((p): unknown[] => [p.path, p.line, p.message]).sort(byPath), [
    ['pocket_node.rpc_url', 1, 'port 265570 is out of range (1-65535)'],
    ['pocket_node.grpc_address', 1, 'port 99999 is out of range (0-65535)'],
    ['services.anvil.backends.jsonrpc.urls[1]', 5, 'a jsonrpc backend is reached over http://, https://, not ftp://'],
    ['services.anvil.backends.jsonrpc.urls[2]', 5, 'not a valid URL'],
    ['services.anvil.backends.websocket.url', 6, 'a websocket backend is reached over ws://, wss://, http://, https://, not grpc://'],
    ['services.eth.backends.rest.url', 10, 'not a valid URL'],
    ['relayer.backends.polygon.url', 15, 'a jsonrpc backend is reached over http://, https://, not wss://'],
  ].sort(byPath));
  t.notMatch(JSON.stringify(problems), /hunter2/);
  const [zero, ...others] = problemsOf(['pocket_node: { grpc_address: "node:0" }', 'relayer:', `  ${KEY}`].join('\n'), ENV);
  t.same([zero!.path, zero!.message], ['pocket_node.grpc_address', 'port 0 is not a port to connect to']);
  t.same(others, []);
});

t.test("a backend URL's user and password: sent as basic auth, so a problem beside auth or an authorization header, or when they cannot be decoded", async (t) => {
  const problems = problemsOf(
    [
      'services:',
      '  anvil:',
      '    backends:',
      '      jsonrpc: { url: "https://node:s%40cret@a:8545" }',
      '      rest: { url: "https://node:s%40cret@a:8545", auth: { bearer_token: "t" } }',
      '      cometbft: { urls: ["http://b:26657", "http://node:pw@c:26657"], headers: { Authorization: "Bearer t" } }',
      '      grpc: { url: "grpcs://node:50%off@d:9090" }',
      'relayer:',
      `  ${KEY}`,
      '  pocket_node: { rpc_url: "https://node:50%off@rpc:443" }',
    ].join('\n'),
    ENV,
  );
  t.same(problems.map((p) => [p.path, p.line, p.message]), [
    ['services.anvil.backends.grpc.url', 7, "bad percent-encoding in the URL's user or password (a % must start %XX, hexadecimal; write % itself as %25)"],
    ['services.anvil.backends.rest.url', 5, 'carries a user and password, and auth is set too: keep one'],
    ['services.anvil.backends.cometbft.urls[1]', 6, 'carries a user and password, and headers sets authorization too: keep one'],
    ['relayer.pocket_node.rpc_url', 10, "bad percent-encoding in the URL's user or password (a % must start %XX, hexadecimal; write % itself as %25)"],
  ]);
  t.notMatch(JSON.stringify(problems), /cret|50%off/, 'no password in the messages');
});

t.test("a backend's headers: names HTTP allows, values without line breaks, none of a request's framing", async (t) => {
  const problems = problemsOf(
    [
      'services:',
      '  anvil:',
      '    backends:',
      '      jsonrpc:',
      '        url: "http://a:8545"',
      '        headers:',
      '          "X Api Key": k',
      '          x-token: "a\\r\\nx-injected: 1"',
      '          Content-Length: "10"',
      '          Connection: close',
      '          host: node.internal',
      '          x-api-key: k',
      'relayer:',
      `  ${KEY}`,
    ].join('\n'),
    ENV,
  );
  t.same(problems.map((p) => [p.path, p.line, p.message]), [
    // A path with a space is located at its deepest part without one: the headers map.
    ['services.anvil.backends.jsonrpc.headers.X Api Key', 6, "is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"],
    ['services.anvil.backends.jsonrpc.headers.x-token', 8, 'has a value with CR, LF or NUL'],
    ['services.anvil.backends.jsonrpc.headers.Content-Length', 9, 'is set for each request by the relayer and its HTTP client; it cannot be fixed here'],
    ['services.anvil.backends.jsonrpc.headers.Connection', 10, 'is set for each request by the relayer and its HTTP client; it cannot be fixed here'],
  ]);
});

t.test('a port above 65535 and a YAML syntax error are reported with their location', async (t) => {
  const [port] = problemsOf(`relayer: { listen_address: ":70000", ${KEY} }`, ENV);
  t.equal(port!.path, 'relayer.listen_address');
  t.equal(port!.message, 'port 70000 is out of range (0-65535)');
  const [syntax] = problemsOf('relayer:\n  listen_address: ":8080"\n bad: [\n');
  t.match(syntax!.message, /^YAML: /);
  t.equal(syntax!.line, 3);
  const [dup] = problemsOf('relayer: {}\nrelayer: {}\n');
  t.match(dup!.message, /YAML: Map keys must be unique/);
});

t.test('${ENV} interpolation', async (t) => {
  const env = { ...ENV, POOL: '8', HOST: 'redis.internal', NS: '2024', TLS: 'true', HEXY: '0x10' };
  const c = parseConfig(
    [
      'redis:',
      '  url: "redis://${HOST}:6379/2"',
      '  namespace: ${NS}',
      '  pool: { size: "${POOL}" }',
      'pocket_node: { tls: "${TLS}", chain_id: "${HEXY}" }',
      'services:',
      '  eth:',
      '    backends:',
      '      jsonrpc:',
      '        url: "http://node:8545"',
      '        headers: { X-Literal: "$${NOT_A_VAR}", X-Default: "${UNSET_VAR:-fallback}" }',
      `relayer: { ${KEY} }`,
    ].join('\n'),
    { env },
  );
  t.equal(c.relayer?.redis.url, 'redis://redis.internal:6379/2', 'inside a string');
  t.equal(c.relayer?.redis.namespace, '2024', 'a number-looking value stays a string where the schema wants one');
  t.equal(c.relayer?.redis.pool.size, 8, 'a whole-value reference is a number where the schema wants one');
  t.equal(c.relayer?.pocket_node.tls, true, 'and a boolean where it wants a boolean');
  t.equal(c.relayer?.pocket_node.chain_id, '0x10', '0x10 stays a string');
  t.same(c.services.eth?.backends.jsonrpc?.headers, { 'X-Literal': '${NOT_A_VAR}', 'X-Default': 'fallback' });

  const problems = problemsOf(`relayer:\n  redis: { url: "redis://\${MISSING_HOST}:6379" }\n  ${KEY}\n`, ENV);
  t.equal(problems.length, 1);
  t.equal(problems[0]!.path, 'relayer.redis.url');
  t.match(problems[0]!.message, 'environment variable MISSING_HOST is not set');
  t.equal(problems[0]!.line, 2);
});

t.test('keys_dir: one YAML or JSON file per key, the Go HA relay miner\'s format; its address checked; never echoed', async (t) => {
  const dir = tempDir(t, 'relayminer-keysdir');
  const keys = join(dir, 'keys');
  mkdirSync(join(keys, 'old'), { recursive: true });
  const put = (name: string, text: string, mode = 0o600) => {
    writeFileSync(join(keys, name), text);
    chmodSync(join(keys, name), mode);
  };
  put('gateway1.yaml', `operator_address: ${TEST_KEYS.gateway1.address}\nprivate_key_hex: "${TEST_KEYS.gateway1.hex}"\n`);
  put('app1.JSON', JSON.stringify({ operator_address: TEST_KEYS.app1.address, private_key_hex: `0x${TEST_KEYS.app1.hex}` }));
  put('README.md', 'not a key');
  put('old/ignored.yaml', 'subdirectories are not read');
  const c = parseConfig('keys: { keys_dir: keys }\nrelayer: {}\n', { env: {}, dir });
  t.same(c.relayer?.suppliers.map((s) => s.address), [TEST_KEYS.app1.address, TEST_KEYS.gateway1.address], 'both keys, files in name order');
  t.same(c.warnings, []);

  chmodSync(join(keys, 'app1.JSON'), 0o644);
  t.same(parseConfig('keys: { keys_dir: keys }\nrelayer: {}\n', { env: {}, dir }).warnings, [`keys.keys_dir: 1 key file(s) in ${keys} readable by group or others (app1.JSON); chmod 600 them`]);

  put('wrong.yml', `operator_address: ${TEST_KEYS.app1.address}\nprivate_key_hex: "${TEST_KEYS.gateway1.hex}"\n`);
  put('fields.yaml', `private_key_hex: "${TEST_KEYS.gateway1.hex}"\n`);
  put('broken.yaml', `private_key_hex: [${TEST_KEYS.gateway1.hex}\n`);
  const problems = problemsOf(`keys: { keys_dir: ${keys} }\nrelayer: {}\n`).map((p) => `${p.path}: ${p.message}`);
  t.same(problems, [
    `keys.keys_dir (${join(keys, 'broken.yaml')}): cannot read key file: not YAML or JSON`,
    `keys.keys_dir (${join(keys, 'fields.yaml')}): a key file holds "private_key_hex" and "operator_address" (strings)`,
    `keys.keys_dir (${join(keys, 'wrong.yml')}): address ${TEST_KEYS.app1.address} does not match the key, which derives ${TEST_KEYS.gateway1.address}`,
  ]);
  t.notMatch(JSON.stringify(problems), TEST_KEYS.gateway1.hex, 'no key material in the problems');
  t.same(
    problemsOf(`keys: { keys_dir: ${join(dir, 'none')} }\nrelayer: {}\n`).map((p) => `${p.path}: ${p.message}`),
    [`keys.keys_dir: cannot read keys directory ${join(dir, 'none')}: directory not found`],
  );
  t.same(
    problemsOf(`keys: { watch: true, keys_env: K }\nrelayer: {}\n`, ENV).map((p) => `${p.path}: ${p.message}`),
    ['keys.watch: watches keys_file, keys_dir and keyring: set one of them'],
    'keys.watch with neither file nor directory',
  );
});

t.test('keys: inline, file, environment; addresses derived and checked; never echoed', async (t) => {
  const dir = tempDir(t, 'relayminer-keys');
  const file = join(dir, 'keys.yaml');
  writeFileSync(file, `keys:\n  - "${TEST_KEYS.gateway1.hex}"\n`);
  chmodSync(file, 0o600);
  const c = parseConfig(
    `keys: { keys_file: keys.yaml, keys_env: MY_KEYS }\nrelayer: {}\n`,
    { env: { MY_KEYS: ` ${TEST_KEYS.app1.hex},${TEST_KEYS.gateway1.hex}` }, dir },
  );
  t.same(c.relayer?.suppliers.map((s) => s.address), [TEST_KEYS.gateway1.address, TEST_KEYS.app1.address]);
  t.match(c.warnings, [/1 duplicate key\(s\) ignored/]);
  t.same(JSON.parse(JSON.stringify(c.relayer?.suppliers)), [{ address: TEST_KEYS.gateway1.address }, { address: TEST_KEYS.app1.address }], 'JSON has addresses only');
  t.notMatch(JSON.stringify(c), TEST_KEYS.app1.hex, 'the resolved config never serializes a key');

  chmodSync(file, 0o644);
  const loose = parseConfig(`keys: { keys_file: keys.yaml }\nrelayer: {}\n`, { env: {}, dir });
  t.match(loose.warnings, [/readable by group or others \(mode 644\); chmod 600 it/]);
  // A shared section is read once per role: what is wrong with it is said once.
  const both = parseConfig(`keys: { keys_file: keys.yaml }\nrelayer: {}\nminer: {}\n`, { env: {}, dir });
  t.equal(both.warnings.filter((w) => w.includes('mode 644')).length, 1, 'one warning for two roles');
  writeFileSync(file, 'keys: ["nothex"]\n');
  t.same(
    problemsOf(`keys: { keys_file: ${file} }\nrelayer: {}\nminer: {}\n`).map((p) => `${p.path}: ${p.message}`),
    [`keys.keys_file (${file}, keys[0]): private key must be 64 hex characters (32 bytes), got 6 characters`],
    'one problem for two roles',
  );

  const wrong = problemsOf(`relayer:\n  supplier_keys:\n    - address: ${TEST_KEYS.gateway1.address}\n      private_key_hex: "\${K}"\n`, ENV);
  t.equal(wrong[0]!.path, 'relayer.supplier_keys[0].private_key_hex');
  t.equal(wrong[0]!.message, `address ${TEST_KEYS.gateway1.address} does not match the key, which derives ${TEST_KEYS.app1.address}`);

  const secretish = 'deadbeef'.repeat(7);
  const bad = problemsOf(`relayer: { supplier_keys: [{ private_key_hex: "${secretish}" }] }`);
  t.equal(bad[0]!.message, 'private key must be 64 hex characters (32 bytes), got 56 characters');
  t.notMatch(bad[0]!.message, secretish);
  const zero = problemsOf(`relayer: { supplier_keys: [{ private_key_hex: "${'0'.repeat(64)}" }] }`);
  t.match(zero[0]!.message, /not a valid secp256k1 scalar/);

  const missing = problemsOf(`relayer: { keys: { keys_file: /nonexistent/keys.yaml } }`);
  t.equal(missing[0]!.path, 'relayer.keys.keys_file');
  t.match(missing[0]!.message, 'cannot read keys file /nonexistent/keys.yaml: file not found');
  const folder = tempDir(t, 'relayminer-keys-folder');
  const notAFile = problemsOf(`relayer: { keys: { keys_file: ${folder} } }`);
  t.equal(notAFile[0]!.message, `cannot read keys file ${folder}: a directory, not a file`);
  writeFileSync(join(folder, 'broken.yaml'), 'keys: [abc\n', { mode: 0o600 });
  const yamlSays = (() => {
    try {
      parseYaml('keys: [abc\n');
    } catch (err) {
      return (err as Error).message.split('\n')[0];
    }
  })();
  const broken = problemsOf(`relayer: { keys: { keys_file: ${join(folder, 'broken.yaml')} } }`);
  t.equal(broken[0]!.message, `cannot read keys file ${join(folder, 'broken.yaml')}: ${yamlSays}`, "the YAML parser's own words, not its error code");
  const unset = problemsOf(`relayer: { keys: { keys_env: NOT_SET_ANYWHERE } }`);
  t.equal(unset[0]!.message, 'environment variable NOT_SET_ANYWHERE is not set or empty');
  const none = problemsOf(`relayer: {}`);
  t.equal(none[0]!.path, 'relayer');
  t.match(none[0]!.message, /^no supplier keys/);
});

t.test('cross-field rules', async (t) => {
  const problems = problemsOf(
    [
      'redis: { url: "redis://a:6379", address: "b:6379" }',
      'pocket_node: { rpc_url: "http://a:26657" }',
      'chain: { rpc_url: "http://b:26657" }',
      'services:',
      '  eth:',
      '    backends:',
      '      jsonrpc: { url: "http://a", urls: ["http://b"] }',
      '      rest: { headers: {} }',
      '      grpc: { url: "http://g", auth: { bearer_token: t, username: u, password: p } }',
      '  empty: { backends: {} }',
      `relayer: { ${KEY}, backends: { eth: { url: "http://c" } } }`,
      'plugins: [a-plugin, a-plugin]',
    ].join('\n'),
    ENV,
  );
  const messages = Object.fromEntries(problems.map((p) => [p.path, p.message]));
  t.same(messages, {
    'services.eth.backends.jsonrpc.urls': 'set only one of "url" and "urls"',
    'services.eth.backends.rest': 'needs "url" or "urls"',
    'services.eth.backends.grpc.auth': 'use either bearer_token or username/password, not both',
    'services.empty.backends': 'a service needs at least one backend',
    chain: '"chain" is another name for "pocket_node"; set only one',
    'redis.address': 'set only one of "url" and "address"',
    'relayer.backends.eth': 'services.eth.backends.jsonrpc is also set; keep one',
    'plugins[1].name': 'plugin "a-plugin" is already listed at plugins[0]',
  });
});

t.test('a role section replaces the top-level section whole', async (t) => {
  const c = parseConfig(
    `redis: { url: "redis://shared:6379", namespace: shared }\nrelayer: { ${KEY}, redis: { address: "own:6379" } }\nminer: { ${KEY} }\n`,
    { env: ENV },
  );
  t.equal(c.relayer?.redis.url, 'redis://own:6379');
  t.equal(c.relayer?.redis.namespace, 'ha', 'not merged with the top-level namespace');
  t.equal(c.miner?.redis.url, 'redis://shared:6379');
  t.equal(c.miner?.redis.namespace, 'shared');
});

t.test('plugin entries: a string is shorthand for {name}', async (t) => {
  const c = parseConfig(`plugins: [transport-jsonrpc, { name: ./x.js, options: { a: 1 } }]`, { env: {} });
  t.same(c.plugins, [
    { name: 'transport-jsonrpc', options: {} },
    { name: './x.js', options: { a: 1 } },
  ]);
});

t.test('docs/configuration.md and the editor schema are generated from the schema and current', async (t) => {
  t.equal(readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8'), renderConfigReference(await builtinPluginDocs()), 'run npm run gen:config');
  t.equal(readFileSync(join(ROOT, 'schema/relayminer.config.schema.json'), 'utf8'), renderJsonSchema(), 'run npm run gen:config');
  const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
  for (const key of ['relayer.listen_address', 'redis.namespace', 'shutdown.drain_timeout_ms', 'services.<service_id>.backends.<rpc_type>.timeout_ms']) {
    t.match(doc, `| \`${key}\` |`, `${key} is documented`);
  }
  // Every built-in plugin's options, in a section of their own.
  const pluginSection = (name: string) => doc.slice(doc.lastIndexOf(`### \`${name}\``)).split('\n### ')[0]!;
  for (const [plugin, option] of [['miner', 'transaction.gas_price'], ['miner', 'lease_ttl_ms'], ['miner', 'consume.batch'], ['miner', 'scale.concurrency'], ['transport-grpc', 'listen_address'], ['transport-websocket', 'max_frame_bytes']]) {
    t.match(pluginSection(plugin!), `| \`${option}\` |`, `${plugin} option ${option} is documented`);
  }
  t.notMatch(doc, /batch_claims|batch_proofs/, 'no key that does nothing');
  // The exported JSON Schema works in a stock validator and accepts the examples.
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(JSON.parse(renderJsonSchema()) as object);
  for (const f of ['config.relayer.yaml', 'config.miner.yaml', 'config.devnet.yaml', 'config.with-plugin.yaml']) {
    const ok = validate(parseYaml(readFileSync(join(ROOT, 'examples', f), 'utf8')));
    t.ok(ok, `${f} passes the editor schema ${JSON.stringify(validate.errors)}`);
  }
  t.notOk(validate({ relayer: { listen_adress: ':1' } }), 'and refuses an unknown key');
});

t.test('literal keys in the config file: one warning for the list, however long', async (t) => {
  const hexes = [TEST_KEYS.app1.hex, TEST_KEYS.gateway1.hex, '1'.repeat(64), '2'.repeat(64)];
  const c = parseConfig(`miner:\n  supplier_keys: [${hexes.map((h) => `{ private_key_hex: "${h}" }`).join(', ')}]\n`, { env: {} });
  t.same(c.warnings.filter((w) => w.includes('literal')), [
    '4 literal keys in the config file (miner.supplier_keys[0].private_key_hex, miner.supplier_keys[1].private_key_hex, miner.supplier_keys[2].private_key_hex and 1 more); prefer keys_file, keys_env or ${ENV_VAR}',
  ]);
});

t.test("the README's relayer and miner configs load as written", async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  t.equal(blocks.length, 2);
  const dir = tempDir(t, 'relayminer-readme');
  writeFileSync(join(dir, 'keys.yaml'), readFileSync(join(ROOT, 'examples/keys/supplier-keys.example.yaml')));
  chmodSync(join(dir, 'keys.yaml'), 0o600);
  const load = (text: string, name: string) => {
    writeFileSync(join(dir, name), text.replace('keys/supplier-keys.yaml', 'keys.yaml'));
    return loadConfigFile(join(dir, name), { env: {} });
  };
  const relayer = requireRole(load(blocks[0]!, 'relayer.yaml'), 'relayer');
  t.same([relayer.listen_address, relayer.health_address, relayer.metrics_address, relayer.suppliers.length], [':8080', ':8081', ':9090', 2]);
  const miner = load(blocks[1]!, 'miner.yaml');
  t.same([requireRole(miner, 'miner').metrics_address, miner.plugins], [':9092', [{ name: 'miner', options: { instance_id: 'miner-0' } }]]);
});

t.test('keys only HTTP backends read are refused on websocket and grpc backends, where they would do nothing; their health checks open connections', async (t) => {
  const problems = problemsOf(
    `relayer: { ${KEY} }
services:
  eth:
    backends:
      jsonrpc: { url: "http://node:8545", health_check: { path: / }, max_body_bytes: 2048, connections: 4, application_share: 0.25 }
      websocket:
        url: "ws://node:8546"
        health_check: { path: / }
        max_body_bytes: 2048
      grpc: { url: "http://node:9090", load_balancing: round_robin, circuit_breaker: { failures: 3 }, application_share: 0.25, health_check: { interval_ms: 1000, expected_status: [200], path: /health } }
`,
    ENV,
  );
  t.same(
    problems.map((p) => [p.path, p.line, p.message]),
    [
      ['services.eth.backends.websocket.max_body_bytes', 9, "only HTTP backends (jsonrpc, rest, cometbft) use it; a websocket backend would ignore it: its messages are bounded by transport-websocket's max_frame_bytes"],
      ['services.eth.backends.websocket.health_check.path', 8, "only HTTP backends (jsonrpc, rest, cometbft) send a probe request; a websocket backend's probe is a WebSocket handshake to the URL (and `body` sent as a message, if set)"],
      ['services.eth.backends.grpc.load_balancing', 10, 'only HTTP backends (jsonrpc, rest, cometbft) use it; a grpc backend would ignore it: it tries its URLs in order, and load_balancing is not applied'],
      ['services.eth.backends.grpc.application_share', 10, 'only HTTP backends (jsonrpc, rest, cometbft) use it; a grpc backend would ignore it: it tries its URLs in order, and application_share is not applied'],
      ['services.eth.backends.grpc.circuit_breaker', 10, 'only HTTP backends (jsonrpc, rest, cometbft) use it; a grpc backend would ignore it: it tries its URLs in order, and circuit_breaker is not applied'],
      ['services.eth.backends.grpc.health_check.expected_status', 10, "only HTTP backends (jsonrpc, rest, cometbft) send a probe request; a grpc backend's probe is an HTTP/2 connection whose settings arrive (and `path` called, if set)"],
      ['services.eth.backends.grpc.health_check.path', 10, "a grpc backend's health check calls a method: /<package.Service>/<Method>, e.g. /cosmos.base.tendermint.v1beta1.Service/GetSyncing"],
    ],
    'each named with its line; the jsonrpc backend may have them all',
  );
  // Left out, they take their defaults as before; the relay listener's body limit follows the HTTP backends only.
  const c = parseConfig(`relayer: { ${KEY} }\nservices:\n  eth:\n    backends:\n      jsonrpc: { url: "http://node:8545", max_body_bytes: 2097152 }\n      websocket: { url: "ws://node:8546" }\n`, { env: ENV });
  t.equal(c.services.eth?.backends.websocket?.max_body_bytes, 10 * 1024 * 1024);
  t.equal(listenerBodyLimit(c), 2 * 1024 * 1024, "a websocket backend's default does not raise the HTTP relay listener's limit");
  const checked = parseConfig(
    `relayer: { ${KEY} }\nservices:\n  eth:\n    backends:\n      grpc: { url: "http://node:9090", health_check: { interval_ms: 1000, unhealthy_threshold: 2, path: /cosmos.base.tendermint.v1beta1.Service/GetSyncing } }\n      websocket: { url: "ws://node:8546", health_check: { body: '{"id":1}' } }\n`,
    { env: ENV },
  );
  t.match(checked.services.eth?.backends.grpc?.health_check, { interval_ms: 1000, timeout_ms: 2000, unhealthy_threshold: 2, healthy_threshold: 2, path: '/cosmos.base.tendermint.v1beta1.Service/GetSyncing' }, 'a grpc health check with a method to call is taken');
  t.equal(checked.services.eth?.backends.websocket?.health_check?.body, '{"id":1}', 'and a websocket one with a body');
});
