import { sha256 } from '../crypto/sha256.js';
import {
  DIGEST_SIZE,
  encodeExtension,
  encodeInner,
  encodeLeaf,
  extensionDigest,
  flipPathBit,
  getPathBit,
  innerDigest,
  PATH_SIZE,
  PLACEHOLDER,
} from './hasher.js';
import type { ClosestProof } from './trie.js';

/**
 * The Sparse Merkle Sum Trie computed from its leaves sorted by path, without building the trie.
 *
 * A trie's root depends only on its set of leaves: a subtree of one leaf is that leaf's digest (leaf
 * compression), a subtree of several is the inner node of its two halves, and an extension's digest is
 * that of the inner nodes it stands for. Leaves sorted by path make every subtree a contiguous range,
 * so each inner node is hashed once and only the current range is held. The one thing the set does not
 * fix is which leaf path Go's trie keeps in an extension node (visible in a proof's SiblingData): the
 * path of the second leaf inserted under it, which is why each leaf carries its insertion sequence.
 */

export interface SortedLeaf {
  /** sha256(key). */
  path: Uint8Array;
  /** The leaf's 48-byte digest: H(0x00 ‖ path ‖ value ‖ weight ‖ 1) ‖ weight ‖ 1. */
  digest: Uint8Array;
  /** Insertion order within the session (only compared, and only for extension siblings). */
  seq: number;
}

/** path = sha256(key) and the leaf digest, as update(key, value, weight) computes them. */
export function sortedLeaf(key: Uint8Array, value: Uint8Array, weight: bigint, seq: number): SortedLeaf {
  const member = leafPathAndDigest(key, value, weight);
  return { path: member.subarray(0, PATH_SIZE), digest: member.subarray(PATH_SIZE), seq };
}

/** path ‖ leaf digest (80 bytes) in one buffer, the leaf encoding built once: the miner's per-relay cost. */
export function leafPathAndDigest(key: Uint8Array, value: Uint8Array, weight: bigint): Buffer {
  const path = sha256(key);
  const encoding = Buffer.allocUnsafe(1 + PATH_SIZE + value.length + 16);
  encoding[0] = 0x00;
  encoding.set(path, 1);
  encoding.set(value, 1 + PATH_SIZE);
  encoding.writeBigUInt64BE(weight & 0xffffffffffffffffn, 1 + PATH_SIZE + value.length);
  encoding.writeBigUInt64BE(1n, 1 + PATH_SIZE + value.length + 8);
  const out = Buffer.allocUnsafe(PATH_SIZE + DIGEST_SIZE);
  out.set(path, 0);
  out.set(sha256(encoding), PATH_SIZE);
  out.set(encoding.subarray(encoding.length - 16), PATH_SIZE + 32);
  return out;
}

export function comparePaths(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Bits shared from the first, 0–256. */
function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  while (i < PATH_SIZE && a[i] === b[i]) i++;
  if (i === PATH_SIZE) return PATH_SIZE * 8;
  let bits = i * 8;
  const x = a[i]! ^ b[i]!;
  for (let m = 0x80; (x & m) === 0; m >>= 1) bits++;
  return bits;
}

