import t from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { Redis } from 'ioredis';
import { compactClosestProof, encodeCompactClosestProof, Frontier, frontierBits, proveClosest, SparseMerkleSumTrie, KeyBuilder, verifyClosestProofBytes, type MinedRelay } from 'relayminer';
import { startRedis } from '../../../test/helpers/redis.js';
import { ADDR } from '../../../test/helpers/localnet-client.js';
import { SessionStore } from '../session-store.js';

const keys = new KeyBuilder('ha');
const S = ADDR.supplier1;

function relay(n: number, session = 's1'): MinedRelay {
  const bytes = Buffer.from(`relay ${n} of ${session}`.padEnd(40 + (n % 60), '.'));
  return {
    relay_hash: sha256(bytes),
    relay: bytes,
    compute_units: 2n,
    session_id: session,
    session_start_block_height: 11n,
    session_end_block_height: 20n,
    supplier_operator_address: S,
    service_id: 'anvil',
    application_address: ADDR.app1,
    arrival_block_height: 12n,
    published_at_ms: 1n,
  };
}

t.test('the path set gives the root and byte-identical proofs of the trie built in arrival order', async (t) => {
  const server = await startRedis(t);
  const r = { redis: new Redis(server.port) };
  t.teardown(() => r.redis.disconnect());
  const store = new SessionStore(keys, () => r.redis);
  await r.redis.set(keys.supplierLeaseFence(S), '7');
  const n = 12_345;
  const trie = new SparseMerkleSumTrie();
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + 1000); k++) {
      batch.push({ entryId: `0-${k + 1}`, relay: relay(k) });
      trie.update(sha256(relay(k).relay), relay(k).relay, 2n);
    }
    t.same(new Set(await store.ingest(S, '7', batch)), new Set(['stored']));
  }
  // Again: every one a duplicate, nothing added.
  t.same(new Set(await store.ingest(S, '7', [{ entryId: '0-99999', relay: relay(5) }])), new Set(['duplicate']));
  t.equal(await store.pathCount(S, 's1'), n, 'one path-set member per stored relay');
  t.match(await store.session(S, 's1'), { count: n, computeUnits: BigInt(2 * n) });

  let pages = 0;
  let leaves = 0;
  for await (const page of store.leafPages(S, 's1')) {
    pages++;
    leaves += page.length;
  }
  t.same([pages, leaves], [3, n], 'read in pages of 5,000 in path order');
  let proofs = 0;
  for (const bits of [0, frontierBits(n), 11]) {
    const f = await Frontier.build(store.leafPages(S, 's1'), bits);
    t.equal(Buffer.from(f.root()).toString('hex'), Buffer.from(trie.root()).toString('hex'), `root with ${bits} bucket bits`);
    await store.saveFrontier(S, 's1', f);
    const saved = (await store.frontier(S, 's1'))!;
    t.equal(saved.bits, bits);
    const paths = [Buffer.alloc(32, 0xff), Buffer.alloc(32, 0), ...Array.from({ length: 30 }, (_, i) => Buffer.from(sha256(Buffer.from(`seed ${bits} ${i}`))))];
    for (const p of paths) {
      const want = trie.proveClosest(p);
      const got = await proveClosest(saved, p, store.leafSource(S, 's1'));
      t.same(
        [got.flippedBits, got.depth, Buffer.from(got.closestPath).toString('hex'), Buffer.from(got.closestValueHash!).toString('hex'), got.closestProof.sideNodes.map((x) => Buffer.from(x).toString('hex')), Buffer.from(got.closestProof.siblingData!).toString('hex')],
        [want.flippedBits, want.depth, Buffer.from(want.closestPath).toString('hex'), Buffer.from(want.closestValueHash!).toString('hex'), want.closestProof.sideNodes.map((x) => Buffer.from(x).toString('hex')), Buffer.from(want.closestProof.siblingData!).toString('hex')],
        `proof for ${p.toString('hex').slice(0, 8)}…, ${bits} bucket bits`,
      );
      proofs++;
    }
  }
  t.equal(proofs, 96);
});

t.test('a sealed session takes no more relays; a final state drops the path set and frontier at once', async (t) => {
  const server = await startRedis(t);
  const r = { redis: new Redis(server.port) };
  t.teardown(() => r.redis.disconnect());
  const store = new SessionStore(keys, () => r.redis);
  await r.redis.set(keys.supplierLeaseFence(S), '3');
  t.same(await store.ingest(S, '3', [0, 1, 2].map((k) => ({ entryId: `0-${k + 1}`, relay: relay(k, 's2') }))), ['stored', 'stored', 'stored']);
  t.equal(await store.seal(S, 's2', '2'), 'fenced', 'a former owner cannot seal');
  t.equal(await store.seal(S, 's2', '3'), 'sealed');
  t.same(await store.ingest(S, '3', [{ entryId: '0-9', relay: relay(3, 's2') }]), ['late'], 'a relay after the seal is late');
  t.match(await store.session(S, 's2'), { state: 'active', count: 3 });
  await store.saveFrontier(S, 's2', await Frontier.build(store.leafPages(S, 's2'), 0));
  t.equal(await store.transition(S, 's2', '3', 'active', 'claim_window_missed'), 'moved');
  t.same([await r.redis.exists(keys.minerSessionPaths(S, 's2')), await r.redis.exists(keys.minerSessionFrontier(S, 's2'))], [0, 0]);
  const ttl = await r.redis.ttl(keys.minerSessionLeaves(S, 's2'));
  t.ok(ttl > 86_000 && ttl <= 86_400, `the leaves stay a day (${ttl} s)`);
});

