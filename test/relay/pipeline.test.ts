import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { fromBech32, toBech32 } from '@cosmjs/encoding';
import { Registry } from 'prom-client';
import { sha256 } from '@noble/hashes/sha2.js';
import { ChainQueryClient } from '../../core/chain/index.js';
import { addressFromPrivateKey, publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { CryptoPool } from '../../core/crypto/crypto-pool.js';
import { SupplierKey } from '../../core/crypto/supplier-key.js';
import { verifySupplierResponse } from '../../core/crypto/supplier-signature.js';
import { PLACEHOLDER_RING_PUBLIC_KEY } from '../../core/crypto/placeholder-ring-key.js';
import {
  MinedRelayCodec,
  RelayCodec,
  RelayRequestCodec,
  RelayResponseCodec,
  minedRelayBytes,
  relayResponseSignableHash,
  type RelayRequest,
  type SessionHeader,
} from '../../core/protocol/index.js';
import { KeyBuilder } from '../../core/redis/key-builder.js';
import { RelayChainState } from '../../core/relay/chain-state.js';
import type { ErrorModel } from '../../core/relay/error-reply.js';
import { RelayHooks } from '../../core/relay/hooks.js';
import { RelayPipeline, type AdmittedFrame, type Forward } from '../../core/relay/pipeline.js';
import type { RelayServedEvent } from '../../core/relay/events.js';
import { RelayRejection } from '../../core/relay/reasons.js';
import { RelayMeter, type MeterFailMode, type RelayMeterOptions } from '../../core/relay/relay-meter.js';
import { RelayMetrics } from '../../core/relay/relay-metrics.js';
import { StateSignals } from '../../core/observability/state-signals.js';
import { buildRelayRequest } from '../../core/relay/relay-client.js';
import { RelayValidator } from '../../core/relay/validator.js';
import { captureLogs } from '../helpers/logs.js';
import { ADDR, KEYS, TEST_GENESIS, key, startTestLocalnet } from '../helpers/localnet-client.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

const OUTSIDER = 'aa'.repeat(32);
const keys = new KeyBuilder('ha');

async function setup(
  t: Test,
  o: {
    errorModel?: ErrorModel;
    optimistic?: string[];
    meter?: MeterFailMode;
    meterLeaseRelays?: number;
    /** The meter's command timeout: its leases get a deadline on Redis's clock. */
    meterCommandTimeoutMs?: number;
    genesis?: string;
    offlineQueue?: boolean;
    signResponse?: (signable: Uint8Array, supplier: SupplierKey) => Promise<Uint8Array>;
  } = {},
) {
  const net = await startTestLocalnet(t, o.genesis);
  const server = await startRedis(t);
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: o.offlineQueue ?? true });
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  // Without the offline queue a command sent before the connection is up fails at once: the first relay would too.
  if (o.offlineQueue === false && redis.status !== 'ready') await new Promise((r) => redis.once('ready', r));
  const query = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 2000 });
  t.teardown(() => query.close());
  const logs = captureLogs('debug');
  const registry = new Registry();
  const chain = new RelayChainState({ query, keys, log: logs.logger, redis: () => redis, currentHeight: () => BigInt(net.chain.height) });
  const validator = new RelayValidator({
    chain,
    services: new Set(['anvil', 'rest']),
    suppliers: new Map([KEYS.supplier1, KEYS.supplier2].map((k) => [SupplierKey.fromHex(k).address, SupplierKey.fromHex(k)])),
  });
  const hooks = new RelayHooks(logs.logger);
  // Conditions on a clock the test can move past the quiet spell after which a failing step is over.
  let skew = 0;
  const signals = new StateSignals(60_000, () => Date.now() + skew);
  const newMeter = (failMode: MeterFailMode, leaseIdleMs?: number, meterRegistry = new Registry(), leaseMs?: number, more: Partial<RelayMeterOptions> = {}) =>
    new RelayMeter({ chain, keys, redis: () => redis, log: logs.logger, registry: meterRegistry, failMode, leaseRelays: o.meterLeaseRelays, leaseIdleMs, leaseMs, signals, ...more });
  const meter = o.meter ? new RelayMeter({ chain, keys, redis: () => redis, log: logs.logger, registry, failMode: o.meter, leaseRelays: o.meterLeaseRelays, signals, commandTimeoutMs: o.meterCommandTimeoutMs }) : undefined;
  if (meter) t.teardown(() => meter.close());
  const pipeline = new RelayPipeline({
    validator,
    chain,
    keys,
    redis: () => redis,
    hooks,
    metrics: new RelayMetrics(registry),
    log: logs.logger,
    errorModel: o.errorModel ?? 'http',
    optimisticServices: new Set(o.optimistic ?? []),
    meter,
    signResponse: o.signResponse,
    signals,
  });
  const forwarded: RelayRequest[] = [];
  let backendStatus = 200;
  const forward: Forward = async (relay) => {
    forwarded.push(relay.request);
    return { payload: Buffer.from(`{"jsonrpc":"2.0","id":1,"result":"0x${net.chain.height.toString(16)}"}`), backendStatus };
  };
  const metric = async (name: string, labels: Record<string, string>) =>
    (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
  const stream = async (supplier: string) =>
    (await redis.xrangeBuffer(keys.relayStream(supplier), '-', '+')).map(([, fields]) => MinedRelayCodec.decode(fields[1]!));
  return {
    net,
    registry,
    meter,
    newMeter,
    server,
    logs,
    redis,
    query,
    pipeline,
    hooks,
    forwarded,
    forward,
    metric,
    stream,
    setBackendStatus: (s: number) => (backendStatus = s),
    /** Moves the conditions' clock past the quiet spell that ends a failing step. */
    passQuiet: () => void (skew += 10_000),
    send: (req: RelayRequest | Uint8Array) => pipeline.handle(req instanceof Uint8Array ? req : RelayRequestCodec.encode(req), 'jsonrpc', 'test', forward),
  };
}

/** A relay ring-signed by `signer` over ring `ring` (default: the gateway for app1). */
function relay(header: SessionHeader, o: { supplier?: string; signer?: string; ring?: Uint8Array[]; payload?: string } = {}): RelayRequest {
  const signer = o.signer ?? KEYS.gateway1;
  return buildRelayRequest({
    header,
    supplierAddress: o.supplier ?? ADDR.supplier1,
    payload: Buffer.from(o.payload ?? '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'),
    signerKey: key(signer),
    ring: o.ring ?? [KEYS.app1, signer].map((k) => publicKeyFromPrivateKey(key(k))),
  });
}

