import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ANSWERS, CryptoChannel, JOBS, MAX_JOB_BYTES, SLOTS } from '../../core/crypto/crypto-channel.js';
import { CryptoPool } from '../../core/crypto/crypto-pool.js';
import { configureRingTables, deserializeRingSignature, ringSign } from '../../core/crypto/ring/signature.js';
import { registerRingTablesGauge } from '../../core/crypto/ring-tables-gauge.js';
import { Registry } from 'prom-client';
import { nativeCurveAddon } from '../../core/crypto/native-lincomb.js';
import { signSupplierResponse, verifySupplierResponse } from '../../core/crypto/supplier-signature.js';
import { hex, loadVector } from '../helpers/vectors.js';
import { withoutTapHook } from '../helpers/child-env.js';

const signed = loadVector<{ vectors: { id: string; msg_hex: string; sig_hex: string }[] }>('ring/go-signed.json').vectors;
const rejected = loadVector<{ vectors: { id: string; msg_hex: string; sig_hex: string }[] }>('ring/rejected.json').vectors;

t.test('worker threads give the same verdict as ring-go on every vector, in one burst', async (t) => {
  const pool = new CryptoPool(2, { inlineBelow: 0 });
  t.teardown(() => pool.close());
  const all = [...signed.map((v) => ({ ...v, want: true })), ...rejected.map((v) => ({ ...v, want: false }))];
  const got = await Promise.all(all.map((v) => pool.verify(hex(v.msg_hex), hex(v.sig_hex))));
  t.same(
    all.filter((v, i) => got[i] !== v.want).map((v) => v.id),
    [],
    `${signed.length} go-signed accepted, ${rejected.length} rejected refused`,
  );
  t.equal(got.filter(Boolean).length, signed.length);
  t.same(pool.counts, { inline: 0, threaded: all.length, signedInline: 0, signedThreaded: 0 }, 'all on the threads');
});

t.test('a job crosses to a thread as its own bytes, copied out of shared memory; an answer is copied back out of its slot', async (t) => {
  const slab = new ArrayBuffer(8192);
  new Uint8Array(slab).fill(0xee);
  const view = (offset: number, bytes: number[]) => {
    const v = new Uint8Array(slab, offset, bytes.length);
    v.set(bytes);
    return v;
  };
  const loop = new CryptoChannel();
  const thread = new CryptoChannel(loop.shared);
  loop.writeJob(SLOTS + 7, { msg: view(100, [1, 2, 3]), sig: view(4000, [4, 5]), signWith: -1 });
  loop.writeJob(SLOTS + 8, { msg: view(8000, [6]), sig: view(7000, [7, 8]), signWith: 0 });
  t.equal(thread.count(JOBS), 0, 'not visible to the thread before it is published');
  loop.publish(JOBS, SLOTS + 9);
  t.equal(thread.count(JOBS), (SLOTS + 9) | 0);
  const [a, b] = [thread.readJob(7), thread.readJob(8)];
  t.same([a.signWith, [...a.msg], [...a.sig]], [-1, [1, 2, 3], [4, 5]], 'job 7 (slot 7, one lap later): a verification');
  t.same([b.signWith, [...b.msg], [...b.sig]], [0, [6], [7, 8]], 'job 8: a signature, its key in the job');
  t.notOk(a.msg.buffer instanceof SharedArrayBuffer, 'the thread reads ordinary memory, not the shared slots');

  const signature = Uint8Array.from({ length: 64 }, (_, i) => i);
  thread.writeVerdict(7, true);
  thread.writeSignature(8, signature);
  thread.writeSignature(9, new Uint8Array(10));
  thread.publish(ANSWERS, 10);
  t.equal(loop.count(ANSWERS), 10);
  const copied = loop.readAnswer(8) as Uint8Array;
  t.same([loop.readAnswer(7), [...copied], loop.readAnswer(9)], [true, [...signature], false], 'a verdict, a signature, a refusal (not 64 bytes)');
  thread.writeSignature(8, new Uint8Array(64));
  t.equal(copied[5], 5, 'a signature read out is not overwritten when its slot is reused');
  t.throws(() => new CryptoChannel(new SharedArrayBuffer(16)), /crypto channel is/);

  // Through a thread: signatures decoded as views on one slab (as the relay decoder makes them) verify.
  const pool = new CryptoPool(1, { inlineBelow: 0 });
  t.teardown(() => pool.close());
  const shared = new ArrayBuffer(signed.reduce((n, v) => n + v.sig_hex.length / 2 + 8, 0));
  let at = 0;
  const onSlab = signed.map((v) => {
    const sig = new Uint8Array(shared, at, v.sig_hex.length / 2);
    sig.set(hex(v.sig_hex));
    at += sig.length + 8;
    return pool.verify(hex(v.msg_hex), sig);
  });
  t.same(await Promise.all(onSlab), signed.map(() => true), `${signed.length} go-signed signatures on one slab accepted`);
});

