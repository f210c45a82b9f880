import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { RPC_TYPES } from '../protocol/rpc-type.js';

/**
 * The one configuration schema. Validation (ajv), the TypeScript types, the defaults,
 * docs/configuration.md and schema/relayminer.config.schema.json all come from here.
 *
 * `expected` is a custom keyword: the human form shown when a value does not match.
 */

export { RPC_TYPES, type RpcTypeName } from '../protocol/rpc-type.js';

/** The cosmos-sdk keyring backends a service can open without a prompt or a desktop session. */
export const KEYRING_BACKENDS = ['test', 'file'] as const;
export type KeyringBackend = (typeof KEYRING_BACKENDS)[number];

/** A string enum emitted as plain JSON Schema `enum` (clearer errors than anyOf of consts). */
function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

const ListenAddress = (def: string, description: string) =>
  Type.String({
    default: def,
    pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$',
    expected: 'host:port, e.g. ":8080" or "127.0.0.1:8080"',
    description,
  });

const OptionalListenAddress = (description: string) =>
  Type.Optional(
    Type.String({
      pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$',
      expected: 'host:port, e.g. ":8082"',
      description,
    }),
  );

const Millis = (def: number, description: string, min = 0, max = 3_600_000) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description });

export const RedisPoolSchema = Type.Object(
  {
    size: Type.Integer({
      default: 4,
      minimum: 1,
      maximum: 64,
      description:
        'Multiplexed command connections (ioredis pipelines on each). Blocking stream reads get their own connections on top.',
    }),
    connect_timeout_ms: Millis(5000, 'Time allowed to establish a connection before it is retried.', 100, 120_000),
    command_timeout_ms: Millis(5000, "A command that gets no reply within this time fails (0 = no timeout). A relayer's meter lease that Redis runs more than half of it after it was sent changes nothing (Redis runs a timed-out command once it answers again).", 0, 120_000),
    max_retries_per_request: Type.Integer({
      default: 2,
      minimum: 0,
      maximum: 20,
      description: 'Reconnect attempts a queued command waits through before it fails.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Connection pool settings.' },
);

export const RedisSchema = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        pattern: '^(redis|rediss|unix|redis-sentinel|redis-cluster)://',
        expected:
          'a URL with scheme redis://, rediss://, unix:///path, redis-sentinel://host1,host2/master or redis-cluster://host1,host2',
        description:
          'Redis to use. `redis://[user:pass@]host:port[/db]`, `rediss://` (TLS), `unix:///path/to/redis.sock` (a Redis on this machine), `redis-sentinel://[user:pass@]h1:p1,h2:p2/master[/db]`, `redis-cluster://[user:pass@]h1:p1,h2:p2`. Query parameters: `db=N` (the Go relay miners\' form of the database; not on a cluster), `tls=true` (not on unix://), `sentinel_password=…` (Sentinel); any other is refused. Checked whole when the file is read. Exactly one of `url` and `address`; default `redis://127.0.0.1:6379`.',
      }),
    ),
    address: Type.Optional(
      Type.String({
        pattern: '^[^/\\s]+:[0-9]{1,5}$',
        expected: 'host:port, e.g. "redis:6379"',
        description: 'Shorthand for `url: redis://<address>`.',
      }),
    ),
    namespace: Type.String({
      default: 'ha',
      pattern: '^[A-Za-z0-9_.-]{1,32}$',
      expected: '1-32 characters of A-Z a-z 0-9 _ . -',
      description:
        'Prefix of every key and channel. Relayers and miners that share work must use the same namespace.',
    }),
    pool: RedisPoolSchema,
    tls_ca_file: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM file with the CA that signs the Redis TLS certificate, if the system does not trust it (relative to the config file); only with TLS (`rediss://`, or `tls=true` in the URL).' }),
    ),
  },
  { additionalProperties: false, description: 'Redis connection.' },
);

