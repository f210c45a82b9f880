import t, { type Test } from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  compactClosestProof,
  decodeCompactClosestProof,
  decompactClosestProof,
  encodeCompactClosestProof,
  KeyNotFoundError,
  SparseMerkleSumTrie,
  verifyClosestProof,
  verifyClosestProofBytes,
  type ClosestProof,
  type CompactClosestProof,
} from '../../core/smst/index.js';
import { hex, loadVector, toHex } from '../helpers/vectors.js';

interface Leaf { key: string; value: string; weight: string; path: string }
interface Root { root: string; sum: string; count: string }

const trees = loadVector<{ leaf_sequence: Leaf[]; trees: { id: string; num_leaves: number; root: Root; roots_after_inserts: { after_inserts: number; root: Root }[] }[]; order_independence: { tree: string; insert_order: number[]; root: Root }[]; empty_root: Root }>('smst/trees.json');
const SEQ = trees.leaf_sequence;

function build(leaves: Leaf[]): SparseMerkleSumTrie {
  const trie = new SparseMerkleSumTrie();
  for (const l of leaves) trie.update(hex(l.key), hex(l.value), BigInt(l.weight));
  return trie;
}
const treeCache = new Map<string, SparseMerkleSumTrie>();
function tree(id: string): SparseMerkleSumTrie {
  let tr = treeCache.get(id);
  if (!tr) {
    tr = build(SEQ.slice(0, Number(id.split('_')[1])));
    treeCache.set(id, tr);
  }
  return tr;
}

const nullableHex = (b: Uint8Array | null) => (b === null ? null : toHex(b));

t.test('trees.json: every root, every intermediate root, order independence', async (t) => {
  t.equal(toHex(new SparseMerkleSumTrie().root()), trees.empty_root.root);
  let roots = 0;
  for (const tr of trees.trees) {
    const trie = new SparseMerkleSumTrie();
    const checkpoints = new Map(tr.roots_after_inserts.map((r) => [r.after_inserts, r.root.root]));
    SEQ.slice(0, tr.num_leaves).forEach((l, i) => {
      trie.update(hex(l.key), hex(l.value), BigInt(l.weight));
      const want = checkpoints.get(i + 1);
      if (want !== undefined) {
        t.equal(toHex(trie.root()), want, `${tr.id} after ${i + 1} inserts`);
        roots++;
      }
    });
    t.equal(toHex(trie.root()), tr.root.root, tr.id);
    t.equal(trie.sum().toString(), tr.root.sum);
    t.equal(trie.count().toString(), tr.root.count);
    roots++;
  }
  for (const o of trees.order_independence) {
    t.equal(toHex(build(o.insert_order.map((i) => SEQ[i]!)).root()), o.root.root, `${o.tree} in another order`);
  }
  t.comment(`trees.json: ${roots} roots and ${trees.order_independence.length} orderings checked`);
});

t.test('updates_deletes.json: replace, delete, key-not-found, delete to empty, re-insert', async (t) => {
  const { sequences } = loadVector<{ sequences: { id: string; start_tree: string; ops: { op: string; key: string; value: string | null; weight: string | null; error: string | null; root_after: Root; description: string }[] }[] }>('smst/updates_deletes.json');
  let ops = 0;
  for (const s of sequences) {
    const trie = build(SEQ.slice(0, Number(s.start_tree.split('_')[1])));
    for (const op of s.ops) {
      let error: string | null = null;
      try {
        if (op.op === 'update') trie.update(hex(op.key), hex(op.value!), BigInt(op.weight!));
        else trie.delete(hex(op.key));
      } catch (err) {
        t.ok(err instanceof KeyNotFoundError);
        error = (err as Error).message;
      }
      t.equal(error, op.error, `${s.id}: ${op.description} (error)`);
      t.equal(toHex(trie.root()), op.root_after.root, `${s.id}: ${op.description}`);
      ops++;
    }
  }
  t.comment(`updates_deletes.json: ${ops} operations checked`);
});

interface ProofJson { path: string; flipped_bits: number[]; depth: number; closest_path: string; closest_value_hash: string | null; closest_proof: { side_nodes: string[] | null; non_membership_leaf_data: string | null; sibling_data: string | null } }
interface CompactJson { path: string; flipped_bits: string[] | null; depth: string; closest_path: string; closest_value_hash: string | null; closest_proof: { side_nodes: string[] | null; non_membership_leaf_data: string | null; bit_mask: string | null; num_side_nodes: number; sibling_data: string | null } | null }
interface Outcome { valid: boolean | null }
interface ProofCase { id: string; tree: string; tree_root: string; path: string; proof: ProofJson; compact_proof: CompactJson; compact_proof_gob: string; value_from_get_value_hash: string | null; verify: { verify_closest_proof: Outcome; verify_compact_closest_proof: Outcome; chain_pipeline_on_compact_proof_gob: Outcome } }