t.test('publishing jobs wakes the thread only while it waits for them; a busy thread finds them when it looks', async (t) => {
  const loop = new CryptoChannel();
  const thread = new CryptoChannel(loop.shared);
  t.equal(loop.publishJobs(1), false, 'a thread that has not said it is idle is not woken');
  t.equal(thread.jobsAfter(0), undefined, 'a thread about to wait finds the published job instead');
  t.equal(loop.publishJobs(2), false, 'and is not idle after it');
  const waiting = thread.jobsAfter(2);
  t.ok(waiting instanceof Promise, 'nothing past job 2: the thread waits');
  t.equal(loop.publishJobs(3), true, 'an idle thread is woken');
  await waiting;
  t.equal(thread.count(JOBS), 3, 'and sees the new count');
  t.equal(loop.publishJobs(4), false, 'once awake it is no longer idle');
});

t.test('a burst larger than the slots waits for free ones, and every job gets its own answer in order', async (t) => {
  const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: keys });
  t.teardown(() => pool.close());
  const n = SLOTS * 2 + 100;
  const v = signed[0]!;
  const tampered = hex(v.msg_hex);
  tampered[0] = tampered[0]! ^ 1;
  const expected = messages.map((m) => keys.map((k) => Buffer.from(signSupplierResponse(m, k)).toString('hex')));
  // Every 50th job a verification (alternately of the signed and a tampered message), the rest signatures.
  const isVerify = (i: number) => i % 50 === 0;
  const jobs = Array.from({ length: n }, (_, i) => (isVerify(i) ? pool.verify(i % 100 === 0 ? hex(v.msg_hex) : tampered, hex(v.sig_hex)) : pool.sign(messages[i % messages.length]!, i % 2)));
  const got = await Promise.all(jobs);
  const wrong = got.flatMap((r, i) => {
    if (isVerify(i)) return r === (i % 100 === 0) ? [] : [i];
    return Buffer.from(r as Uint8Array).toString('hex') === expected[i % messages.length]![i % 2] ? [] : [i];
  });
  t.same(wrong, [], `${n} jobs through ${SLOTS} slots: each answer is its own job's`);
  const verifications = Math.ceil(n / 50);
  t.same(pool.counts, { inline: 0, threaded: verifications, signedInline: 0, signedThreaded: n - verifications });
});

t.test("a thread is sent a signature's members and no further; a ring of more than 16 members goes to a thread even while the loop is idle", async (t) => {
  const pool = new CryptoPool(1, { inlineBelow: 0 });
  t.teardown(() => pool.close());
  const v = signed[0]!;
  const padded = new Uint8Array(MAX_JOB_BYTES + 100);
  padded.set(hex(v.sig_hex)); // ring-go ignores trailing bytes: the same signature, longer than a slot
  t.equal(await pool.verify(hex(v.msg_hex), padded), true, 'verified on the thread');
  const tampered = hex(v.msg_hex);
  tampered[0] = tampered[0]! ^ 1;
  t.equal(await pool.verify(tampered, padded), false);
  t.same([pool.counts.inline, pool.counts.threaded], [0, 2], 'neither inline');

  const idle = new CryptoPool(1, { inlineBelow: 1.01 }); // inline whenever a job may be
  t.teardown(() => idle.close());
  const keys = Array.from({ length: 17 }, () => secp256k1.utils.randomSecretKey());
  const msg = hex(v.msg_hex);
  const seventeen = ringSign(msg, keys.map((k) => secp256k1.getPublicKey(k, true)), keys[3]!);
  const sixteen = ringSign(msg, keys.slice(0, 16).map((k) => secp256k1.getPublicKey(k, true)), keys[3]!);
  t.same([await idle.verify(msg, seventeen, deserializeRingSignature(seventeen)!), await idle.verify(msg, sixteen, deserializeRingSignature(sixteen)!)], [true, true]);
  t.same([idle.counts.inline, idle.counts.threaded], [1, 1], '16 members inline, 17 on the thread');
});

