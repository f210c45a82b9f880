import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChainQueryClient, KeyBuilder, relayHash, SparseMerkleSumTrie } from 'relayminer';
import { ADDR, KEYS, TEST_GENESIS } from '../../../test/helpers/localnet-client.js';
import { startProcess, type Started } from '../../../test/helpers/process.js';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';
import { SessionStore } from '../session-store.js';
import { until } from '../../../test/helpers/until.js';
import { minerYaml } from '../../../test/helpers/miner.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';

/** Miner failure drills with real processes: SIGKILL, SIGSTOP/SIGCONT and a Redis restart (AOF). */

const keys = new KeyBuilder('ha');

async function setup(t: Test, o: { appendOnly?: boolean } = {}) {
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
async function claimAndSettle(t: Test, s: Awaited<ReturnType<typeof setup>>, relays: number) {
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

t.test('two miners: the owner is SIGKILLed mid-session; the other takes over within the TTL and the claim and proof land', async (t) => {
  const s = await setup(t);
  const a = await s.startMiner('m1');
  await until('m1 owns the supplier', async () => (await s.owner())[0] === 'm1');
  const b = await s.startMiner('m2');
  await s.relays(10);
  await until('10 stored', async () => (await s.session())?.count === 10);
  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  await s.relays(10); // served while no miner owns the supplier: they wait in the stream
  await until('m2 takes over', async () => (await s.owner())[0] === 'm2');
  t.ok(Date.now() - killedAt < 1500 + 1000, `takeover after ${Date.now() - killedAt} ms (TTL 1500 ms)`);
  t.equal((await s.owner())[1], '2', 'with a new fencing token');
  await until('20 stored', async () => (await s.session())?.count === 20);
  await claimAndSettle(t, s, 20);
  t.ok(b.lines.some((l) => l.msg === 'supplier lease acquired'));
});

t.test('a paused owner (SIGSTOP) resumes after the takeover and cannot write over the new owner', async (t) => {
  const s = await setup(t);
  const a = await s.startMiner('m1');
  await until('m1 owns the supplier', async () => (await s.owner())[0] === 'm1');
  await s.startMiner('m2');
  await s.relays(5);
  await until('5 stored', async () => (await s.session())?.count === 5);
  a.child.kill('SIGSTOP');
  await until('m2 takes over', async () => (await s.owner())[0] === 'm2', 10_000);
  await s.relays(5);
  a.child.kill('SIGCONT'); // m1 wakes up with a stale lease and a blocking read in flight
  await s.relays(5);
  await until('15 stored', async () => (await s.session())?.count === 15);
  await until('m1 notices', () => a.lines.some((l) => l.msg === 'supplier lease lost' || l.msg === 'relay store refused our fencing token: another miner owns this supplier now'));
  t.equal((await s.owner())[0], 'm2', 'the lease stays with the new owner');
  await s.relays(3);
  await until('18 stored', async () => (await s.session())?.count === 18);
  await claimAndSettle(t, s, 18);
});

t.test('redis-server restarted (AOF on) mid-session: mining resumes and nothing is lost', async (t) => {
  const s = await setup(t, { appendOnly: true });
  const m1 = await s.startMiner('m1');
  await until('m1 owns the supplier', async () => (await s.owner())[0] === 'm1');
  await s.relays(8);
  await until('8 stored', async () => (await s.session())?.count === 8);
  await s.r.redisServer.stopProcess();
  // Long enough for lease ticks and stream reads to fail several times over (a queued command fails after
  // two reconnect attempts, and the attempts back off to 2 s apart).
  await new Promise((res) => setTimeout(res, 10_000));
  await s.r.redisServer.startProcess();
  await until('the lease is held again', async () => ((await s.owner().catch(() => []))[0] ?? '') === 'm1', 15_000);
  await s.relays(7);
  await until('15 stored', async () => (await s.session())?.count === 15, 15_000);
  await claimAndSettle(t, s, 15);
  // Each failing step said once (not once per retry for 3 s), and once when it worked again.
  const said = m1.lines.filter((l) => /failed|work again|works again/.test(String(l.msg))).map((l) => `${l.level} ${l.msg}`);
  t.same(said.filter((line, i) => said.indexOf(line) !== i), [], 'no line repeated');
  for (const line of ['40 miner lease tick failed', '30 miner lease ticks work again', '40 reading relay streams failed; retrying', '30 reading relay streams works again']) t.ok(said.includes(line), line);
});
