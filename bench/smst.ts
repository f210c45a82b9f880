import { hash } from 'node:crypto';
import { comparePaths, compactClosestProof, encodeCompactClosestProof, Frontier, frontierBits, sortedLeaf, SparseMerkleSumTrie } from '../core/smst/index.js';
import { fmtMs, fmtRate, table } from './table.js';

/**
 * The sum trie at session sizes: insert rate, root time, memory, closest-proof time, for 10k, 100k and
 * 1M leaves of relay-sized values. Baseline in the same run: the root from the same leaves sorted by path
 * (core/smst/sorted-leaves.ts, what the miner uses), which needs no trie at all.
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

const rows: (string | number)[][] = [];
for (const n of sizes) {
  const data = leaves(n);
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let trie: SparseMerkleSumTrie | undefined = new SparseMerkleSumTrie();
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
  // The baseline runs without the trie's heap in the process.
  trie = undefined;
  gc?.();

  // Baseline: same leaves, the root from path-sorted leaves as the miner computes it (no trie at all).
  t0 = performance.now();
  const sorted = data.map((l, seq) => sortedLeaf(l.key, l.value, 1n, seq)).sort((a, b) => comparePaths(a.path, b.path));
  const baseRoot = (await Frontier.build([sorted], frontierBits(n))).root();
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
    ['leaves', 'inserts', 'build + root', 'root only', 'heap', 'closest proof + gob', 'baseline: sorted leaves (leaf hashing and sort included)'],
    rows,
  )}\n`,
);