export const PocketNodeSchema = Type.Object(
  {
    rpc_url: Type.String({
      default: 'http://127.0.0.1:26657',
      pattern: '^(http|https|ws|wss)://',
      expected: 'an http(s):// URL, e.g. "http://node:26657"',
      description: 'CometBFT RPC of a Pocket full node (blocks, block results, new-block subscription). A user and password in it (`https://user:pass@node/`) are sent as basic auth.',
    }),
    grpc_address: Type.String({
      default: '127.0.0.1:9090',
      pattern: '^[^/\\s]+:[0-9]{1,5}$',
      expected: 'host:port, e.g. "node:9090"',
      description: 'Cosmos gRPC of the same node (queries and transactions).',
    }),
    tls: Type.Union([Type.Boolean(), Type.Literal('auto')], {
      default: 'auto',
      expected: 'true, false or "auto"',
      description:
        'TLS to the node, for gRPC and the CometBFT RPC/WebSocket: `auto` uses it where the port is 443 (an `https://` RPC URL always does).',
    }),
    ca_file: Type.Optional(
      Type.String({ minLength: 1, description: "PEM file of the CA that signs the node's certificate, if the system does not trust it (relative to the config file)." }),
    ),
    chain_id: Type.String({
      default: 'pocket',
      minLength: 1,
      description: 'Chain id signed into transactions (`pocket` on main-net, `pocket-lego-testnet` on beta).',
    }),
    query_timeout_ms: Millis(5000, 'Deadline of one chain query.', 100, 120_000),
    stale_after_blocks: Type.Integer({
      default: 3,
      minimum: 1,
      maximum: 100,
      description:
        "`/ready` fails, and the chain counts as halted, after this many median block intervals (from the blocks' own header times) without a new block: ~3 minutes on mainnet, 3 seconds on a 1-second localnet.",
    }),
    stale_after_ms: Millis(0, 'A fixed staleness bound instead of `stale_after_blocks` (0: derive it from the chain\'s pace).', 0, 3_600_000),
  },
  { additionalProperties: false, description: 'The Pocket full node. `chain` is accepted as another name for it.' },
);

export const SupplierKeySchema = Type.Object(
  {
    address: Type.Optional(
      Type.String({
        pattern: '^pokt1[02-9ac-hj-np-z]{38}$',
        expected: 'a pokt1… bech32 address',
        description: 'Operator address; when given it must equal the address derived from the key.',
      }),
    ),
    private_key_hex: Type.String({
      minLength: 1,
      description: 'Hex secp256k1 scalar. Prefer `${ENV_VAR}` or `keys_file` over a literal.',
    }),
  },
  { additionalProperties: false },
);

const KeyringSchema = Type.Object(
  {
    backend: StringEnum(KEYRING_BACKENDS, {
      description:
        'cosmos-sdk keyring backend, as given to pocketd with `--keyring-backend`: `test` (unencrypted in effect: its passphrase is the public string "test"; guard its files) or `file` (passphrase-protected). `os` and `memory` cannot be read by a service.',
    }),
    dir: Type.String({
      minLength: 1,
      description:
        'The home directory the keyring was made with (pocketd\'s `--home`, e.g. `${HOME}/.pocket`): the records are read from its `keyring-test/` or `keyring-file/`. Path relative to the config file; `~` is not expanded.',
    }),
    key_names: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'Names of the keys to use (as `pocketd keys list` shows them); each must be in the keyring. Without it, every key with a local secp256k1 private key is used.',
      }),
    ),
    passphrase_env: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        expected: 'an environment variable name',
        description: 'Name of an environment variable holding the `file` backend\'s passphrase.',
      }),
    ),
    passphrase_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'File holding the `file` backend\'s passphrase (a mounted secret; line ends at its end are ignored). Path relative to the config file.',
      }),
    ),
    app_name: Type.Optional(
      Type.String({
        description: 'Accepted as the Go relay miners write it (`pocket`); the test and file backends keep their records under `dir` whatever it is, so it changes nothing.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'A cosmos-sdk keyring (what `pocketd keys add` writes, and the Go relay miners\' `keyring` key source). Each key\'s address is derived from it. Records are read directly: the keyring needs no pocketd here.',
  },
);

export const KeysSchema = Type.Object(
  {
    keys_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'YAML file `keys: [hex, …]` of supplier operator keys (the Go relay miner format); path relative to the config file.',
      }),
    ),
    keys_dir: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Directory of key files, one key each (the Go HA relay miner\'s `keys_dir`): every `.yaml`, `.yml` or `.json` file in it holds `private_key_hex` and `operator_address`, which must be the address derived from the key; other files are ignored. Path relative to the config file.',
      }),
    ),
    keys_env: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        expected: 'an environment variable name',
        description: 'Name of an environment variable holding hex keys separated by commas or white space.',
      }),
    ),
    supplier_keys: Type.Optional(Type.Array(SupplierKeySchema, { description: 'Keys listed in the config itself.' })),
    keyring: Type.Optional(KeyringSchema),
    watch: Type.Boolean({
      default: false,
      description:
        'Reload the keys, as SIGHUP does, when `keys_file`, a file of `keys_dir` or a record of the keyring changes (a second after the last change): a Kubernetes Secret mounted as `keys_dir` then reaches every pod by itself when it is updated. A change that leaves the files unloadable changes nothing (logged).',
    }),
  },
  {
    additionalProperties: false,
    description: 'Supplier operator keys; every source is read and the union is used. Addresses are derived.',
  },
);

