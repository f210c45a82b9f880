import { sha256 } from '../crypto/sha256.js';
import {
  DIGEST_SIZE,
  digestOfEncoding,
  encodeExtension,
  encodeInner,
  encodeLeaf,
  extensionDigest,
  flipPathBit,
  getPathBit,
  innerDigest,
  leafData,
  MAX_DEPTH,
  PATH_SIZE,
  PLACEHOLDER,
  sumAndCount,
  u64be,
} from './hasher.js';

/**
 * The Sparse Merkle Sum Trie as pokt-network/smt v0.14.1 builds it for Pocket (sha256, value hasher
 * nil; docs/spec/smst.md). The node structure follows the Go code step for step — including which leaf
 * path an extension node keeps — so proofs, SiblingData included, are byte-identical to Go's.
 */

interface LeafNode {
  kind: 'leaf';
  path: Uint8Array;
  /** value ‖ u64be(weight) ‖ u64be(1) */
  data: Uint8Array;
  digest?: Uint8Array | undefined;
}

interface InnerNode {
  kind: 'inner';
  left: TrieNode;
  right: TrieNode;
  digest?: Uint8Array | undefined;
}

interface ExtensionNode {
  kind: 'ext';
  path: Uint8Array;
  start: number;
  end: number;
  child: TrieNode;
  digest?: Uint8Array | undefined;
}

type TrieNode = LeafNode | InnerNode | ExtensionNode | null;

export interface SparseMerkleProof {
  /** Sibling digests bottom-up, placeholders included. */
  sideNodes: Uint8Array[];
  nonMembershipLeafData: Uint8Array | null;
  siblingData: Uint8Array | null;
}

export interface ClosestProof {
  path: Uint8Array;
  flippedBits: number[];
  depth: number;
  closestPath: Uint8Array;
  /** leafData of the closest leaf: relay bytes ‖ u64be(weight) ‖ u64be(1); null for an empty trie. */
  closestValueHash: Uint8Array | null;
  closestProof: SparseMerkleProof;
}

export class KeyNotFoundError extends Error {
  constructor() {
    super('key not found');
    this.name = 'KeyNotFoundError';
  }
}

function commonPrefixBits(a: Uint8Array, b: Uint8Array, from: number): number {
  let i = from;
  while (i < MAX_DEPTH && getPathBit(a, i) === getPathBit(b, i)) i++;
  return i;
}

function digestOf(node: TrieNode): Uint8Array {
  if (node === null) return PLACEHOLDER;
  if (node.digest) return node.digest;
  let d: Uint8Array;
  switch (node.kind) {
    case 'leaf':
      d = digestOfEncoding(encodeLeaf(node.path, node.data));
      break;
    case 'inner':
      d = innerDigest(digestOf(node.left), digestOf(node.right));
      break;
    case 'ext':
      d = extensionDigest(node.path, node.start, node.end, digestOf(node.child));
      break;
  }
  node.digest = d;
  return d;
}

/** The encoding Go's serialize() gives a node: what a proof carries as SiblingData. */
function encodingOf(node: Exclude<TrieNode, null>): Uint8Array {
  switch (node.kind) {
    case 'leaf':
      return encodeLeaf(node.path, node.data);
    case 'inner':
      return encodeInner(digestOf(node.left), digestOf(node.right));
    case 'ext':
      return encodeExtension(node.path, node.start, node.end, digestOf(node.child));
  }
}

function expand(ext: ExtensionNode): InnerNode {
  let last: TrieNode = ext.child;
  for (let i = ext.end - 1; i >= ext.start; i--) {
    last = getPathBit(ext.path, i) === 0 ? { kind: 'inner', left: last, right: null } : { kind: 'inner', left: null, right: last };
  }
  return last as InnerNode;
}

/** extensionNode.boundsMatch: matched length from `start` and whether the whole range matched. */
function boundsMatch(ext: ExtensionNode, path: Uint8Array, depth: number): [number, boolean] {
  if (depth !== ext.start) throw new Error('depth != extNode.pathStart');
  for (let i = ext.start; i < ext.end; i++) {
    if (getPathBit(ext.path, i) !== getPathBit(path, i)) return [i - ext.start, false];
  }
  return [ext.end - ext.start, true];
}

function checkPath(path: Uint8Array, what: string): void {
  if (path.length !== PATH_SIZE) throw new RangeError(`${what} must be ${PATH_SIZE} bytes, got ${path.length}`);
}