t.test('ringTables caps the tables a thread keeps; relayminer_ring_tables adds the threads to the event loop, as of the scrape before', async (t) => {
  if (!nativeCurveAddon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  configureRingTables(0); // the event loop's own backend: none here, so the gauge's sums are the thread's
  const pool = new CryptoPool(1, { inlineBelow: 0, ringTables: 2 });
  t.teardown(() => pool.close());
  const registry = new Registry();
  registerRingTablesGauge(registry, pool, 2);
  const scrape = async () => (await registry.metrics()).split('\n').filter((l) => /^relayminer_ring_tables(\{|_capacity )/.test(l));
  t.same(await scrape(), ['relayminer_ring_tables_capacity 4', 'relayminer_ring_tables{width="narrow"} 0', 'relayminer_ring_tables{width="wide"} 0'], 'before any relay; room for 2 on the event loop and 2 on the thread');
  const [app, gw] = [secp256k1.utils.randomSecretKey(), secp256k1.utils.randomSecretKey()];
  const ring = [secp256k1.getPublicKey(app, true), secp256k1.getPublicKey(gw, true)];
  const verdicts = await Promise.all(Array.from({ length: 20 }, () => {
    const msg = crypto.getRandomValues(new Uint8Array(32));
    return pool.verify(msg, ringSign(msg, ring, gw));
  }));
  t.same(new Set(verdicts), new Set([true]));
  let stats = (await pool.threadStats())[0]!;
  for (let tries = 0; stats.tables < 2 && tries < 200; tries++) {
    await new Promise((r) => setTimeout(r, 50));
    stats = (await pool.threadStats())[0]!;
  }
  t.same([stats.tables, stats.wideTables], [2, 1], 'five points asked for tables, two kept; G wide');
  await scrape(); // asks the thread
  await new Promise((r) => setTimeout(r, 100));
  t.same(await scrape(), ['relayminer_ring_tables_capacity 4', 'relayminer_ring_tables{width="narrow"} 2', 'relayminer_ring_tables{width="wide"} 1'], 'the thread counted at the next scrape');
  configureRingTables(240);
});

t.test("a ring not yet known to be an application's is verified without its points counting toward tables", async (t) => {
  if (!nativeCurveAddon) return t.fail('the addon is not built: `npm run build` needs a C compiler (README, Requirements)');
  const pool = new CryptoPool(1, { inlineBelow: 0 });
  t.teardown(() => pool.close());
  const [app, gw] = [secp256k1.utils.randomSecretKey(), secp256k1.utils.randomSecretKey()];
  const ring = [secp256k1.getPublicKey(app, true), secp256k1.getPublicKey(gw, true)];
  const signedBy = (n: number, credit: boolean) => Array.from({ length: n }, () => {
    const msg = crypto.getRandomValues(new Uint8Array(32));
    return pool.verify(msg, ringSign(msg, ring, gw), undefined, credit);
  });
  t.same(new Set(await Promise.all(signedBy(40, false))), new Set([true]), 'valid, uncredited');
  await new Promise((r) => setTimeout(r, 300));
  t.same((await pool.threadStats())[0], { tables: 0, wideTables: 0, fixedSums: 0 }, 'forty signatures over one ring: no table asked for, not even G');
  t.same(new Set(await Promise.all(signedBy(20, true))), new Set([true]), 'valid, credited');
  let stats = (await pool.threadStats())[0]!;
  for (let tries = 0; stats.tables < 5 && tries < 200; tries++) {
    await new Promise((r) => setTimeout(r, 50));
    stats = (await pool.threadStats())[0]!;
  }
  t.same([stats.tables, stats.wideTables], [5, 1], 'twenty credited: tables for its five points and G wide');
});

t.test('a crypto thread builds multiples tables for a recurring ring and sums from them: its event loop runs while it waits for jobs', async (t) => {
  const pool = new CryptoPool(1, { inlineBelow: 0 });
  t.teardown(() => pool.close());
  t.same(await pool.threadStats(), [{ tables: 0, wideTables: 0, fixedSums: 0 }], 'a fresh thread: no tables, no sums from them');
  const [app, gw] = [secp256k1.utils.randomSecretKey(), secp256k1.utils.randomSecretKey()];
  const ring = [secp256k1.getPublicKey(app, true), secp256k1.getPublicKey(gw, true)];
  const signedBy = (n: number) => Array.from({ length: n }, () => {
    const msg = crypto.getRandomValues(new Uint8Array(32));
    return pool.verify(msg, ringSign(msg, ring, gw));
  });
  // Past the backend's threshold (16 verified signatures) its points' tables are built on libuv's pool and
  // handed to the thread's event loop, which only runs between jobs if the thread waits without blocking.
  t.same(new Set(await Promise.all(signedBy(20))), new Set([true]));
  if (!nativeCurveAddon) {
    // Where no C compiler built the addon (CI always builds it: ring.test.ts fails without it), the
    // thread verifies through the prebuilt binary, which keeps no tables.
    t.same(await pool.threadStats(), [{ tables: 0, wideTables: 0, fixedSums: 0 }], 'without the addon: no tables, and none claimed');
    return;
  }
  let stats = (await pool.threadStats())[0]!;
  for (let tries = 0; stats.tables < 5 && tries < 200; tries++) {
    await new Promise((r) => setTimeout(r, 50));
    stats = (await pool.threadStats())[0]!;
  }
  t.equal(stats.tables, 5, 'both members, their hash points and the key image have tables');
  t.equal(stats.wideTables, 1, 'and G a wide one');
  t.same(new Set(await Promise.all(signedBy(5))), new Set([true]));
  t.equal((await pool.threadStats())[0]!.fixedSums - stats.fixedSums, 5 * 4, 'each later verification summed all four of its products from tables');
  await pool.close();
  await t.rejects(pool.threadStats(), /closed/);
});

t.test('inline, the parsed signature the validator already has gives ring-go\'s verdict on every vector', async (t) => {
  const inline = new CryptoPool(1, { inlineBelow: 1.01 });
  t.teardown(() => inline.close());
  const all = [...signed.map((v) => ({ ...v, want: true })), ...rejected.map((v) => ({ ...v, want: false }))];
  const parsable = all.filter((v) => deserializeRingSignature(hex(v.sig_hex)) !== null);
  const got = await Promise.all(parsable.map((v) => inline.verify(hex(v.msg_hex), new Uint8Array(0), deserializeRingSignature(hex(v.sig_hex))!)));
  t.same(
    parsable.filter((v, i) => got[i] !== v.want).map((v) => v.id),
    [],
    `${parsable.length} parsable vectors (an empty raw signature proves the parsed one was used)`,
  );
  t.equal(got.filter(Boolean).length, signed.length);
});

t.test('a tampered message is refused, inline and on a thread', async (t) => {
  const pool = new CryptoPool(1, { inlineBelow: 0 });
  const inline = new CryptoPool(1, { inlineBelow: 1.01 });
  t.teardown(() => inline.close());
  t.teardown(() => pool.close());
  const v = signed[0]!;
  const msg = hex(v.msg_hex);
  t.equal(await pool.verify(msg, hex(v.sig_hex)), true);
  t.equal(await inline.verify(msg, hex(v.sig_hex)), true);
  msg[0] = msg[0]! ^ 1;
  t.equal(await pool.verify(msg, hex(v.sig_hex)), false);
  t.equal(await inline.verify(msg, hex(v.sig_hex)), false);
  t.same(
    [pool.counts, inline.counts],
    [
      { inline: 0, threaded: 2, signedInline: 0, signedThreaded: 0 },
      { inline: 2, threaded: 0, signedInline: 0, signedThreaded: 0 },
    ],
    'each took the path its utilization threshold says',
  );
});

const keys = [secp256k1.utils.randomSecretKey(), secp256k1.utils.randomSecretKey()];
const messages = Array.from({ length: 24 }, () => crypto.getRandomValues(new Uint8Array(32)));

t.test('a supplier signature made on a thread is the one signed here, with the key asked for', async (t) => {
  const pool = new CryptoPool(2, { inlineBelow: 0, signingKeys: keys });
  const inline = new CryptoPool(1, { inlineBelow: 1.01, signingKeys: keys });
  t.teardown(() => pool.close());
  t.teardown(() => inline.close());
  const want = messages.map((m, i) => signSupplierResponse(m, keys[i % 2]!));
  const threaded = await Promise.all(messages.map((m, i) => pool.sign(m, i % 2)));
  const here = await Promise.all(messages.map((m, i) => inline.sign(m, i % 2)));
  t.same(threaded.map((s) => Buffer.from(s).toString('hex')), want.map((s) => Buffer.from(s).toString('hex')), 'thread: the same 64 bytes (RFC 6979 is deterministic)');
  t.same(here.map((s) => Buffer.from(s).toString('hex')), want.map((s) => Buffer.from(s).toString('hex')), 'inline: the same 64 bytes');
  const pubs = keys.map((k) => secp256k1.getPublicKey(k, true));
  t.same(
    threaded.map((s, i) => [verifySupplierResponse(messages[i]!, s, pubs[i % 2]!), verifySupplierResponse(messages[i]!, s, pubs[(i + 1) % 2]!)]),
    messages.map(() => [true, false]),
    "each verifies under its own supplier's key, not the other's",
  );
  t.same([pool.counts.signedThreaded, pool.counts.signedInline, inline.counts.signedInline, inline.counts.signedThreaded], [24, 0, 24, 0]);
});

t.test('on a thread and inline, the supplier signature of docs/spec/protocol.md §11.3', async (t) => {
  // The response signable hash of fixture minable[0] signed with the app1 test key, as the spec gives it.
  const key = hex('2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a');
  const signable = hex('85277ba770dad449843742cc909eeb6e075bbb6c5e96f6ffbc484dd17c876f15');
  const want = '309aa84d90fa9aec737cf182f0a9435dec066e096ef97c9b1ce8d542b20cbd3e539b0643b1f0c95b0d38d23675e8bc5aad3e9e810e4f4dd8832227f300a60bbd';
  const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: [keys[0]!, key] });
  const inline = new CryptoPool(1, { inlineBelow: 1.01, signingKeys: [keys[0]!, key] });
  t.teardown(() => Promise.all([pool.close(), inline.close()]));
  t.equal(Buffer.from(await pool.sign(signable, 1)).toString('hex'), want, 'thread');
  t.equal(Buffer.from(await inline.sign(signable, 1)).toString('hex'), want, 'inline');
  t.same([pool.counts.signedThreaded, inline.counts.signedInline], [1, 1]);
});