export const BackendSchema = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        pattern: '^[a-z][a-z0-9+.-]*://',
        expected: 'a URL, e.g. "http://node:8545"',
        description:
          'One backend URL: `http://` or `https://` for jsonrpc, rest and cometbft; `ws://`, `wss://` (or `http(s)://`) for websocket; `grpc://` (HTTP/2 without TLS), `grpcs://` (or `http(s)://`) for grpc. A user and password in it (`https://user:pass@host/`) are sent as basic auth. Checked whole when the file is read.',
      }),
    ),
    urls: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z][a-z0-9+.-]*://', expected: 'a URL' }), {
        minItems: 1,
        description: 'Several backend URLs (exactly one of `url` and `urls`).',
      }),
    ),
    headers: Type.Record(Type.String(), Type.String(), {
      default: {},
      description: 'Headers added to every backend request. A name must be an HTTP token and a value free of line breaks; the ones each request sets for itself (Connection, Keep-Alive, Transfer-Encoding, Upgrade, TE, Content-Length, Expect) are refused.',
    }),
    auth: Type.Optional(
      Type.Object(
        {
          bearer_token: Type.Optional(Type.String({ minLength: 1, description: 'Sent as `Authorization: Bearer <token>`.' })),
          username: Type.Optional(Type.String({ description: 'Basic auth user.' })),
          password: Type.Optional(Type.String({ description: 'Basic auth password (use `${ENV_VAR}`).' })),
        },
        { additionalProperties: false, description: 'Either `bearer_token`, or `username` and `password` (basic).' },
      ),
    ),
    timeout_ms: Millis(30_000, 'Deadline of one backend request, retries included.', 1, 3_600_000),
    max_body_bytes: Type.Integer({
      default: 10 * 1024 * 1024,
      minimum: 1024,
      maximum: 256 * 1024 * 1024,
      description: "Largest request or response body accepted; a streamed (SSE/NDJSON) answer ends, not mined, once its whole body passes it. HTTP backends only (WebSocket and gRPC messages are bounded by their transport's options).",
    }),
    load_balancing: StringEnum(['round_robin', 'first_healthy'] as const, {
      default: 'round_robin',
      description: 'How several URLs share the load. HTTP backends only (WebSocket and gRPC backends try their URLs in order, those whose last connection failed last).',
    }),
    connections: Type.Integer({ default: 256, minimum: 1, maximum: 10_000, description: 'Most open connections per backend URL (keep-alive pool). HTTP backends only.' }),
    application_share: Type.Number({
      default: 0.5,
      minimum: 0.01,
      maximum: 1,
      description:
        "The largest share of a URL's requests in flight (`connections` × `pipelining`) one application's relays may hold at once; its relays past it wait, within their deadline, for its own to end. A client can ask for what its backend takes `timeout_ms` to answer, and such relays, unanswered, cost its application nothing: without a share, enough of them would hold every connection and every other application's relays would wait behind them. 1 turns it off. HTTP backends only.",
    }),
    pipelining: Type.Integer({ default: 1, minimum: 1, maximum: 100, description: 'HTTP/1.1 requests in flight per connection (1 = no pipelining). HTTP backends only.' }),
    keep_alive_ms: Millis(
      60_000,
      'How long an idle backend connection is kept open, at most. A backend that announces a shorter keep-alive (`Keep-Alive: timeout=N`, as Node servers do with 5 s) is left 2 s before it would close the connection, so no request is sent on a connection being closed; each connection opened again costs the relay that opens it a TCP (and TLS) handshake. HTTP backends only.',
      1000,
      3_600_000,
    ),
    circuit_breaker: Type.Object(
      {
        failures: Type.Integer({ default: 5, minimum: 1, maximum: 1000, description: 'Consecutive failures (connection error, 502/503/504) with no answer in between that open the circuit. A timeout opens it only when the URL then does not answer a probe on a connection of its own (its `health_check`, or a GET of its path).' }),
        cooldown_ms: Millis(5000, 'How long an open circuit skips the URL before one request tries it again.', 100, 600_000),
      },
      { additionalProperties: false, default: {}, description: 'Passive health: a failing URL is skipped for a while. HTTP backends only.' },
    ),
    health_check: Type.Optional(
      Type.Object(
        {
          path: Type.String({
            default: '/',
            pattern: '^/',
            description:
              "Path (and query) probed on each URL, joined onto the URL's own path. An answer saying the node is still syncing fails the probe: CometBFT's `/status` (`catching_up`), the Cosmos REST `/cosmos/base/tendermint/v1beta1/syncing`. A `grpc` backend calls it as a method with an empty message, the probe passing on `grpc-status` 0 and, for `/grpc.health.v1.Health/Check` (the gRPC health service), an answer of SERVING, for `/cosmos.base.tendermint.v1beta1.Service/GetSyncing` (a Cosmos node), one of not syncing; unset, its probe only opens a connection.",
          }),
          method: StringEnum(['GET', 'POST', 'HEAD'] as const, { default: 'GET', description: 'Probe method. HTTP backends only.' }),
          body: Type.Optional(
            Type.String({
              description:
                'Probe body, e.g. `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}` (sent as application/json). A `websocket` backend sends it as a message once the handshake opens, and the probe passes when its answer (a message with its JSON-RPC `id`) arrives within `timeout_ms`. A body that is a JSON-RPC call or batch passes only on an answer without a JSON-RPC `error` (nodes send theirs with HTTP 200), and one calling `eth_syncing` or CometBFT `status` only while the node is not syncing, on either kind of backend.',
            }),
          ),
          expected_status: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), {
            default: [],
            description: 'Statuses that mean healthy; empty: any 2xx. HTTP backends only.',
          }),
          interval_ms: Millis(10_000, 'Time between probes of one URL.', 500, 3_600_000),
          timeout_ms: Millis(2_000, 'A probe without an answer within this is a failure (websocket and grpc: a connection not open within it, or a websocket `body` or grpc `path` not answered).', 50, 60_000),
          unhealthy_threshold: Type.Integer({ default: 3, minimum: 1, maximum: 100, description: 'Consecutive failed probes that take a URL out of rotation.' }),
          healthy_threshold: Type.Integer({ default: 2, minimum: 1, maximum: 100, description: 'Consecutive good probes that bring it back.' }),
        },
        {
          additionalProperties: false,
          description: 'Active health: each URL is probed on a timer (with the backend `headers` and `auth`); set it to enable. An HTTP backend sends the probe request below; a `websocket` backend opens a WebSocket handshake (and sends `body`, if set) and a `grpc` one an HTTP/2 connection (its settings must arrive; and calls `path`, if set), then closes it; `method` and `expected_status` are refused on both, `path` on websocket and `body` on grpc. The six keys above are HTTP backends only.',
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'Where relays of one service and RPC type are forwarded.' },
);

