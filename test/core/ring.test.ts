import { execFileSync } from 'node:child_process';
import t from 'tap';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha3_256, sha3_512 } from '@noble/hashes/sha3.js';
import {
  deserializeRingSignature,
  MAX_RING_MEMBERS,
  noblePointValid,
  hashToCurve,
  hashToScalar,
  hashToScalarCanonical,
  keyImage,
  NobleRingBackend,
  NativeRingBackend,
  defaultRingBackend,
  ringMembersAllowed,
  ringSign,
  ringVerify,
  type RingCurveBackend,
} from '../../core/crypto/ring/index.js';
import { addressFromPrivateKey, publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { nativeSecp256k1, type NativeSecp256k1 } from '../../core/crypto/native-secp256k1.js';
import { nativeCurveAddon, type NativeCurveAddon } from '../../core/crypto/native-lincomb.js';
import { bigIntTo32 } from '../../core/crypto/big-endian.js';
import { hex, loadVector, toHex } from '../helpers/vectors.js';

/**
 * Every backend must give identical results on every vector: pure JS, libsecp256k1's public API, and
 * its internals through the addon — once as configured by default and once building a multiples table
 * for every point after one verified signature, keeping three or all, and wide tables after two, for all
 * or two of them: go-signed.json's signatures share five points (two keys, their H_p, one key image), so
 * the table path, both widths in one chain and eviction all run.
 */
const tabled = (maxTables: number, maxWideTables = 0) =>
  nativeSecp256k1 && nativeCurveAddon ? new NativeRingBackend(nativeSecp256k1, nativeCurveAddon, { tableAfterVerified: 1, maxTables, wideAfterVerified: 2, maxWideTables }) : undefined;
const TABLED = tabled(3);
const ALL_TABLED = tabled(64);
const ALL_WIDE = tabled(64, 64);
const TWO_WIDE = tabled(64, 2);
const BACKENDS: RingCurveBackend[] = [
  new NobleRingBackend(),
  ...(nativeSecp256k1 ? [new NativeRingBackend(nativeSecp256k1)] : []),
  ...(nativeSecp256k1 && nativeCurveAddon ? [new NativeRingBackend(nativeSecp256k1, nativeCurveAddon)] : []),
  ...(TABLED && ALL_TABLED && ALL_WIDE && TWO_WIDE ? [TABLED, ALL_TABLED, ALL_WIDE, TWO_WIDE] : []),
];
const LABELS = new Map<RingCurveBackend | undefined, string>([
  [TABLED, 'native-strauss with 3 tables'],
  [ALL_TABLED, 'native-strauss with all tables'],
  [ALL_WIDE, 'native-strauss with all tables wide'],
  [TWO_WIDE, 'native-strauss with 2 wide tables'],
]);
const label = (b: RingCurveBackend) => LABELS.get(b) ?? b.name;

const hasCompiler = (() => {
  try {
    execFileSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test('the native backends load where their binaries exist', async (t) => {
  if (process.platform === 'linux' && process.arch === 'x64' && process.env.RELAYMINER_DISABLE_NATIVE !== '1') {
    t.ok(nativeSecp256k1, 'libsecp256k1 binding loaded');
    // npm test builds first, and a C compiler is a test requirement (README; .ci/run installs gcc).
    t.ok(hasCompiler, 'a C compiler is on the PATH');
    t.ok(nativeCurveAddon, 'the double-multiplication addon was built and loads');
    t.equal(defaultRingBackend().name, nativeCurveAddon ? 'native-strauss' : 'native', 'and the fastest is the default');
  }
  t.same(
    BACKENDS.map(label),
    nativeSecp256k1
      ? nativeCurveAddon
        ? ['noble', 'native', 'native-strauss', 'native-strauss with 3 tables', 'native-strauss with all tables', 'native-strauss with all tables wide', 'native-strauss with 2 wide tables']
        : ['noble', 'native']
      : ['noble'],
  );
});

const scalarHex = (v: bigint) => v.toString(16).padStart(64, '0');

interface Primitives {
  sha3_kat: { input_ascii: string; sha3_256_hex: string; sha3_512_hex: string }[];
  hash_to_scalar: { input_hex: string; output_hex: string; canonical_output_hex: string; short_bytes: number }[];
  hash_to_curve: { pubkey_hex: string; hp_hex: string }[];
  key_images: { priv_hex: string; pubkey_hex: string; hp_hex: string; key_image_hex: string }[];
  pubkeys: { priv_hex: string; pubkey_hex: string; address: string }[];
  scalar_encoding: { value_hex: string; wire_hex: string }[];
}

t.test('primitives.json: SHA3, hashToScalar (left-align quirk), hash-to-curve, key images, addresses', async (t) => {
  const p = loadVector<Primitives>('ring/primitives.json');
  for (const k of p.sha3_kat) {
    const input = new TextEncoder().encode(k.input_ascii);
    t.equal(toHex(sha3_256(input)), k.sha3_256_hex);
    t.equal(toHex(sha3_512(input)), k.sha3_512_hex);
  }
  let short = 0;
  for (const v of p.hash_to_scalar) {
    const out = hashToScalar(hex(v.input_hex));
    t.equal(out === null ? 'panic' : scalarHex(out), v.output_hex, `hashToScalar(${v.input_hex.slice(0, 16)}…)`);
    t.equal(scalarHex(hashToScalarCanonical(hex(v.input_hex))), v.canonical_output_hex);
    if (v.short_bytes > 0) short++;
  }
  for (const v of p.hash_to_curve) t.equal(toHex(hashToCurve(hex(v.pubkey_hex))!), v.hp_hex, `H_p(${v.pubkey_hex.slice(0, 12)}…)`);
  for (const b of BACKENDS) {
    for (const v of p.key_images) {
      t.equal(toHex(publicKeyFromPrivateKey(hex(v.priv_hex))), v.pubkey_hex);
      t.equal(toHex(hashToCurve(hex(v.pubkey_hex))!), v.hp_hex);
      t.equal(toHex(keyImage(hex(v.priv_hex), b)), v.key_image_hex, `${label(b)}: key image of ${v.pubkey_hex.slice(0, 12)}…`);
    }
  }
  for (const v of p.pubkeys) {
    t.equal(toHex(publicKeyFromPrivateKey(hex(v.priv_hex))), v.pubkey_hex);
    t.equal(addressFromPrivateKey(hex(v.priv_hex)), v.address);
  }
  t.ok(short >= 61, `${short} short reductions exercised`);
  t.comment(`primitives.json: ${p.hash_to_scalar.length} hashToScalar (${short} short), ${p.hash_to_curve.length} hash-to-curve, ${p.key_images.length} key images, ${p.pubkeys.length} pubkeys checked`);
});

interface SignedVector {
  id: string;
  msg_hex: string;
  ring_pubkeys_hex: string[];
  key_image_hex: string;
  sig_hex: string;
  quirk_hit: boolean;
}

t.test('go-signed.json: every signature real ring-go made is accepted, by every backend', async (t) => {
  const { vectors } = loadVector<{ vectors: SignedVector[] }>('ring/go-signed.json');
  for (const b of BACKENDS) {
    let accepted = 0;
    let quirk = 0;
    for (const v of vectors) {
      const ok = ringVerify(hex(v.msg_hex), hex(v.sig_hex), b);
      if (b instanceof NativeRingBackend) await b.tablesBuilt(); // the tables a signature asked for, in use for the next
      if (ok) accepted++;
      else t.fail(`${label(b)}: ${v.id} rejected`);
      if (v.quirk_hit) quirk++;
      const parsed = deserializeRingSignature(hex(v.sig_hex))!;
      if (toHex(parsed.keyImage) !== v.key_image_hex || parsed.ring.map(toHex).join() !== v.ring_pubkeys_hex.join()) t.fail(`${v.id}: parsed fields differ`);
    }
    t.equal(accepted, vectors.length, `${label(b)}: ${accepted}/${vectors.length} accepted, ${quirk} of them need the left-align quirk`);
  }
  if (TABLED) {
    const { tables, fixedSums } = TABLED.stats();
    t.equal(tables, 3, 'three point tables kept (the others dropped, least recently verified first)');
    // From the second signature on, the three most recently verified are both H_p and the key image:
    // each signature's two s·H_p + c·I come from tables, its two s·G + c·P from the double multiplication.
    t.equal(fixedSums, 2 * (vectors.length - 1), `${fixedSums} sums came from tables`);
  }
  if (ALL_TABLED) {
    t.same(ALL_TABLED.stats(), { tables: 5, wideTables: 1, fixedSums: 4 * (vectors.length - 1) }, 'with room for all five (and G wide), every sum after the first signature came from tables');
  }
  if (ALL_WIDE && TWO_WIDE) {
    t.same(ALL_WIDE.stats(), { tables: 5, wideTables: 6, fixedSums: 4 * (vectors.length - 1) }, 'all five wide from the third signature (and G), every sum after the first from tables');
    t.same(TWO_WIDE.stats(), { tables: 5, wideTables: 3, fixedSums: 4 * (vectors.length - 1) }, 'two wide (and G), the rest narrow: chains of both widths');
  }
});

interface RejectedVector {
  id: string;
  category: string;
  ringgo_stage: string;
  msg_hex: string;
  sig_hex: string;
}

t.test('rejected.json: everything ring-go refuses (or panics on) is refused, without throwing', async (t) => {
  const { vectors } = loadVector<{ vectors: RejectedVector[] }>('ring/rejected.json');
  for (const b of BACKENDS) {
    let refused = 0;
    for (const v of vectors) {
      let ok: boolean;
      try {
        ok = ringVerify(hex(v.msg_hex), hex(v.sig_hex), b);
      } catch (err) {
        t.fail(`${v.id} threw: ${(err as Error).message}`);
        continue;
      }
      if (!ok) refused++;
      else t.fail(`${label(b)}: ${v.id} (${v.category}/${v.ringgo_stage}) accepted`);
    }
    t.equal(refused, vectors.length, `${label(b)}: ${refused}/${vectors.length} refused`);
  }
});

t.test('edge-accepted.json: everything ring-go accepts is accepted', async (t) => {
  const { vectors } = loadVector<{ vectors: { id: string; category: string; msg_hex: string; sig_hex: string }[] }>('ring/edge-accepted.json');
  for (const b of BACKENDS) {
    const accepted = vectors.filter((v) => ringVerify(hex(v.msg_hex), hex(v.sig_hex), b));
    t.equal(accepted.length, vectors.length, `${label(b)}: ${accepted.length}/${vectors.length} accepted`);
    t.same(
      vectors.filter((v) => !accepted.includes(v)).map((v) => `${v.id}:${v.category}`),
      [],
    );
  }
});

t.test('signing: a signature over a 2- and 3-member ring verifies, binds the message, and has a stable key image', async (t) => {
  const app = hex('2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a');
  const gw = hex('cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177');
  const other = hex('60c6cbe6b5011807d6486f351cbde6f964356df1d0bc1b04f8589cead5ab5206');
  const ring = [app, gw].map((k) => publicKeyFromPrivateKey(k));
  const msg = sha3_256(new TextEncoder().encode('relay'));
  for (const b of BACKENDS) {
    const sig = ringSign(msg, ring, gw, b);
    t.equal(sig.length, 69 + 65 * 2);
    t.ok(ringVerify(msg, sig, b), `${label(b)}: verifies`);
    const wrong = Uint8Array.from(msg);
    wrong[0]! ^= 1;
    t.notOk(ringVerify(wrong, sig, b), 'another message does not');
    const parsed = deserializeRingSignature(sig)!;
    t.equal(toHex(parsed.keyImage), toHex(keyImage(gw, b)), 'key image of the signer');
    t.ok(ringMembersAllowed(parsed, ring), 'members of the expected ring');
    t.notOk(ringMembersAllowed(parsed, [ring[0]!]), 'a ring missing the signer key refuses it');
    const three = [...ring, publicKeyFromPrivateKey(other)];
    t.ok(ringVerify(msg, ringSign(msg, three, other, b), b), '3-member ring');
  }
  t.throws(() => ringSign(msg, [ring[0]!], app), /less than two/);
  t.throws(() => ringSign(msg, [ring[1]!, publicKeyFromPrivateKey(other)], app), /failed to find given key/);
  t.notOk(ringVerify(msg.subarray(0, 31), new Uint8Array(199)), 'short message');
});

t.test("points: libsecp256k1's check (where it loads) and @noble's (where it does not) agree on every point of the Go vectors", async (t) => {
  if (!nativeSecp256k1) return t.fail('libsecp256k1 binding not loaded');
  const files = ['ring/go-signed.json', 'ring/edge-accepted.json', 'ring/rejected.json'].map((f) => loadVector<{ vectors: { sig_hex: string }[] }>(f).vectors);
  // The key image and every member a signature's header names, as far as its bytes go: what deserializing checks.
  const points = files.flat().flatMap(({ sig_hex }) => {
    const sig = hex(sig_hex);
    if (sig.length < 69) return [];
    const n = Math.min(new DataView(sig.buffer, sig.byteOffset).getUint32(0), Math.floor((sig.length - 69) / 65));
    return [sig.subarray(36, 69), ...Array.from({ length: n }, (_, i) => sig.subarray(69 + i * 65 + 32, 69 + i * 65 + 65))];
  });
  const disagree = points.filter((p) => noblePointValid(p) !== nativeSecp256k1!.publicKeyVerify(p)).map(toHex);
  t.same(disagree, [], `${points.length} points`);
  const invalid = points.filter((p) => !noblePointValid(p)).length;
  t.ok(invalid >= 20 && invalid < points.length - 100, `valid and invalid points both among them (${invalid} invalid)`);
});

t.test('a ring of more than MAX_RING_MEMBERS is refused as it is parsed; one of that many verifies', async (t) => {
  const keys = Array.from({ length: MAX_RING_MEMBERS + 1 }, () => secp256k1.utils.randomSecretKey());
  const ring = keys.map((k) => publicKeyFromPrivateKey(k));
  const msg = sha3_256(new TextEncoder().encode('relay'));
  const most = ringSign(msg, ring.slice(0, MAX_RING_MEMBERS), keys[7]!);
  t.equal(deserializeRingSignature(most)!.ring.length, 256, 'a ring of 256 members is parsed');
  t.ok(ringVerify(msg, most), 'and verifies');
  const over = ringSign(msg, ring, keys[7]!);
  t.equal(new DataView(over.buffer, over.byteOffset).getUint32(0), 257, 'a real signature over 257 members');
  t.equal(deserializeRingSignature(over), null, 'is not parsed');
  t.notOk(ringVerify(msg, over), 'nor verified');
});

t.test("parsed scalars, read when first used: c is ring-go's first challenge; s + N reads as ring-go's canonical s", async (t) => {
  // The member-by-member verification (every backend without one-call tables, above) is what reads c and s:
  // go-signed.json accepted and rejected.json's tamper_s / s_values_swapped refused there exercise them too.
  const { vectors } = loadVector<{ vectors: (SignedVector & { challenges_hex: string[] })[] }>('ring/go-signed.json');
  const wrongC = vectors.filter((v) => deserializeRingSignature(hex(v.sig_hex))!.c !== BigInt(`0x${v.challenges_hex[0]}`)).map((v) => v.id);
  t.same(wrongC, [], `c of all ${vectors.length} signatures is ring-go's first challenge`);
  const edge = loadVector<{ vectors: { id: string; category: string; sig_hex: string; canonical_form_sig_hex: string }[] }>('ring/edge-accepted.json').vectors;
  const plusN = edge.filter((v) => v.category === 'noncanonical_scalar_s_plus_N');
  t.equal(plusN.length, 10);
  for (const v of plusN) {
    const [wire, canonical] = [deserializeRingSignature(hex(v.sig_hex))!, deserializeRingSignature(hex(v.canonical_form_sig_hex))!];
    t.not(v.sig_hex, v.canonical_form_sig_hex, `${v.id}: the wire form differs from ring-go's canonical one`);
    t.same([wire.c, wire.s], [canonical.c, canonical.s], `${v.id}: its scalars read reduced mod N, as DecodeToScalar does`);
  }
});

t.test('membership: parsed parts are views on the signature; one expected ring checked many times stays exact', async (t) => {
  const keys = ['2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a', 'cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177', '60c6cbe6b5011807d6486f351cbde6f964356df1d0bc1b04f8589cead5ab5206'].map(hex);
  const [app, gw, other] = keys.map((k) => publicKeyFromPrivateKey(k)) as [Uint8Array, Uint8Array, Uint8Array];
  const msg = sha3_256(new TextEncoder().encode('membership'));
  // The signature as the relay decoder gives it: a view into a larger buffer.
  const raw = ringSign(msg, [app, gw], keys[1]!);
  const slab = new Uint8Array(raw.length + 300).fill(0xaa);
  slab.set(raw, 150);
  const parsed = deserializeRingSignature(slab.subarray(150, 150 + raw.length))!;
  t.equal(parsed.keyImage.buffer, slab.buffer, 'the key image is a view on the signature bytes, not a copy');
  t.same(parsed.ring.map(toHex).sort(), [app, gw].map(toHex).sort(), 'members read from the view');

  const expected = [gw, app];
  const widened = [gw, other, app];
  for (let i = 0; i < 3; i++) {
    t.same(
      [ringMembersAllowed(parsed, expected), ringMembersAllowed(parsed, widened), ringMembersAllowed(parsed, [gw, other]), ringMembersAllowed(parsed, [Uint8Array.from(app), Uint8Array.from(gw)])],
      [true, true, false, true],
      `check ${i + 1}: order and extra members do not matter, a missing one does, equal bytes in other arrays count`,
    );
  }
  const forged = Uint8Array.from(slab.subarray(150, 150 + raw.length));
  forged[4 + 32 + 33 + 32 + 32]! ^= 0x01; // the last x byte of the first member (still a point or not: either way not in the ring)
  const tampered = deserializeRingSignature(forged);
  t.equal(tampered === null || !ringMembersAllowed(tampered, expected), true, 'a member one bit off is not in the ring');

  // The same signature with its first member (and scalar) repeated: every key is the application's or its gateway's,
  // which is all poktroll checks; here a ring with more members than the application's is refused before its
  // verification, each member of which costs.
  const member = raw.subarray(4 + 32 + 33, 4 + 32 + 33 + 65);
  const bytes = Uint8Array.from([...raw, ...member]);
  new DataView(bytes.buffer).setUint32(0, 3);
  const repeated = deserializeRingSignature(bytes)!;
  t.same(repeated.ring.map(toHex), [...parsed.ring, parsed.ring[0]!].map(toHex), 'three members, the first one twice');
  t.same([ringMembersAllowed(repeated, expected), ringMembersAllowed(repeated, widened)], [false, true], 'refused against the two-member ring, allowed against a three-member one');
});

/**
 * The addon's contract in pure JS (@noble/curves), counting the tables it is asked for, so the
 * backend's table policy is tested on every machine, and against the real addon beside it.
 */
function nobleAddon(): NativeCurveAddon & { tablesBuilt: number; wideTablesBuilt: number } {
  const P = secp256k1.Point;
  const tables = new WeakMap<ArrayBuffer, InstanceType<typeof P>>();
  const scalar = (b: Uint8Array) => BigInt(`0x${toHex(b)}`);
  const sum = (a: Uint8Array, A: InstanceType<typeof P>, b: Uint8Array, B: InstanceType<typeof P>) => {
    const s = A.multiplyUnsafe(scalar(a)).add(B.multiplyUnsafe(scalar(b)));
    return s.is0() ? null : s.toBytes(true);
  };
  const addon = {
    tablesBuilt: 0,
    lincomb: (a: Uint8Array, A: Uint8Array | null, b: Uint8Array, B: Uint8Array) => sum(a, A ? P.fromBytes(A) : P.BASE, b, P.fromBytes(B)),
    wideTablesBuilt: 0,
    table: (p: Uint8Array, wide = false) => {
      addon.tablesBuilt++;
      if (wide) addon.wideTablesBuilt++;
      const buffer = new ArrayBuffer(wide ? 11 * 2048 * 64 : 17 * 128 * 64);
      tables.set(buffer, P.fromBytes(p));
      return buffer;
    },
    tableAsync: async (p: Uint8Array, wide = false) => addon.table(p, wide),
    lincombFixedPair: (a: Uint8Array, ta: ArrayBuffer, b: Uint8Array, tb: ArrayBuffer, c: Uint8Array, tc: ArrayBuffer, d: Uint8Array, td: ArrayBuffer) =>
      [sum(a, tables.get(ta)!, b, tables.get(tb)!), sum(c, tables.get(tc)!, d, tables.get(td)!)] as [Uint8Array | null, Uint8Array | null],
    lincombFixed: (a: Uint8Array, ta: ArrayBuffer, b: Uint8Array, tb: ArrayBuffer) => sum(a, tables.get(ta)!, b, tables.get(tb)!),
  };
  return addon;
}

t.test('forged signatures with fresh key images neither build tables nor push a hot key out of its table', async (t) => {
  const app = hex('2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a');
  const gw = hex('cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177');
  const ring = [app, gw].map((k) => publicKeyFromPrivateKey(k));
  const signer = new NobleRingBackend();
  const sign = (i: number) => {
    const msg = sha3_256(new TextEncoder().encode(`relay ${i}`));
    return { msg, sig: ringSign(msg, ring, gw, signer) };
  };
  // Only the point conversion of the native binding is used once an addon is given.
  const convert = { publicKeyConvert: (p: Uint8Array, compressed?: boolean) => secp256k1.Point.fromBytes(p).toBytes(compressed ?? true) } as unknown as NativeSecp256k1;
  const fake = nobleAddon();
  const addons: [string, NativeSecp256k1, NativeCurveAddon][] = [['pure-JS model of the addon', convert, fake]];
  if (nativeSecp256k1 && nativeCurveAddon) addons.push(['the addon', nativeSecp256k1, nativeCurveAddon]);
  for (const [name, lib, addon] of addons) {
    // A points cache of 8: five hot points (two keys, their H_p, the key image) and room for three more.
    const b = new NativeRingBackend(lib, addon, { maxCachedPoints: 8, tableAfterVerified: 2 });
    for (let i = 0; i < 2; i++) {
      const { msg, sig } = sign(i);
      t.ok(ringVerify(msg, sig, b), `${name}: valid signature ${i}`);
    }
    t.same(b.stats(), { tables: 0, wideTables: 0, fixedSums: 0 }, `${name}: the signature that reaches the threshold does not wait for a table`);
    await b.tablesBuilt();
    t.same(b.stats(), { tables: 5, wideTables: 1, fixedSums: 0 }, `${name}: after two valid signatures the five points have tables, G a wide one`);
    // 200 forgeries, each with a fresh key image: verification fails and only the untabled slots churn.
    for (let i = 0; i < 200; i++) {
      const { msg, sig } = sign(1000 + i);
      const forged = Uint8Array.from(sig);
      forged.set(publicKeyFromPrivateKey(bigIntTo32(BigInt(i + 7))), 4 + 32);
      if (ringVerify(msg, forged, b)) t.fail(`${name}: forgery ${i} accepted`);
    }
    const { msg, sig } = sign(5000);
    const before = b.stats().fixedSums;
    t.ok(ringVerify(msg, sig, b), `${name}: a valid signature still verifies`);
    t.equal(b.stats().tables, 5, `${name}: no table built for a forgery, none lost`);
    t.equal(b.stats().fixedSums - before, 4, `${name}: all four sums of the valid signature came from tables`);
  }
  t.equal(fake.tablesBuilt, 6, 'the model was asked for exactly six tables: G and the five recurring points, never a forged key image');
});

t.test('points in many verified signatures get wide tables too, at most maxWideTables, each keeping its narrow one', async (t) => {
  const app = hex('2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a');
  const gw = hex('cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177');
  const ring = [app, gw].map((k) => publicKeyFromPrivateKey(k));
  const signer = new NobleRingBackend();
  const convert = { publicKeyConvert: (p: Uint8Array, compressed?: boolean) => secp256k1.Point.fromBytes(p).toBytes(compressed ?? true) } as unknown as NativeSecp256k1;
  const fake = nobleAddon();
  const addons: [string, NativeSecp256k1, NativeCurveAddon][] = [['pure-JS model of the addon', convert, fake]];
  if (nativeSecp256k1 && nativeCurveAddon) addons.push(['the addon', nativeSecp256k1, nativeCurveAddon]);
  for (const [name, lib, addon] of addons) {
    const b = new NativeRingBackend(lib, addon, { tableAfterVerified: 2, wideAfterVerified: 4, maxWideTables: 3 });
    const stats: unknown[] = [];
    for (let i = 0; i < 7; i++) {
      const msg = sha3_256(new TextEncoder().encode(`relay ${i}`));
      if (!ringVerify(msg, ringSign(msg, ring, gw, signer), b)) t.fail(`${name}: signature ${i} refused`);
      await b.tablesBuilt();
      stats.push(b.stats());
    }
    t.same(
      stats,
      [
        { tables: 0, wideTables: 1, fixedSums: 0 }, // G's wide table comes with the first verified signature
        { tables: 5, wideTables: 1, fixedSums: 0 }, // the five points' narrow tables at the second
        { tables: 5, wideTables: 1, fixedSums: 4 },
        { tables: 5, wideTables: 4, fixedSums: 8 }, // at the fourth all five ask for wide ones: three kept
        { tables: 5, wideTables: 4, fixedSums: 12 },
        { tables: 5, wideTables: 4, fixedSums: 16 },
        { tables: 5, wideTables: 4, fixedSums: 20 },
      ],
      `${name}: tables held and sums from them, signature by signature`,
    );
  }
  t.same([fake.tablesBuilt, fake.wideTablesBuilt], [1 + 5 + 5, 1 + 5], 'the model built G wide, five narrow and five wide, and none again within 65,536 verifications');
});

t.test('by default, 100 applications signed for by one gateway all keep their tables and verify from them', async (t) => {
  if (!nativeSecp256k1 || !nativeCurveAddon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  const backend = new NativeRingBackend(nativeSecp256k1, nativeCurveAddon);
  const gateway = Uint8Array.from(Buffer.alloc(32, 7));
  const rings = Array.from({ length: 100 }, (_, i) => [publicKeyFromPrivateKey(Uint8Array.from(Buffer.alloc(32, i + 10))), publicKeyFromPrivateKey(gateway)]);
  const msg = new Uint8Array(32);
  // Each application's key and H_p reach 16 verified signatures; the gateway's key, H_p and key image, and G, sooner.
  let refused = 0;
  for (let round = 0; round < 16; round++) {
    msg[0] = round;
    for (const ring of rings) if (!ringVerify(msg, ringSign(msg, ring, gateway, backend), backend)) refused++;
    await backend.tablesBuilt();
  }
  t.equal(refused, 0, '1,600 valid signatures verified');
  t.equal(backend.stats().tables, 2 * 100 + 3, 'every application key and its H_p, the gateway key, its H_p and key image');
  const signatures = rings.map((ring) => ringSign(msg, ring, gateway, backend));
  const before = backend.stats().fixedSums;
  t.equal(signatures.filter((sig) => ringVerify(msg, sig, backend)).length, 100, 'the next signature of each verifies');
  t.equal(backend.stats().fixedSums - before, 100 * 4, 'all from tables: 4 sums each');
});