t.test('a key added while the threads run signs on them at once (a reload of the keys)', async (t) => {
  const pool = new CryptoPool(2, { inlineBelow: 0, signingKeys: [keys[0]!] });
  t.teardown(() => pool.close());
  await t.rejects(pool.sign(messages[0]!, 1), /no signing key 1/, 'not before it is added');
  const added = secp256k1.utils.randomSecretKey();
  t.equal(pool.addSigningKey(added), 1, 'the next index');
  const signed = await Promise.all(messages.map((m, i) => pool.sign(m, i % 2)));
  t.same(
    signed.map((s) => Buffer.from(s).toString('hex')),
    messages.map((m, i) => Buffer.from(signSupplierResponse(m, i % 2 ? added : keys[0]!)).toString('hex')),
    'each with the key asked for, the added one included',
  );
  t.same([pool.counts.signedThreaded, pool.counts.signedInline], [24, 0], 'all of them on the threads');
});

t.test('verifications and signatures queued in one tick share a batch and each gets its own answer', async (t) => {
  const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: keys });
  t.teardown(() => pool.close());
  const v = signed[0]!;
  const tampered = hex(v.msg_hex);
  tampered[0] = tampered[0]! ^ 1;
  const [good, sig0, bad, sig1] = await Promise.all([pool.verify(hex(v.msg_hex), hex(v.sig_hex)), pool.sign(messages[0]!, 0), pool.verify(tampered, hex(v.sig_hex)), pool.sign(messages[1]!, 1)]);
  t.same([good, bad], [true, false]);
  t.same([Buffer.from(sig0).toString('hex'), Buffer.from(sig1).toString('hex')], [Buffer.from(signSupplierResponse(messages[0]!, keys[0]!)).toString('hex'), Buffer.from(signSupplierResponse(messages[1]!, keys[1]!)).toString('hex')]);
});

