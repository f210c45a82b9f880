import t from 'tap';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { PLACEHOLDER_RING_PUBLIC_KEY } from '../../core/crypto/placeholder-ring-key.js';
import { POKTHTTPResponseCodec, type SessionHeader } from '../../core/protocol/index.js';
import { buildRelayRequest, checkRelayResponse, encodeHttpPayload, encodeRelayRequest, simulatedSessionHeader } from '../../core/relay/relay-client.js';
import { ADDR, KEYS, key } from '../helpers/localnet-client.js';
import { postRelay, startRelayer } from '../helpers/relayer.js';

// A health-check identity of the operator's: an application and a gateway nobody staked.
const APP = KEYS.app2;
const GATEWAY = KEYS.gateway1;
const pub = (k: string) => publicKeyFromPrivateKey(key(k));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const simulation = (identities: string) => `  simulation:
    enabled: true
    max_concurrent: 4
    freshness_window_seconds: 30
    identities:
${identities}`;

const identity = (o: { keyId: string; enabled?: boolean; notAfter?: string; maxRps?: number; allowed?: string[] }) =>
  `      - { key_id: ${o.keyId}, enabled: ${o.enabled ?? true}, max_rps: ${o.maxRps ?? 100}, app_pubkey_hex: "${hex(pub(APP))}", gateway_pubkeys_hex: ["${hex(pub(GATEWAY))}"]${o.notAfter ? `, not_after: "${o.notAfter}"` : ''}${o.allowed ? `, allowed_services: [${o.allowed.join(', ')}]` : ''} }`;

const payload = encodeHttpPayload({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}' });

/** A simulated relay for supplier1, signed by `signer` over `ring` (the pinned identity's by default). */
function simulated(o: { service?: string; header?: Partial<SessionHeader>; signer?: string; ring?: string[] } = {}): Uint8Array {
  const header = { ...simulatedSessionHeader({ appPublicKey: pub(APP), serviceId: o.service ?? 'anvil' }), ...o.header };
  return encodeRelayRequest(buildRelayRequest({ header, supplierAddress: ADDR.supplier1, payload, signerKey: key(o.signer ?? GATEWAY), ring: (o.ring ?? [APP, GATEWAY]).map(pub) }));
}

async function post(url: string, body: Uint8Array, keyId?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'rpc-type': '3' };
  if (keyId !== undefined) headers['pocket-simulation-key-id'] = keyId;
  const res = await fetch(url, { method: 'POST', headers, body: Buffer.from(body) });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const check = checkRelayResponse(bytes, pub(KEYS.supplier1));
  // The backend's body only: its headers carry a Date.
  return { status: res.status, verdict: check.ok ? 'signed' : check.why, answer: check.ok ? Buffer.from(POKTHTTPResponseCodec.decode(check.response.payload).body_bz).toString() : '' };
}

const refused = (detail: string) => ({ status: 200, verdict: `relay miner error 1: simulation rejected: ${detail}`, answer: '' });

