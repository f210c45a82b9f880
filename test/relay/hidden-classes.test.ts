import t from 'tap';
import { createServer } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HttpBackend } from '../../core/backend/http-backend.js';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { SupplierKey } from '../../core/crypto/supplier-key.js';
import type { SessionHeader } from '../../core/protocol/messages.js';
import { KeyBuilder } from '../../core/redis/key-builder.js';
import type { RelayChainState } from '../../core/relay/chain-state.js';
import { RelayHooks } from '../../core/relay/hooks.js';
import { withHeaderDefault } from '../../core/relay/http-protocol.js';
import { RelayPipeline } from '../../core/relay/pipeline.js';
import { RelayRejection } from '../../core/relay/reasons.js';
import { buildRelayRequest, encodeRelayRequest } from '../../core/relay/relay-client.js';
import { RelayMetrics } from '../../core/relay/relay-metrics.js';
import { RelayValidator } from '../../core/relay/validator.js';
import { ADDR, KEYS, key } from '../helpers/localnet-client.js';

// Objects made once per relay must share one hidden class (V8 map). Object spread followed by new
// properties (`{ ...relay, session }`) gives each object a map of its own once its site is warm: every
// read of such objects goes megamorphic, and the fresh maps, old-generation objects pointing at the
// new ones, keep a share of each relay's garbage alive through scavenges. `%HaveSameMap` tells.
setFlagsFromString('--allow-natives-syntax');
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: unknown, b: unknown) => boolean;
/** Past V8's inline caches' warm-up: the fresh maps appear only once a site runs its fast path. */
const WARM = 300;

const header: SessionHeader = {
  application_address: ADDR.app1,
  service_id: 'anvil',
  session_id: 'c364305f42d54c0c4f472040e1ea05a6c25b7cbe7008afd690012b8044e757c2',
  session_start_block_height: 11n,
  session_end_block_height: 20n,
};
const ring = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));
const supplier = SupplierKey.fromHex(KEYS.supplier1);
const bodies = [1, 2].map((id) =>
  encodeRelayRequest(buildRelayRequest({ header: { ...header }, supplierAddress: supplier.address, payload: Buffer.from(`{"id":${id}}`), signerKey: key(KEYS.gateway1), ring })),
);

/** The chain as a warm relayer holds it: every value cached. */
const chain = {
  currentHeight: () => 15n,
  cached: {
    sharedParams: () => ({ grace_period_end_offset_blocks: 1n, claim_window_open_offset_blocks: 1n }),
    session: () => ({ header, supplierOperatorAddresses: [supplier.address] }),
    ringPublicKeys: () => ring,
  },
} as unknown as RelayChainState;
const validator = new RelayValidator({ chain, services: new Set(['anvil']), suppliers: new Map([[supplier.address, supplier]]) });
const info = () => ({ id: 'x', rpcType: 'jsonrpc' as const, transport: 'test', receivedAtMs: 0 });

t.test("checkSession's validated relays share one hidden class", async (t) => {
  const relays = [];
  for (let i = 0; i < WARM; i++) relays.push((await validator.checkSession(validator.decode(bodies[i % 2]!, info()))).relay);
  const [a, b] = relays.slice(-2);
  t.equal(Buffer.from(a!.request.payload).toString(), '{"id":1}');
  t.equal(Buffer.from(b!.request.payload).toString(), '{"id":2}');
  t.same([a!.height, a!.rewardEligible, a!.supplier], [15n, true, supplier]);
  // The fields are written out one by one: each must still be the relay's own.
  t.equal(a!.header, a!.request.meta.session_header, "the decoded request's own session header");
  t.same([a!.session.header, a!.session.supplierOperatorAddresses], [header, [supplier.address]]);
  t.ok(sameMap(a, b));
});

t.test("a refused relay's reply: one hidden class", async (t) => {
  const pipeline = new RelayPipeline({
    validator,
    chain,
    keys: new KeyBuilder('t'),
    redis: () => {
      throw new Error('no Redis on the refusal path');
    },
    hooks: new RelayHooks(pino({ level: 'silent' })),
    metrics: new RelayMetrics(new Registry()),
    log: pino({ level: 'silent' }),
    errorModel: 'http',
  });
  const replies = [];
  for (let i = 0; i < WARM; i++) replies.push(pipeline.refuse(new RelayRejection('body_too_large', `${i} bytes`), 'jsonrpc', 'test', i));
  const [a, b] = replies.slice(-2);
  t.same([a!.status, a!.outcome, a!.rejection?.reason, b!.rejection?.message], [413, 'rejected', 'body_too_large', `request body too large: ${WARM - 1} bytes`]);
  t.ok(sameMap(a, b));
});

t.test("the backend's answers share one hidden class", async (t) => {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":1}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const backend = new HttpBackend({
    urls: [`http://127.0.0.1:${(server.address() as { port: number }).port}`],
    headers: {},
    timeout_ms: 2000,
    max_body_bytes: 1024,
    load_balancing: 'round_robin',
    connections: 4,
    application_share: 0.5,
    pipelining: 1,
    keep_alive_ms: 10_000,
    circuit_breaker: { failures: 100, cooldown_ms: 5000 },
  });
  t.teardown(() => backend.close());
  const answers = [];
  for (let i = 0; i < WARM; i++) answers.push(await backend.send({ method: 'POST', url: '/', headers: {}, body: Buffer.from('{}') }, {}));
  const [a, b] = answers.slice(-2);
  t.same([a!.status, Buffer.from(a!.body).toString(), a!.retries], [200, '{"result":1}', 0]);
  t.ok(sameMap(a, b));
});

t.test('a request given a default header: one hidden class for its headers', async (t) => {
  const requests = [];
  for (let i = 0; i < WARM; i++) requests.push(withHeaderDefault({ method: 'POST', url: '/', headers: { accept: '*/*' }, body: Buffer.from(String(i)) }, 'Content-Type', 'application/json'));
  const [a, b] = requests.slice(-2);
  t.same(a!.headers, { accept: '*/*', 'content-type': 'application/json' });
  t.ok(sameMap(a!.headers, b!.headers));
});