const errorOf = (body: Uint8Array) => (JSON.parse(Buffer.from(body).toString()) as { error: string }).error;

t.test('a valid relay: 200, supplier signature verifies, stream entry carries the right relay and hash', async (t) => {
  const s = await setup(t);
  s.net.chain.advance(11); // height 12, session [11, 20]
  const session = await s.query.session(ADDR.app1, 'anvil', 12n);
  const req = relay(session.header);
  const reply = await s.send(req);
  t.equal(reply.status, 200);
  t.equal(reply.outcome, 'served');
  const res = RelayResponseCodec.decode(reply.body);
  t.equal(Buffer.from(res.payload).toString(), '{"jsonrpc":"2.0","id":1,"result":"0xc"}');
  t.equal(Buffer.from(res.payload_hash).toString('hex'), Buffer.from(sha256(res.payload)).toString('hex'));
  t.same(res.meta.session_header, session.header);
  const supplierPub = publicKeyFromPrivateKey(key(KEYS.supplier1));
  t.ok(verifySupplierResponse(relayResponseSignableHash(res), res.meta.supplier_operator_signature, supplierPub), 'supplier signature verifies');
  t.equal(s.forwarded.length, 1);

  const entries = await s.stream(ADDR.supplier1);
  t.equal(entries.length, 1);
  const e = entries[0]!;
  const expected = minedRelayBytes(req, res);
  t.equal(Buffer.from(e.relay).toString('hex'), Buffer.from(expected).toString('hex'), 'dehydrated relay bytes');
  t.equal(Buffer.from(e.relay_hash).toString('hex'), Buffer.from(sha256(expected)).toString('hex'));
  t.equal(RelayCodec.decode(e.relay).res!.payload.length, 0, 'response payload dropped');
  t.same(
    [e.compute_units, e.session_id, e.session_start_block_height, e.session_end_block_height, e.service_id, e.application_address, e.supplier_operator_address, e.arrival_block_height],
    [1n, session.sessionId, 11n, 20n, 'anvil', ADDR.app1, ADDR.supplier1, 12n],
  );
  t.equal(reply.streamId !== undefined, true);
  t.equal(await s.metric('relayminer_relays_published_total', { service: 'anvil' }), 1);

  // app2 has no gateways: its ring is [placeholder, app2] and it signs for itself.
  const rest = await s.query.session(ADDR.app2, 'rest', 12n);
  const restReq = relay(rest.header, { signer: KEYS.app2, ring: [PLACEHOLDER_RING_PUBLIC_KEY, publicKeyFromPrivateKey(key(KEYS.app2))] });
  const restReply = await s.send(restReq);
  t.equal(restReply.status, 200);
  const restEntries = await s.stream(ADDR.supplier1);
  t.equal(restEntries.at(-1)!.compute_units, 2n, 'weight = compute units per relay of the service');
});

t.test('answers signed through signResponse (a crypto thread): the same signature, and no answer when it fails', async (t) => {
  const supplier = SupplierKey.fromHex(KEYS.supplier1);
  const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: [supplier.privateKeyBytes()] });
  t.teardown(() => pool.close());
  let fail = false;
  const asked: string[] = [];
  const s = await setup(t, {
    signResponse: (signable, key) => {
      asked.push(key.address);
      return fail ? Promise.reject(new Error('thread gone')) : pool.sign(signable, 0);
    },
  });
  s.net.chain.advance(11);
  const session = await s.query.session(ADDR.app1, 'anvil', 12n);
  const req = relay(session.header);
  const reply = await s.send(req);
  t.equal(reply.outcome, 'served');
  const res = RelayResponseCodec.decode(reply.body);
  t.ok(verifySupplierResponse(relayResponseSignableHash(res), res.meta.supplier_operator_signature, publicKeyFromPrivateKey(key(KEYS.supplier1))), 'supplier signature verifies');
  t.same([asked, pool.counts.signedThreaded], [[ADDR.supplier1], 1], 'signed once, on the thread, with the supplier the relay names');
  const [entry] = await s.stream(ADDR.supplier1);
  t.equal(Buffer.from(entry!.relay).toString('hex'), Buffer.from(minedRelayBytes(req, res)).toString('hex'), 'the stream entry carries the signature the gateway got');

  fail = true;
  const failed = await s.send(relay(session.header));
  t.same([failed.outcome, failed.status, failed.rejection?.reason], ['rejected', 500, 'internal'], 'no unsigned answer: the relay is refused');
  t.equal((await s.stream(ADDR.supplier1)).length, 1, 'and not mined');
  t.same(
    [await s.metric('relayminer_relays_total', { outcome: 'served' }), await s.metric('relayminer_relays_total', { outcome: 'rejected' })],
    [1, 1],
    'counted once each: the served relay, and the one refused for want of a signature',
  );
});