export class SparseMerkleSumTrie {
  #root: TrieNode = null;

  /** Inserts or replaces: path = sha256(key); the leaf holds value ‖ weight ‖ 1. */
  update(key: Uint8Array, value: Uint8Array, weight: bigint): void {
    const path = sha256(key);
    this.#root = this.#update(this.#root, 0, path, leafData(value, weight));
  }

  #update(node: TrieNode, depth: number, path: Uint8Array, data: Uint8Array): TrieNode {
    const newLeaf: LeafNode = { kind: 'leaf', path, data };
    if (node === null) return newLeaf;
    if (node.kind === 'leaf') {
      const prefix = commonPrefixBits(path, node.path, depth);
      if (prefix === MAX_DEPTH) return newLeaf; // same path: replace
      const inner: InnerNode =
        getPathBit(path, prefix) === 0
          ? { kind: 'inner', left: newLeaf, right: node }
          : { kind: 'inner', left: node, right: newLeaf };
      if (depth < prefix) {
        // The extension keeps the path of the leaf being inserted (smt.go update).
        return { kind: 'ext', path, start: depth, end: prefix, child: inner };
      }
      return inner;
    }
    if (node.kind === 'ext') {
      const { head, branch, depth: at } = this.#split(node, path);
      branch.set(this.#update(branch.get(), at, path, data));
      node.digest = undefined;
      return head;
    }
    if (getPathBit(path, depth) === 0) node.left = this.#update(node.left, depth + 1, path, data);
    else node.right = this.#update(node.right, depth + 1, path, data);
    node.digest = undefined;
    return node;
  }