/** First index in [lo, hi) whose path has bit `bit` set; the range is sorted and shares the bits before. */
function firstWithBit(leaves: readonly SortedLeaf[], lo: number, hi: number, bit: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (getPathBit(leaves[mid]!.path, bit) === 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The digest of the subtree of leaves [lo, hi) hung at `depth` (all of them share the bits above it). */
export function rangeDigest(leaves: readonly SortedLeaf[], lo: number, hi: number, depth: number): Uint8Array {
  if (hi <= lo) return PLACEHOLDER;
  if (hi - lo === 1) return leaves[lo]!.digest;
  const branch = commonPrefixBits(leaves[lo]!.path, leaves[hi - 1]!.path);
  const mid = firstWithBit(leaves, lo, hi, branch);
  const inner = innerDigest(rangeDigest(leaves, lo, mid, branch + 1), rangeDigest(leaves, mid, hi, branch + 1));
  return branch === depth ? inner : extensionDigest(leaves[lo]!.path, depth, branch, inner);
}

const countOf = (digest: Uint8Array): bigint => Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).readBigUInt64BE(DIGEST_SIZE - 8);

/** The digest of a node whose children hang one level below it. */
function combine(left: Uint8Array, right: Uint8Array): Uint8Array {
  const l = countOf(left);
  const r = countOf(right);
  if (l === 0n && r === 0n) return PLACEHOLDER;
  if (r === 0n && l === 1n) return left; // a lone leaf rises to where it is alone
  if (l === 0n && r === 1n) return right;
  return innerDigest(left, right);
}

/** The top `bits` bits of a path as an integer (bits ≤ 24). */
function bucketOf(path: Uint8Array, bits: number): number {
  if (bits === 0) return 0;
  return ((path[0]! << 16) | (path[1]! << 8) | path[2]!) >>> (24 - bits);
}

/** Bucket bits for a session of `count` leaves: a few dozen leaves per bucket, at most 2^16 buckets. */
export function frontierBits(count: number): number {
  return Math.max(0, Math.min(16, Math.ceil(Math.log2(Math.max(1, count))) - 6));
}

/**
 * The digests of every subtree at depth `bits` (2^bits buckets by path prefix; placeholders where
 * empty), from which the root and any proof's upper side nodes follow without the leaves. Kept in
 * Redis between a claim and its proof: 48 bytes per bucket.
 */
export class Frontier {
  /** levels[d] holds the 2^d digests at depth d; levels[bits] are the buckets. */
  readonly #levels: Uint8Array[][];

  constructor(
    readonly bits: number,
    buckets: Uint8Array[],
  ) {
    if (buckets.length !== 2 ** bits) throw new RangeError(`a frontier of ${bits} bits has ${2 ** bits} buckets, got ${buckets.length}`);
    const levels: Uint8Array[][] = [];
    levels[bits] = buckets;
    for (let d = bits - 1; d >= 0; d--) {
      const below = levels[d + 1]!;
      levels[d] = Array.from({ length: 2 ** d }, (_, i) => combine(below[2 * i]!, below[2 * i + 1]!));
    }
    this.#levels = levels;
  }

  /** 48 bytes: hash ‖ sum ‖ count, as SparseMerkleSumTrie.root(). */
  root(): Uint8Array {
    return Uint8Array.from(this.#levels[0]![0]!);
  }

  /** The digest of the subtree at `depth` (≤ bits) on `path`'s prefix. */
  at(depth: number, path: Uint8Array): Uint8Array {
    return this.#levels[depth]![bucketOf(path, depth)]!;
  }

  /** One byte of bits, then every bucket digest. */
  encode(): Buffer {
    const buckets = this.#levels[this.bits]!;
    const out = Buffer.alloc(1 + buckets.length * DIGEST_SIZE);
    out[0] = this.bits;
    buckets.forEach((d, i) => out.set(d, 1 + i * DIGEST_SIZE));
    return out;
  }

  static decode(bytes: Uint8Array): Frontier {
    const bits = bytes[0];
    if (bits === undefined || bits > 16 || bytes.length !== 1 + 2 ** bits * DIGEST_SIZE) throw new RangeError('not an encoded frontier');
    return new Frontier(
      bits,
      Array.from({ length: 2 ** bits }, (_, i) => bytes.subarray(1 + i * DIGEST_SIZE, 1 + (i + 1) * DIGEST_SIZE)),
    );
  }

  /**
   * Builds the frontier from pages of leaves in ascending path order (each leaf once), holding one
   * bucket's leaves at a time.
   */
  static async build(pages: AsyncIterable<readonly SortedLeaf[]> | Iterable<readonly SortedLeaf[]>, bits: number): Promise<Frontier> {
    const buckets: Uint8Array[] = new Array<Uint8Array>(2 ** bits).fill(PLACEHOLDER);
    let current: SortedLeaf[] = [];
    let currentBucket = -1;
    let last: Uint8Array | undefined;
    const flush = () => {
      if (current.length) buckets[currentBucket] = rangeDigest(current, 0, current.length, bits);
      current = [];
    };
    for await (const page of pages) {
      for (const leaf of page) {
        if (last && comparePaths(last, leaf.path) >= 0) throw new Error('leaves are not in strictly ascending path order');
        last = leaf.path;
        const b = bucketOf(leaf.path, bits);
        if (b !== currentBucket) {
          flush();
          currentBucket = b;
        }
        current.push(leaf);
      }
    }
    flush();
    return new Frontier(bits, buckets);
  }
}

/** Where a proof gets what the frontier does not hold. */
export interface LeafSource {
  /** Every leaf whose path starts with the first `bits` bits of `prefix`, in path order. */
  range(prefix: Uint8Array, bits: number): Promise<readonly SortedLeaf[]>;
  /** The value (relay bytes) stored at a leaf path. */
  value(path: Uint8Array): Promise<Uint8Array>;
}

/** The leaves of a subtree: fetched once, then any deeper subtree is a sub-range. */
interface Loaded {
  depth: number;
  leaves: readonly SortedLeaf[];
}

function subRange(l: Loaded, path: Uint8Array, depth: number): [number, number] {
  let lo = 0;
  let hi = l.leaves.length;
  for (let d = l.depth; d < depth; d++) {
    const mid = firstWithBit(l.leaves, lo, hi, d);
    if (getPathBit(path, d) === 0) hi = mid;
    else lo = mid;
  }
  return [lo, hi];
}

/**
 * smt ProveClosest, from a frontier and the few leaves below it on the proof's path. Go's walk
 * descends by the path's bits, flipping a bit wherever its side is empty, to the first subtree of a
 * single leaf; the side nodes are the other halves on the way (placeholders where empty), the
 * sibling data the encoding of the last one. Byte-identical to SparseMerkleSumTrie.proveClosest for
 * a trie that received the leaves in `seq` order.
 */
export async function proveClosest(frontier: Frontier, path: Uint8Array, source: LeafSource): Promise<ClosestProof> {
  if (path.length !== PATH_SIZE) throw new RangeError(`closest proof path must be ${PATH_SIZE} bytes, got ${path.length}`);
  const wp = Uint8Array.from(path);
  const flippedBits: number[] = [];
  const side: Uint8Array[] = [];
  let loaded: Loaded | undefined;

  const load = async (depth: number): Promise<Loaded> => {
    if (!loaded) loaded = { depth, leaves: await source.range(wp, depth) };
    return loaded;
  };
  /** The subtree at `depth` on prefix `p`: its digest and, below the frontier, its leaves. */
  const node = async (depth: number, p: Uint8Array): Promise<{ digest: Uint8Array; count: bigint; leaves?: readonly SortedLeaf[] }> => {
    if (depth <= frontier.bits) {
      const digest = frontier.at(depth, p);
      return { digest, count: countOf(digest) };
    }
    const l = await load(frontier.bits);
    const [lo, hi] = subRange(l, p, depth);
    const leaves = l.leaves.slice(lo, hi);
    return { digest: rangeDigest(leaves, 0, leaves.length, depth), count: BigInt(leaves.length), leaves };
  };

  const root = frontier.at(0, wp);
  if (countOf(root) === 0n) {
    // Go's walk on an empty trie flips bit 0 and stops.
    return { path: Uint8Array.from(path), flippedBits: [0], depth: 0, closestPath: Uint8Array.from(PLACEHOLDER), closestValueHash: null, closestProof: { sideNodes: [], nonMembershipLeafData: null, siblingData: null } };
  }
  let depth = 0;
  let current = { digest: root, count: countOf(root) } as Awaited<ReturnType<typeof node>>;
  while (current.count > 1n) {
    const other = Uint8Array.from(wp);
    flipPathBit(other, depth);
    let next = await node(depth + 1, wp);
    let sibling = await node(depth + 1, other);
    if (next.count === 0n) {
      flipPathBit(wp, depth);
      flippedBits.push(depth);
      [next, sibling] = [sibling, next];
    }
    side.push(sibling.digest);
    current = next;
    depth++;
  }
  const leaf = current.leaves?.[0] ?? (await source.range(wp, depth))[0];
  if (!leaf) throw new Error('the leaf source has no leaf where the frontier counts one');
  const siblingData = depth === 0 ? null : await siblingEncoding(depth, wp, frontier, source, loaded);
  return {
    path: Uint8Array.from(path),
    flippedBits,
    depth,
    closestPath: Uint8Array.from(leaf.path),
    closestValueHash: await leafDataOf(leaf, source),
    closestProof: { sideNodes: side.reverse().map((s) => Uint8Array.from(s)), nonMembershipLeafData: null, siblingData },
  };
}

async function leafDataOf(leaf: SortedLeaf, source: LeafSource): Promise<Uint8Array> {
  const value = await source.value(leaf.path);
  const out = new Uint8Array(value.length + 16);
  out.set(value, 0);
  out.set(leaf.digest.subarray(DIGEST_SIZE - 16), value.length);
  return out;
}

/** Go's serialization of the sibling of the closest leaf (at `depth`, opposite `wp`'s last bit). */
async function siblingEncoding(depth: number, wp: Uint8Array, frontier: Frontier, source: LeafSource, loaded: Loaded | undefined): Promise<Uint8Array> {
  const p = Uint8Array.from(wp);
  flipPathBit(p, depth - 1);
  let leaves: readonly SortedLeaf[];
  if (loaded && depth > loaded.depth) {
    const [lo, hi] = subRange(loaded, p, depth);
    leaves = loaded.leaves.slice(lo, hi);
  } else {
    // Above the frontier's depth a sibling of two halves needs only their digests.
    if (depth < frontier.bits && countOf(frontier.at(depth, p)) > 1n) {
      const left = Uint8Array.from(p);
      const right = Uint8Array.from(p);
      if (getPathBit(p, depth) === 1) flipPathBit(left, depth);
      else flipPathBit(right, depth);
      const l = frontier.at(depth + 1, left);
      const r = frontier.at(depth + 1, right);
      if (countOf(l) > 0n && countOf(r) > 0n) return encodeInner(l, r);
    }
    leaves = await source.range(p, depth);
  }
  if (leaves.length === 1) {
    const leaf = leaves[0]!;
    return encodeLeaf(leaf.path, await leafDataOf(leaf, source));
  }
  const branch = commonPrefixBits(leaves[0]!.path, leaves[leaves.length - 1]!.path);
  const mid = firstWithBit(leaves, 0, leaves.length, branch);
  const left = rangeDigest(leaves, 0, mid, branch + 1);
  const right = rangeDigest(leaves, mid, leaves.length, branch + 1);
  if (branch === depth) return encodeInner(left, right);
  // Go keeps, in an extension, the path of the second leaf inserted beneath it.
  return encodeExtension(secondInserted(leaves).path, depth, branch, innerDigest(left, right));
}

function secondInserted(leaves: readonly SortedLeaf[]): SortedLeaf {
  let first = leaves[0]!;
  let second = leaves[1]!;
  if (second.seq < first.seq) [first, second] = [second, first];
  for (let i = 2; i < leaves.length; i++) {
    const l = leaves[i]!;
    if (l.seq < first.seq) [first, second] = [l, first];
    else if (l.seq < second.seq) second = l;
  }
  return second;
}

/** -1, 0, 1: how the first `bits` bits of `path` compare with those of `prefix`. */
function comparePrefix(path: Uint8Array, prefix: Uint8Array, bits: number): number {
  const shared = commonPrefixBits(path, prefix);
  if (shared >= bits) return 0;
  return getPathBit(path, shared) - getPathBit(prefix, shared);
}

/** A LeafSource over leaves held in memory (sorted by path) and their values by path. */
export function memoryLeafSource(sorted: readonly SortedLeaf[], values: (path: Uint8Array) => Uint8Array | undefined): LeafSource {
  const bound = (prefix: Uint8Array, bits: number, upper: boolean) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = comparePrefix(sorted[mid]!.path, prefix, bits);
      if (c < 0 || (upper && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {
    range: async (prefix, bits) => sorted.slice(bound(prefix, bits, false), bound(prefix, bits, true)),
    value: async (path) => {
      const v = values(path);
      if (!v) throw new Error(`no value for leaf ${Buffer.from(path).toString('hex')}`);
      return v;
    },
  };
}