const BackendsByRpcType = Type.Object(
  {
    grpc: Type.Optional(BackendSchema),
    websocket: Type.Optional(BackendSchema),
    jsonrpc: Type.Optional(BackendSchema),
    rest: Type.Optional(BackendSchema),
    cometbft: Type.Optional(BackendSchema),
  },
  {
    additionalProperties: false,
    description: 'Backend per RPC type; `<rpc_type>` is one of grpc, websocket, jsonrpc, rest, cometbft.',
  },
);

export const ServiceSchema = Type.Object(
  {
    backends: BackendsByRpcType,
    validation_mode: StringEnum(['eager', 'optimistic'] as const, {
      default: 'eager',
      description:
        '`eager`: nothing reaches the backend before the relay is validated. `optimistic`: serve first, validate before mining.',
    }),
  },
  { additionalProperties: false, description: 'One service, by its on-chain id.' },
);

export const SERVICE_ID_PATTERN = '^[A-Za-z0-9_-]{1,42}$';

export const ServicesSchema = Type.Record(Type.String({ pattern: SERVICE_ID_PATTERN }), ServiceSchema, {
  additionalProperties: false,
  description: 'Services this supplier serves, by on-chain service id.',
});

export const PluginEntrySchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      description: 'A built-in plugin name, an npm package name, or a path (./, ../ or /) relative to the config file.',
    }),
    options: Type.Record(Type.String(), Type.Unknown(), {
      default: {},
      description: "The plugin's options, validated against its own schema.",
    }),
  },
  { additionalProperties: false },
);

