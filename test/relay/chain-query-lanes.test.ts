import t, { type Test } from 'tap';
import { Client, credentials, Metadata, Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ChainQueryClient } from '../../core/chain/index.js';
import { addressFromPrivateKey, publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { SupplierKey } from '../../core/crypto/supplier-key.js';
import type { SessionHeader } from '../../core/protocol/messages.js';
import { grpcServiceDefinition } from '../../core/protocol/grpc.js';
import { KeyBuilder } from '../../core/redis/key-builder.js';
import { RelayChainState } from '../../core/relay/chain-state.js';
import { RelayRejection } from '../../core/relay/reasons.js';
import { buildRelayRequest, encodeRelayRequest } from '../../core/relay/relay-client.js';
import { RelayValidator } from '../../core/relay/validator.js';
import { verifyParsedRingSignature } from '../../core/crypto/ring/signature.js';
import { PLACEHOLDER_RING_PUBLIC_KEY } from '../../core/crypto/placeholder-ring-key.js';
import { captureLogs } from '../helpers/logs.js';
import { ADDR, KEYS, key, startTestLocalnet } from '../helpers/localnet-client.js';
import { until } from '../helpers/until.js';

const raw = (b: Buffer) => b;

/**
 * The localnet's gRPC behind a pass-through that holds every GetSession for an application other than
 * the ones named until the test lets them go: a node slow to answer the sessions a flood asks for.
 */
async function holdingNode(t: Test, target: string, answeredAtOnce: string[]) {
  const upstream = new Client(target, credentials.createInsecure());
  t.teardown(() => upstream.close());
  const held: (() => void)[] = [];
  const server = new Server();
  for (const service of ['pocket.shared.Query', 'pocket.session.Query', 'pocket.application.Query', 'cosmos.auth.v1beta1.Query']) {
    const definition = grpcServiceDefinition(service);
    const rawDefinition = Object.fromEntries(Object.entries(definition).map(([m, d]) => [m, { ...d, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw }]));
    const handlers: UntypedServiceImplementation = {};
    for (const [method, d] of Object.entries(definition)) {
      handlers[method] = (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        const forward = () => upstream.makeUnaryRequest(d.path, raw, raw, call.request, new Metadata(), (err: ServiceError | null, res?: Buffer) => cb(err, res));
        const text = call.request.toString('latin1');
        if (method === 'GetSession' && !answeredAtOnce.some((a) => text.includes(a))) held.push(forward);
        else forward();
      };
    }
    server.addService(rawDefinition, handlers);
  }
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  return { address: `127.0.0.1:${port}`, held };
}

const payload = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}');

t.test("a flood of relays naming applications nobody has leaves half the node queries to the sessions of applications served here", async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(11); // height 12, session [11, 20]
  const node = await holdingNode(t, net.grpcAddress, [ADDR.app1, ADDR.app2]);
  const direct = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 5000 });
  t.teardown(() => direct.close());
  const query = new ChainQueryClient({ grpc_address: node.address, tls: false, query_timeout_ms: 30_000, maxInFlight: 4 });
  t.teardown(() => query.close());
  const chain = new RelayChainState({ query, keys: new KeyBuilder('lanes'), log: captureLogs().logger, currentHeight: () => BigInt(net.chain.height) });
  const supplier = SupplierKey.fromHex(KEYS.supplier1);
  const validator = new RelayValidator({ chain, services: new Set(['anvil', 'rest']), suppliers: new Map([[supplier.address, supplier]]) });
  const pub = (k: string) => publicKeyFromPrivateKey(key(k));
  const validate = (header: SessionHeader, signer: string = KEYS.gateway1, ring = [pub(KEYS.app1), pub(KEYS.gateway1)]) =>
    validator
      .validate(
        validator.decode(
          encodeRelayRequest(buildRelayRequest({ header, supplierAddress: supplier.address, payload, signerKey: key(signer), ring })),
          {} as never,
        ),
      )
      .then(
        (v) => v.session.sessionId,
        (err: unknown) => (RelayRejection.is(err) ? err.reason : String(err)),
      );
  const header = async (app: string, service = 'anvil') => (await direct.session(app, service, BigInt(net.chain.height))).header;

  const first = await header(ADDR.app1);
  t.equal(await validate(first), first.session_id, "app1's relay is validated: its next sessions are expected");
  net.chain.advance(10); // height 22, session [21, 30]: nobody has asked for it yet
  const [app1, app2] = [await header(ADDR.app1), await header(ADDR.app2, 'rest')];

  // Twenty strangers, each signing over a ring of its own making, at the current session's heights.
  const strangers = Array.from({ length: 20 }, () => {
    const own = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');
    return validate({ ...app1, application_address: addressFromPrivateKey(key(own)) }, own, [pub(own), pub(KEYS.gateway1)]);
  });
  await until('two strangers asked about at the node', () => node.held.length === 2);
  const settledNow = (p: Promise<string>) => Promise.race([p, new Promise<string>((r) => setTimeout(() => r('pending'), 300))]);
  t.same(await Promise.all(strangers.map(settledNow)), [...Array(10).fill('pending'), ...Array(10).fill('chain_busy')], 'two at the node, eight waiting, ten refused unsent');
  t.equal(node.held.length, 2, 'no more open queries than half the slots');

  t.equal(await validate(app1), app1.session_id, "meanwhile app1's new session is asked for and its relay validated");
  const offGrid = { ...app1, session_start_block_height: 22n };
  t.equal(await validate(offGrid), 'chain_busy', "a relay of app1 at a height that starts no session is asked for in the open lane: refused while it is full");
  t.equal(await validate(app2, KEYS.app2, [PLACEHOLDER_RING_PUBLIC_KEY, pub(KEYS.app2)]), 'chain_busy', 'so is the first relay of an application never validated here');

  while (node.held.length || (await Promise.all(strangers.map(settledNow))).includes('pending')) {
    node.held.shift()?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  t.same(await Promise.all(strangers), [...Array(10).fill('invalid_session'), ...Array(10).fill('chain_busy')], 'the ten that waited are asked about in turn: no such session');
  t.equal(await validate(app2, KEYS.app2, [PLACEHOLDER_RING_PUBLIC_KEY, pub(KEYS.app2)]), app2.session_id, "after the flood app2's relay is validated");
});