t.test('a key the pool was not given is refused, inline and threaded', async (t) => {
  const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: keys });
  const inline = new CryptoPool(1, { inlineBelow: 1.01, signingKeys: keys });
  const keyless = new CryptoPool(1, { inlineBelow: 0 });
  t.teardown(() => Promise.all([pool.close(), inline.close(), keyless.close()]));
  await t.rejects(pool.sign(messages[0]!, 2), /no signing key 2/);
  await t.rejects(inline.sign(messages[0]!, -1), /no signing key -1/);
  await t.rejects(keyless.sign(messages[0]!, 0), /no signing key 0/);
  t.same([pool.counts.signedThreaded, inline.counts.signedInline], [0, 0], 'nothing was signed');
});

t.test('a closed pool rejects new work instead of answering valid', async (t) => {
  const pool = new CryptoPool(1, { signingKeys: keys });
  await pool.close();
  await t.rejects(pool.verify(new Uint8Array(32), new Uint8Array(4)), /closed/);
  await t.rejects(pool.sign(new Uint8Array(32), 0), /closed/);
  t.throws(() => new CryptoPool(0), /at least one thread/);
});

t.test('a pool closed while its thread signs lets the thread leave between jobs: the process lives on', async (t) => {
  // In a child process: terminated inside the secp256k1 addon, a thread aborts its whole process (SIGABRT).
  // The built pool, as the CLI runs it; eight rounds, each closing a warm thread in the middle of a burst.
  const pool = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'core', 'crypto', 'crypto-pool.js')).href;
  const script = `
    const { CryptoPool } = await import(${JSON.stringify(pool)});
    const sign = (pool, i) => pool.sign(new Uint8Array(32).fill(i % 256), 0).then(() => 1, () => 0);
    for (let round = 1; round <= 8; round++) {
      const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: [new Uint8Array(32).fill(7)] });
      const warm = await Promise.all(Array.from({ length: 256 }, (_, i) => sign(pool, i)));
      // ~100 ms of signing for the thread, closed 10 ms in.
      const burst = Promise.all(Array.from({ length: 2048 }, (_, i) => sign(pool, i)));
      await new Promise((r) => setTimeout(r, 10));
      await pool.close();
      const served = (await burst).reduce((a, b) => a + b, 0);
      console.log('round', round, 'warm', warm.reduce((a, b) => a + b, 0), 'closed with', 2048 - served, 'refused');
    }
  `;
  // A file, not `-e`: worker threads inherit the process's flags, and `--input-type` fails a worker's start.
  const dir = t.testdir({ 'close-under-load.mjs': script });
  const { code, signal, out, err } = await runChild(t, [join(dir, 'close-under-load.mjs')]);
  t.same([code, signal], [0, null], `the process exited normally${err ? `; stderr: ${err.slice(0, 300)}` : ''}`);
  const rounds = out.split('\n').filter((l) => l.startsWith('round '));
  t.equal(rounds.length, 8, 'every round closed its pool');
  t.ok(
    rounds.every((l) => /warm 256 closed with [1-9]\d* refused$/.test(l)),
    `each pool closed in the middle of a burst, its thread warm (${rounds.join('; ')})`,
  );
});