t.test('rejections: documented status and reason, and nothing reaches the backend', async (t) => {
  const s = await setup(t);
  s.net.chain.advance(9); // height 10: last block of session [1, 10]
  const old = (await s.query.session(ADDR.app1, 'anvil', 10n)).header;
  s.net.chain.advance(2); // height 12: session [11, 20]; [1, 10] past grace (ended 10 + 1)
  const session = await s.query.session(ADDR.app1, 'anvil', 12n);
  const h = session.header;
  const rest = (await s.query.session(ADDR.app2, 'rest', 12n)).header;
  const app2Ring = [PLACEHOLDER_RING_PUBLIC_KEY, publicKeyFromPrivateKey(key(KEYS.app2))];

  const tampered = relay(h);
  tampered.payload = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction"}');
  const badSig = relay(h);
  badSig.meta.signature = Uint8Array.from(badSig.meta.signature);
  badSig.meta.signature[40] = badSig.meta.signature[40]! ^ 1;
  const noSig = relay(h);
  noSig.meta.signature = new Uint8Array(0);

  const cases: [string, RelayRequest | Uint8Array, number, string][] = [
    ['malformed body', Buffer.from('not a protobuf at all \xff\xff\xff'), 400, 'invalid relay request'],
    ['not a RelayRequest (no header)', RelayRequestCodec.encode({ meta: { signature: new Uint8Array(0), supplier_operator_address: '' }, payload: new Uint8Array(0) }), 400, 'missing session header'],
    ['unknown service', relay({ ...h, service_id: 'nope' }), 404, 'unknown service: nope'],
    ['missing supplier', relay(h, { supplier: '' }), 400, 'missing supplier operator address'],
    ['supplier not loaded', relay(h, { supplier: ADDR.gateway1 }), 503, 'supplier key not loaded'],
    ['supplier not in session', relay(rest, { supplier: ADDR.supplier2, signer: KEYS.app2, ring: app2Ring }), 403, 'supplier not in session'],
    ['missing signature', noSig, 403, 'invalid ring signature: missing signature'],
    ['bad ring signature', badSig, 403, 'invalid ring signature'],
    ['key outside the ring', relay(h, { signer: OUTSIDER }), 403, 'signer is not the application or a delegated gateway'],
    ['tampered payload', tampered, 403, 'invalid ring signature'],
    ['session id of another session', relay({ ...h, session_id: old.session_id }), 403, 'session header does not match the chain'],
    ['heights shifted', relay({ ...h, session_start_block_height: 12n, session_end_block_height: 21n }), 403, 'session header does not match the chain'],
    ['past grace', relay(old), 403, 'session grace period elapsed'],
    ['start height 0', relay({ ...h, session_start_block_height: 0n }), 400, 'implausible session heights'],
    ['end before start', relay({ ...h, session_end_block_height: 5n }), 400, 'implausible session heights'],
    ['session far in the future', relay({ ...h, session_start_block_height: 5011n, session_end_block_height: 5020n }), 400, 'implausible session heights'],
  ];
  for (const [name, req, status, message] of cases) {
    const reply = await s.send(req);
    t.equal(reply.status, status, `${name}: status`);
    t.match(errorOf(reply.body), message, `${name}: message`);
    t.equal(reply.outcome, 'rejected');
  }
  t.equal(s.forwarded.length, 0, 'the backend saw none of them');
  t.equal((await s.stream(ADDR.supplier1)).length, 0);
  t.equal(await s.metric('relayminer_relay_rejections_total', { reason: 'invalid_ring_signature' }), 3);
  t.equal(await s.metric('relayminer_relay_rejections_total', { reason: 'unknown_service', service: 'unknown' }), 1, 'unknown ids never become labels');

  s.hooks.add('onRelayValidated', () => {
    throw new RelayRejection('rejected_by_plugin', 'deny list');
  }, 'denylist');
  const denied = await s.send(relay(h));
  t.same([denied.status, errorOf(denied.body)], [403, 'relay validation failed: refused by a plugin: deny list']);
  t.equal(s.forwarded.length, 0);
});

t.test('grace period: an ended session is served until grace ends, but not mined', async (t) => {
  const s = await setup(t);
  s.net.chain.advance(9); // height 10
  const old = (await s.query.session(ADDR.app1, 'anvil', 10n)).header;
  s.net.chain.advance(1); // height 11 = end 10 + grace 1
  const reply = await s.send(relay(old));
  t.equal(reply.status, 200);
  t.equal(reply.outcome, 'served');
  t.equal(s.forwarded.length, 1);
  t.equal((await s.stream(ADDR.supplier1)).length, 0, 'not reward eligible in the last grace block');
  t.equal(await s.metric('relayminer_relays_not_reward_eligible_total', { service: 'anvil' }), 1);
});

t.test('grace period: with the claim window opening a block after grace ends (mainnet), the last grace block is mined', async (t) => {
  const s = await setup(t, { genesis: TEST_GENESIS.replace('claim_window_open_offset_blocks: 1', 'claim_window_open_offset_blocks: 2') });
  s.net.chain.advance(9); // height 10
  const old = (await s.query.session(ADDR.app1, 'anvil', 10n)).header;
  s.net.chain.advance(1); // height 11 = end 10 + grace 1; the claim window opens at 13
  const reply = await s.send(relay(old));
  t.same([reply.status, reply.outcome], [200, 'served']);
  const stream = await s.stream(ADDR.supplier1);
  t.equal(stream.length, 1, 'mined: block 12 is left before the claim window opens');
  t.equal(stream[0]?.arrival_block_height, 11n);
  t.equal(await s.metric('relayminer_relays_not_reward_eligible_total', { service: 'anvil' }), 0);
  s.net.chain.advance(1); // height 12: past grace
  const late = await s.send(relay(old));
  t.same([late.status, late.outcome, late.rejection?.reason], [403, 'rejected', 'session_expired']);
});

t.test('poktroll error model: 200 with an unsigned RelayResponse carrying a RelayMinerError', async (t) => {
  const s = await setup(t, { errorModel: 'poktroll' });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const reply = await s.send(relay(h, { signer: OUTSIDER }));
  t.equal(reply.status, 200);
  const res = RelayResponseCodec.decode(reply.body);
  t.same(res.relay_miner_error, {
    codespace: 'relayer_proxy',
    code: 1,
    description: 'relay validation failed: signer is not the application or a delegated gateway',
    message: 'relay validation failed: signer is not the application or a delegated gateway',
  });
  t.equal(res.meta.supplier_operator_signature.length, 0, 'unsigned');
  t.same(res.meta.session_header, h, "the request's header is echoed");
  const garbage = RelayResponseCodec.decode((await s.send(Buffer.from([0xff, 0xff]))).body);
  t.same([garbage.relay_miner_error?.code, garbage.meta.session_header?.service_id], [14, 'unknown']);
});

t.test('backend 5xx is served signed and not mined; backend failure is a rejection', async (t) => {
  const s = await setup(t);
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  s.setBackendStatus(503);
  const reply = await s.send(relay(h));
  t.same([reply.status, reply.outcome], [200, 'backend_5xx']);
  const res = RelayResponseCodec.decode(reply.body);
  t.ok(verifySupplierResponse(relayResponseSignableHash(res), res.meta.supplier_operator_signature, publicKeyFromPrivateKey(key(KEYS.supplier1))));
  t.equal((await s.stream(ADDR.supplier1)).length, 0);

  const timeout = await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', async () => {
    throw new RelayRejection('backend_timeout', 'after 30000 ms');
  });
  t.same([timeout.status, errorOf(timeout.body)], [504, 'backend timeout: after 30000 ms']);
  const crash = await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', async () => {
    throw new TypeError('bug in a transport');
  });
  t.same([crash.status, errorOf(crash.body)], [500, 'internal error'], 'an unexpected error is a 500, not a crash');
});

t.test('optimistic service: served before validation, an invalid relay is never mined', async (t) => {
  const s = await setup(t, { optimistic: ['anvil'] });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const bad = await s.send(relay(h, { signer: OUTSIDER }));
  t.same([bad.status, bad.outcome], [200, 'served']);
  t.equal(s.forwarded.length, 1);
  t.equal((await s.stream(ADDR.supplier1)).length, 0);
  t.equal(await s.metric('relayminer_relay_rejections_total', { reason: 'signer_not_in_ring' }), 1);
  const good = await s.send(relay(h));
  t.equal(good.status, 200);
  t.equal((await s.stream(ADDR.supplier1)).length, 1);
});

