import t from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  claimedUpokt,
  computeNewDifficultyTargetHash,
  GoRandSource,
  goVarint,
  isGracePeriodElapsed,
  isRelayVolumeApplicable,
  proofPath,
  relayDifficultyMultiplier,
  seededFloat64,
  sessionEndHeight,
  sessionId,
  sessionNumber,
  sessionStartHeight,
  sessionWindows,
  type SharedParams,
} from '../../core/session/index.js';
import { RNG_COOKED } from '../../core/session/go-rand-cooked.js';
import { hex, loadVector, readVectorText, toHex } from '../helpers/vectors.js';

const legacy = (n: bigint): SharedParams => ({
  num_blocks_per_session: n,
  grace_period_end_offset_blocks: 1n,
  claim_window_open_offset_blocks: 1n,
  claim_window_close_offset_blocks: 4n,
  proof_window_open_offset_blocks: 0n,
  proof_window_close_offset_blocks: 4n,
});

interface MathRandVectors {
  seeded_float64: { seed_hex: string; sha256_hex: string; varint_seed: number; seeded_float64_exact: string }[];
  sources: { source_seed: number; first_int63: string[]; first_float64: string[] }[];
}

t.test('Go math/rand: every vector of go-math-rand.json', async (t) => {
  const v = loadVector<MathRandVectors>('protocol/go-math-rand.json');
  const table = loadVector<{ values: string[] }>('protocol/go-math-rand-rngcooked.json');
  t.same(RNG_COOKED, table.values, 'the embedded rngCooked table is the shared one');
  let checked = 0;
  for (const s of v.seeded_float64) {
    const seed = hex(s.seed_hex);
    t.equal(toHex(sha256(seed)), s.sha256_hex);
    t.equal(goVarint(sha256(seed)), BigInt(s.varint_seed), `varint of ${s.sha256_hex.slice(0, 8)}…`);
    t.equal(seededFloat64(seed), Number(s.seeded_float64_exact), `SeededFloat64(${s.seed_hex.slice(0, 8)}…)`);
    checked++;
  }
  // Seeds such as 2^63 − 1 do not survive JSON.parse as numbers: take them from the text.
  const exactSeeds = [...readVectorText('protocol/go-math-rand.json').matchAll(/"source_seed":\s*(-?\d+)/g)].map((m) => BigInt(m[1]!));
  t.equal(exactSeeds.length, v.sources.length);
  for (const [i, s] of v.sources.entries()) {
    const seed = exactSeeds[i]!;
    const a = new GoRandSource(seed);
    t.same(s.first_int63.map(() => a.int63().toString()), s.first_int63, `NewSource(${seed}).Int63()`);
    const b = new GoRandSource(seed);
    t.same(s.first_float64.map(() => b.float64()), s.first_float64.map(Number), `NewSource(${seed}).Float64()`);
    checked++;
  }
  t.equal(checked, v.seeded_float64.length + v.sources.length);
  t.comment(`go-math-rand.json: ${v.seeded_float64.length} SeededFloat64 vectors and ${v.sources.length} sources checked`);
});

t.test('Go varint edge cases', async (t) => {
  t.equal(goVarint(Uint8Array.from([0x01])), -1n);
  t.equal(goVarint(Uint8Array.from([0x02])), 1n);
  t.equal(goVarint(Uint8Array.from([0x80, 0x01])), 64n);
  t.equal(goVarint(new Uint8Array(11).fill(0xff)), 0n, 'unterminated within 10 bytes');
  t.equal(goVarint(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])), 0n, 'overflow in the 10th byte');
  t.equal(goVarint(Uint8Array.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), 9223372036854775807n);
});