t.test('a thread that cannot start is replaced twice, then given up: its work is done inline, the pool says so once', async (t) => {
  // Worker threads inherit the process's flags: under `--input-type` (kept from `-e`) none can start, as with a broken install.
  const dist = (f: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'core', 'crypto', f)).href);
  const script = `
    const { CryptoPool } = await import(${dist('crypto-pool.js')});
    const { signSupplierResponse } = await import(${dist('supplier-signature.js')});
    const key = new Uint8Array(32).fill(7);
    const exits = [];
    const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: [key], onThreadExit: (err, replaced) => exits.push({ replaced, err: err.message.split(' ')[0] }) });
    const sign = (i) => {
      const msg = new Uint8Array(32).fill(i);
      const want = Buffer.from(signSupplierResponse(msg, key)).toString('hex');
      return pool.sign(msg, 0).then((s) => (Buffer.from(s).toString('hex') === want ? 'signed' : 'wrong'), () => 'refused');
    };
    // Each job waits in a slot of the thread being started; a thread may also die between two jobs.
    const before = [];
    for (let i = 0; exits.length < 3 && i < 100; i++) before.push(await sign(i));
    const after = [await sign(100), await sign(101), await sign(102)];
    console.log(JSON.stringify({ exits, before, after, running: pool.threadsRunning }));
    await pool.close();
  `;
  const { code, out, err } = await runChild(t, ['--input-type=module', '-e', script]);
  t.equal(code, 0, `the process exited normally${err ? `; stderr: ${err.slice(0, 300)}` : ''}`);
  const seen = JSON.parse(out) as { exits: { replaced: boolean; err: string }[]; before: string[]; after: string[]; running: number };
  t.same(
    seen.exits,
    [
      { replaced: true, err: '--input-type' },
      { replaced: true, err: '--input-type' },
      { replaced: false, err: '--input-type' },
    ],
    'three threads died at start: two replaced, the third given up',
  );
  t.equal(seen.running, 0, 'no thread left');
  t.ok(
    seen.before.length >= 1 && seen.before.length <= 3 && seen.before.every((r) => r === 'signed'),
    `until then, a job in the slot of a thread that died went to its replacement, and was signed inline when none was left (${seen.before.join(', ')})`,
  );
  t.same(seen.after, ['signed', 'signed', 'signed'], 'then every signature is made inline, and right');
});

