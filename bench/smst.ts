import { hash } from 'node:crypto';
import { SparseMerkleSumTrie, compactClosestProof, encodeCompactClosestProof } from '../core/smst/index.js';
import { fmtMs, fmtRate, table } from './table.js';

/**
 * The sum trie at session sizes: insert rate, root time, memory, closest-proof time, for 10k, 100k and
 * 1M leaves of relay-sized values. Baseline in the same run: the trie's definition (spec/smst.md §3.5)
 * computed directly over the sorted leaves, which needs no trie at all.
 * Run: npm run bench:smst (uses --expose-gc for the memory column).
 */

const sizes = (process.env.SMST_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const VALUE_BYTES = 256;
const gc = (globalThis as { gc?: () => void }).gc;

function leaves(n: number) {
  const out: { key: Uint8Array; value: Uint8Array }[] = [];
  const value = new Uint8Array(VALUE_BYTES).fill(7);
  for (let i = 0; i < n; i++) {
    const key = hash('sha256', `relay-${i}`, 'buffer');
    out.push({ key, value });
  }
  return out;
}

// Baseline: root = node(all leaves, 0) on sorted paths; no trie structure, no extension nodes.
function baselineRoot(items: { path: Uint8Array; leafDigest: Uint8Array }[]): Uint8Array {
  const inner = (l: Uint8Array, r: Uint8Array) => {
    const enc = new Uint8Array(113);
    enc[0] = 1;
    enc.set(l, 1);
    enc.set(r, 49);
    const dl = new DataView(l.buffer, l.byteOffset);
    const dr = new DataView(r.buffer, r.byteOffset);
    const v = new DataView(enc.buffer);
    v.setBigUint64(97, (dl.getBigUint64(32) + dr.getBigUint64(32)) & 0xffffffffffffffffn);
    v.setBigUint64(105, (dl.getBigUint64(40) + dr.getBigUint64(40)) & 0xffffffffffffffffn);
    const out = new Uint8Array(48);
    out.set(hash('sha256', enc, 'buffer'));
    out.set(enc.subarray(97), 32);
    return out;
  };
  const bit = (p: Uint8Array, d: number) => (p[d >> 3]! >> (7 - (d & 7))) & 1;
  const node = (lo: number, hi: number, d: number): Uint8Array => {
    if (lo === hi) return new Uint8Array(48);
    if (hi - lo === 1) return items[lo]!.leafDigest;
    let mid = lo;
    while (mid < hi && bit(items[mid]!.path, d) === 0) mid++;
    return inner(node(lo, mid, d + 1), node(mid, hi, d + 1));
  };
  return node(0, items.length, 0);
}

const rows: (string | number)[][] = [];
for (const n of sizes) {
  const data = leaves(n);
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const trie = new SparseMerkleSumTrie();
  let t0 = performance.now();
  for (const l of data) trie.update(l.key, l.value, 1n);
  const insertMs = performance.now() - t0;
  t0 = performance.now();
  const root = trie.root();
  const rootMs = performance.now() - t0;
  gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  t0 = performance.now();
  const proofs = 200;
  for (let i = 0; i < proofs; i++) encodeCompactClosestProof(compactClosestProof(trie.proveClosest(hash('sha256', `path-${i}`, 'buffer'))));
  const proofMs = (performance.now() - t0) / proofs;

  // Baseline: same leaves, definition-only root.
  t0 = performance.now();
  const items = data.map((l) => {
    const path = hash('sha256', l.key, 'buffer');
    const enc = new Uint8Array(1 + 32 + VALUE_BYTES + 16);
    enc[1 - 1] = 0;
    enc.set(path, 1);
    enc.set(l.value, 33);
    const v = new DataView(enc.buffer);
    v.setBigUint64(33 + VALUE_BYTES, 1n);
    v.setBigUint64(41 + VALUE_BYTES, 1n);
    const leafDigest = new Uint8Array(48);
    leafDigest.set(hash('sha256', enc, 'buffer'));
    leafDigest.set(enc.subarray(enc.length - 16), 32);
    return { path, leafDigest };
  });
  items.sort((a, b) => Buffer.compare(a.path, b.path));
  const baseRoot = baselineRoot(items);
  const baselineMs = performance.now() - t0;
  if (Buffer.compare(baseRoot, root) !== 0) throw new Error('baseline root differs from the trie root');

  rows.push([
    n.toLocaleString('en'),
    fmtRate((n / insertMs) * 1000),
    fmtMs(insertMs + rootMs),
    fmtMs(rootMs),
    gc ? `${heapMb.toFixed(0)} MiB (${((heapMb * 2 ** 20) / n).toFixed(0)} B/leaf)` : 'run with --expose-gc',
    fmtMs(proofMs),
    `${fmtMs(baselineMs)} (${((insertMs + rootMs) / baselineMs).toFixed(2)}×)`,
  ]);
}
process.stdout.write(
  `${table(
    `bench/smst — ${VALUE_BYTES}-byte values, weight 1, Node ${process.version}`,
    ['leaves', 'inserts', 'build + root', 'root only', 'heap', 'closest proof + gob', 'baseline: definition over sorted leaves'],
    rows,
  )}\n`,
);