t.test('simulated relays: admitted by a pinned identity without the chain, served and signed, never metered, mined or published', async (t) => {
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc'],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }\n  other:\n    backends:\n      jsonrpc: { url: "${url}" }`,
    relayerYaml: simulation(
      [
        identity({ keyId: 'health' }),
        identity({ keyId: 'anvil-only', allowed: ['anvil'] }),
        identity({ keyId: 'off', enabled: false }),
        identity({ keyId: 'old', notAfter: '2020-01-01T00:00:00Z' }),
        identity({ keyId: 'slow', maxRps: 1 }),
      ].join('\n'),
    ),
  });
  const before = await r.metrics();
  const served = await post(r.url, simulated(), 'health');
  t.equal(served.status, 200);
  t.equal(served.verdict, 'signed', "signed by supplier1's key");
  t.equal(served.answer, '{"jsonrpc":"2.0","id":1,"result":"answer to eth_chainId"}', "the backend's answer");
  t.equal(r.backend.calls.length, 1, 'the backend was called once');

  const replayed = simulated();
  t.same(await post(r.url, replayed, 'health'), { status: 200, verdict: 'signed', answer: served.answer }, 'another fresh request: served');
  t.same(await post(r.url, replayed, 'health'), refused('replay: this signed request was already admitted'), 'the same bytes again: a replay');
  t.same(await post(r.url, simulated(), 'nobody'), refused('unknown key_id "nobody"'));
  t.same(await post(r.url, simulated(), 'off'), refused('identity off is disabled'));
  t.same(await post(r.url, simulated(), 'old'), refused('identity old expired (not_after)'));
  t.same(await post(r.url, simulated({ service: 'other' }), 'anvil-only'), refused('service other is not allowed for identity anvil-only'));
  t.same(await post(r.url, simulated({ service: 'other' }), 'health'), { status: 200, verdict: 'signed', answer: served.answer }, 'an identity without allowed_services: every service');
  t.same(await post(r.url, simulated({ header: { application_address: ADDR.app1 } }), 'health'), refused(`application ${ADDR.app1} is not identity health's`));
  const stale = Math.floor(Date.now() / 1000) - 60;
  t.same(await post(r.url, simulated({ header: { session_id: `simv1:${stale}:00` } }), 'health'), refused(`signed time ${stale} is not within 30 s of the relayer's clock`));
  t.same(await post(r.url, simulated({ header: { session_id: 'a real session id' } }), 'health'), refused('malformed: session id is not simv1:<unix seconds>:<nonce>'));
  // A valid signature, by a key the operator did not pin: the forgery the pinned ring exists to stop.
  t.same(await post(r.url, simulated({ signer: KEYS.app1, ring: [APP, KEYS.app1] }), 'health'), refused("ring is not identity health's pinned keys"));
  const tampered = simulated();
  tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
  t.same(await post(r.url, tampered, 'health'), refused('invalid ring signature'));
  const slow = await Promise.all([1, 2, 3].map(() => post(r.url, simulated(), 'slow')));
  // A token a second: the second and third at once are refused (unless a whole second passed between them).
  t.same(
    slow.map((s) => s.verdict).sort(),
    ['relay miner error 5: simulation rate limited: identity slow is over max_rps', 'relay miner error 5: simulation rate limited: identity slow is over max_rps', 'signed'],
    'max_rps 1: one of three at once is served',
  );
  const notLoaded = encodeRelayRequest(
    buildRelayRequest({ header: simulatedSessionHeader({ appPublicKey: pub(APP), serviceId: 'anvil' }), supplierAddress: ADDR.supplier2, payload, signerKey: key(GATEWAY), ring: [APP, GATEWAY].map(pub) }),
  );
  t.match((await post(r.url, notLoaded, 'health')).verdict, `supplier key not loaded by this relayer: ${ADDR.supplier2}`, "a supplier whose key is not loaded: refused as any relay's");

  t.equal((await r.stream()).length, 0, 'nothing published to the relay stream');
  t.same(await r.redis.keys(r.keys.meterPattern(ADDR.supplier1)), [], 'no meter touched');
  const replays = await r.redis.keys(r.keys.simulationReplay('*'));
  t.equal(replays.length, 6, 'each admitted signature remembered');
  const ttl = await r.redis.ttl(replays[0]!);
  t.ok(ttl > 55 && ttl <= 60, `remembered for twice the window (${ttl} s)`);
  const after = await r.metrics();
  const line = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).sort();
  t.same(line(after, /^relayminer_relays_total|^relayminer_relay_rejections_total/), line(before, /^relayminer_relays_total|^relayminer_relay_rejections_total/), 'the relay counters did not move');
  t.same(line(after, /^relayminer_simulated_relays_total/), [
    'relayminer_simulated_relays_total{service="anvil",rpc_type="jsonrpc",result="served"} 3',
    'relayminer_simulated_relays_total{service="anvil",rpc_type="jsonrpc",result="simulation_malformed"} 1',
    'relayminer_simulated_relays_total{service="anvil",rpc_type="jsonrpc",result="simulation_rate_limited"} 2',
    'relayminer_simulated_relays_total{service="anvil",rpc_type="jsonrpc",result="simulation_rejected"} 7',
    'relayminer_simulated_relays_total{service="anvil",rpc_type="jsonrpc",result="simulation_replay"} 1',
    'relayminer_simulated_relays_total{service="anvil",rpc_type="jsonrpc",result="supplier_not_loaded"} 1',
    'relayminer_simulated_relays_total{service="other",rpc_type="jsonrpc",result="served"} 1',
    'relayminer_simulated_relays_total{service="other",rpc_type="jsonrpc",result="simulation_rejected"} 1',
  ]);
});

t.test("with the Go relayer's HTTP error model, its statuses: 409 replay, 400 malformed, 403 refused, 429 rate limited", async (t) => {
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc'],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`,
    relayerYaml: `  error_model: http\n${simulation([identity({ keyId: 'health' }), identity({ keyId: 'slow', maxRps: 1 })].join('\n'))}`,
  });
  const once = simulated();
  const statuses = [
    (await post(r.url, once, 'health')).status,
    (await post(r.url, once, 'health')).status,
    (await post(r.url, simulated({ header: { session_id: 'a real session id' } }), 'health')).status,
    (await post(r.url, simulated(), 'nobody')).status,
  ];
  const slow = await Promise.all([1, 2].map(() => post(r.url, simulated(), 'slow')));
  t.same(statuses, [200, 409, 400, 403], 'served, replay, malformed session id, unknown identity');
  t.same(slow.map((s) => s.status).sort(), [200, 429], 'max_rps 1: the second at once');
});