/** The applications whose sessions the node is asked for from here on. */
function sessionsAsked(s: Awaited<ReturnType<typeof setup>>): string[] {
  const asked: string[] = [];
  const session = s.query.session.bind(s.query);
  s.query.session = (...args) => (asked.push(args[0]), session(...args));
  return asked;
}

t.test('a relay for a session not cached asks the node only once its ring signature checks out against the ring it carries', async (t) => {
  const s = await setup(t);
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const asked = sessionsAsked(s);
  // An application nobody has, signed by its own key over a ring of its own making (anyone can make one).
  const nobodyKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');
  const nobody = { ...h, application_address: addressFromPrivateKey(key(nobodyKey)) };
  const ring = [publicKeyFromPrivateKey(key(nobodyKey)), PLACEHOLDER_RING_PUBLIC_KEY];
  const forged = relay(nobody, { signer: nobodyKey, ring });
  forged.payload = Buffer.from('{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber"}'); // not what was signed
  const refused = await s.send(forged);
  t.same([refused.status, errorOf(refused.body)], [403, 'relay validation failed: invalid ring signature'], 'a signature that does not verify: refused');
  t.same(asked, [], 'without asking the node');
  const signed = await s.send(relay(nobody, { signer: nobodyKey, ring }));
  t.equal(signed.status, 403, 'one that does: refused by the chain');
  t.match(errorOf(signed.body), /^relay validation failed: session header does not match the chain/);
  t.same(asked, [nobody.application_address], 'after one query');
  t.equal((await s.send(relay(h))).status, 200, "the application's own relay is served (its session asked for once)");
  t.equal((await s.send(relay(h))).status, 200);
  t.same(asked, [nobody.application_address, ADDR.app1], 'a cached session asks nothing');
});

t.test('a session not cached, for an address that is not a pokt account address, is refused before the signature and the node', async (t) => {
  const s = await setup(t);
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const asked = sessionsAsked(s);
  const cosmos = toBech32('cosmos', fromBech32(ADDR.app1, 90).data);
  for (const app of ['pokt1notanaddress', cosmos, ADDR.app1.slice(0, -1) + (ADDR.app1.endsWith('q') ? 'p' : 'q'), `pokt1${'q'.repeat(100_000)}`]) {
    const refused = await s.send(relay({ ...h, application_address: app }));
    t.same([refused.status, errorOf(refused.body)], [403, 'relay validation failed: session header does not match the chain: the application address is not a pokt bech32 account address'], app.slice(0, 60));
  }
  t.same(asked, [], 'the node was not asked');
  t.equal((await s.send(relay(h))).status, 200, "app1's relay is served");
});

t.test('a signature carrying a ring of thousands of members is refused as it is parsed: no point checked, no node asked', async (t) => {
  const s = await setup(t);
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const asked = sessionsAsked(s);
  // 10,000 members (650 KB): a relay body may hold a hundred thousand, each a point to check and verify.
  const members = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));
  const huge = new Uint8Array(4 + 32 + 33 + 10_000 * 65);
  new DataView(huge.buffer).setUint32(0, 10_000);
  huge.set(members[0]!, 36);
  for (let i = 0; i < 10_000; i++) huge.set(members[i % 2]!, 69 + i * 65 + 32);
  t.equal((await s.send(relay(h))).status, 200, "app1's session is cached");
  for (const header of [h, { ...h, application_address: ADDR.app2 }]) {
    const r = relay(header);
    r.meta.signature = huge;
    const refused = await s.send(r);
    t.same([refused.status, errorOf(refused.body)], [403, 'relay validation failed: invalid ring signature: not a ring signature of at most 256 members']);
  }
  t.same(asked, [ADDR.app1], 'the node was asked only for the valid relay: neither for a cached session nor for another');
  t.equal(s.forwarded.length, 1);
});

t.test('Redis down: the relay is served and the lost publish is counted', async (t) => {
  const s = await setup(t);
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  t.equal((await s.send(relay(h))).status, 200, 'warms the caches');
  await s.server.stopProcess();
  const reply = await s.send(relay(h));
  t.same([reply.status, reply.outcome, reply.streamId], [200, 'served', undefined]);
  t.same((await Promise.all([0, 1, 2, 3].map(() => s.send(relay(h))))).map((r) => r.status), [200, 200, 200, 200]);
  t.equal(await s.metric('relayminer_relay_publish_failures_total', { service: 'anvil' }), 5, 'every lost publish counted');
  const said = (msg: RegExp) => s.logs.lines.filter((l) => msg.test(String(l.msg))).map((l) => [l.level, l.service]);
  t.same(said(/^relay served but possibly not published/), [[50, 'anvil']], 'logged once, not once per relay');
  await s.server.startProcess();
  await until('a relay published again', async () => (await s.send(relay(h))).streamId !== undefined);
  t.same(said(/^relay stream appends work again$/), [], 'not over at the first success: appends failed moments ago');
  s.passQuiet();
  await s.send(relay(h));
  await s.send(relay(h));
  t.same(said(/^relay stream appends work again$/), [[30, 'anvil']], 'the recovery, said once, after appends stopped failing for a while');
});

t.test('meter: exact price, charged per relay, refunded on backend failure, over budget refused', async (t) => {
  const s = await setup(t, { meter: 'closed' });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const meterKey = keys.meter(ADDR.supplier1, h.session_id);
  // CUPR 1 × 42_000_000 / 1_000_000 = 42 uPOKT; 100_000 POKT stake / 50 suppliers / (ceil(9 / 10) + 1) = 1_000_000_000 uPOKT.
  t.same(await s.meter!.price({ header: h, supplier: SupplierKey.fromHex(KEYS.supplier1) } as never), { cost: 42n, limit: 1_000_000_000n });

  t.equal((await s.send(relay(h))).status, 200);
  t.equal(await s.redis.get(meterKey), '42');
  t.ok((await s.redis.ttl(meterKey)) > 0, 'the meter expires');
  s.setBackendStatus(500);
  t.equal((await s.send(relay(h))).outcome, 'backend_5xx');
  t.equal(await s.redis.get(meterKey), '42', '5xx refunded');
  s.setBackendStatus(200);
  const timeout = await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', async () => {
    throw new RelayRejection('backend_timeout');
  });
  t.equal(timeout.status, 504);
  t.equal(await s.redis.get(meterKey), '42', 'timeout refunded');
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'backend_5xx' }), 1);
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'backend_failed' }), 1);

  // Another replica used up all but two relays' worth.
  await s.redis.set(meterKey, String(1_000_000_000 - 84));
  t.equal((await s.send(relay(h))).status, 200);
  t.equal((await s.send(relay(h))).status, 200);
  const before = s.forwarded.length;
  const over = await s.send(relay(h));
  t.same([over.status, errorOf(over.body)], [429, 'session relay limit reached: claimable portion fully consumed']);
  t.equal(s.forwarded.length, before, 'over budget never reaches the backend');
  t.equal(await s.redis.get(meterKey), '1000000000', 'a refused charge is undone');
  t.equal(await s.metric('relayminer_meter_over_budget_total', { service: 'anvil' }), 1);
});