function proofFromJson(p: ProofJson): ClosestProof {
  return {
    path: hex(p.path),
    flippedBits: p.flipped_bits ?? [],
    depth: p.depth,
    closestPath: hex(p.closest_path),
    closestValueHash: p.closest_value_hash === null ? null : hex(p.closest_value_hash),
    closestProof: {
      sideNodes: (p.closest_proof.side_nodes ?? []).map(hex),
      nonMembershipLeafData: p.closest_proof.non_membership_leaf_data === null ? null : hex(p.closest_proof.non_membership_leaf_data),
      siblingData: p.closest_proof.sibling_data === null ? null : hex(p.closest_proof.sibling_data),
    },
  };
}

function compactFromJson(c: CompactJson): CompactClosestProof {
  const cp = c.closest_proof;
  return {
    path: hex(c.path),
    flippedBits: (c.flipped_bits ?? []).map(hex),
    depth: hex(c.depth),
    closestPath: hex(c.closest_path),
    closestValueHash: c.closest_value_hash === null ? null : hex(c.closest_value_hash),
    closestProof: {
      sideNodes: (cp?.side_nodes ?? []).map(hex),
      nonMembershipLeafData: cp?.non_membership_leaf_data ? hex(cp.non_membership_leaf_data) : null,
      bitMask: hex(cp?.bit_mask ?? ''),
      numSideNodes: cp?.num_side_nodes ?? 0,
      siblingData: cp?.sibling_data ? hex(cp.sibling_data) : null,
    },
  };
}

function sameProof(t: Test, got: ClosestProof, want: ProofJson, label: string): void {
  t.equal(toHex(got.path), want.path, `${label}: path`);
  t.same(got.flippedBits, want.flipped_bits ?? [], `${label}: flipped bits`);
  t.equal(got.depth, want.depth, `${label}: depth`);
  t.equal(toHex(got.closestPath), want.closest_path, `${label}: closest path`);
  t.equal(nullableHex(got.closestValueHash), want.closest_value_hash, `${label}: closest value hash`);
  t.same(got.closestProof.sideNodes.map(toHex), want.closest_proof.side_nodes ?? [], `${label}: side nodes`);
  t.equal(nullableHex(got.closestProof.siblingData), want.closest_proof.sibling_data, `${label}: sibling data`);
}

t.test('closest_proofs.json: every proof field, compact field, gob byte and verification result', async (t) => {
  const { cases } = loadVector<{ cases: ProofCase[] }>('smst/closest_proofs.json');
  for (const c of cases) {
    const trie = tree(c.tree);
    t.equal(toHex(trie.root()), c.tree_root);
    const proof = trie.proveClosest(hex(c.path));
    sameProof(t, proof, c.proof, c.id);
    const compact = compactClosestProof(proof);
    const want = compactFromJson(c.compact_proof);
    t.same(compact.flippedBits.map(toHex), want.flippedBits.map(toHex), `${c.id}: compact flipped bits`);
    t.equal(toHex(compact.depth), c.compact_proof.depth, `${c.id}: compact depth`);
    t.same(compact.closestProof.sideNodes.map(toHex), want.closestProof.sideNodes.map(toHex), `${c.id}: compact side nodes`);
    t.equal(toHex(compact.closestProof.bitMask), toHex(want.closestProof.bitMask), `${c.id}: bit mask`);
    t.equal(compact.closestProof.numSideNodes, want.closestProof.numSideNodes, `${c.id}: number of side nodes`);
    const gob = encodeCompactClosestProof(compact);
    t.equal(toHex(gob), c.compact_proof_gob, `${c.id}: gob bytes (MsgSubmitProof.proof)`);
    const decoded = decodeCompactClosestProof(hex(c.compact_proof_gob));
    t.equal(toHex(encodeCompactClosestProof(decoded)), c.compact_proof_gob, `${c.id}: gob decode → encode`);
    const root = hex(c.tree_root);
    t.equal(verifyClosestProof(proof, root), c.verify.verify_closest_proof.valid, `${c.id}: VerifyClosestProof`);
    t.equal(verifyClosestProof(decompactClosestProof(decoded), root), c.verify.verify_compact_closest_proof.valid, `${c.id}: VerifyCompactClosestProof`);
    t.equal(verifyClosestProofBytes(hex(c.compact_proof_gob), root), c.verify.chain_pipeline_on_compact_proof_gob.valid, `${c.id}: chain pipeline`);
  }
  t.comment(`closest_proofs.json: ${cases.length} proofs checked`);
});

