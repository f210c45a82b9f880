import t from 'tap';
import { Redis } from 'ioredis';
import { ChainQueryClient } from '../../core/chain/index.js';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { PLACEHOLDER_RING_PUBLIC_KEY } from '../../core/crypto/placeholder-ring-key.js';
import { KeyBuilder } from '../../core/redis/key-builder.js';
import { RelayChainState } from '../../core/relay/chain-state.js';
import { captureLogs } from '../helpers/logs.js';
import { ADDR, KEYS, TEST_GENESIS, key, startTestLocalnet } from '../helpers/localnet-client.js';
import { startRedis } from '../helpers/redis.js';

const hex = (keys: Uint8Array[]) => keys.map((k) => Buffer.from(k).toString('hex'));
const pub = (k: string) => publicKeyFromPrivateKey(key(k));

t.test('ring: app + delegated gateways + gateways being undelegated at or after the session end, else the placeholder; kept per application entry', async (t) => {
  // app2 has no delegations but gateway1 is being undelegated from it at height 20.
  const genesis = TEST_GENESIS.replace('    service_id: rest\n', '    service_id: rest\n    pending_undelegations: { "20": [pokt15vzxjqklzjtlz7lahe8z2dfe9nm5vxwwmscne4] }\n');
  t.not(genesis, TEST_GENESIS, 'the genesis was changed');
  const net = await startTestLocalnet(t, genesis);
  const server = await startRedis(t);
  const redis = new Redis(server.url);
  t.teardown(() => redis.disconnect());
  const query = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 2000 });
  t.teardown(() => query.close());
  const chain = new RelayChainState({ query, keys: new KeyBuilder('cs'), log: captureLogs().logger, redis: () => redis, currentHeight: () => BigInt(net.chain.height) });

  // Members sorted by address: pokt15vzx… (gateway1) < pokt1mrqt… (app1) < pokt1pf0r… (app2); the placeholder's hex address sorts first.
  const app1Ring = await chain.ringPublicKeys(ADDR.app1, 10n);
  t.same(hex(app1Ring), hex([pub(KEYS.gateway1), pub(KEYS.app1)]));
  t.same(hex(await chain.ringPublicKeys(ADDR.app2, 20n)), hex([pub(KEYS.gateway1), pub(KEYS.app2)]), 'undelegation at the session end still counts');
  t.same(hex(await chain.ringPublicKeys(ADDR.app2, 10n)), hex([pub(KEYS.gateway1), pub(KEYS.app2)]), 'and before it');
  t.same(hex(await chain.ringPublicKeys(ADDR.app2, 30n)), hex([PLACEHOLDER_RING_PUBLIC_KEY, pub(KEYS.app2)]), 'after it: no gateways, the placeholder');

  t.equal(await chain.ringPublicKeys(ADDR.app1, 10n), app1Ring, 'the same application entry gives the same ring without rebuilding it');
  t.equal(chain.cached.ringPublicKeys(ADDR.app1, 10n), app1Ring, 'and reads it without a promise once built');
  t.equal(chain.cached.ringPublicKeys(ADDR.app1, 11n), undefined, 'not for a session end it was not built for');
  await chain.invalidateApplication(ADDR.app1);
  t.equal(chain.cached.ringPublicKeys(ADDR.app1, 10n), undefined, 'nor once the application entry is dropped');
  const rebuilding = chain.ringPublicKeys(ADDR.app1, 10n);
  t.equal(chain.cached.ringPublicKeys(ADDR.app1, 10n), undefined, 'nor while it is being rebuilt');
  const rebuilt = await rebuilding;
  t.not(rebuilt, app1Ring, 'a refreshed application entry builds its ring anew');
  t.same(hex(rebuilt), hex(app1Ring));
  t.equal(chain.cached.ringPublicKeys(ADDR.app1, 10n), rebuilt, 'the rebuilt ring is the one read without a promise');

  const params = await chain.sharedParams(10n);
  t.equal(chain.cached.sharedParams(10n), params, 'a value at a height, once fetched, is read without a promise');
  t.equal(chain.cached.sharedParams(11n), undefined, 'one never fetched is not');
  const session = await chain.session(ADDR.app1, 'anvil', 1n);
  t.equal(chain.cached.session(ADDR.app1, 'anvil', 1n), session);
  t.equal(chain.cached.session(ADDR.app1, 'anvil', 2n), undefined);
  const [target, cupr] = [await chain.difficultyTarget('anvil', 1n), await chain.computeUnitsPerRelay('anvil', 1n)];
  t.same([chain.cached.difficultyTarget('anvil', 1n), chain.cached.computeUnitsPerRelay('anvil', 1n)], [target, cupr]);
  t.same([chain.cached.difficultyTarget('anvil', 2n), chain.cached.computeUnitsPerRelay('anvil', 2n)], [undefined, undefined]);
});