t.test('meter: a charge made as a top-up hands out its last budget is answered, not left waiting for the next relay of its session', async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t, { meter: 'closed' }); // lease_relays 1: every charge waits for its own top-up
  // The second charge is made the moment the first is answered, while the top-up that answered it is ending.
  const second = s.meter!.charge(relayOf).then(() => s.meter!.charge(relayOf)).then((c) => `charged ${c?.units}`);
  const outcome = await Promise.race([second, new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 2 s'), 2000))]);
  t.equal(outcome, 'charged 42');
  t.equal(await s.redis.get(meterKey), '84');
});

t.test('meter: refunds a Redis out of memory refuses are said once a minute, not once each; the units stay used', async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t, { meter: 'closed' });
  const charges = [];
  for (let i = 0; i < 3; i++) charges.push(await s.meter!.charge(relayOf));
  t.equal(await s.redis.get(meterKey), '126');
  await s.redis.config('SET', 'maxmemory', '1');
  t.teardown(() => s.redis.config('SET', 'maxmemory', '0'));
  for (const c of charges.slice(0, 2)) await s.meter!.refund(c!, 'anvil', 'backend_failed');
  await s.redis.config('SET', 'maxmemory', '0');
  t.equal(await s.redis.get(meterKey), '126', 'both refused: the units stay used');
  const said = s.logs.lines.filter((l) => String(l.msg).startsWith('relay meter refund failed'));
  t.same(said.map((l) => [l.level, l.service]), [[40, 'anvil']], 'said once');
  t.match(said[0]?.err, /^OOM /);
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'backend_failed' }), 0, 'none counted as refunded');
  await s.meter!.refund(charges[2]!, 'anvil', 'backend_failed');
  t.equal(await s.redis.get(meterKey), '84', 'refunded once Redis takes it');
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'backend_failed' }), 1);
});

t.test('meter: charged while the ring signature is verified; a bad signature or a refusing hook gets the charge back', async (t) => {
  const s = await setup(t, { meter: 'closed' });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const meterKey = keys.meter(ADDR.supplier1, h.session_id);
  t.equal((await s.send(relay(h))).status, 200);
  t.equal(await s.redis.get(meterKey), '42');

  const tampered = relay(h);
  tampered.payload = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction"}');
  const bad = await s.send(tampered);
  t.same([bad.status, errorOf(bad.body)], [403, 'relay validation failed: invalid ring signature']);
  t.equal(await s.redis.get(meterKey), '42', 'the charge made during verification is returned');
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'invalid_signature' }), 1);

  // Over budget and a bad signature: the signature's verdict is the answer, and the budget is untouched.
  await s.redis.set(meterKey, '1000000000');
  const both = await s.send(tampered);
  t.same([both.status, errorOf(both.body)], [403, 'relay validation failed: invalid ring signature']);
  t.equal(await s.redis.get(meterKey), '1000000000');
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'invalid_signature' }), 1, 'a refused charge has nothing to return');
  t.equal((await s.send(relay(h))).status, 429, 'a valid relay over budget is over-servicing');

  await s.redis.set(meterKey, '42');
  s.hooks.add('onRelayValidated', () => {
    throw new RelayRejection('rejected_by_plugin', 'deny list');
  }, 'denylist');
  t.equal((await s.send(relay(h))).status, 403);
  t.equal(await s.redis.get(meterKey), '42', 'a relay a hook refuses is not billed');
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'refused_by_hook' }), 1);
  t.equal(s.forwarded.length, 1, 'only the first relay reached the backend');
});

t.test('a client that went away before the forward: not forwarded, not billed, counted as client_gone', async (t) => {
  const s = await setup(t, { meter: 'closed', meterLeaseRelays: 1 });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const meterKey = keys.meter(ADDR.supplier1, h.session_id);
  let gone = false;
  // The client hangs up while the relay is validated (here: inside an onRelayValidated hook).
  s.hooks.add('onRelayValidated', () => {
    gone = true;
  }, 'hangs-up');
  const reply = await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', s.forward, () => gone);
  t.same([reply.status, reply.outcome, reply.rejection?.reason], [499, 'rejected', 'client_gone']);
  t.equal(s.forwarded.length, 0, 'the backend never saw it');
  t.equal(await s.redis.get(meterKey), '0', 'the charge went back');
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'client_gone' }), 1);
  t.equal(await s.metric('relayminer_relay_rejections_total', { service: 'anvil', reason: 'client_gone' }), 1);
  t.equal((await s.stream(ADDR.supplier1)).length, 0, 'nothing mined');
  gone = false;
  const served = await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', s.forward, () => false);
  t.equal(served.status, 200, 'a client still there is served');
});

t.test("meter: a lease's deadline is on Redis's clock, so a relayer whose clock is a minute behind it still leases", async (t) => {
  const s = await setup(t, { meter: 'closed', meterLeaseRelays: 1, meterCommandTimeoutMs: 1000 });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const meterKey = keys.meter(ADDR.supplier1, h.session_id);
  const now = Date.now;
  Date.now = () => now() - 60_000;
  t.teardown(() => void (Date.now = now));
  const statuses = [(await s.send(relay(h))).status];
  const one = Number(await s.redis.get(meterKey));
  for (let i = 0; i < 4; i++) statuses.push((await s.send(relay(h))).status);
  Date.now = now;
  t.same(statuses, [200, 200, 200, 200, 200], 'every relay charged and served (a deadline on this clock would have refused all but the first)');
  t.ok(one > 0, 'the first relay charged');
  t.equal(Number(await s.redis.get(meterKey)), 5 * one, "the meter holds five relays' cost");
  t.equal(await s.metric('relayminer_meter_leases_total', { service: 'anvil' }), 5, 'five leases of one relay');
});

