import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChainQueryClient, KeyBuilder, relayHash, SparseMerkleSumTrie } from 'relayminer';
import { ADDR, TEST_GENESIS } from '../../../test/helpers/localnet-client.js';
import { startProcess, type Started } from '../../../test/helpers/process.js';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';
import { SessionStore } from '../session-store.js';
import { until } from '../../../test/helpers/until.js';
import { minerYaml } from '../../../test/helpers/miner.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';

/** What the miner's failure drills share: a relayer, miner processes, the session's record, and a claim checked to the relay. */

const keys = new KeyBuilder('ha');

export async function setup(t: Test, o: { appendOnly?: boolean } = {}) {
  const r = await startRelayer(t, {
    redis: { appendOnly: o.appendOnly ?? false },
    plugins: ['transport-jsonrpc'],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`,
    genesis: TEST_GENESIS.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1'),
  });
  const header = await r.header();
  let sent = 0;
  const relays = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const res = await postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', body: `{"jsonrpc":"2.0","id":${sent++},"method":"eth_blockNumber"}` }));
      if (res.status !== 200) throw new Error(`relay refused: ${res.status}`);
    }
  };
  const dir = tempDir(t, 'miner-failover');
  const miners: Started[] = [];
  const byInstance = new Map<string, Started>();
  const startMiner = async (instance: string) => {
    const file = join(dir, `${instance}.yaml`);
    writeFileSync(file, minerYaml({ redisUrl: r.redisUrl, rpcAddress: r.net.rpcAddress, grpcAddress: r.net.grpcAddress, instance, consume: '{ block_ms: 100, reclaim_idle_ms: 1000 }', format: 'json', minerOptions: '{ submission: { proof_spread: 0 } }' }));
    const p = await startProcess(['miner', '-c', file], {});
    miners.push(p);
    byInstance.set(instance, p);
    return p;
  };
  t.teardown(async () => {
    for (const m of miners) {
      if (m.child.exitCode === null && m.child.signalCode === null) {
        m.child.kill('SIGCONT');
        m.child.kill('SIGKILL');
        await m.exit;
      }
    }
  });
  const store = new SessionStore(keys, () => r.redis);
  const session = () => store.session(ADDR.supplier1, header.session_id);
  const owner = async () => (await r.redis.get(keys.supplierLease(ADDR.supplier1)))?.split(' ') ?? [];
  /** The lease owner's last finished claim/proof pass (0 while there is none or it cannot be asked). */
  const ownerPassHeight = async () => {
    const metrics = byInstance.get((await owner())[0] ?? '')?.addresses.metrics;
    if (!metrics) return 0;
    const text = await fetch(`http://${metrics}/metrics`).then((res) => res.text(), () => '');
    return Number(/^relayminer_miner_lifecycle_height (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  /** One block at a time, each after the owning miner finished its pass for the previous one (a fixed pause raced it). */
  const advanceTo = async (height: number) => {
    while (r.net.chain.height < height) {
      r.net.chain.advance(1);
      const h = r.net.chain.height;
      await until(`the owner's pass at height ${h}`, async () => (await ownerPassHeight()) >= h);
    }
  };
  return { r, header, relays, sentCount: () => sent, startMiner, store, session, owner, advanceTo };
}

/** The claim on chain is the trie of exactly the relays sent, and the session settles. */
export async function claimAndSettle(t: Test, s: Awaited<ReturnType<typeof setup>>, relays: number) {
  await s.advanceTo(23);
  await until('claimed', async () => (await s.session())?.state === 'claimed');
  const q = new ChainQueryClient({ grpc_address: s.r.net.grpcAddress, tls: false, query_timeout_ms: 3000 });
  t.teardown(() => q.close());
  const claim = (await q.call('pocket.proof.Query', 'Claim', { session_id: s.header.session_id, supplier_operator_address: ADDR.supplier1 })).claim as { root_hash: Uint8Array };
  const trie = new SparseMerkleSumTrie();
  for (const bytes of (await s.store.leaves(ADDR.supplier1, s.header.session_id)).values()) trie.update(relayHash(bytes), bytes, 1n);
  t.equal(trie.count(), BigInt(relays), `the claim counts the ${relays} relays sent, none lost, none twice`);
  t.equal(Buffer.from(claim.root_hash).toString('hex'), Buffer.from(trie.root()).toString('hex'));
  await s.advanceTo(26);
  await until('proved', async () => (await s.session())?.state === 'proved');
  await s.advanceTo(30);
  await until('settled', async () => (await s.session())?.state === 'settled');
}


/** A drill's usual start: Redis with AOF on, one miner `m1` owning the supplier, and `n` relays stored. */
export async function ownedWithRelays(t: Test, n: number) {
  const s = await setup(t, { appendOnly: true });
  const m1 = await s.startMiner('m1');
  await until('m1 owns the supplier', async () => (await s.owner())[0] === 'm1');
  await s.relays(n);
  await until(`${n} stored`, async () => (await s.session())?.count === n);
  return { s, m1 };
}
