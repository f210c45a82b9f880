import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { credentials, loadPackageDefinition, status, type ServiceError } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { PROTO_DIR, PROTO_FILES } from '../../core/protocol/codec.js';
import { sessionId } from '../../core/session/index.js';
import { parseGenesis, startLocalnet, type RunningLocalnet } from '../../localnet/index.js';
import { captureLogs } from '../helpers/logs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const GENESIS = readFileSync(join(ROOT, 'examples/localnet/genesis.yaml'), 'utf8')
  .replace('genesis_time: now', 'genesis_time: "2026-01-01T00:00:00Z"')
  .replace('block_interval_ms: 1000', 'block_interval_ms: 0');
const APP1 = 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4';
const GW1 = 'pokt15vzxjqklzjtlz7lahe8z2dfe9nm5vxwwmscne4';
const SUP1 = 'pokt1tt7l5gu99zdpc7qnaty77xspta94dprls4xwz7';

// An independent client: @grpc/proto-loader (protobufjs' own codec) over the repo's .proto files.
const definition = protoLoader.loadSync(PROTO_FILES, { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
const pkg = loadPackageDefinition(definition) as unknown as Record<string, unknown>;
type Res = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Client = Record<string, Function> & { close(): void };

function client(net: RunningLocalnet, service: string): Client {
  const Ctor = service.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], pkg) as new (addr: string, creds: unknown) => Client;
  return new Ctor(net.grpcAddress, credentials.createInsecure());
}

function call(c: Record<string, Function>, method: string, req: object): Promise<Res> {
  return new Promise((resolve, reject) => c[method]!.call(c, req, (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))));
}