t.test('meter: a charge refused at once (Redis unreachable, no offline queue) is answered, not left unhandled', async (t) => {
  const s = await setup(t, { meter: 'closed', offlineQueue: false });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  t.equal((await s.send(relay(h))).status, 200, 'warm');
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  await s.server.stop();
  const reply = await s.send(relay(h));
  t.same([reply.status, errorOf(reply.body)], [503, 'relay metering unavailable: Stream isn\'t writeable and enableOfflineQueue options is false']);
  await new Promise((r) => setTimeout(r, 50));
  t.same(unhandled, [], 'no unhandled rejection');
  t.equal(s.forwarded.length, 1, 'only the warm-up relay reached the backend');
});

t.test('meter: a cost below one uPOKT is charged exactly, not rounded to zero', async (t) => {
  const s = await setup(t, { meter: 'closed', genesis: TEST_GENESIS.replace('compute_units_to_tokens_multiplier: 42000000', 'compute_units_to_tokens_multiplier: 3') });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  // 3 / 1_000_000 uPOKT per relay: units of 1e-6 uPOKT.
  t.same(await s.meter!.price({ header: h, supplier: SupplierKey.fromHex(KEYS.supplier1) } as never), { cost: 3n, limit: 1_000_000_000_000_000n });
  await s.send(relay(h));
  await s.send(relay(h));
  t.equal(await s.redis.get(keys.meter(ADDR.supplier1, h.session_id)), '6');
});

t.test('meter leases: one Redis call charges many relays, the next taken before they run out; refunds stay local; close gives back exactly what was not served', async (t) => {
  const s = await setup(t, { meter: 'closed', meterLeaseRelays: 16 });
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const meterKey = keys.meter(ADDR.supplier1, h.session_id);
  const leases = () => s.metric('relayminer_meter_leases_total', { service: 'anvil' });
  t.equal((await s.send(relay(h))).status, 200);
  t.equal(await s.redis.get(meterKey), String(16 * 42), 'sixteen relays leased at once');
  for (let i = 0; i < 11; i++) await s.send(relay(h));
  t.equal(await s.redis.get(meterKey), String(16 * 42), 'eleven more charged locally');
  t.equal(await leases(), 1);
  // The thirteenth leaves three relays' worth, under a quarter of a lease: the next one is taken now,
  // in the background, so the relays after it find budget instead of waiting for Redis.
  t.equal((await s.send(relay(h))).status, 200);
  await until('the next lease is taken ahead of need', async () => (await s.redis.get(meterKey)) === String(32 * 42));
  t.equal(await leases(), 2);
  t.ok(s.meter!.holdsBudgetFor({ header: h, supplier: SupplierKey.fromHex(KEYS.supplier1) } as never), 'the meter holds budget for the next relay');

  s.setBackendStatus(500);
  t.equal((await s.send(relay(h))).outcome, 'backend_5xx');
  s.setBackendStatus(200);
  t.equal(await s.metric('relayminer_meter_refunds_total', { service: 'anvil', reason: 'backend_5xx' }), 1);
  t.equal(await s.redis.get(meterKey), String(32 * 42), 'the refund went back to the lease, not to Redis');

  // 3 + 16 relays' worth held: fifteen more leave four, still a quarter, so no third lease yet.
  for (let i = 0; i < 15; i++) await s.send(relay(h));
  t.equal(await leases(), 2, 'fifteen more charged with no round trip');
  t.equal(await s.metric('relayminer_meter_waits_total', { service: 'anvil' }), 1, 'only the first relay waited for a lease');
  // 28 billable relays; the rest of the lease (and the refunded relay) goes back on close.
  await s.meter!.close();
  t.equal(await s.redis.get(meterKey), String(28 * 42));
});

/** Meters to be driven directly with a validated relay of the session at height 12: 16-relay leases unless `o` says otherwise. */
async function leaseSetup(t: Test, o: Parameters<typeof setup>[1] = { meterLeaseRelays: 16 }) {
  const s = await setup(t, o);
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  return { s, meterKey: keys.meter(ADDR.supplier1, h.session_id), relayOf: { header: h, supplier: SupplierKey.fromHex(KEYS.supplier1) } as never };
}

t.test("meter: a process's first lease is not sent into a Redis that does not answer, so Redis running it later cannot charge the session", async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t);
  await s.newMeter('closed').price(relayOf); // the chain's answers cached in this process: the hang below meets the meter alone
  const client = new Redis(s.server.url, { commandTimeout: 1000, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  t.teardown(() => client.disconnect());
  await client.ping();
  const held = async () => Number((await s.redis.get(meterKey)) ?? 0);
  for (const failMode of ['open', 'closed'] as const) {
    const before = await held();
    const first = s.newMeter(failMode, undefined, undefined, undefined, { redis: () => client, commandTimeoutMs: 1000 });
    s.server.pause();
    const outcome = await first.charge(relayOf).then(
      (charge) => (charge === undefined ? 'served unmetered' : `charged ${charge.units}`),
      (err: RelayRejection) => err.reason,
    );
    t.equal(outcome, failMode === 'open' ? 'served unmetered' : 'meter_unavailable', `fail_mode ${failMode}: the charge met the hang`);
    s.server.resume();
    await client.ping(); // answered after whatever this connection sent during the hang
    t.equal(await held(), before, `fail_mode ${failMode}: nothing leased once Redis answered again`);
    t.same((await first.charge(relayOf))?.units, 42n, `fail_mode ${failMode}: then charged`);
    t.equal(await held(), before + 16 * 42, `fail_mode ${failMode}: one lease of sixteen relays`);
    await first.close();
    t.equal(await held(), before + 42, `fail_mode ${failMode}: the fifteen unused given back`);
  }
});

t.test('meter reserve: budget taken into the lease without a charge, for the next relay to charge with no round trip; refused when none is left', async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t);
  const meter = s.newMeter('closed');
  await meter.reserve(relayOf);
  t.equal(await s.redis.get(meterKey), String(16 * 42), 'a lease taken from Redis');
  t.ok(meter.holdsBudgetFor(relayOf), 'and held here');
  await meter.reserve(relayOf);
  await meter.charge(relayOf);
  t.equal(await s.redis.get(meterKey), String(16 * 42), 'reserving again and charging took nothing more from Redis');
  await meter.close();
  t.equal(await s.redis.get(meterKey), '42', 'on close all but the one relay charged went back: reserving charged nothing');

  await s.redis.set(meterKey, '1000000000'); // the session's whole budget
  const spent = s.newMeter('closed');
  t.teardown(() => spent.close());
  const refused = await spent.reserve(relayOf).then(() => undefined, (e: unknown) => e);
  t.equal((refused as RelayRejection | undefined)?.reason, 'over_servicing');
  t.notOk(spent.holdsBudgetFor(relayOf));
  t.equal(await s.redis.get(meterKey), '1000000000', 'nothing taken');
});