t.test('a session stored by an older version (leaves keyed by relay hash) is re-keyed and claims the same root', async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.port);
  t.teardown(() => redis.disconnect());
  const store = new SessionStore(keys, () => redis);
  const trie = new SparseMerkleSumTrie();
  for (let k = 0; k < 300; k++) {
    const r = relay(k, 'old');
    await redis.hset(keys.minerSessionLeaves(S, 'old'), Buffer.from(r.relay_hash).toString('hex'), Buffer.from(r.relay));
    trie.update(r.relay_hash, r.relay, 2n);
  }
  await redis.hset(keys.minerSession(S, 'old'), 'state', 'active', 'count', 300, 'compute_units', 600);
  t.equal(await store.upgradeLegacyLeaves(S, 'old', 2n), 300);
  t.equal(await store.pathCount(S, 'old'), 300);
  const leaves = await store.leaves(S, 'old');
  t.equal(leaves.size, 300, 'every leaf once, now under its path');
  t.ok([...leaves.keys()].every((k) => k.length === 64 && leaves.get(k)!.length > 0));
  const f = await Frontier.build(store.leafPages(S, 'old'), frontierBits(300));
  t.equal(Buffer.from(f.root()).toString('hex'), Buffer.from(trie.root()).toString('hex'), 'the same root');
  const proof = await proveClosest(f, Buffer.from(sha256(Buffer.from('seed'))), store.leafSource(S, 'old'));
  t.ok(verifyClosestProofBytes(encodeCompactClosestProof(compactClosestProof(proof)), trie.root()), 'and a proof the chain accepts');
  t.equal(await store.upgradeLegacyLeaves(S, 'old', 2n), 0, 'a second run finds nothing to move');
});

t.test('one batch across sessions: duplicates inside it and from earlier batches count once, in arrival order, and every entry is acknowledged', async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.port);
  t.teardown(() => redis.disconnect());
  const store = new SessionStore(keys, () => redis);
  await redis.set(keys.supplierLeaseFence(S), '5');
  const stream = keys.relayStream(S);
  await redis.xgroup('CREATE', stream, keys.minerConsumerGroup(), '$', 'MKSTREAM');
  const big = (k: number, session: string) => ({ ...relay(k, session), compute_units: 2n ** 33n + BigInt(k) });
  // Entries the script acknowledges and deletes: real ids of this stream, read by the group.
  const plan = [big(0, 'a'), big(1, 'b'), big(0, 'a'), big(2, 'a'), big(1, 'b'), big(3, 'sealed')];
  for (const r of plan) await redis.xadd(stream, '*', 'data', 'x');
  const read = (await redis.xreadgroupBuffer('GROUP', keys.minerConsumerGroup(), 'c', 'STREAMS', stream, '>')) as [Buffer, [Buffer, Buffer[]][]][];
  const ids = read[0]![1].map(([id]) => id);
  t.same(await store.ingest(S, '5', [{ entryId: '0-1', relay: big(9, 'sealed') }]), ['stored']);
  t.equal(await store.seal(S, 'sealed', '5'), 'sealed');
  t.same(await store.ingest(S, '5', [{ entryId: '0-2', relay: big(2, 'a') }]), ['stored'], 'an earlier batch');

  const results = await store.ingest(S, '5', plan.map((relay, i) => ({ entryId: ids[i]!, relay })));
  t.same(results, ['stored', 'stored', 'duplicate', 'duplicate', 'duplicate', 'late']);
  t.match(await store.session(S, 'a'), { count: 2, computeUnits: 2n * 2n ** 33n + 2n }, 'compute units above 2^32 summed exactly');
  t.match(await store.session(S, 'b'), { count: 1, computeUnits: 2n ** 33n + 1n });
  t.match(await store.session(S, 'sealed'), { count: 1 });
  t.same([await redis.xlen(stream), (await redis.xpending(stream, keys.minerConsumerGroup()))[0]], [0, 0], 'every entry acknowledged and deleted');

  // Insertion sequence: the earlier batch's relay is 1, this batch's first new one 2.
  const members = (await redis.zrangebylexBuffer(keys.minerSessionPaths(S, 'a'), '-', '+')).map((m) => [m.subarray(0, 32).toString('hex'), m.readUInt32BE(80)]);
  const pathOf = (k: number) => Buffer.from(sha256(big(k, 'a').relay_hash)).toString('hex');
  t.same(new Map(members as [string, number][]), new Map([[pathOf(2), 1], [pathOf(0), 2]]));
  t.same((await redis.hgetallBuffer(keys.minerSessionLeaves(S, 'a')))[pathOf(0)], undefined, 'fields are raw paths, not hex');
  t.equal((await redis.hgetBuffer(keys.minerSessionLeaves(S, 'a'), Buffer.from(pathOf(0), 'hex')))?.toString(), Buffer.from(big(0, 'a').relay).toString());
});