export const LoggingSchema = Type.Object(
  {
    level: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
      default: 'info',
      description: 'Lowest level written.',
    }),
    format: StringEnum(['auto', 'json', 'pretty'] as const, {
      default: 'auto',
      description: '`auto` writes human-readable lines on a terminal and JSON otherwise.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Logging (pino, to stdout).' },
);

export const ShutdownSchema = Type.Object(
  {
    readiness_delay_ms: Millis(
      1000,
      'After SIGTERM, /ready answers 503 for this long before the listeners close, so load balancers stop sending.',
      0,
      120_000,
    ),
    drain_timeout_ms: Millis(15_000, 'Bound on waiting for in-flight work; then connections are cut.', 0, 600_000),
  },
  { additionalProperties: false, default: {}, description: 'Graceful shutdown.' },
);

/** Sections a role may override for itself; a role section value replaces the top-level one whole. */
const RoleOverrides = {
  redis: Type.Optional(RedisSchema),
  pocket_node: Type.Optional(PocketNodeSchema),
  chain: Type.Optional(PocketNodeSchema),
  keys: Type.Optional(KeysSchema),
  supplier_keys: Type.Optional(
    Type.Array(SupplierKeySchema, { description: 'Shorthand for `keys.supplier_keys`.' }),
  ),
};

export const RelayMeterSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: "Refuse relays past the supplier's share of the app stake for the session." }),
    fail_mode: StringEnum(['open', 'closed'] as const, {
      default: 'open',
      description: '`open`: serve unmetered while Redis cannot be asked (counted); `closed`: refuse with 503 `meter_unavailable`.',
    }),
    service_factors: Type.Record(Type.String({ pattern: SERVICE_ID_PATTERN }), Type.Number({ exclusiveMinimum: 0, maximum: 1 }), {
      default: {},
      description: 'Service id → fraction of the app stake one supplier may serve per session, instead of the baseline split.',
    }),
    ttl_seconds: Type.Integer({ default: 86_400, minimum: 60, maximum: 30 * 86_400, description: "Lifetime of a session's meter in Redis." }),
    lease_relays: Type.Integer({
      default: 16,
      minimum: 1,
      maximum: 10_000,
      description:
        "Relays' worth of budget a relayer takes from a session's meter in one Redis call, at least (a busy session's lease covers `lease_ms` of its recent relays, up to 256), and then charges locally; never more than 1/16 of what is left, so near the limit every relay goes to Redis. A lease down to under a quarter of what was asked for is topped up in the background. `1` charges every relay in Redis.",
    }),
    lease_ms: Millis(
      100,
      "A busy session's lease covers this long of its relays on this relayer at their recent rate, when that is more than `lease_relays` (up to 256 relays), so it is topped up well before it runs dry and its relays do not wait for Redis. 0: leases of `lease_relays`.",
      0,
      10_000,
    ),
    lease_idle_ms: Millis(2_000, 'A lease unused this long (and every lease at shutdown) goes back to Redis for other relayers.', 100, 600_000),
  },
  { additionalProperties: false, default: {}, description: 'Stake meter shared by every relayer (docs/spec/anchor-features.md §1.3).' },
);

