import t from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { Redis } from 'ioredis';
import { KeyBuilder, type MinedRelay } from 'relayminer';
import { startRedis } from '../../../test/helpers/redis.js';
import { ADDR } from '../../../test/helpers/localnet-client.js';
import { SessionStore } from '../session-store.js';

const keys = new KeyBuilder('ha');

function relay(supplier: string, session: string, end: number): MinedRelay {
  const bytes = Buffer.from(`a relay of ${supplier} in ${session}`);
  return {
    relay_hash: sha256(bytes),
    relay: bytes,
    compute_units: 3n,
    session_id: session,
    session_start_block_height: BigInt(end - 9),
    session_end_block_height: BigInt(end),
    supplier_operator_address: supplier,
    service_id: 'anvil',
    application_address: ADDR.app1,
    arrival_block_height: BigInt(end - 5),
    published_at_ms: 1n,
  };
}

async function calls(redis: Redis, command: string): Promise<number> {
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await redis.info('commandstats'));
  return Number(m?.[1] ?? 0);
}

t.test("the dashboard's latest sessions: the 50 that end last among 1,000 suppliers, one read per supplier and one per session shown", async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.port);
  t.teardown(() => redis.disconnect());
  const store = new SessionStore(keys, () => redis);
  // Supplier i's session k ends at 1000 + 6i + k: every end height distinct, so the latest 50 are known.
  const suppliers = Array.from({ length: 1000 }, (_, i) => `supplier-${String(i).padStart(4, '0')}`);
  const outcomes = new Set<string>();
  for (const [i, s] of suppliers.entries()) {
    await redis.set(keys.supplierLeaseFence(s), '7');
    const batch = Array.from({ length: 6 }, (_, k) => ({ entryId: `0-${k + 1}`, relay: relay(s, `${s}-s${k}`, 1000 + 6 * i + k) }));
    for (const o of await store.ingest(s, '7', batch)) outcomes.add(o);
  }
  t.same([...outcomes], ['stored'], '6,000 sessions of one relay each');
  await redis.hset(keys.minerSession('supplier-0999', 'supplier-0999-s5'), 'claimed_upokt', '126', 'settled_upokt', '120');
  await redis.del(keys.minerSession('supplier-0998', 'supplier-0998-s2')); // indexed, its record gone
  await redis.config('RESETSTAT');

  const latest = await store.latestSessions(suppliers, 50);
  t.equal(await calls(redis, 'zrange'), 1000, "each supplier's index read once");
  t.equal(await calls(redis, 'hgetall'), 50, 'records read only for the 50 latest');
  const expected: string[] = [];
  for (let end = 1000 + 6 * 999 + 5; expected.length < 50; end--) {
    const [i, k] = [Math.floor((end - 1000) / 6), (end - 1000) % 6];
    expected.push(`supplier-${String(i).padStart(4, '0')}-s${k}`);
  }
  t.same(
    latest.map((l) => l.record.sessionId),
    expected.filter((id) => id !== 'supplier-0998-s2'),
    'latest first, the one without a record left out',
  );
  t.match(latest[0], { supplier: 'supplier-0999', record: { sessionId: 'supplier-0999-s5', endHeight: 6999n, count: 1, computeUnits: 3n, state: 'active', claimedUpokt: '126', settledUpokt: '120' } });
  t.same([latest[1]!.record.claimedUpokt, latest[1]!.record.settledUpokt], [undefined, undefined], 'not claimed yet');
  t.equal(latest.at(-1)!.record.endHeight, 6950n);

  t.same(await store.latestSessions([], 50), [], 'no suppliers, no reads');
  t.same(
    (await store.latestSessions(['supplier-0003', 'nobody'], 4)).map((l) => [l.supplier, l.record.sessionId]),
    [
      ['supplier-0003', 'supplier-0003-s5'],
      ['supplier-0003', 'supplier-0003-s4'],
      ['supplier-0003', 'supplier-0003-s3'],
      ['supplier-0003', 'supplier-0003-s2'],
    ],
  );
});