t.test("a replay check whose Redis does not answer: simulation_unavailable (503, UNAVAILABLE, WebSocket 1013), never admitted", async (t) => {
  const { SimulatedRelays } = await import('../../core/relay/simulated-relays.js');
  const { KeyBuilder } = await import('../../core/redis/key-builder.js');
  const { Registry } = await import('prom-client');
  const { Redis } = await import('ioredis');
  const { startRedis } = await import('../helpers/redis.js');
  // A real redis-server, stopped: the client's command fails as a relayer's does when its Redis is down.
  const server = await startRedis(t);
  const client = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  await client.ping();
  await server.stopProcess();
  const request = buildRelayRequest({ header: simulatedSessionHeader({ appPublicKey: pub(APP), serviceId: 'anvil' }), supplierAddress: ADDR.supplier1, payload, signerKey: key(GATEWAY), ring: [APP, GATEWAY].map(pub) });
  const sims = new SimulatedRelays({
    config: { enabled: true, max_concurrent: 1, freshness_window_seconds: 30, identities: [{ key_id: 'health', enabled: true, max_rps: 5, app_pubkey_hex: hex(pub(APP)), gateway_pubkeys_hex: [hex(pub(GATEWAY))], allowed_services: [] }] },
    keys: new KeyBuilder('ha'),
    redis: () => client,
    registry: new Registry(),
  });
  const err = (await sims.admit({ request, header: request.meta.session_header!, supplier: undefined as never }, 'health').then(() => undefined, (e: unknown) => e)) as { reason: string; httpStatus: number; message: string } | undefined;
  t.same([err?.reason, err?.httpStatus], ['simulation_unavailable', 503]);
  t.match(err?.message, /^simulation unavailable: the replay check's Redis did not answer: ./);
});

t.test('simulation off: the header is ignored and the relay is validated as any other', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }` });
  const res = await post(r.url, simulated(), 'health');
  t.match(res.verdict, /^relay miner error 1: relay validation failed: session grace period elapsed/, 'refused by the chain checks');
  t.equal(r.backend.calls.length, 0, 'never forwarded');
  // Its heights [1, 2] are a session long over at height 12.
  t.same((await r.metrics()).split('\n').filter((l) => l.startsWith('relayminer_relay_rejections_total')), ['relayminer_relay_rejections_total{service="anvil",rpc_type="jsonrpc",reason="session_expired"} 1']);
  t.notMatch(await r.metrics(), /relayminer_simulated_relays_total/, 'no simulation metric');
  // An ordinary relay with the header on a relayer that has it off is served.
  const header = await r.header();
  const real = await postRelay(r.url, encodeRelayRequest(buildRelayRequest({ header, supplierAddress: ADDR.supplier1, payload, signerKey: key(KEYS.gateway1), ring: [KEYS.app1, KEYS.gateway1].map(pub) })));
  t.equal(checkRelayResponse(real.body, pub(KEYS.supplier1)).ok, true);
});

t.test('the placeholder key cannot be pinned (its private key is public)', async (t) => {
  const { parseConfig } = await import('../../core/config/load.js');
  const { ConfigError } = await import('../../core/config/problems.js');
  const text = (gateway: string, extra = '') => `relayer:
  supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }]
  simulation:
    enabled: true
    identities:
      - { key_id: a, enabled: true, app_pubkey_hex: "${hex(pub(APP))}", gateway_pubkeys_hex: ["${gateway}"], allowed_services: [anvil] }
${extra}services:
  anvil: { backends: { jsonrpc: { url: "http://127.0.0.1:1" } } }
`;
  const problems = (yaml: string) => {
    try {
      parseConfig(yaml, { env: {} });
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
      throw err;
    }
  };
  t.same(problems(text(hex(PLACEHOLDER_RING_PUBLIC_KEY))), ["relayer.simulation.identities[0].gateway_pubkeys_hex[0]: the ring's padding placeholder key, whose private key is public: anyone could sign as it"]);
  t.same(problems(text(`02${'b'.repeat(64)}`)), ['relayer.simulation.identities[0].gateway_pubkeys_hex[0]: not a point on the secp256k1 curve']);
  t.same(problems(text(hex(pub(GATEWAY)), `      - { key_id: a, app_pubkey_hex: "${hex(pub(APP))}", gateway_pubkeys_hex: ["${hex(pub(GATEWAY))}"], allowed_services: [nope] }\n`)), [
    'relayer.simulation.identities[1].key_id: key_id "a" is already used by identities[0]',
    'relayer.simulation.identities[1].allowed_services[0]: service "nope" is not configured under services',
  ]);
  t.same(problems(text(hex(PLACEHOLDER_RING_PUBLIC_KEY)).replace('enabled: true\n    identities', 'enabled: false\n    identities')), [], 'a block switched off is not checked');
});