t.test('§11.4: SeededFloat64(sha256("claim") ‖ h9), NewSource(1), proof path', async (t) => {
  const h9 = hex('251665c7cf286a30fbd98acd983c63e9a34efc16496511373405e24eb02a8fb9');
  const claim = sha256(new TextEncoder().encode('claim'));
  t.equal(toHex(claim), 'dd1b3c312cf7d816130354452e9629ce39355b0c534129dd26a08cd9a4502ede');
  const seed = new Uint8Array([...claim, ...h9]);
  t.equal(toHex(sha256(seed)), 'a96665670b3b9456a96363d91daf109c182314dd5df9f3d5b61670808990dc13');
  t.equal(goVarint(sha256(seed)), -6549n);
  t.equal(seededFloat64(seed), 0.57840198100387419);
  const one = new GoRandSource(1n);
  t.equal(one.int63(), 5577006791947779410n);
  t.equal(new GoRandSource(1n).float64(), 0.60466028797961957);
  t.equal(toHex(proofPath(h9, 'fea5d6f7544ff6d8af5c22529b2ccf01ed7930b3d454d42dda5ccc0b65b6ebfd')), 'aef5aea4bdb02d4dd6b60346dde5a6374734085d0a145b736fb827bc9f34c65d');
});

t.test('§11.1-A: session ids and the legacy grid (N = 4)', async (t) => {
  const APP1 = 'pokt1mdccn4u38eyjdxkk4h0jaddw4n3c72u82m5m9e';
  const APP2 = 'pokt133amv5suh75zwkxxcq896azvmmwszg99grvk9f';
  const hashes: Record<string, Uint8Array> = {
    '1': hex('1b1051b7bf236fea13efa65b6be678514fa5b6ea0ae9a7a4b68d45f95e4f18e0'),
    '5': hex('261594ddc3c8afc5b4c63f59ee58e89d3a115bcd164c83fd79349de0b1ffd21d'),
    '9': hex('251665c7cf286a30fbd98acd983c63e9a34efc16496511373405e24eb02a8fb9'),
  };
  const p = legacy(4n);
  const cases: [bigint, string, string, string, bigint, bigint][] = [
    [10n, APP1, 'svc1', 'fea5d6f7544ff6d8af5c22529b2ccf01ed7930b3d454d42dda5ccc0b65b6ebfd', 9n, 12n],
    [9n, APP1, 'svc1', 'fea5d6f7544ff6d8af5c22529b2ccf01ed7930b3d454d42dda5ccc0b65b6ebfd', 9n, 12n],
    [5n, APP1, 'svc1', 'e161348f2153bb41092040c3c287596f8daf98e90986475be21412a1ded945ed', 5n, 8n],
    [5n, APP1, 'svc12', 'c01eb8924dbb9dae7cab8ed56016ce8fdd2d23542f9e0b7ca8d6972d3fb45ce5', 5n, 8n],
    [5n, APP2, 'svc12', 'f6dbe4961afd8ff0e444a1159d02bc645f9ded3daaa605c187e6bd7ee2232a68', 5n, 8n],
    [1n, APP1, 'svc1', 'afd00273055a4fddc0beb30074e14d474c07f9e895d2795db006a5139048d54b', 1n, 4n],
  ];
  for (const [h, app, svc, id, start, end] of cases) {
    const s = sessionStartHeight(p, h);
    t.equal(s, start, `start(${h})`);
    t.equal(sessionEndHeight(p, h), end, `end(${h})`);
    t.equal(sessionId(hashes[String(s)]!, svc, app, s), id, `session id at ${h} for ${svc}`);
  }
  t.same([1n, 5n, 6n, 10n].map((h) => sessionNumber(p, h)), [1n, 2n, 2n, 3n]);
  t.same([0n, -3n].map((h) => [sessionStartHeight(p, h), sessionEndHeight(p, h), sessionNumber(p, h)]), [[0n, 0n, 0n], [0n, 0n, 0n]]);
});