export const RelayListenerLimitsSchema = Type.Object(
  {
    request_timeout_ms: Millis(
      30_000,
      'A relay request (headers and body) must arrive whole within this, or it is answered 408 and its connection closed. Bounds slow and stalled uploads; the backend call is not part of it.',
      1_000,
      600_000,
    ),
    answer_timeout_ms: Millis(
      30_000,
      'An HTTP relay answer or gRPC unary answer over `large_body_bytes` must be taken whole by its client within this of the backend answering, or its connection is closed (gRPC: its call reset; a streamed gRPC answer whose client takes nothing for this long, too). Bounds clients that stop reading: each would otherwise hold its answer for as long as its connection lives.',
      1_000,
      600_000,
    ),
    idle_timeout_ms: Millis(
      120_000,
      'An HTTP connection to the relay listener with no request open for this long is closed (announced in each answer as `Keep-Alive: timeout`). Keep it above the idle timeout of the clients and load balancers in front (Go HTTP clients, PATH among them, keep idle connections 90 s; an AWS load balancer 60 s; a Google Cloud load balancer 600 s, so 620000 behind one), so that they close idle connections and not the relayer: a relay written to a connection the relayer is closing fails, as HTTP clients send a POST again only when they had not written it yet.',
      1_000,
      3_600_000,
    ),
    max_connections: Type.Integer({
      default: 10_000,
      minimum: 1,
      maximum: 1_000_000,
      description: 'Open connections on the relay listener, WebSocket bridges included; connections past it are closed as they arrive (counted).',
    }),
    chain_queries: Type.Integer({
      default: 64,
      minimum: 1,
      maximum: 10_000,
      description:
        'Queries to the node in flight at once for relays whose chain values are not cached (a new session, application or height); up to four times as many more wait, and past that a relay is refused `chain_busy` (503) at once. A relay naming an application nobody has costs a query each, and anyone can send those: this keeps a flood of them from becoming a flood at the node that the miner needs too. Such queries (a session of an application no relay has been validated for here, a height outside the sessions now current) hold at most half of these, with a line of their own, so a flood of them leaves the other half to the new sessions of applications already served.',
    }),
    large_body_bytes: Type.Integer({
      default: 65_536,
      minimum: 1_024,
      maximum: 268_435_456,
      description:
        'A relay request body over this (by its Content-Length; any chunked body, at the largest `max_body_bytes`) or gRPC request (by the size its prefix announces; a compressed one at transport-grpc\'s `max_message_bytes` until it is decompressed) draws on `large_bodies_bytes` until its relay is answered, an HTTP relay\'s or gRPC unary call\'s backend answer over this until its client has taken it, a WebSocket message over this while it arrives, and a compressed request body a transport reads (JSON-RPC, CometBFT) its backend\'s `max_body_bytes` while it is decompressed, then its decompressed size if over this until its relay is answered. Smaller ones draw nothing: their total is bounded by the connection caps.',
    }),
    large_bodies_bytes: Type.Integer({
      default: 268_435_456,
      minimum: 1_048_576,
      maximum: 68_719_476_736,
      description:
        'Bytes of large request bodies, gRPC requests, HTTP and gRPC unary answers and WebSocket messages the relayer holds at once, all connections together; a large body that does not fit is refused (`relayer_busy`) before it is read and its connection closed, an answer before it is signed or mined (its charge refunded), a gRPC call ends UNAVAILABLE, a WebSocket message closes its connection (1013) (one always fits). Bounds what many clients sending bodies or messages near the size limits, or asking for large answers and not reading them, can make the relayer hold.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'What clients can hold of the relay listener.' },
);

export const ResponseCompressionSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description:
        'Gzip HTTP relay answers for clients that send `Accept-Encoding: gzip` (Go\'s HTTP client, so PATH, does, and decompresses them itself): less egress for large answers, for CPU on the relayer. Streamed answers (SSE, NDJSON), WebSocket and gRPC are not compressed.',
    }),
    min_bytes: Type.Integer({ default: 1024, minimum: 0, maximum: 268_435_456, description: 'Answers smaller than this go uncompressed.' }),
    level: Type.Integer({ default: 1, minimum: 1, maximum: 9, description: 'zlib level: 1 is fastest; higher levels save a little more of a JSON answer for up to about twice the CPU (level 6 on large answers).' }),
  },
  { additionalProperties: false, default: {}, description: 'Compression of HTTP relay answers (as the Go HA relay miner\'s `response_compression`; off by default).' },
);

const CompressedPublicKeyHex = (description?: string) =>
  Type.String({
    pattern: '^(0x)?0[23][0-9a-fA-F]{64}$',
    expected: 'a compressed secp256k1 public key: 66 hex characters starting 02 or 03',
    ...(description !== undefined && { description }),
  });