t.test('meter leases: near the limit every relay goes to Redis, and two relayers together serve exactly the budget', async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t);
  // Leases sized to 10 s of relays: asked for 256 after the first, yet what Redis grants keeps to the limit.
  const [a, b] = [s.newMeter('closed', undefined, new Registry(), 10_000), s.newMeter('closed', undefined, new Registry(), 10_000)];
  // Room for 100 relays: a lease is at most 1/16 of what is left, so leases shrink as the budget does.
  await s.redis.set(meterKey, String(1_000_000_000 - 100 * 42));
  t.match(await a.charge(relayOf), { key: meterKey, units: 42n });
  t.equal(await s.redis.get(meterKey), String(1_000_000_000 - 94 * 42), 'floor(100 / 16) = 6 relays leased');
  const served = { a: 1, b: 0 };
  const refused = { a: false, b: false };
  while (!refused.a || !refused.b) {
    for (const [name, m] of [['a', a], ['b', b]] as const) {
      if (refused[name]) continue;
      await m.charge(relayOf).then(
        () => served[name]++,
        (err: RelayRejection) => {
          t.equal(err.reason, 'over_servicing');
          refused[name] = true;
        },
      );
    }
  }
  t.equal(served.a + served.b, 100, `exactly the budget served (a ${served.a}, b ${served.b})`);
  t.equal(await s.redis.get(meterKey), '1000000000');
  await Promise.all([a.close(), b.close()]);
  t.equal(await s.redis.get(meterKey), '1000000000', 'nothing left over to give back');
});

t.test('meter leases: closing while a lease is taken ahead of need gives that lease back too', async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t);
  const m = s.newMeter('closed');
  for (let i = 0; i < 13; i++) await m.charge(relayOf); // the thirteenth starts a top-up ahead of need
  await m.close();
  t.equal(await s.redis.get(meterKey), String(13 * 42), 'exactly the thirteen charged stay used');
});

t.test('meter leases: a burst of 1,000 charges is served in arrival order with 4 round trips, not one per 16 relays', async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t);
  const registry = new Registry();
  const m = s.newMeter('closed', undefined, registry);
  const order: number[] = [];
  const charges = await Promise.all(Array.from({ length: 1000 }, (_, i) => m.charge(relayOf).then((c) => (order.push(i), c))));
  t.ok(charges.every((c) => c?.units === 42n), 'every charge got one relay of 42 units');
  t.same(order, Array.from({ length: 1000 }, (_, i) => i), 'first come, first served');
  // All 1,000 wait on the first top-up, which asks for 256 (the burst cap): 256 + 256 + 256 + 232.
  t.equal((await registry.getSingleMetric('relayminer_meter_leases_total')!.get()).values[0]?.value, 4);
  t.equal((await registry.getSingleMetric('relayminer_meter_waits_total')!.get()).values[0]?.value, 1000, 'every charge of the burst waited');
  t.equal(await s.redis.get(meterKey), String(1000 * 42), 'exactly what was served is used: nothing left in the lease');
  await m.close();
  t.equal(await s.redis.get(meterKey), String(1000 * 42));
});

t.test("meter leases: a busy session's lease covers lease_ms of its recent relays (up to 256) and is topped up a quarter of that before it runs dry", async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t);
  const registry = new Registry();
  const leases = async () => (await registry.getSingleMetric('relayminer_meter_leases_total')!.get()).values[0]?.value;
  // 10 s of relays charged back to back is far past 256: every lease after the first asks for the cap.
  const m = s.newMeter('closed', undefined, registry, 10_000);
  t.teardown(() => m.close());
  for (let i = 0; i < 13; i++) await m.charge(relayOf); // the first waits for a lease of 16; the thirteenth leaves 3
  await until('the next lease is taken ahead of need, sized to the rate', async () => (await s.redis.get(meterKey)) === String((16 + 256) * 42));
  // 3 + 256 held, topped up below a quarter of 256: 195 more leave 64, the next one 63.
  for (let i = 0; i < 195; i++) await m.charge(relayOf);
  t.equal(await leases(), 2, '195 more charged with no round trip');
  await m.charge(relayOf);
  await until('below 64 left, the third lease is taken', async () => (await s.redis.get(meterKey)) === String((16 + 256 + 256) * 42));
  t.equal(await leases(), 3);
  t.equal((await registry.getSingleMetric('relayminer_meter_waits_total')!.get()).values[0]?.value, 1, 'only the first charge waited');
});

t.test('meter leases: a session whose relays come slower than lease_relays per lease_ms keeps leases of lease_relays', async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t);
  // 1 ms: at most 13 relays charged in at least 1 ms asks for 13 at most, under the 16 of lease_relays.
  const m = s.newMeter('closed', undefined, new Registry(), 1);
  t.teardown(() => m.close());
  for (let i = 0; i < 13; i++) await m.charge(relayOf);
  await until('the next lease is taken ahead of need', async () => (await s.redis.get(meterKey)) === String(32 * 42));
  t.equal(await s.redis.get(meterKey), String(32 * 42), 'sixteen relays, as lease_relays says');
});

t.test('meter leases: an idle lease goes back to Redis; a held lease serves while Redis is down', async (t) => {
  const { s, meterKey, relayOf } = await leaseSetup(t);
  const idle = s.newMeter('closed', 100);
  t.teardown(() => idle.close());
  await idle.charge(relayOf);
  t.equal(await s.redis.get(meterKey), String(16 * 42));
  await until('the idle lease is returned', async () => (await s.redis.get(meterKey)) === '42');
  t.equal(await s.redis.get(meterKey), '42');

  const held = s.newMeter('closed');
  await held.charge(relayOf);
  t.equal(await s.redis.get(meterKey), String(17 * 42));
  await s.server.stop();
  for (let i = 0; i < 15; i++) t.same((await held.charge(relayOf))?.units, 42n);
  const spent = await held.charge(relayOf).then(
    () => 'served',
    (err: RelayRejection) => err.reason,
  );
  t.equal(spent, 'meter_unavailable', 'fail closed once the lease is spent');
});