t.test('anchored grid (v0.1.34+): heights before the anchor use the legacy grid', async (t) => {
  const p = { ...legacy(10n), session_grid_anchor_height: 1005n, session_number_at_anchor: 51n };
  t.same([sessionStartHeight(p, 1005n), sessionEndHeight(p, 1005n), sessionNumber(p, 1005n)], [1005n, 1014n, 51n]);
  t.same([sessionStartHeight(p, 1027n), sessionEndHeight(p, 1027n), sessionNumber(p, 1027n)], [1025n, 1034n, 53n]);
  t.same([sessionStartHeight(p, 1004n), sessionNumber(p, 1004n)], [1001n, 101n], 'below the anchor: (A, K) = (1, 1)');
  const k0 = { ...p, session_number_at_anchor: 0n };
  t.equal(sessionNumber(k0, 1005n), 1n, 'K ≤ 0 counts from 1');
});

t.test('windows: the worked example of §6.4 (main-net template params)', async (t) => {
  const p: SharedParams = {
    num_blocks_per_session: 20n,
    grace_period_end_offset_blocks: 10n,
    claim_window_open_offset_blocks: 11n,
    claim_window_close_offset_blocks: 10n,
    proof_window_open_offset_blocks: 1n,
    proof_window_close_offset_blocks: 10n,
  };
  t.same(sessionWindows(p, 7n), {
    sessionStart: 1n,
    sessionEnd: 20n,
    gracePeriodEnd: 30n,
    claimWindowOpen: 32n,
    claimWindowClose: 42n,
    proofWindowOpen: 43n,
    proofWindowClose: 53n,
    proofSeedHeight: 42n,
    settlementHeight: 53n,
  });
  t.notOk(isGracePeriodElapsed(p, 20n, 30n));
  t.ok(isGracePeriodElapsed(p, 20n, 31n));
});

const ff = (prefixHex: string) => hex(prefixHex + 'ff'.repeat(32 - prefixHex.length / 2));

t.test('§11.1-C: difficulty multiplier, applicability and target updates', async (t) => {
  // poktroll's test compares the integer quotient num / den (relay_difficulty_test.go); the value is an exact rational.
  const quotient = (m: { num: bigint; den: bigint }) => m.num / m.den;
  t.same(relayDifficultyMultiplier(ff('')), { num: 1n, den: 1n });
  t.equal(quotient(relayDifficultyMultiplier(ff('7f'))), 2n);
  t.same(relayDifficultyMultiplier(ff('7f')), { num: (1n << 256n) - 1n, den: (1n << 255n) - 1n }, 'exact, not 2');
  t.equal(quotient(relayDifficultyMultiplier(ff('3f'))), 4n);
  t.same(relayDifficultyMultiplier(hex(`${'00'.repeat(31)}01`)), { num: 115792089237316195423570985008687907853269984665640564039457584007913129639935n, den: 1n });

  const target = ff('00');
  const h = (prefix: string, fill = '00') => hex(prefix + fill.repeat(32 - prefix.length / 2));
  t.ok(isRelayVolumeApplicable(h('000f'), target));
  t.ok(isRelayVolumeApplicable(h('00ef'), target));
  t.notOk(isRelayVolumeApplicable(ff('00'), target), 'equal is not below');
  t.notOk(isRelayVolumeApplicable(h('0eff'), target));
  t.notOk(isRelayVolumeApplicable(ff(''), target));

  const base = ff('');
  t.equal(toHex(computeNewDifficultyTargetHash(base, 100n, 50n)), toHex(base));
  t.equal(toHex(computeNewDifficultyTargetHash(base, 100n, 100n)), toHex(base));
  t.equal(toHex(computeNewDifficultyTargetHash(base, 50n, 100n)), toHex(ff('7f')));
  t.equal(toHex(computeNewDifficultyTargetHash(base, 50n, 800n)), toHex(ff('0f')));
  t.equal(toHex(computeNewDifficultyTargetHash(base, 50n, 6400n)), toHex(ff('01')));

  const scale: [Uint8Array, bigint, bigint, string][] = [
    [base, 1n, 2n, toHex(ff('7f'))],
    [ff('7f'), 2n, 1n, `${'ff'.repeat(31)}fe`],
    [base, 1n, 4n, toHex(ff('3f'))],
    [ff('3f'), 4n, 1n, `${'ff'.repeat(31)}fc`],
    [base, 1n, 10n, `1${'9'.repeat(63)}`],
    [hex(`1${'9'.repeat(63)}`), 10n, 1n, `${'ff'.repeat(31)}fa`],
    [base, 1n, 10_000_000_000_000n, '00000000001c25c268497681c2650cb4be40d60df7311e9872477f201c409ec0'],
    [hex('00000000001c25c268497681c2650cb4be40d60df7311e9872477f201c409ec0'), 10_000_000_000_000n, 1n, 'fffffffffffffffffffffffffffffffffffffffffffffffffffff8cd94b80000'],
    [ff('0f'), 1n, 10_000_000_000_000n, '000000000001c25c268497681c2650cb4be40d60df7311e9872477f201c409ec'],
    [ff('0000000f'), 10_000_000_000_000n, 1n, 'ff'.repeat(32)],
  ];
  for (const [prev, targetNumRelays, ema, expected] of scale) {
    t.equal(toHex(computeNewDifficultyTargetHash(prev, targetNumRelays, ema)), expected, `${toHex(prev).slice(0, 12)}… × ${targetNumRelays}/${ema}`);
  }
});

