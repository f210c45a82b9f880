import type { Test } from 'tap';
import { ChainQueryClient, buildRelayRequest, encodeHttpPayload, encodeRelayRequest, KeyBuilder, parseConfig, PLACEHOLDER_RING_PUBLIC_KEY, publicKeyFromPrivateKey, Runtime } from 'relayminer';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_PLUGINS } from '../../index.js';
import { ADDR, key, KEYS, TEST_GENESIS } from '../../../test/helpers/localnet-client.js';
import { captureLogs } from '../../../test/helpers/logs.js';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';
import { until } from '../../../test/helpers/until.js';
import { minerYaml } from '../../../test/helpers/miner.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';
import { inspectRedis, type InspectWhat } from '../../../cli/redis-inspect.js';
import { SessionStore } from '../session-store.js';

/** What claims.test.ts and proofs.test.ts share: one supplier's sessions on a localnet advanced block by block. */
export const keys = new KeyBuilder('ha');
/** Every claim needs its proof: the threshold below any session's value. */
export const PROOF_ALWAYS = TEST_GENESIS.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1');

/** Relayer + localnet (session [11, 20]: claim window [22, 26], seed 25, proof window [26, 30], settles at 30) + one miner. */
export async function setup(t: Test, genesis: string, relays: number, o: { cluster?: boolean; transaction?: string; handoverHeight?: number; maxAttempts?: number; pad?: number; restRelays?: number } = {}) {
  const services = (url: string) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }${o.restRelays ? `\n  rest:\n    backends:\n      rest: { url: "${url}" }` : ''}`;
  const r = await startRelayer(t, { plugins: o.restRelays ? ['transport-jsonrpc', 'transport-rest-sse'] : ['transport-jsonrpc'], services, genesis, cluster: o.cluster });
  const header = await r.header();
  // `pad`: bytes added to each JSON-RPC request; a proof carries its relay's request whole (and only a hash of the answer).
  const params = o.pad ? `,"params":["${'x'.repeat(o.pad)}"]` : '';
  for (let i = 0; i < relays; i++) {
    const res = await postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', body: `{"jsonrpc":"2.0","id":${i},"method":"eth_blockNumber"${params}}` }));
    t.equal(res.status, 200);
  }
  // A second session of the supplier ending at the same height: app2's, of service rest.
  const restHeader = o.restRelays ? await r.header('rest', ADDR.app2) : undefined;
  for (let i = 0; i < (o.restRelays ?? 0); i++) {
    const payload = encodeHttpPayload({ method: 'GET', url: `/v1/${i}`, headers: {} });
    const relay = encodeRelayRequest(buildRelayRequest({ header: restHeader!, supplierAddress: ADDR.supplier1, payload, signerKey: key(KEYS.app2), ring: [PLACEHOLDER_RING_PUBLIC_KEY, publicKeyFromPrivateKey(key(KEYS.app2))] }));
    t.equal((await postRelay(r.url, relay, '4')).status, 200);
  }
  const startMiner = async (instance: string) => {
    const logs = captureLogs();
    const miner = await Runtime.start({
      // Proofs at the window's opening (no per-supplier spread): these tests follow one supplier block by block.
      config: parseConfig(minerYaml({ redisUrl: r.redisUrl, rpcAddress: r.net.rpcAddress, grpcAddress: r.net.grpcAddress, instance, transaction: o.transaction, minerOptions: `{ submission: { proof_spread: 0, handover_height: ${o.handoverHeight ?? 0}${o.maxAttempts ? `, max_attempts: ${o.maxAttempts}` : ''} } }` })),
      roles: ['miner'],
      builtins: BUILTIN_PLUGINS,
      version: 'test',
      logger: logs.logger,
    });
    let stopped = false;
    const stop = async () => {
      if (!stopped) (stopped = true), await miner.shutdown();
    };
    t.teardown(stop);
    return { logs, stop, metrics: async () => (await fetch(`http://${miner.addresses.metrics}/metrics`)).text() };
  };
  const first = await startMiner('m1');
  const store = new SessionStore(keys, () => r.redis);
  const q = new ChainQueryClient({ grpc_address: r.net.grpcAddress, tls: false, query_timeout_ms: 3000 });
  t.teardown(() => q.close());
  const session = () => store.session(ADDR.supplier1, header.session_id);
  /**
   * Advances one block at a time to `height`, each only after the miner finished its pass for the
   * previous one: a fixed pause raced the miner on a loaded machine (a proof sent after the next block
   * was made waited for a block the test never produced).
   */
  const advanceTo = async (height: number) => {
    while (r.net.chain.height < height) {
      r.net.chain.advance(1);
      const h = r.net.chain.height;
      await until(`the miner's pass at height ${h}`, async () => Number(/^relayminer_miner_lifecycle_height (\d+)$/m.exec(await first.metrics())?.[1] ?? 0) >= h);
    }
  };
  const balance = async () => BigInt(((await q.call('cosmos.bank.v1beta1.Query', 'Balance', { address: ADDR.supplier1, denom: 'upokt' })).balance as { amount: string }).amount);
  await until('relays stored', async () => (await session())?.count === relays);
  const restSession = () => store.session(ADDR.supplier1, restHeader!.session_id);
  if (o.restRelays) await until('rest relays stored', async () => (await restSession())?.count === o.restRelays);
  /** To block 23, the claim window's second block: the claims sent at 22 are on chain (the rest session's too, when there is one). */
  const claimed = async () => {
    await advanceTo(23);
    await until('claimed', async () => (await session())?.state === 'claimed' && (!o.restRelays || (await restSession())?.state === 'claimed'));
  };
  return { r, header, restHeader, store, session, restSession, advanceTo, claimed, balance, q, metrics: first.metrics, logs: first.logs, stopMiner: first.stop, startMiner };
}

/** `relayminer redis <what> -c miner.yaml --json` for the supplier's Redis: its rows. */
export function inspector(t: Test, redisUrl: string) {
  const file = join(tempDir(t, 'inspect'), 'miner.yaml');
  writeFileSync(file, `miner:\n  redis: { url: "${redisUrl}", namespace: ha }\n  pocket_node: { rpc_url: "http://127.0.0.1:1", grpc_address: "127.0.0.1:1" }\n  supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }]\n`);
  const view = async (what: InspectWhat) => {
    const lines: string[] = [];
    await inspectRedis({ config: file, what, json: true, out: (l) => lines.push(l) });
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return Object.assign(view, { file });
}