t.test('meter with Redis down: fail closed refuses before the backend, fail open serves (said once, and once when it works again)', async (t) => {
  for (const mode of ['closed', 'open'] as const) {
    const s = await setup(t, { meter: mode });
    s.net.chain.advance(11);
    const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
    t.equal((await s.send(relay(h))).status, 200, `${mode}: warm`);
    await s.server.stopProcess();
    const before = s.forwarded.length;
    const reply = await s.send(relay(h));
    if (mode === 'closed') {
      t.equal(reply.status, 503);
      t.match(errorOf(reply.body), /^relay metering unavailable/);
      t.equal(s.forwarded.length, before, 'fail closed: the backend is not called');
    } else {
      t.equal(reply.status, 200);
      t.equal(s.forwarded.length, before + 1);
      t.equal(await s.metric('relayminer_meter_fail_open_total', { service: 'anvil' }), 1);
      t.same((await Promise.all([0, 1, 2].map(() => s.send(relay(h))))).map((r) => r.status), [200, 200, 200]);
      t.equal(await s.metric('relayminer_meter_fail_open_total', { service: 'anvil' }), 4, 'every unmetered relay counted');
      await s.server.startProcess();
      s.passQuiet();
      await until('a relay metered again', async () => (await s.send(relay(h)), s.logs.lines.some((l) => l.msg === 'relay meter works again')));
      const said = s.logs.lines.filter((l) => /^relay meter/.test(String(l.msg))).map((l) => [l.level, String(l.msg).split(';')[0], l.service]);
      t.same(said, [
        [40, 'relay meter unavailable', 'anvil'],
        [30, 'relay meter works again', 'anvil'],
      ]);
    }
  }
});

t.test("onRelayServed reports what was observed: the backend's status and its own time, not the relay's; none for a WebSocket message", async (t) => {
  const s = await setup(t);
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  const served: RelayServedEvent[] = [];
  s.hooks.add('onRelayServed', (e) => void served.push(e), 'observer');
  // A backend that takes 150 ms and answers 202.
  const slow: Forward = async () => {
    await new Promise((r) => setTimeout(r, 150));
    return { payload: Buffer.from('{"ok":true}'), backendStatus: 202 };
  };
  const began = performance.now();
  const reply = await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', slow);
  const total = performance.now() - began;
  t.equal(reply.outcome, 'served');
  t.equal(served.length, 1);
  t.equal(served[0]!.backendStatus, 202);
  t.ok(served[0]!.backendLatencyMs! >= 149 && served[0]!.backendLatencyMs! <= total, `the backend's ${served[0]!.backendLatencyMs} ms (of ${total.toFixed(0)} ms in all)`);

  const admitted = await s.pipeline.admit(RelayRequestCodec.encode(relay(h)), 'websocket', 'test');
  t.ok('relay' in admitted);
  await s.pipeline.answer(admitted as AdmittedFrame, Buffer.from('{"event":1}'));
  t.equal(served.length, 2);
  t.same([served[1]!.backendStatus, served[1]!.backendLatencyMs, served[1]!.relay.rpcType], [undefined, undefined, 'websocket'], 'a message on a connection: no status, no latency');

  const local: Forward = async () => ({ payload: Buffer.from('{"error":"not served"}'), backendStatus: 200, answeredByTransport: true });
  t.equal((await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', local)).outcome, 'served');
  t.equal(served.length, 3);
  t.same([served[2]!.backendStatus, served[2]!.backendLatencyMs], [undefined, undefined], 'answered by the transport in place of the backend: no status, no latency');
});

t.test("the backend's share and the relayer's own: observed for each relay a backend answered, adding up to its duration; a WebSocket message all the relayer's", async (t) => {
  const s = await setup(t);
  s.net.chain.advance(11);
  const h = (await s.query.session(ADDR.app1, 'anvil', 12n)).header;
  /** count and sum of a histogram's series for anvil over jsonrpc (or websocket). */
  const hist = async (name: string, rpcType = 'jsonrpc') => {
    const values = ((await s.registry.getSingleMetric(name)!.get()).values as { labels: Record<string, string | number>; value: number; metricName?: string }[]).filter(
      (v) => v.labels.service === 'anvil' && v.labels.rpc_type === rpcType,
    );
    const of = (suffix: string) => values.find((v) => v.metricName === `${name}${suffix}`)?.value ?? 0;
    return { count: of('_count'), sum: of('_sum') };
  };
  const slow: Forward = async () => {
    await new Promise((r) => setTimeout(r, 120));
    return { payload: Buffer.from('{"ok":true}'), backendStatus: 200 };
  };
  t.equal((await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', slow)).outcome, 'served');
  const [duration, backend, overhead] = [await hist('relayminer_relay_duration_seconds'), await hist('relayminer_relay_backend_seconds'), await hist('relayminer_relay_overhead_seconds')];
  t.same([duration.count, backend.count, overhead.count], [1, 1, 1], 'one relay in each');
  t.ok(backend.sum >= 0.119 && backend.sum <= duration.sum, `the backend's share ${backend.sum.toFixed(3)} s of ${duration.sum.toFixed(3)} s`);
  t.ok(Math.abs(overhead.sum - (duration.sum - backend.sum)) < 1e-9, `the relayer's own ${(overhead.sum * 1000).toFixed(2)} ms is the rest`);

  // A 5xx is a backend's answer too; a rejection before the backend, an answer by the transport and a
  // WebSocket message are not.
  s.setBackendStatus(503);
  t.equal((await s.send(relay(h))).outcome, 'backend_5xx');
  s.setBackendStatus(200);
  t.equal((await s.send(relay(h, { signer: OUTSIDER }))).outcome, 'rejected');
  const local: Forward = async () => ({ payload: Buffer.from('{"error":"not served"}'), backendStatus: 200, answeredByTransport: true });
  t.equal((await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', local)).outcome, 'served');
  const failing: Forward = async () => {
    throw new RelayRejection('backend_error', 'connection refused');
  };
  t.equal((await s.pipeline.handle(RelayRequestCodec.encode(relay(h)), 'jsonrpc', 'test', failing)).outcome, 'rejected');
  const admitted = await s.pipeline.admit(RelayRequestCodec.encode(relay(h)), 'websocket', 'test');
  await s.pipeline.answer(admitted as AdmittedFrame, Buffer.from('{"event":1}'));
  t.same(
    [(await hist('relayminer_relay_duration_seconds')).count, (await hist('relayminer_relay_backend_seconds')).count, (await hist('relayminer_relay_overhead_seconds')).count],
    [5, 2, 2],
    'five relays timed over JSON-RPC; the 200 and the 503 have a backend share',
  );
  const [wsBackend, wsOwn] = [await hist('relayminer_relay_backend_seconds', 'websocket'), await hist('relayminer_relay_overhead_seconds', 'websocket')];
  t.same([wsBackend.count, wsOwn.count], [0, 1], "a WebSocket message: no backend time to measure, the relayer's own from the backend's message to its answer");
  t.ok(wsOwn.sum > 0 && wsOwn.sum < 5, `${(wsOwn.sum * 1000).toFixed(2)} ms`);
});

