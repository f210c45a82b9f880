import { randomBytes } from 'node:crypto';
import t from 'tap';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { nativeCurveAddon } from '../../core/crypto/native-lincomb.js';
import { bigIntTo32, bytesToBigInt } from '../../core/crypto/big-endian.js';
import { CURVE_ORDER, hashToCurve } from '../../core/crypto/ring/hash.js';
import { deserializeRingSignature } from '../../core/crypto/ring/signature.js';
import { hex as fromHex, loadVector } from '../helpers/vectors.js';

// The addon against @noble/curves (an independent implementation) on random and edge inputs; the
// ring vectors in ring.test.ts run through it as the `native-strauss` backend.
const addon = nativeCurveAddon;
const lincomb = addon?.lincomb;
const G = secp256k1.Point.BASE;
const randomScalar = () => bytesToBigInt(randomBytes(32)) % CURVE_ORDER;
const randomPoint = () => G.multiply(randomScalar() || 1n);
const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));

t.test('a·A + b·B and a·G + b·B equal @noble/curves on random inputs', async (t) => {
  if (!addon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  for (let i = 0; i < 200; i++) {
    const [a, b, A, B] = [randomScalar(), randomScalar(), randomPoint(), randomPoint()];
    const withA = lincomb!(bigIntTo32(a), A.toBytes(false), bigIntTo32(b), B.toBytes(false));
    t.equal(hex(withA), hex(A.multiply(a).add(B.multiply(b)).toBytes(true)), `a·A + b·B #${i}`);
    const withG = lincomb!(bigIntTo32(a), null, bigIntTo32(b), B.toBytes(false));
    t.equal(hex(withG), hex(G.multiply(a).add(B.multiply(b)).toBytes(true)), `a·G + b·B #${i}`);
  }
});

t.test('edges: zero scalars, the same point twice, a sum at infinity, bad input', async (t) => {
  if (!addon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  const A = randomPoint();
  const a = randomScalar();
  const Au = A.toBytes(false);
  t.equal(hex(lincomb!(bigIntTo32(0n), Au, bigIntTo32(a), Au)), hex(A.multiply(a).toBytes(true)), 'zero a leaves b·B');
  t.equal(hex(lincomb!(bigIntTo32(a), null, bigIntTo32(0n), Au)), hex(G.multiply(a).toBytes(true)), 'zero b leaves a·G');
  t.equal(hex(lincomb!(bigIntTo32(2n), Au, bigIntTo32(3n), Au)), hex(A.multiply(5n).toBytes(true)), '2·A + 3·A = 5·A');
  t.equal(lincomb!(bigIntTo32(a), Au, bigIntTo32(CURVE_ORDER - a), Au), null, 'a·A + (n−a)·A is infinity: null');
  t.equal(lincomb!(bigIntTo32(0n), Au, bigIntTo32(0n), Au), null, 'both zero: infinity, null');
  t.equal(lincomb!(bigIntTo32(a), null, bigIntTo32(CURVE_ORDER - a), G.toBytes(false)), null, 'a·G − a·G: null');
  t.equal(lincomb!(bigIntTo32(CURVE_ORDER), Au, bigIntTo32(1n), Au), null, 'a scalar not below the order: null');
  const offCurve = Uint8Array.from(Au);
  offCurve[64] = offCurve[64]! ^ 1;
  t.equal(lincomb!(bigIntTo32(1n), offCurve, bigIntTo32(1n), Au), null, 'a point off the curve: null');
  t.equal(lincomb!(bigIntTo32(1n), A.toBytes(true), bigIntTo32(1n), Au), null, 'a compressed point (65 bytes expected): null');
  t.equal(lincomb!(new Uint8Array(31), Au, bigIntTo32(1n), Au), null, 'a 31-byte scalar: null');
  t.equal(lincomb!(bigIntTo32(1n), Au, bigIntTo32(1n), 'x' as unknown as Uint8Array), null, 'not bytes: null');
  t.equal((lincomb as unknown as (...x: unknown[]) => unknown)(bigIntTo32(1n), Au), null, 'too few arguments: null');
});

t.test('tables: lincombFixed equals @noble/curves, including G, zero bytes and edges', async (t) => {
  if (!addon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  const points = [G, randomPoint(), randomPoint()];
  const tables = points.map((p) => addon!.table(p.toBytes(false))!);
  t.equal(tables[0]!.byteLength, 17 * 128 * 64, "a table holds 17 × 128 multiples of 64 bytes");
  for (let i = 0; i < 200; i++) {
    const [x, y] = [i % 3, (i + 1) % 3];
    const [a, b] = [randomScalar(), randomScalar()];
    t.equal(
      hex(addon!.lincombFixed(bigIntTo32(a), tables[x]!, bigIntTo32(b), tables[y]!)),
      hex(points[x]!.multiply(a).add(points[y]!.multiply(b)).toBytes(true)),
      `a·P${x} + b·P${y} #${i}`,
    );
  }
  const [A, TA] = [points[1]!, tables[1]!];
  // Scalars with zero bytes, a single byte, the top byte only, and n − 1 use the table's edges; λ and n − λ split
  // into a lone k2 of either sign, 2^128 ± 1 and 2^129 − 1 into halves at the rows' top, 128 and 129 are the
  // largest digit and the first carry.
  const lambda = 0x5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72n;
  for (const a of [1n, 128n, 129n, 255n, 256n, 0xff00ff00n, 0x8080808080n, 1n << 248n, 255n << 248n, CURVE_ORDER - 1n, lambda, CURVE_ORDER - lambda, (1n << 128n) - 1n, (1n << 128n) + 1n, (1n << 129n) - 1n]) {
    t.equal(hex(addon!.lincombFixed(bigIntTo32(a), TA, bigIntTo32(1n), tables[2]!)), hex(A.multiply(a).add(points[2]!).toBytes(true)), `a = ${a.toString(16)}`);
  }
  const a = randomScalar();
  t.equal(hex(addon!.lincombFixed(bigIntTo32(0n), TA, bigIntTo32(a), TA)), hex(A.multiply(a).toBytes(true)), 'zero a leaves b·B');
  t.equal(addon!.lincombFixed(bigIntTo32(a), TA, bigIntTo32(CURVE_ORDER - a), TA), null, 'a·A + (n−a)·A is infinity: null');
  t.equal(addon!.lincombFixed(bigIntTo32(CURVE_ORDER), TA, bigIntTo32(1n), TA), null, 'a scalar not below the order: null');
  t.equal(addon!.lincombFixed(bigIntTo32(1n), new ArrayBuffer(64), bigIntTo32(1n), TA), null, 'a buffer of the wrong size: null');
  t.equal(addon!.lincombFixed(bigIntTo32(1n), new Uint8Array(TA) as unknown as ArrayBuffer, bigIntTo32(1n), TA), null, 'a typed array instead of the table: null');
  const offCurve = A.toBytes(false);
  offCurve[64] = offCurve[64]! ^ 1;
  t.equal(addon!.table(offCurve), null, 'no table for a point off the curve');
  t.equal(addon!.table(A.toBytes(true)), null, 'nor for a compressed point');
});

t.test('wide tables: 11 × 2048 multiples; sums of either width, mixed, equal @noble/curves; bad width argument refused', async (t) => {
  if (!addon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  const points = [G, randomPoint(), randomPoint()];
  const wide = points.map((p) => addon!.table(p.toBytes(false), true)!);
  const narrow = points.map((p) => addon!.table(p.toBytes(false), false)!);
  t.equal(wide[0]!.byteLength, 11 * 2048 * 64, 'a wide table holds 11 × 2048 multiples of 64 bytes');
  t.equal(narrow[0]!.byteLength, 17 * 128 * 64, 'table(P, false) is the narrow one');
  const lambda = 0x5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72n;
  const edges = [1n, 2047n, 2048n, 2049n, 4095n, 4096n, 1n << 248n, CURVE_ORDER - 1n, lambda, CURVE_ORDER - lambda, (1n << 128n) - 1n, (1n << 128n) + 1n, (1n << 129n) - 1n];
  const scalars = [...edges, ...Array.from({ length: 150 }, randomScalar)];
  for (const [i, a] of scalars.entries()) {
    const b = randomScalar();
    const [x, y] = [i % 3, (i + 1) % 3];
    const expected = hex(points[x]!.multiply(a).add(points[y]!.multiply(b)).toBytes(true));
    t.equal(hex(addon!.lincombFixed(bigIntTo32(a), wide[x]!, bigIntTo32(b), wide[y]!)), expected, `wide + wide #${i}`);
    t.equal(hex(addon!.lincombFixed(bigIntTo32(a), wide[x]!, bigIntTo32(b), narrow[y]!)), expected, `wide + narrow #${i}`);
  }
  const A = points[1]!;
  const [TA] = await Promise.all([addon.tableAsync(A.toBytes(false), true)]);
  t.equal(Buffer.compare(Buffer.from(TA!), Buffer.from(addon.table(A.toBytes(false), true)!)), 0, 'tableAsync(P, true): the synchronous wide table, byte for byte');
  t.equal(addon.table(A.toBytes(false), 'yes' as unknown as boolean), null, 'a width that is not a boolean: null');
  t.equal(await addon.tableAsync(A.toBytes(false), 1 as unknown as boolean), null, 'the same, built asynchronously');
});

t.test('lincombFixedPair: both sums equal @noble/curves, infinity as null, bad input refused', async (t) => {
  if (!addon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  const points = [G, randomPoint(), randomPoint(), randomPoint()];
  const tables = points.map((p) => addon!.table(p.toBytes(false))!);
  for (let i = 0; i < 100; i++) {
    const k = [randomScalar(), randomScalar(), randomScalar(), randomScalar()];
    const pair = addon.lincombFixedPair(...(k.flatMap((x, j) => [bigIntTo32(x), tables[j]!]) as Parameters<typeof addon.lincombFixedPair>));
    t.same(
      pair?.map(hex),
      [hex(points[0]!.multiply(k[0]!).add(points[1]!.multiply(k[1]!)).toBytes(true)), hex(points[2]!.multiply(k[2]!).add(points[3]!.multiply(k[3]!)).toBytes(true))],
      `pair #${i}`,
    );
  }
  const a = randomScalar();
  const [A, TA] = [points[1]!, tables[1]!];
  const atInfinity = addon.lincombFixedPair(bigIntTo32(a), TA, bigIntTo32(CURVE_ORDER - a), TA, bigIntTo32(2n), TA, bigIntTo32(3n), tables[0]!);
  t.equal(atInfinity?.[0], null, 'a·A + (n−a)·A: null in its place');
  t.equal(hex(atInfinity![1]!), hex(A.multiply(2n).add(G.multiply(3n)).toBytes(true)), 'the other sum unaffected');
  const infinityLast = addon.lincombFixedPair(bigIntTo32(2n), TA, bigIntTo32(3n), tables[0]!, bigIntTo32(a), TA, bigIntTo32(CURVE_ORDER - a), TA);
  t.same([hex(infinityLast![0]!), infinityLast![1]], [hex(A.multiply(2n).add(G.multiply(3n)).toBytes(true)), null], 'infinity second: the same');
  t.equal(addon.lincombFixedPair(bigIntTo32(CURVE_ORDER), TA, bigIntTo32(1n), TA, bigIntTo32(1n), TA, bigIntTo32(1n), TA), null, 'a scalar not below the order: null');
  t.equal(addon.lincombFixedPair(bigIntTo32(1n), TA, bigIntTo32(1n), TA, bigIntTo32(1n), new ArrayBuffer(64), bigIntTo32(1n), TA), null, 'a table of the wrong size: null');
  t.equal((addon.lincombFixedPair as unknown as (...x: unknown[]) => unknown)(bigIntTo32(1n), TA), null, 'too few arguments: null');
});

t.test('tableAsync: the same bytes as table, built off the event loop; null for what table refuses', async (t) => {
  if (!addon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  const A = randomPoint();
  const pending = [addon.tableAsync(A.toBytes(false)), addon.tableAsync(G.toBytes(false))];
  t.ok(pending.every((p) => p instanceof Promise), 'answers with promises');
  const [TA, TG] = await Promise.all(pending);
  t.equal(Buffer.compare(Buffer.from(TA!), Buffer.from(addon.table(A.toBytes(false))!)), 0, 'a random point: the synchronous table, byte for byte');
  t.equal(Buffer.compare(Buffer.from(TG!), Buffer.from(addon.table(G.toBytes(false))!)), 0, 'G: the same');
  const [a, b] = [randomScalar(), randomScalar()];
  t.equal(hex(addon.lincombFixed(bigIntTo32(a), TA!, bigIntTo32(b), TG!)), hex(A.multiply(a).add(G.multiply(b)).toBytes(true)), 'and it sums as @noble/curves does');
  const offCurve = A.toBytes(false);
  offCurve[64] = offCurve[64]! ^ 1;
  t.equal(await addon.tableAsync(offCurve), null, 'a point off the curve: null');
  t.equal(await addon.tableAsync(A.toBytes(true)), null, 'a compressed point: null');
  t.equal(await addon.tableAsync('x' as unknown as Uint8Array), null, 'not bytes: null');
});

t.test("ringChainFixed: ring-go's signatures accepted, tables out of place refused, null where it cannot decide", async (t) => {
  if (!addon?.ringChainFixed) return t.fail('the addon is not built or has no ringChainFixed');
  const chain = addon.ringChainFixed.bind(addon);
  const { vectors } = loadVector<{ vectors: { id: string; msg_hex: string; sig_hex: string; quirk_hit: boolean }[] }>('ring/go-signed.json');
  const first = deserializeRingSignature(fromHex(vectors[0]!.sig_hex))!;
  const uncompressed = (p: Uint8Array) => secp256k1.Point.fromBytes(p).toBytes(false);
  const table = (p: Uint8Array) => addon.table(uncompressed(p))!;
  const tables = [addon.table(G.toBytes(false))!, table(first.keyImage), ...first.ring.flatMap((p) => [table(p), table(hashToCurve(p)!)])];
  const sameRing = (sig: Uint8Array) => {
    const parsed = deserializeRingSignature(sig);
    return parsed !== null && hex(parsed.keyImage) === hex(first.keyImage) && parsed.ring.map(hex).join() === first.ring.map(hex).join();
  };
  t.equal(first.ring.length, 2, 'go-signed.json: one 2-member ring');

  let accepted = 0;
  let quirk = 0;
  for (const v of vectors) {
    if (!sameRing(fromHex(v.sig_hex))) continue;
    if (chain(fromHex(v.msg_hex), fromHex(v.sig_hex), tables) === true) accepted++;
    else t.fail(`${v.id} not accepted`);
    if (v.quirk_hit) quirk++;
  }
  t.equal(accepted, vectors.length, `${accepted}/${vectors.length} of ring-go's signatures accepted`);
  t.equal(quirk, 158, 'among them the 158 whose challenges need the left-align quirk');

  const v = vectors[0]!;
  const [msg, sig] = [fromHex(v.msg_hex), fromHex(v.sig_hex)];
  t.equal(chain(msg, sig, [...tables.slice(0, 2), tables[4]!, tables[5]!, tables[2]!, tables[3]!]), false, 'tables in the wrong members’ places: refused');
  t.equal(chain(msg, sig, tables.slice(0, 4)), null, 'tables for one member where the signature has two: null');
  t.equal(chain(msg, sig.subarray(0, sig.length - 1), tables), null, 'a truncated signature: null');
  t.equal(chain(msg.subarray(1), sig, tables), null, 'a 31-byte message: null');
  t.equal(chain(msg, sig, [...tables.slice(0, 5), new ArrayBuffer(64)]), null, 'a table of the wrong size: null');
  t.equal((chain as unknown as (...x: unknown[]) => unknown)(msg, sig), null, 'too few arguments: null');
});

t.test("ringChainFixed: every ring size in ring-go's vectors, with tables for each signature's own points", async (t) => {
  if (!addon?.ringChainFixed) return t.fail('the addon is not built or has no ringChainFixed');
  const chain = addon.ringChainFixed.bind(addon);
  const tables = new Map<string, ArrayBuffer>();
  const table = (p: Uint8Array) => {
    let tb = tables.get(hex(p)!);
    if (!tb) tables.set(hex(p)!, (tb = addon.table(secp256k1.Point.fromBytes(p).toBytes(false))!));
    return tb;
  };
  const generator = addon.table(G.toBytes(false))!;
  /** The verdict with tables for the signature's own points; undefined where it does not parse (ringVerify refuses it before any sum). */
  const verdict = (msgHex: string, sigHex: string) => {
    const sig = fromHex(sigHex);
    const parsed = deserializeRingSignature(sig);
    if (!parsed || parsed.ring.some((p) => hashToCurve(p) === null)) return undefined;
    return chain(fromHex(msgHex), sig, [generator, table(parsed.keyImage), ...parsed.ring.flatMap((p) => [table(p), table(hashToCurve(p)!)])]);
  };
  const sizeOf = (sigHex: string) => fromHex(sigHex).subarray(0, 4).reduce((n, b) => n * 256 + b, 0);

  // ring-go accepts these; a zero s among the decoys is left to the general path (null), which accepts it.
  const accepted = loadVector<{ vectors: { id: string; category: string; msg_hex: string; sig_hex: string }[] }>('ring/edge-accepted.json').vectors;
  const wrong: string[] = [];
  const sizes = new Set<number>();
  for (const v of accepted) {
    const got = verdict(v.msg_hex, v.sig_hex);
    if (got !== (v.category === 'decoy_s_zero' ? null : true)) wrong.push(`${v.id} (${v.category}): ${got}`);
    sizes.add(sizeOf(v.sig_hex));
  }
  t.same(wrong, [], `edge-accepted.json: all ${accepted.length} accepted (decoy zero s: null)`);
  t.same([...sizes].sort((a, b) => a - b), [1, 2, 5, 6, 8, 12], 'rings of 1, 2, 5, 6, 8 and 12 members');

  // ring-go refuses these; each that parses reaches the chain with tables for its own (tampered) points.
  const rejected = loadVector<{ vectors: { id: string; category: string; msg_hex: string; sig_hex: string }[] }>('ring/rejected.json').vectors;
  const reached = new Map<number, number>();
  wrong.length = 0;
  for (const v of rejected) {
    const got = verdict(v.msg_hex, v.sig_hex);
    if (got === undefined) continue;
    reached.set(sizeOf(v.sig_hex), (reached.get(sizeOf(v.sig_hex)) ?? 0) + 1);
    if (got !== (v.category === 'zero_scalar' ? null : false)) wrong.push(`${v.id} (${v.category}): ${got}`);
  }
  t.same(wrong, [], 'rejected.json: each that parses refused (a zero s: null)');
  t.same(Object.fromEntries(reached), { 1: 5, 2: 198, 3: 71, 4: 29 }, 'the 303 that parse, by ring size');

  const twelve = accepted.find((v) => sizeOf(v.sig_hex) === 12)!;
  const parsed = deserializeRingSignature(fromHex(twelve.sig_hex))!;
  const own = [generator, table(parsed.keyImage), ...parsed.ring.flatMap((p) => [table(p), table(hashToCurve(p)!)])];
  const swapped = [...own.slice(0, 20), ...own.slice(22, 24), ...own.slice(20, 22), ...own.slice(24)];
  t.equal(chain(fromHex(twelve.msg_hex), fromHex(twelve.sig_hex), swapped), false, '12 members: the tables of members 9 and 10 swapped, refused');
});