/**
 * A validator for supplier1's `anvil` relays on a localnet at height 12, its chain state and query client; `verified`
 * tells of each verification (its ring's members and credit) before it runs.
 */
async function localValidator(t: Test, verified: (members: number, credit: boolean) => void, now?: () => number) {
  const net = await startTestLocalnet(t);
  net.chain.advance(11);
  const query = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 5000 });
  t.teardown(() => query.close());
  const chain = new RelayChainState({ query, keys: new KeyBuilder('local'), log: captureLogs().logger, currentHeight: () => BigInt(net.chain.height) });
  const supplier = SupplierKey.fromHex(KEYS.supplier1);
  const validator = new RelayValidator({
    chain,
    services: new Set(['anvil']),
    suppliers: new Map([[supplier.address, supplier]]),
    verifyRing: async (msg, signature, parsed, credit) => (verified(parsed.ring.length, credit), verifyParsedRingSignature(msg, parsed, undefined, signature, credit)),
    now,
  });
  return { query, chain, supplier, validator };
}

t.test("a session's first relay is verified before its ring is known to be the application's: its points are not credited toward ring tables; later relays' are", async (t) => {
  const credits: boolean[] = [];
  const { query, supplier, validator } = await localValidator(t, (_, credit) => credits.push(credit));
  const header = (await query.session(ADDR.app1, 'anvil', 12n)).header;
  const ring = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));
  for (let i = 0; i < 3; i++) {
    const body = encodeRelayRequest(buildRelayRequest({ header, supplierAddress: supplier.address, payload, signerKey: key(KEYS.gateway1), ring }));
    t.equal((await validator.validate(validator.decode(body, {} as never))).session.sessionId, header.session_id);
  }
  t.same(credits, [false, true, true]);
});

t.test("relays of sessions not cached here, before their verification: a known application's ring may not outgrow its entry, and relays naming applications not known here share a budget of ring members", async (t) => {
  const verified: number[] = [];
  let now = 1_000_000;
  const { query, chain, supplier, validator } = await localValidator(t, (members) => verified.push(members), () => now);
  const outcome = (header: SessionHeader, signer: Uint8Array, ring: Uint8Array[]) =>
    validator.validate(validator.decode(encodeRelayRequest(buildRelayRequest({ header, supplierAddress: supplier.address, payload, signerKey: signer, ring })), {} as never)).then(
      () => 'valid',
      (err: RelayRejection) => `${err.reason}: ${err.message}`,
    );
  const header = (await query.session(ADDR.app1, 'anvil', 12n)).header;
  const appRing = [KEYS.app1, KEYS.gateway1].map((k) => publicKeyFromPrivateKey(key(k)));
  const strangers = (n: number) => Array.from({ length: n }, (_, i) => publicKeyFromPrivateKey(Uint8Array.from({ length: 32 }, (_, j) => (j === 31 ? i + 1 : 7))));

  // app1 (one gateway) known here, its session not yet: a ring of 11 members is refused unverified, one of 10 is verified.
  await chain.application(ADDR.app1);
  t.equal(await outcome(header, key(KEYS.gateway1), [...appRing, ...strangers(9)]), "signer_not_in_ring: relay validation failed: signer is not the application or a delegated gateway: a ring of 11 members; the application's has at most 10");
  t.same(verified, [], 'not verified');
  t.equal(await outcome(header, key(KEYS.gateway1), [...appRing, ...strangers(8)]), 'signer_not_in_ring: relay validation failed: signer is not the application or a delegated gateway');
  t.same(verified, [10], 'ten members: verified, then refused against the ring on chain');
  t.equal(await outcome(header, key(KEYS.gateway1), appRing), 'valid', "app1's own ring");

  // An account that is no application: 256-member rings take 256 of the 2,048 members a second.
  const unknown = { ...header, application_address: ADDR.gateway1, session_id: 'e'.repeat(64) };
  const signer = Uint8Array.from({ length: 32 }, () => 9);
  const big = [publicKeyFromPrivateKey(signer), ...strangers(255)];
  const body = encodeRelayRequest(buildRelayRequest({ header: unknown, supplierAddress: supplier.address, payload, signerKey: signer, ring: big }));
  const send = () => validator.validate(validator.decode(body, {} as never)).then(() => 'valid', (err: RelayRejection) => err.reason);
  verified.length = 0;
  const first = [];
  for (let i = 0; i < 8; i++) first.push(await send());
  t.same(first, Array(8).fill('invalid_session'), 'eight are verified, then refused by the chain');
  t.equal(verified.length, 8);
  t.equal(await send(), 'chain_busy', 'the ninth within the second is refused before its verification');
  t.equal(verified.length, 8);
  t.equal(await outcome(header, key(KEYS.gateway1), appRing), 'valid', "a known application's relay is not held by that budget");
  now += 125;
  t.equal(await send(), 'invalid_session', '125 ms later there is room for one more');
  t.equal(await send(), 'chain_busy');
});