t.test('corrupted_proofs.json: every mutation is refused, every accepted quirk accepted', async (t) => {
  const file = loadVector<{ corrupted: (ProofCase & { level: string; root: string; expected: ProofCase['verify']; compact_proof_gob: string | null; compact_proof: CompactJson | null })[]; accepted_quirks: (ProofCase & { level: string; root: string; expected: ProofCase['verify'] })[] }>('smst/corrupted_proofs.json');
  for (const group of [file.corrupted, file.accepted_quirks]) {
    for (const c of group) {
      const root = hex(c.root);
      const e = c.expected;
      if (c.level === 'full' && e.verify_closest_proof) {
        t.equal(verifyClosestProof(proofFromJson(c.proof), root), e.verify_closest_proof.valid ?? false, `${c.id}: VerifyClosestProof`);
      }
      if (c.compact_proof && e.verify_compact_closest_proof) {
        let ok = false;
        try {
          ok = verifyClosestProof(decompactClosestProof(compactFromJson(c.compact_proof)), root);
        } catch {
          ok = false;
        }
        t.equal(ok, e.verify_compact_closest_proof.valid ?? false, `${c.id}: VerifyCompactClosestProof`);
      }
      if (c.compact_proof_gob && e.chain_pipeline_on_compact_proof_gob) {
        t.equal(verifyClosestProofBytes(hex(c.compact_proof_gob), root), e.chain_pipeline_on_compact_proof_gob.valid ?? false, `${c.id}: chain pipeline`);
      }
    }
  }
  t.comment(`corrupted_proofs.json: ${file.corrupted.length} corrupted and ${file.accepted_quirks.length} accepted quirks checked`);
});

t.test('edge_cases.json: uint64 wrap, zero weights, empty-value quirk, node store, delete-then-prove panic', async (t) => {
  const e = loadVector<{ trees: { id: string; leaves: { key: string; value: string; weight: string }[]; root: Root; closest_proofs: ProofCase[] }[]; node_store_dumps: { tree: string; entries: { digest: string; preimage: string }[] }[]; prove_closest_after_delete_panic: { leaves: { key: string; value: string; weight: string }[]; prove_path: string; root_after_delete: Root } }>('smst/edge_cases.json');
  for (const tr of e.trees) {
    const trie = new SparseMerkleSumTrie();
    for (const l of tr.leaves) trie.update(hex(l.key), hex(l.value), BigInt(l.weight));
    t.equal(toHex(trie.root()), tr.root.root, `${tr.id}: root`);
    t.equal(trie.sum().toString(), tr.root.sum, `${tr.id}: sum (wraps mod 2^64)`);
    for (const c of tr.closest_proofs) {
      const proof = trie.proveClosest(hex(c.path));
      sameProof(t, proof, c.proof, c.id);
      t.equal(toHex(encodeCompactClosestProof(compactClosestProof(proof))), c.compact_proof_gob, `${c.id}: gob`);
      t.equal(verifyClosestProofBytes(hex(c.compact_proof_gob), trie.root()), c.verify.chain_pipeline_on_compact_proof_gob.valid, `${c.id}: chain pipeline`);
    }
  }
  for (const dump of e.node_store_dumps) {
    const store = tree(dump.tree).nodeStore();
    t.same(
      [...store].map(([d, enc]) => `${d}:${toHex(enc)}`).sort(),
      dump.entries.map((x) => `${x.digest}:${x.preimage}`).sort(),
      `${dump.tree}: every stored node and encoding, extension paths included`,
    );
  }
  const p = e.prove_closest_after_delete_panic;
  const trie = new SparseMerkleSumTrie();
  for (const l of p.leaves) trie.update(hex(l.key), hex(l.value), BigInt(l.weight));
  trie.delete(hex(p.leaves[0]!.key));
  t.equal(toHex(trie.root()), p.root_after_delete.root, 'root after the delete is right');
  t.throws(() => trie.proveClosest(hex(p.prove_path)), /depth != extNode.pathStart/, 'and proving then fails where Go panics');
  t.comment(`edge_cases.json: ${e.trees.length} edge trees with ${e.trees.reduce((n, x) => n + x.closest_proofs.length, 0)} proofs, ${e.node_store_dumps.length} node stores and the delete-then-prove case checked`);
});