async function start(t: Test) {
  const net = await startLocalnet(parseGenesis(GENESIS), { rpcAddress: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', log: captureLogs().logger });
  t.teardown(() => net.stop());
  return net;
}

t.test('GetSession: the session id equals sessionId(blockHash(start)) from the block the RPC serves', async (t) => {
  const net = await start(t);
  net.chain.advance(14); // height 15: session 11–20
  const session = client(net, 'pocket.session.Query');
  t.teardown(() => session.close());
  const res = await call(session, 'GetSession', { application_address: APP1, service_id: 'anvil', block_height: '0' });
  const s = res.session;
  t.equal(s.header.session_start_block_height, '11');
  t.equal(s.header.session_end_block_height, '20');
  t.equal(s.session_number, '2');
  t.equal(s.num_blocks_per_session, '10');
  const block11 = (await (await fetch(`http://${net.rpcAddress}/block?height=11`)).json()) as { result: { block_id: { hash: string } } };
  const expected = sessionId(Uint8Array.from(Buffer.from(block11.result.block_id.hash, 'hex')), 'anvil', APP1, 11n);
  t.equal(s.session_id, expected);
  t.equal(s.header.session_id, expected);
  t.equal(s.application.address, APP1);
  t.same(s.application.delegatee_gateway_addresses, [GW1]);
  t.same(s.suppliers.map((x: Res) => x.operator_address), ['pokt1rw3xgea5j4mfuux64ds7en4fhuyc3h3zus5wkv', SUP1]);
  const sup1 = s.suppliers.find((x: Res) => x.operator_address === SUP1);
  t.same(sup1.services.map((x: Res) => x.service_id), ['anvil'], 'dehydrated to the session service');
  t.same(sup1.services[0].endpoints.map((e: Res) => [e.url, e.rpc_type]), [['http://127.0.0.1:8080', 3], ['ws://127.0.0.1:8080', 2]]);
  const earlier = await call(session, 'GetSession', { application_address: APP1, service_id: 'anvil', block_height: '3' });
  t.equal(earlier.session.header.session_start_block_height, '1');
});

t.test('params, application, supplier, service, difficulty, compute units, account, balance', async (t) => {
  const net = await start(t);
  const c = (s: string) => {
    const x = client(net, s);
    t.teardown(() => x.close());
    return x;
  };
  const shared = (await call(c('pocket.shared.Query'), 'Params', {})).params;
  t.same([shared.num_blocks_per_session, shared.claim_window_close_offset_blocks, shared.compute_units_to_tokens_multiplier], ['10', '4', '42000000']);
  t.equal((await call(c('pocket.shared.Query'), 'ParamsAtHeight', { height: '1' })).params.grace_period_end_offset_blocks, '1');
  t.equal((await call(c('pocket.session.Query'), 'Params', {})).params.num_suppliers_per_session, '50');
  const proof = (await call(c('pocket.proof.Query'), 'Params', {})).params;
  t.equal(proof.proof_request_probability, 0.25);
  t.same(proof.proof_requirement_threshold, { denom: 'upokt', amount: '20000000' });
  const app = (await call(c('pocket.application.Query'), 'Application', { address: APP1 })).application;
  t.same([app.stake.amount, app.service_configs[0].service_id], ['100000000000', 'anvil']);
  const all = await call(c('pocket.application.Query'), 'AllApplications', { delegatee_gateway_address: GW1 });
  t.same(all.applications.map((a: Res) => a.address), [APP1]);
  const sup = (await call(c('pocket.supplier.Query'), 'Supplier', { operator_address: SUP1 })).supplier;
  t.same(sup.services.map((s: Res) => s.service_id), ['anvil', 'rest']);
  const svc = (await call(c('pocket.service.Query'), 'Service', { id: 'rest' })).service;
  t.same([svc.id, svc.compute_units_per_relay], ['rest', '2']);
  const diff = (await call(c('pocket.service.Query'), 'RelayMiningDifficultyAtHeight', { serviceId: 'anvil', blockHeight: '1' })).relayMiningDifficulty;
  t.equal(Buffer.from(diff.target_hash).toString('hex'), 'ff'.repeat(32));
  t.equal((await call(c('pocket.service.Query'), 'ComputeUnitsPerRelayAtHeight', { serviceId: 'rest', blockHeight: '1' })).computeUnitsPerRelay, '2');
  const acct = (await call(c('cosmos.auth.v1beta1.Query'), 'Account', { address: APP1 })).account;
  t.equal(acct.type_url, '/cosmos.auth.v1beta1.BaseAccount');
  const types = protobuf.loadSync([join(PROTO_DIR, 'cosmos/auth/v1beta1/auth.proto'), join(PROTO_DIR, 'cosmos/crypto/secp256k1/keys.proto')]);
  const base = types.lookupType('cosmos.auth.v1beta1.BaseAccount').decode(acct.value) as unknown as Res;
  t.equal(base.address, APP1);
  t.equal(String(base.account_number ?? base.accountNumber), '0', 'first genesis account');
  const anyKey = base.pub_key ?? base.pubKey; // protobufjs camel-cases names outside its built-in types
  t.equal(anyKey.type_url ?? anyKey.typeUrl, '/cosmos.crypto.secp256k1.PubKey');
  const pub = types.lookupType('cosmos.crypto.secp256k1.PubKey').decode(anyKey.value) as unknown as Res;
  t.equal(Buffer.from(pub.key).toString('hex'), '0397896e9b106df70124a856861cc9be52fac9980e2c7a118a36c19d0198692cc5', 'the key the ring needs');
  const noKey = (await call(c('cosmos.auth.v1beta1.Query'), 'Account', { address: 'pokt1pf0rh8tmczm83jeyxjay8mwwkretm5j0jt4wd3' })).account;
  t.equal(noKey.type_url, '/cosmos.auth.v1beta1.BaseAccount');
  const bal = (await call(c('cosmos.bank.v1beta1.Query'), 'Balance', { address: SUP1, denom: 'upokt' })).balance;
  t.same(bal, { denom: 'upokt', amount: '1000000000' });
  const claims = await call(c('pocket.proof.Query'), 'AllClaims', { supplier_operator_address: SUP1 });
  t.same(claims.claims, [], 'no claims before any transaction');
});

t.test('query errors carry the codes and messages a real node returns', async (t) => {
  const net = await start(t);
  const expectError = async (service: string, method: string, req: object, code: status, message: string) => {
    const c = client(net, service);
    t.teardown(() => c.close());
    const err = (await call(c, method, req).catch((e: unknown) => e)) as ServiceError;
    t.equal(err.code, code, `${method}: code`);
    t.equal(err.details, message, `${method}: message`);
  };
  await expectError('pocket.session.Query', 'GetSession', { application_address: '', service_id: 'anvil', block_height: '0' }, status.INVALID_ARGUMENT, 'empty address string is not allowed: invalid application address for session');
  await expectError('pocket.session.Query', 'GetSession', { application_address: APP1, service_id: 'a b', block_height: '0' }, status.INVALID_ARGUMENT, "service ID 'a b' contains invalid characters: invalid service ID");
  await expectError('pocket.session.Query', 'GetSession', { application_address: APP1, service_id: 'anvil', block_height: '50' }, status.INTERNAL, 'block height 50 is ahead of the last committed block height 1: error during session hydration');
  await expectError('pocket.application.Query', 'Application', { address: SUP1 }, status.NOT_FOUND, `app address: ${SUP1}: application not found`);
  await expectError('pocket.supplier.Query', 'Supplier', { operator_address: APP1 }, status.NOT_FOUND, `supplier with operator address: "${APP1}": supplier not found`);
  await expectError('pocket.service.Query', 'Service', { id: 'nope' }, status.NOT_FOUND, 'service ID not found: "nope"');
  await expectError('pocket.service.Query', 'RelayMiningDifficultyAtHeight', { serviceId: '', blockHeight: '1' }, status.INVALID_ARGUMENT, 'service ID is required');
  await expectError('pocket.service.Query', 'ComputeUnitsPerRelayAtHeight', { serviceId: 'nope', blockHeight: '1' }, status.NOT_FOUND, 'serviceID: nope: service not found');
  await expectError('pocket.shared.Query', 'ParamsAtHeight', { height: '-1' }, status.INVALID_ARGUMENT, 'height must be non-negative');
  await expectError('cosmos.auth.v1beta1.Query', 'Account', { address: '' }, status.INVALID_ARGUMENT, 'Address cannot be empty');
  await expectError('cosmos.auth.v1beta1.Query', 'Account', { address: GW1.replace('pokt15v', 'pokt16v') }, status.NOT_FOUND, `account ${GW1.replace('pokt15v', 'pokt16v')} not found`);
  await expectError('pocket.proof.Query', 'Claim', { session_id: 'abc', supplier_operator_address: SUP1 }, status.NOT_FOUND, `session ID "abc" and supplier "${SUP1}": claim not found`);
});

t.test('gRPC server reflection lists the services', async (t) => {
  const net = await start(t);
  const reflection = protoLoader.loadSync(join(ROOT, 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto'), { keepCase: true });
  const Reflection = (loadPackageDefinition(reflection) as unknown as { grpc: { reflection: { v1: { ServerReflection: new (a: string, c: unknown) => { ServerReflectionInfo(): { write(m: object): void; on(e: string, f: (x: Res) => void): void; end(): void }; close(): void } } } } }).grpc.reflection.v1.ServerReflection;
  const c = new Reflection(net.grpcAddress, credentials.createInsecure());
  t.teardown(() => c.close());
  const stream = c.ServerReflectionInfo();
  const reply = await new Promise<Res>((resolve, reject) => {
    stream.on('data', resolve);
    stream.on('error', reject as (x: Res) => void);
    stream.write({ list_services: '' });
  });
  stream.end();
  const names = (reply.list_services_response.service as { name: string }[]).map((s) => s.name);
  for (const s of ['pocket.session.Query', 'pocket.proof.Query', 'cosmos.tx.v1beta1.Service', 'cosmos.auth.v1beta1.Query']) t.ok(names.includes(s), s);
});
