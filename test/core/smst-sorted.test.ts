import t, { type Test } from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { comparePaths, Frontier, frontierBits, memoryLeafSource, proveClosest, sortedLeaf, SparseMerkleSumTrie, type ClosestProof, type SortedLeaf } from '../../core/smst/index.js';
import { hex, loadVector, toHex } from '../helpers/vectors.js';

interface Leaf { key: string; value: string; weight: string }
interface ProofJson { path: string; flipped_bits: number[] | null; depth: number; closest_path: string; closest_value_hash: string | null; closest_proof: { side_nodes: string[] | null; sibling_data: string | null } }

/** Leaves in insertion order → what the sorted path needs: leaves sorted by path, values by path. */
function session(leaves: { key: Uint8Array; value: Uint8Array; weight: bigint }[]) {
  const sorted = leaves.map((l, seq) => sortedLeaf(l.key, l.value, l.weight, seq)).sort((a, b) => comparePaths(a.path, b.path));
  const values = new Map(leaves.map((l) => [toHex(sha256(l.key)), l.value]));
  return { sorted, source: memoryLeafSource(sorted, (p) => values.get(toHex(p))) };
}

function pages(sorted: SortedLeaf[], size: number): SortedLeaf[][] {
  const out: SortedLeaf[][] = [];
  for (let i = 0; i < sorted.length; i += size) out.push(sorted.slice(i, i + size));
  return out;
}

function sameProof(t: Test, got: ClosestProof, want: ClosestProof | ProofJson, label: string): void {
  const w: ProofJson =
    'closestProof' in want
      ? {
          path: toHex(want.path),
          flipped_bits: want.flippedBits,
          depth: want.depth,
          closest_path: toHex(want.closestPath),
          closest_value_hash: want.closestValueHash === null ? null : toHex(want.closestValueHash),
          closest_proof: { side_nodes: want.closestProof.sideNodes.map(toHex), sibling_data: want.closestProof.siblingData === null ? null : toHex(want.closestProof.siblingData) },
        }
      : want;
  t.same(
    {
      path: toHex(got.path),
      flipped_bits: got.flippedBits,
      depth: got.depth,
      closest_path: toHex(got.closestPath),
      closest_value_hash: got.closestValueHash === null ? null : toHex(got.closestValueHash),
      side_nodes: got.closestProof.sideNodes.map(toHex),
      sibling_data: got.closestProof.siblingData === null ? null : toHex(got.closestProof.siblingData),
    },
    {
      path: w.path,
      flipped_bits: w.flipped_bits ?? [],
      depth: w.depth,
      closest_path: w.closest_path,
      closest_value_hash: w.closest_value_hash,
      side_nodes: w.closest_proof.side_nodes ?? [],
      sibling_data: w.closest_proof.sibling_data,
    },
    label,
  );
}

const trees = loadVector<{ leaf_sequence: Leaf[]; trees: { id: string; num_leaves: number; root: { root: string } }[] }>('smst/trees.json');
const SEQ = trees.leaf_sequence.map((l) => ({ key: hex(l.key), value: hex(l.value), weight: BigInt(l.weight) }));

t.test('trees.json: every root from sorted leaves, at every bucket size', async (t) => {
  let checked = 0;
  for (const tr of trees.trees) {
    const { sorted } = session(SEQ.slice(0, tr.num_leaves));
    for (const bits of new Set([0, 1, 4, frontierBits(tr.num_leaves), 12])) {
      const f = await Frontier.build(pages(sorted, 7), bits);
      t.equal(toHex(f.root()), tr.root.root, `${tr.id}, ${bits} bucket bits`);
      t.equal(toHex(Frontier.decode(f.encode()).root()), tr.root.root, `${tr.id}, ${bits} bucket bits, encoded and decoded`);
      checked++;
    }
  }
  t.comment(`${checked} roots`);
});