export const SimulationIdentitySchema = Type.Object(
  {
    key_id: Type.String({
      pattern: '^[A-Za-z0-9._-]{1,64}$',
      expected: '1-64 characters of A-Z a-z 0-9 . _ -',
      description: 'What a simulated relay names in its `Pocket-Simulation-Key-Id` header (gRPC: `pocket-simulation-key-id` metadata). Not a secret: the ring signature is the gate.',
    }),
    enabled: Type.Boolean({ default: false, description: 'This identity admits simulated relays (each one is switched on by itself).' }),
    not_after: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$', expected: 'an RFC 3339 time, e.g. "2027-06-30T00:00:00Z"', description: 'After this time the identity admits nothing (rotation).' })),
    max_rps: Type.Integer({ default: 5, minimum: 1, maximum: 10_000, description: 'Simulated relays per second this identity may send (a token bucket of as many, charged once a relay verifies).' }),
    app_pubkey_hex: CompressedPublicKeyHex("The identity's application public key (ring member 0, and the session header's application address)."),
    gateway_pubkeys_hex: Type.Array(CompressedPublicKeyHex(), {
      minItems: 1,
      maxItems: 15,
      description: "Gateway public keys of the ring, held by the operator; never the ring's padding placeholder key (its private key is public).",
    }),
    allowed_services: Type.Array(Type.String({ pattern: SERVICE_ID_PATTERN }), { default: [], description: 'Services it may target; empty: every service configured.' }),
  },
  { additionalProperties: false },
);

export const SimulationSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description:
        'Admit simulated relays (the Go HA relay miner\'s health-check relays): a relay carrying `Pocket-Simulation-Key-Id` is ring-verified against that pinned identity instead of the chain, forwarded and signed as any relay, and never metered, mined or published. Off: the header is ignored and the relay is validated as any other.',
    }),
    max_concurrent: Type.Integer({ default: 32, minimum: 1, maximum: 10_000, description: 'Simulated HTTP and gRPC relays in flight at once, every identity together; past it one is refused `simulation_rate_limited` (WebSocket frames are bounded by their connection and `max_rps`).' }),
    freshness_window_seconds: Type.Integer({
      default: 30,
      minimum: 1,
      maximum: 3600,
      description: "How far a simulated relay's signed timestamp (its session id, `simv1:<unix seconds>:<nonce>`) may be from the relayer's clock; each signature is admitted once (Redis remembers it for twice this).",
    }),
    identities: Type.Array(SimulationIdentitySchema, { default: [], description: 'Pinned identities (public keys only).' }),
  },
  { additionalProperties: false, default: {}, description: 'Simulated relays for health checks of the whole relay path without chain state or payment (off by default).' },
);

const DashboardFlag = Type.Boolean({
  default: false,
  description:
    'Serve the operator dashboard (`/dashboard`: lease owners, sessions, applications, earned uPOKT) on the metrics listener. Off by default: that listener is often reachable by more than the operator.',
});

export const RelayerSchema = Type.Object(
  {
    listen_address: ListenAddress(':8080', 'Relay listener for every HTTP-based transport.'),
    error_model: StringEnum(['poktroll', 'http'] as const, {
      default: 'poktroll',
      description:
        '`poktroll`: refusals are HTTP 200 with an unsigned RelayResponse carrying a RelayMinerError (PATH reads it). `http`: the Go HA miner\'s HTTP status + `{"error": …}`.',
    }),
    meter: RelayMeterSchema,
    ring_verify_threads: Type.Integer({
      default: 1,
      minimum: 0,
      maximum: 64,
      description:
        'Worker threads that verify ring signatures (the largest CPU cost of a relay) and sign answers with the supplier key off the event loop, once it is 50 % busy; 0 does both on the event loop. With `--workers N`, each worker process has its own.',
    }),
    ring_tables: Type.Integer({
      default: 240,
      minimum: 0,
      maximum: 100_000,
      description:
        'Precomputed tables of ring members, H_p points and key images that recur in verified signatures (136 KiB each), kept by each thread that verifies (the event loop and every `ring_verify_threads` thread): a signature whose points all have one verifies in about a third of the time. Two per application plus three per gateway; the default holds ~118 applications signed for by one gateway. `relayminer_ring_tables` shows how many are held; 0: none.',
    }),
    limits: RelayListenerLimitsSchema,
    response_compression: ResponseCompressionSchema,
    simulation: SimulationSchema,
    health_address: ListenAddress(':8081', '`/health` (liveness) and `/ready` (readiness).'),
    metrics_address: ListenAddress(':9090', 'Prometheus `/metrics`.'),
    dashboard: DashboardFlag,
    backends: Type.Optional(
      Type.Record(Type.String({ pattern: SERVICE_ID_PATTERN }), BackendSchema, {
        additionalProperties: false,
        description: 'Shorthand: service id → JSON-RPC backend, merged into `services.<id>.backends.jsonrpc`.',
      }),
    ),
    ...RoleOverrides,
  },
  { additionalProperties: false, description: 'The relayer role.' },
);