/**
 * A child process whose pool's first thread runs `firstThread` (evaluated, with the pool's workerData; the
 * real thread's URL is \`worker\` there) instead of the crypto thread, every later one being the real thread. It signs 40 messages and verifies ring-go's signature and a tampered copy
 * with `new CryptoPool(1, { inlineBelow: 0, signingKeys: [key], ...poolOptions })`, and prints one JSON line:
 * `report` (an object literal over `events`), the outcomes, how many threads started and run.
 */
function replacedThreadScript(firstThread: string, poolOptions: string, report: string): string {
  const dist = (f: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'core', 'crypto', f)).href);
  const v = signed[0]!;
  return `
    import { createRequire, syncBuiltinESMExports } from 'node:module';
    const threads = createRequire(import.meta.url)('node:worker_threads');
    const Real = threads.Worker;
    let started = 0;
    threads.Worker = class extends Real {
      constructor(url, options) {
        if (started++ === 0) super(${JSON.stringify(`const worker = ${dist('crypto-worker.js')}; ${firstThread}`)}, { eval: true, workerData: options.workerData });
        else super(url, options);
      }
    };
    syncBuiltinESMExports();
    const { CryptoPool } = await import(${dist('crypto-pool.js')});
    const { signSupplierResponse } = await import(${dist('supplier-signature.js')});
    const hex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
    const key = new Uint8Array(32).fill(7);
    const events = [];
    const began = performance.now();
    const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: [key], ${poolOptions} });
    const refused = (e) => 'refused: ' + e.message.replace(/\\d+ ms/, 'N ms');
    const sign = (i) => {
      const msg = new Uint8Array(32).fill(i);
      const want = Buffer.from(signSupplierResponse(msg, key)).toString('hex');
      return pool.sign(msg, 0).then((s) => (Buffer.from(s).toString('hex') === want ? 'signed' : 'wrong'), refused);
    };
    const tampered = hex(${JSON.stringify(v.msg_hex)});
    tampered[0] ^= 1;
    const [signatures, good, bad] = await Promise.all([
      Promise.all(Array.from({ length: 40 }, (_, i) => sign(i))),
      pool.verify(hex(${JSON.stringify(v.msg_hex)}), hex(${JSON.stringify(v.sig_hex)})).catch(refused),
      pool.verify(tampered, hex(${JSON.stringify(v.sig_hex)})).catch(refused),
    ]);
    const tookMs = performance.now() - began;
    console.log(JSON.stringify({ ...${report}, signatures, verdicts: [good, bad], started, running: pool.threadsRunning, counts: pool.counts, tookMs }));
    await pool.close();
  `;
}

interface ReplacedThreadRun {
  signatures: string[];
  verdicts: (boolean | string)[];
  started: number;
  running: number;
  counts: Record<string, number>;
  tookMs: number;
}

t.test('the jobs a thread that dies had not answered go to its replacement: each relay still gets its verdict and signature', async (t) => {
  // The first thread takes its jobs into its slots and never answers them, then exits (as one lost to a bug
  // or a resource limit would).
  const script = replacedThreadScript('setTimeout(() => process.exit(7), 300)', 'onThreadExit: (err, replaced) => events.push({ replaced, err: err.message })', '{ exits: events }');
  const dir = t.testdir({ 'thread-dies.mjs': script });
  const { code, out, err } = await runChild(t, [join(dir, 'thread-dies.mjs')]);
  t.equal(code, 0, `the process exited normally${err ? `; stderr: ${err.slice(0, 300)}` : ''}`);
  const seen = JSON.parse(out) as ReplacedThreadRun & { exits: { replaced: boolean; err: string }[] };
  t.same(seen.exits, [{ replaced: true, err: 'crypto thread exited with code 7' }], 'the thread died once and was replaced');
  t.equal(seen.started, 2, 'by one real thread');
  t.same(seen.signatures, Array.from({ length: 40 }, () => 'signed'), 'every signature that waited in its slots was made, right');
  t.same(seen.verdicts, [true, false], "ring-go's signature valid, the tampered message not");
  t.same([seen.counts.threaded, seen.counts.signedThreaded, seen.counts.inline, seen.counts.signedInline], [2, 40, 0, 0], 'all of it on the replacement thread');
  t.equal(seen.running, 1);
});