t.test('closest_proofs.json and edge_cases.json: every proof byte-identical to Go, sibling extensions included', async (t) => {
  const { cases } = loadVector<{ cases: { id: string; tree: string; tree_root: string; path: string; proof: ProofJson }[] }>('smst/closest_proofs.json');
  const edge = loadVector<{ trees: { id: string; leaves: Leaf[]; root: { root: string }; closest_proofs: { id: string; path: string; proof: ProofJson }[] }[] }>('smst/edge_cases.json');
  const all = [
    ...cases.map((c) => ({ id: c.id, leaves: SEQ.slice(0, Number(c.tree.split('_')[1])), root: c.tree_root, path: c.path, proof: c.proof })),
    ...edge.trees.flatMap((tr) => tr.closest_proofs.map((c) => ({ id: c.id, leaves: tr.leaves.map((l) => ({ key: hex(l.key), value: hex(l.value), weight: BigInt(l.weight) })), root: tr.root.root, path: c.path, proof: c.proof }))),
  ];
  let extensions = 0;
  for (const c of all) {
    const { sorted, source } = session(c.leaves);
    for (const bits of new Set([0, 3, frontierBits(sorted.length)])) {
      const f = await Frontier.build([sorted], bits);
      t.equal(toHex(f.root()), c.root, `${c.id}: root`);
      sameProof(t, await proveClosest(f, hex(c.path), source), c.proof, `${c.id}, ${bits} bucket bits`);
    }
    if (c.proof.closest_proof.sibling_data?.startsWith('02')) extensions++;
  }
  t.equal(extensions, 9, 'nine of the proofs carry an extension node as sibling data');
  t.comment(`${all.length} Go proofs`);
});

function randomLeaves(n: number, seed: number, clustered = false) {
  return Array.from({ length: n }, (_, i) => {
    let key = sha256(new TextEncoder().encode(`sorted-${seed}-${i}`));
    if (clustered) {
      // Keys whose paths share long prefixes: extension nodes at many depths.
      for (let k = 0; ; k++) {
        const candidate = sha256(new TextEncoder().encode(`sorted-${seed}-${i}-${k}`));
        if ((sha256(candidate)[0]! & 0xf0) === 0x50) {
          key = candidate;
          break;
        }
      }
    }
    return { key, value: sha256(new TextEncoder().encode(`v-${seed}-${i}`)).subarray(0, (i % 50) + 1), weight: BigInt((i % 5) + 1) };
  });
}

t.test('property: random sessions, any insertion order: the same root and byte-identical proofs as the trie', async (t) => {
  let proofs = 0;
  let extensionSiblings = 0;
  for (const [n, clustered] of [[0, false], [1, false], [2, false], [3, true], [40, false], [300, true], [2000, false]] as const) {
    for (let seed = 1; seed <= 3; seed++) {
      const leaves = randomLeaves(n, seed * 100 + n, clustered);
      const trie = new SparseMerkleSumTrie();
      for (const l of leaves) trie.update(l.key, l.value, l.weight);
      const { sorted, source } = session(leaves);
      for (const bits of new Set([0, frontierBits(n), 9])) {
        const f = await Frontier.build(pages(sorted, 64), bits);
        t.equal(toHex(f.root()), toHex(trie.root()), `${n} leaves (seed ${seed}), ${bits} bits: root`);
        for (let i = 0; i < 40; i++) {
          const path = sha256(new TextEncoder().encode(`p-${seed}-${i}`));
          if (clustered && i % 2) path[0] = 0x50 | (path[0]! & 0x0f);
          const want = trie.proveClosest(path);
          const got = await proveClosest(f, path, source);
          sameProof(t, got, want, `${n} leaves (seed ${seed}), ${bits} bits, path ${i}`);
          proofs++;
          if (got.closestProof.siblingData?.[0] === 0x02) extensionSiblings++;
        }
      }
    }
  }
  t.ok(extensionSiblings > 20, `extension siblings exercised (${extensionSiblings})`);
  t.equal(proofs, 1920);
  t.comment(`${proofs} proofs compared, ${extensionSiblings} with an extension sibling`);
});

t.test('leaves out of order or repeated are refused', async (t) => {
  const { sorted } = session(randomLeaves(5, 1));
  await t.rejects(Frontier.build([[sorted[1]!, sorted[0]!]], 2), /ascending path order/);
  await t.rejects(Frontier.build([[sorted[0]!], [sorted[0]!]], 2), /ascending path order/);
  t.throws(() => Frontier.decode(Buffer.alloc(10)), /not an encoded frontier/);
});