t.test('claimed uPOKT: exact rationals, one floor', async (t) => {
  // Base difficulty: estimated CU = sum. 165 CU × 42e6 / 1e6 = 6930 uPOKT.
  t.equal(claimedUpokt(165n, ff(''), 42_000_000n, 1_000_000n), 6930n);
  // Target 7f…ff doubles the estimate; main-net template CUTTM 145990 floors: 100 × 2 × 145990 / 1e6 = 29.198 → 29.
  t.equal(claimedUpokt(100n, ff('7f'), 145_990n, 1_000_000n), 29n);
  // A target that does not divide 2^256 − 1: 3 × (2^256−1)/(2^255) × 1 / 1 = 5.99… → 5.
  t.equal(claimedUpokt(3n, hex(`80${'00'.repeat(31)}`), 1n, 1n), 5n);
  t.throws(() => claimedUpokt(1n, new Uint8Array(32), 1n, 1n), /non-zero/);
});

t.test('proof requirement: threshold first, then the seeded sample against the probability', async (t) => {
  const { proofRequirement, seededFloat64: sample } = await import('../../core/session/index.js');
  const { ClaimCodec } = await import('../../core/protocol/index.js');
  const claimBytes = ClaimCodec.encode({
    supplier_operator_address: 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4',
    session_header: { application_address: 'pokt15vzxjqklzjtlz7lahe8z2dfe9nm5vxwwmscne4', service_id: 'svc1', session_id: 'fea5d6f7544ff6d8af5c22529b2ccf01ed7930b3d454d42dda5ccc0b65b6ebfd', session_start_block_height: 9n, session_end_block_height: 12n },
    root_hash: new Uint8Array(48).fill(1),
    proof_validation_status: 0,
  });
  const seedBlockHash = hex('251665c7cf286a30fbd98acd983c63e9a34efc16496511373405e24eb02a8fb9');
  // The sample the chain draws: SeededFloat64(sha256(claim) ‖ seed block hash).
  const s = sample(new Uint8Array([...sha256(claimBytes), ...seedBlockHash]));
  t.ok(s > 0 && s < 1, `sample ${s}`);
  const base = { claimBytes, seedBlockHash, thresholdUpokt: 1000n };
  t.equal(proofRequirement({ ...base, claimedUpokt: 1000n, probability: 0 }), 'THRESHOLD', 'at the threshold');
  t.equal(proofRequirement({ ...base, claimedUpokt: 999n, probability: s }), 'PROBABILISTIC', 'sample ≤ probability (equal)');
  t.equal(proofRequirement({ ...base, claimedUpokt: 999n, probability: s - 1e-12 }), 'NOT_REQUIRED', 'sample just above the probability');
  t.equal(proofRequirement({ ...base, claimedUpokt: 0n, probability: 1 }), 'PROBABILISTIC');
});