export const TransactionSchema = Type.Object(
  {
    gas_price: Type.String({
      default: '0.000001upokt',
      pattern: '^[0-9]+(\\.[0-9]+)?[a-z][a-z0-9/]{1,127}$',
      expected: 'an amount and denom, e.g. "0.000001upokt"',
      description: 'Gas price of claim and proof transactions.',
    }),
    gas_adjustment: Type.Number({ default: 1.7, minimum: 1, maximum: 10, description: 'Multiplier on simulated gas.' }),
    gas_limit: Type.Integer({
      default: 0,
      minimum: 0,
      description: 'Fixed gas limit; 0 simulates each transaction and applies `gas_adjustment`.',
    }),
    mode: StringEnum(['unordered', 'ordered'] as const, {
      default: 'unordered',
      description: '`unordered` (ADR-070 timeout-based, no sequence races) or `ordered` (sequence-managed).',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Claim and proof transactions (one per supplier per session end height, all its claims or proofs in it).' },
);

export const MinerSchema = Type.Object(
  {
    metrics_address: ListenAddress(':9092', 'Prometheus `/metrics`; also serves `/health` and `/ready`.'),
    health_address: OptionalListenAddress('Separate `/health` and `/ready` listener (default: on the metrics address).'),
    dashboard: DashboardFlag,
    ...RoleOverrides,
  },
  { additionalProperties: false, description: "The miner role: its listeners and its Redis, node and keys. How it mines (transactions, leases, stream reading, alerts) is the miner plugin's options." },
);

export const ConfigSchema = Type.Object(
  {
    relayer: Type.Optional(RelayerSchema),
    miner: Type.Optional(MinerSchema),
    redis: Type.Optional(RedisSchema),
    pocket_node: Type.Optional(PocketNodeSchema),
    chain: Type.Optional(PocketNodeSchema),
    keys: Type.Optional(KeysSchema),
    services: Type.Optional(ServicesSchema),
    plugins: Type.Array(PluginEntrySchema, {
      default: [],
      description:
        'Plugins in load order. An entry is a name or path, or `{name, options}`; each runs in the roles it declares. Without this key the file runs what its sections describe: a relayer section the built-in transport of every RPC type its services have a backend for, a miner section the miner. A list, even empty, is taken as written.',
    }),
    logging: LoggingSchema,
    shutdown: ShutdownSchema,
  },
  {
    additionalProperties: false,
    $id: 'https://relayminer.dev/schema/config.json',
    title: 'relayminer configuration',
  },
);

export type RawConfig = Static<typeof ConfigSchema>;
export type RedisConfig = Static<typeof RedisSchema>;
export type PocketNodeConfig = Static<typeof PocketNodeSchema>;
export type KeysConfig = Static<typeof KeysSchema>;
export type BackendConfig = Static<typeof BackendSchema>;
export type ServiceConfig = Static<typeof ServiceSchema>;
export type PluginEntry = Static<typeof PluginEntrySchema>;
export type LoggingConfig = Static<typeof LoggingSchema>;
export type ShutdownConfig = Static<typeof ShutdownSchema>;
export type TransactionConfig = Static<typeof TransactionSchema>;
export type RelayMeterConfig = Static<typeof RelayMeterSchema>;
export type RelayListenerLimits = Static<typeof RelayListenerLimitsSchema>;
export type ResponseCompression = Static<typeof ResponseCompressionSchema>;
export type SimulationConfig = Static<typeof SimulationSchema>;
export type RelayerSection = Static<typeof RelayerSchema>;
export type MinerSection = Static<typeof MinerSchema>;

export type { TSchema };