t.test('a thread that has work and answers nothing is given up: the job it is on fails, the rest are answered by a new thread, the process exits', async (t) => {
  // The first thread enters its job loop, then never reads a job and never exits (as one caught in an endless loop would).
  const inLoop = `import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'core', 'crypto', 'crypto-channel.js')).href)}).then(({ CryptoChannel }) => new CryptoChannel(require('node:worker_threads').workerData.shared).markStarted()); setInterval(() => {}, 1e9);`;
  const script = replacedThreadScript(inLoop, 'stuckAfterMs: 500, onThreadStuck: (ms) => events.push(ms)', '{ stuck: events }');
  const dir = t.testdir({ 'thread-stuck.mjs': script });
  const { code, out, err } = await runChild(t, [join(dir, 'thread-stuck.mjs')]);
  t.equal(code, 0, `the process exited normally, the stuck thread still running${err ? `; stderr: ${err.slice(0, 300)}` : ''}`);
  const seen = JSON.parse(out) as ReplacedThreadRun & { stuck: number[] };
  t.equal(seen.stuck.length, 1, 'given up once');
  t.ok(seen.stuck[0]! >= 500 && seen.stuck[0]! < 5_000, `after ${Math.round(seen.stuck[0]!)} ms without an answer (the bound: 500)`);
  t.ok(seen.tookMs >= 500, `the jobs waited ${Math.round(seen.tookMs)} ms, not forever`);
  t.same(seen.signatures, ['refused: crypto thread answered nothing for N ms', ...Array.from({ length: 39 }, () => 'signed')], 'the job it was on failed; every other signature was made, right');
  t.same(seen.verdicts, [true, false], "ring-go's signature valid, the tampered message not");
  t.same([seen.started, seen.running], [2, 1], 'one new thread took over');
});

t.test('a thread slower to start than the stuck bound is not given up: the clock starts once it is in its job loop', async (t) => {
  // The first thread is the real one, started 1.5 s late (a loaded machine loading its modules).
  const script = replacedThreadScript('setTimeout(() => import(worker), 1500);', 'stuckAfterMs: 500, onThreadStuck: (ms) => events.push(ms)', '{ stuck: events }');
  const dir = t.testdir({ 'thread-slow-start.mjs': script });
  const { code, out, err } = await runChild(t, [join(dir, 'thread-slow-start.mjs')]);
  t.equal(code, 0, `the process exited normally${err ? `; stderr: ${err.slice(0, 300)}` : ''}`);
  const seen = JSON.parse(out) as ReplacedThreadRun & { stuck: number[] };
  t.same(seen.stuck, [], 'not given up');
  t.ok(seen.tookMs >= 1500, `the jobs waited for it (${Math.round(seen.tookMs)} ms)`);
  t.same(seen.signatures, Array.from({ length: 40 }, () => 'signed'), 'every signature made, right');
  t.same(seen.verdicts, [true, false]);
  t.same([seen.started, seen.running], [1, 1], 'by the thread that was slow to start');
});

t.test('a process that exits while its crypto thread signs (process.exit, as on a second signal) exits as asked, never aborts', async (t) => {
  // The thread is asked to stop and waited for in the 'exit' listener: terminated inside the secp256k1
  // addon, it would abort the process (SIGABRT) instead of letting it exit with its code.
  const pool = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'core', 'crypto', 'crypto-pool.js')).href;
  const script = `
    const { CryptoPool } = await import(${JSON.stringify(pool)});
    const pool = new CryptoPool(1, { inlineBelow: 0, signingKeys: [new Uint8Array(32).fill(7)] });
    const burst = (i) => Promise.all(Array.from({ length: 256 }, (_, j) => pool.sign(new Uint8Array(32).fill((i + j) % 256), 0)));
    await burst(0);
    setTimeout(() => process.exit(3), 20 + Math.random() * 80);
    for (let i = 1; ; i++) await burst(i);
  `;
  const dir = t.testdir({ 'exit-under-load.mjs': script });
  const runs = await Promise.all(Array.from({ length: 6 }, () => runChild(t, [join(dir, 'exit-under-load.mjs')])));
  t.same(
    runs.map((r) => [r.code, r.signal]),
    Array.from({ length: 6 }, () => [3, null]),
    `six processes exited with their code (${runs.map((r) => r.err.split('\n')[0]).filter(Boolean).join('; ') || 'nothing on stderr'})`,
  );
});

/** Runs node with `args` in a child that a hang can neither keep past the test nor past tap's timeout. */
async function runChild(t: Test, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  const child = spawn(...withoutTapHook(process.execPath, args), { stdio: ['ignore', 'pipe', 'pipe'] });
  const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.teardown(() => {
    clearTimeout(limit);
    child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  // 'close', not 'exit': the output is whole only once the pipes have closed.
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  return { code, signal, out, err };
}