  /** extensionNode.split, mutating in place as Go does. */
  #split(ext: ExtensionNode, path: Uint8Array): { head: TrieNode; branch: { get(): TrieNode; set(n: TrieNode): void }; depth: number } {
    let i = ext.start;
    let extBit = 0;
    for (; i < ext.end; i++) {
      extBit = getPathBit(ext.path, i);
      if (extBit !== getPathBit(path, i)) break;
    }
    if (i === ext.end) {
      return { head: ext, branch: { get: () => ext.child, set: (n) => (ext.child = n) }, depth: i };
    }
    const child = ext.child;
    const branch: InnerNode = { kind: 'inner', left: null, right: null };
    const setTail = (n: TrieNode) => {
      if (extBit === 0) branch.left = n;
      else branch.right = n;
    };
    let head: TrieNode;
    if (i === ext.start) {
      head = branch;
      ext.start++;
      ext.digest = undefined;
      setTail(ext.end - ext.start === 0 ? child : ext);
    } else {
      head = ext;
      ext.child = branch;
      setTail(i === ext.end - 1 ? child : { kind: 'ext', path: ext.path, start: i + 1, end: ext.end, child });
      ext.end = i;
      ext.digest = undefined;
    }
    // The insertion continues inside the new inner node, which sits at depth i.
    return {
      head,
      branch: {
        get: () => branch,
        set: () => {
          branch.digest = undefined;
        },
      },
      depth: i,
    };
  }

  /** Removes the leaf of `key`; throws KeyNotFoundError (trie unchanged) when it is absent. */
  delete(key: Uint8Array): void {
    const path = sha256(key);
    this.#root = this.#delete(this.#root, 0, path);
  }

  #delete(node: TrieNode, depth: number, path: Uint8Array): TrieNode {
    if (node === null) throw new KeyNotFoundError();
    if (node.kind === 'leaf') {
      if (Buffer.compare(path, node.path) !== 0) throw new KeyNotFoundError();
      return null;
    }
    if (node.kind === 'ext') {
      const [, full] = boundsMatch(node, path, depth);
      if (!full) throw new KeyNotFoundError();
      node.child = this.#delete(node.child, depth + (node.end - node.start), path);
      const child = node.child;
      if (child?.kind === 'leaf') return child;
      if (child?.kind === 'ext') {
        child.start = node.start; // join this extension with the child
        child.digest = undefined;
        return child;
      }
      node.digest = undefined;
      return node;
    }
    const goLeft = getPathBit(path, depth) === 0;
    if (goLeft) node.left = this.#delete(node.left, depth + 1, path);
    else node.right = this.#delete(node.right, depth + 1, path);
    const child = goLeft ? node.left : node.right;
    const sib = goLeft ? node.right : node.left;
    for (const [empty, other] of [
      [child, sib],
      [sib, child],
    ] as const) {
      if (empty === null) {
        if (other?.kind === 'leaf') return other;
        if (other?.kind === 'ext') {
          other.start--; // absorb this level into the extension
          other.digest = undefined;
          return other;
        }
      }
    }
    node.digest = undefined;
    return node;
  }

  /** The value and weight stored for `key`, or undefined. */
  get(key: Uint8Array): { value: Uint8Array; weight: bigint } | undefined {
    const path = sha256(key);
    let node = this.#root;
    let depth = 0;
    while (node !== null) {
      if (node.kind === 'leaf') {
        if (Buffer.compare(node.path, path) !== 0) return undefined;
        return { value: node.data.subarray(0, node.data.length - 16), weight: sumAndCount(node.data)[0] };
      }
      if (node.kind === 'ext') {
        const [, full] = boundsMatch(node, path, depth);
        if (!full) return undefined;
        depth = node.end;
        node = node.child;
        continue;
      }
      node = getPathBit(path, depth) === 0 ? node.left : node.right;
      depth++;
    }
    return undefined;
  }

  /** 48 bytes: hash ‖ u64be(sum) ‖ u64be(count); 48 zero bytes for an empty trie. */
  root(): Uint8Array {
    return Uint8Array.from(digestOf(this.#root));
  }

  sum(): bigint {
    return sumAndCount(digestOf(this.#root))[0];
  }

  count(): bigint {
    return sumAndCount(digestOf(this.#root))[1];
  }

  /**
   * Every node as Go's Commit would store it: hex digest → encoding (for extensions the key is the
   * expanded digest and the value the 99-byte extension encoding).
   */
  nodeStore(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const walk = (n: TrieNode) => {
      if (n === null) return;
      out.set(Buffer.from(digestOf(n)).toString('hex'), encodingOf(n));
      if (n.kind === 'inner') {
        walk(n.left);
        walk(n.right);
      } else if (n.kind === 'ext') walk(n.child);
    };
    walk(this.#root);
    return out;
  }

  /** smt ProveClosest (smt.go): the leaf sharing the longest prefix with `path`, walking and back-stepping as Go does. */
  proveClosest(path: Uint8Array): ClosestProof {
    checkPath(path, 'closest proof path');
    const wp = Uint8Array.from(path);
    const siblings: TrieNode[] = [];
    let sib: TrieNode = null;
    let parent: TrieNode = null;
    let depthDelta = 0;
    const flippedBits: number[] = [];
    let node: TrieNode = this.#root;
    let depth = 0;
    let proofDepth = 0;
    while (depth < MAX_DEPTH) {
      if (node !== null) parent = node;
      if (node !== null) {
        depthDelta = 0;
      } else {
        node = parent;
        if (siblings.length > 0) siblings.pop();
        depth -= depthDelta;
        flipPathBit(wp, depth);
        flippedBits.push(depth);
      }
      if (node?.kind === 'leaf') {
        proofDepth = depth;
        break;
      }
      if (node?.kind === 'ext') {
        const [matchLen, full] = boundsMatch(node, wp, depth);
        if (!full) {
          node = expand(node);
        } else {
          for (let i = 0; i < matchLen; i++) siblings.push(null);
          depth += matchLen;
          depthDelta += matchLen;
          node = node.child;
        }
      }
      if (node === null || node.kind !== 'inner') {
        // only an empty trie gets here
        proofDepth = depth;
        break;
      }
      if (getPathBit(wp, depth) === 0) {
        sib = node.right;
        node = node.left;
      } else {
        sib = node.left;
        node = node.right;
      }
      siblings.push(sib);
      depth++;
      depthDelta++;
    }
    if (node === null) {
      return {
        path: Uint8Array.from(path),
        flippedBits,
        depth: proofDepth,
        closestPath: Uint8Array.from(PLACEHOLDER),
        closestValueHash: null,
        closestProof: { sideNodes: [], nonMembershipLeafData: null, siblingData: null },
      };
    }
    if (node.kind !== 'leaf') throw new Error('expected leaf node');
    const sideNodes = siblings.reverse().map((s) => Uint8Array.from(digestOf(s)));
    return {
      path: Uint8Array.from(path),
      flippedBits,
      depth: proofDepth,
      closestPath: Uint8Array.from(node.path),
      closestValueHash: Uint8Array.from(node.data),
      closestProof: { sideNodes, nonMembershipLeafData: null, siblingData: sib === null ? null : encodingOf(sib) },
    };
  }
}

export { DIGEST_SIZE, u64be };