t.test('gob_go1_19_variants.json: Go 1.19 numbering decodes to the same proof and passes the chain pipeline', async (t) => {
  const { cases } = loadVector<{ cases: { id: string; tree_root: string; compact_proof_gob_current_go: string; compact_proof_gob_go1_19: string }[] }>('smst/gob_go1_19_variants.json');
  for (const c of cases) {
    const old = decodeCompactClosestProof(hex(c.compact_proof_gob_go1_19));
    t.equal(toHex(encodeCompactClosestProof(old)), c.compact_proof_gob_current_go, `${c.id}: same proof`);
    t.equal(verifyClosestProofBytes(hex(c.compact_proof_gob_go1_19), hex(c.tree_root)), verifyClosestProofBytes(hex(c.compact_proof_gob_current_go), hex(c.tree_root)), `${c.id}: same verdict`);
  }
  t.comment(`gob_go1_19_variants.json: ${cases.length} variants checked`);
});

// ---- properties ----

function randomLeaves(n: number, seed: number): { key: Uint8Array; value: Uint8Array; weight: bigint }[] {
  return Array.from({ length: n }, (_, i) => ({
    key: sha256(new TextEncoder().encode(`prop-${seed}-${i}`)),
    value: sha256(new TextEncoder().encode(`value-${seed}-${i}`)).subarray(0, (i % 40) + 1),
    weight: BigInt((i % 9) + 1),
  }));
}

function shuffle<T>(list: T[], seed: number): T[] {
  const out = [...list];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

t.test('property: random trees give the same root in any insertion order', async (t) => {
  for (const n of [2, 17, 300]) {
    const leaves = randomLeaves(n, n);
    const roots = new Set<string>();
    for (let k = 0; k < 5; k++) {
      const trie = new SparseMerkleSumTrie();
      for (const l of shuffle(leaves, k + 1)) trie.update(l.key, l.value, l.weight);
      roots.add(toHex(trie.root()));
    }
    t.equal(roots.size, 1, `${n} leaves, 5 orders, one root`);
  }
});

t.test('property: every closest proof of a random path verifies, through gob and the chain pipeline', async (t) => {
  const trie = new SparseMerkleSumTrie();
  for (const l of randomLeaves(500, 7)) trie.update(l.key, l.value, l.weight);
  const root = trie.root();
  let verified = 0;
  for (let i = 0; i < 200; i++) {
    const proof = trie.proveClosest(sha256(new TextEncoder().encode(`random-path-${i}`)));
    if (verifyClosestProof(proof, root) && verifyClosestProofBytes(encodeCompactClosestProof(compactClosestProof(proof)), root)) verified++;
  }
  t.equal(verified, 200);
});

t.test('property: flipping any byte of a proof makes it fail or fail to decode, except where Go does not look', async (t) => {
  const trie = new SparseMerkleSumTrie();
  for (const l of randomLeaves(64, 3)) trie.update(l.key, l.value, l.weight);
  const root = trie.root();
  const proof = trie.proveClosest(sha256(new TextEncoder().encode('flip-me')));
  t.same(proof.flippedBits, [], 'this path needs no flips (keeps the layout below simple)');
  const bytes = encodeCompactClosestProof(compactClosestProof(proof));
  t.ok(verifyClosestProofBytes(bytes, root));
  // Layout after the 286-byte type header: uint length, ff80 (type id), 01 20 <Path>, 02 01 <Depth>, …
  const header = 286;
  const lengthBytes = bytes[header]! < 128 ? 1 : 1 + (256 - bytes[header]!);
  const pathStart = header + lengthBytes + 2 + 2;
  t.equal(toHex(bytes.subarray(pathStart, pathStart + 32)), toHex(proof.path));
  const depthPos = pathStart + 32 + 2;
  t.equal(bytes[depthPos], proof.depth);
  // Go's VerifyClosestProof compares only the first Depth bits of Path (the chain ties Path to the
  // seed block separately) and never uses Depth in the fold (docs/spec/smst.md §8.5): flips there pass.
  const ignoredByGo = (i: number) => (i >= pathStart && i < pathStart + 32) || i === depthPos;
  const wronglyAccepted: number[] = [];
  let headerAccepted = 0;
  for (let i = 0; i < bytes.length; i++) {
    const mutated = Uint8Array.from(bytes);
    mutated[i]! ^= 0x01;
    if (!verifyClosestProofBytes(mutated, root)) continue;
    if (i < header) headerAccepted++;
    else if (!ignoredByGo(i)) wronglyAccepted.push(i);
  }
  t.same(wronglyAccepted, [], 'every other flipped byte of the proof value fails');
  const highBit = Uint8Array.from(bytes);
  highBit[pathStart]! ^= 0x80;
  t.notOk(verifyClosestProofBytes(highBit, root), 'a Path bit below Depth is checked');
  t.comment(`${bytes.length} single-byte flips; ${headerAccepted} in the type-definition header still decode (type and field names the decoder does not need); none in the value`);
});
