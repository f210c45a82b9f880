import t from 'tap';
import { deserializeRingSignature } from '../../core/crypto/ring/signature.js';
import { packBatch } from '../../core/crypto/ring/verify-batch.js';
import { RingVerifyPool } from '../../core/crypto/ring/verify-pool.js';
import { hex, loadVector } from '../helpers/vectors.js';

const signed = loadVector<{ vectors: { id: string; msg_hex: string; sig_hex: string }[] }>('ring/go-signed.json').vectors;
const rejected = loadVector<{ vectors: { id: string; msg_hex: string; sig_hex: string }[] }>('ring/rejected.json').vectors;

t.test('worker threads give the same verdict as ring-go on every vector, in one burst', async (t) => {
  const pool = new RingVerifyPool(2, { inlineBelow: 0 });
  t.teardown(() => pool.close());
  const all = [...signed.map((v) => ({ ...v, want: true })), ...rejected.map((v) => ({ ...v, want: false }))];
  const got = await Promise.all(all.map((v) => pool.verify(hex(v.msg_hex), hex(v.sig_hex))));
  t.same(
    all.filter((v, i) => got[i] !== v.want).map((v) => v.id),
    [],
    `${signed.length} go-signed accepted, ${rejected.length} rejected refused`,
  );
  t.equal(got.filter(Boolean).length, signed.length);
  t.same(pool.counts, { inline: 0, threaded: all.length }, 'all on the threads');
});

t.test('a batch crosses to a thread as its own bytes, not the slabs its views share', async (t) => {
  const slab = new ArrayBuffer(8192);
  new Uint8Array(slab).fill(0xee);
  const view = (offset: number, bytes: number[]) => {
    const v = new Uint8Array(slab, offset, bytes.length);
    v.set(bytes);
    return v;
  };
  const jobs = [
    { id: 7, msg: view(100, [1, 2, 3]), sig: view(4000, [4, 5]) },
    { id: 9, msg: view(8000, [6]), sig: view(16, [7, 8, 9, 10]) },
  ];
  const packed = packBatch(jobs);
  t.same(packed.ids, [7, 9]);
  t.same(packed.lengths, [3, 2, 1, 4]);
  t.same([...packed.bytes], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.equal(packed.bytes.buffer.byteLength, 10, 'a buffer of exactly the jobs\' bytes, transferable');

  // Through a thread: signatures decoded as views on one slab (as the relay decoder makes them) verify.
  const pool = new RingVerifyPool(1, { inlineBelow: 0 });
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

t.test('inline, the parsed signature the validator already has gives ring-go\'s verdict on every vector', async (t) => {
  const inline = new RingVerifyPool(1, { inlineBelow: 1.01 });
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
  const pool = new RingVerifyPool(1, { inlineBelow: 0 });
  const inline = new RingVerifyPool(1, { inlineBelow: 1.01 });
  t.teardown(() => inline.close());
  t.teardown(() => pool.close());
  const v = signed[0]!;
  const msg = hex(v.msg_hex);
  t.equal(await pool.verify(msg, hex(v.sig_hex)), true);
  t.equal(await inline.verify(msg, hex(v.sig_hex)), true);
  msg[0] = msg[0]! ^ 1;
  t.equal(await pool.verify(msg, hex(v.sig_hex)), false);
  t.equal(await inline.verify(msg, hex(v.sig_hex)), false);
  t.same([pool.counts, inline.counts], [{ inline: 0, threaded: 2 }, { inline: 2, threaded: 0 }], 'each took the path its utilization threshold says');
});

t.test('a closed pool rejects new work instead of answering valid', async (t) => {
  const pool = new RingVerifyPool(1);
  await pool.close();
  await t.rejects(pool.verify(new Uint8Array(32), new Uint8Array(4)), /closed/);
  t.throws(() => new RingVerifyPool(0), /at least one thread/);
});
