import {
  DIGEST_SIZE,
  digestOfEncoding,
  encodeLeaf,
  flipPathBit,
  getPathBit,
  hashPreimage,
  innerDigest,
  MAX_DEPTH,
  PATH_SIZE,
  PLACEHOLDER,
  setPathBit,
  sumAndCount,
} from './hasher.js';
import type { ClosestProof, SparseMerkleProof } from './trie.js';

/** smt SparseCompactMerkleProof: side nodes without placeholders, plus a bit mask of where they were. */
export interface CompactProof {
  sideNodes: Uint8Array[];
  nonMembershipLeafData: Uint8Array | null;
  bitMask: Uint8Array;
  numSideNodes: number;
  siblingData: Uint8Array | null;
}

/** smt SparseCompactMerkleClosestProof: what MsgSubmitProof.proof carries, gob-encoded. */
export interface CompactClosestProof {
  path: Uint8Array;
  /** Each flipped bit as minimal big-endian bytes (0 → [0x00]). */
  flippedBits: Uint8Array[];
  depth: Uint8Array;
  closestPath: Uint8Array;
  closestValueHash: Uint8Array | null;
  closestProof: CompactProof;
}

export class BadProofError extends Error {
  constructor(reason: string) {
    super(`bad proof: ${reason}`);
    this.name = 'BadProofError';
  }
}

/** Go's intToBytes: minimal big-endian, at least one byte. */
export function intToBytes(v: number): Uint8Array {
  if (v === 0) return Uint8Array.of(0);
  const out: number[] = [];
  while (v > 0) {
    out.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return Uint8Array.from(out);
}

/** Go's bytesToInt: big-endian, non-minimal forms accepted. */
export function bytesToInt(b: Uint8Array): number {
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;

/** SparseMerkleProof.validateBasic (proofs.go). */
function validateProofBasic(p: SparseMerkleProof): void {
  if (p.sideNodes.length > MAX_DEPTH) throw new BadProofError('too many side nodes');
  if (p.nonMembershipLeafData !== null && p.nonMembershipLeafData.length > 0 && p.nonMembershipLeafData.length < 1 + PATH_SIZE) {
    throw new BadProofError('invalid non-membership leaf data size');
  }
  if (p.siblingData !== null && p.siblingData.length > 0 && p.sideNodes.length > 0) {
    for (const s of p.sideNodes) if (s.length !== DIGEST_SIZE) throw new BadProofError('invalid side node size');
    const h = hashPreimage(p.siblingData);
    if (!h || !equal(h, p.sideNodes[0]!)) throw new BadProofError('invalid sibling data hash');
  }
}

/** SparseMerkleClosestProof.validateBasic (proofs.go). */
export function validateClosestProofBasic(p: ClosestProof): void {
  if (p.path.length !== PATH_SIZE) throw new BadProofError('invalid path length');
  if (p.depth < 0 || p.depth > MAX_DEPTH) throw new BadProofError('invalid depth');
  for (const b of p.flippedBits) if (b < 0 || b > p.depth) throw new BadProofError('invalid flipped bit index');
  const wp = Uint8Array.from(p.path);
  for (const b of p.flippedBits) flipPathBit(wp, b);
  if (p.closestPath.length < Math.ceil(p.depth / 8)) throw new BadProofError('closest path too short');
  for (let i = 0; i < p.depth; i++) {
    if (getPathBit(wp, i) !== getPathBit(p.closestPath, i)) throw new BadProofError('invalid closest path');
  }
  validateProofBasic(p.closestProof);
}

export function compactClosestProof(p: ClosestProof): CompactClosestProof {
  validateClosestProofBasic(p);
  const n = p.closestProof.sideNodes.length;
  const bitMask = new Uint8Array(Math.ceil(n / 8));
  const sideNodes: Uint8Array[] = [];
  p.closestProof.sideNodes.forEach((s, i) => {
    if (equal(s, PLACEHOLDER)) setPathBit(bitMask, i);
    else sideNodes.push(Uint8Array.from(s));
  });
  return {
    path: Uint8Array.from(p.path),
    flippedBits: p.flippedBits.map(intToBytes),
    depth: intToBytes(p.depth),
    closestPath: Uint8Array.from(p.closestPath),
    closestValueHash: p.closestValueHash === null ? null : Uint8Array.from(p.closestValueHash),
    closestProof: {
      sideNodes,
      nonMembershipLeafData: p.closestProof.nonMembershipLeafData,
      bitMask,
      numSideNodes: n,
      siblingData: p.closestProof.siblingData,
    },
  };
}

function popcount(bytes: Uint8Array): number {
  let c = 0;
  for (let b of bytes) {
    while (b) {
      c += b & 1;
      b >>= 1;
    }
  }
  return c;
}

/** DecompactClosestProof with its compact validateBasic (proofs.go). Throws BadProofError. */
export function decompactClosestProof(c: CompactClosestProof): ClosestProof {
  if (c.path.length !== PATH_SIZE) throw new BadProofError('invalid path length');
  if (c.depth.length > 2) throw new BadProofError('invalid depth');
  for (const f of c.flippedBits) if (f.length > 2) throw new BadProofError('invalid flipped bit');
  const cp = c.closestProof;
  if (cp.numSideNodes < 0 || cp.numSideNodes > MAX_DEPTH) throw new BadProofError('invalid number of side nodes');
  if (cp.bitMask.length !== Math.ceil(cp.numSideNodes / 8)) throw new BadProofError('invalid bit mask length');
  if (cp.numSideNodes > 0 && cp.sideNodes.length !== cp.numSideNodes - popcount(cp.bitMask)) {
    throw new BadProofError('invalid number of side nodes');
  }
  const sideNodes: Uint8Array[] = [];
  let next = 0;
  for (let i = 0; i < cp.numSideNodes; i++) {
    if (getPathBit(cp.bitMask, i) === 1) sideNodes.push(Uint8Array.from(PLACEHOLDER));
    else {
      const s = cp.sideNodes[next++];
      if (!s) throw new BadProofError('invalid number of side nodes');
      sideNodes.push(s);
    }
  }
  return {
    path: c.path,
    flippedBits: c.flippedBits.map(bytesToInt),
    depth: bytesToInt(c.depth),
    closestPath: c.closestPath,
    closestValueHash: c.closestValueHash,
    closestProof: { sideNodes, nonMembershipLeafData: cp.nonMembershipLeafData, siblingData: cp.siblingData },
  };
}

/** A side node as Go copies it into a 48-byte buffer: truncated or zero-padded. */
function as48(b: Uint8Array): Uint8Array {
  if (b.length === DIGEST_SIZE) return b;
  const out = new Uint8Array(DIGEST_SIZE);
  out.set(b.subarray(0, DIGEST_SIZE));
  return out;
}

function fold(start: Uint8Array, path: Uint8Array, sideNodes: Uint8Array[]): Uint8Array {
  let cur = start;
  const n = sideNodes.length;
  for (let i = 0; i < n; i++) {
    const s = as48(sideNodes[i]!);
    cur = getPathBit(path, n - 1 - i) === 0 ? innerDigest(cur, s) : innerDigest(s, cur);
  }
  return cur;
}

/**
 * smt VerifyClosestProof as the chain runs it (nil path hasher: ClosestPath used as is), with every
 * quirk it accepts (docs/spec/smst.md §8.5). Returns false for malformed input instead of panicking.
 */
export function verifyClosestProof(p: ClosestProof, root: Uint8Array): boolean {
  try {
    validateClosestProofBasic(p);
    // The nil path hasher slices ClosestPath[:32], and splitting the value hash needs 16 bytes:
    // Go panics on shorter input; here it is simply invalid.
    if (p.closestPath.length < PATH_SIZE) return false;
    const vh = p.closestValueHash;
    if (vh !== null && vh.length < 16) return false;
    const path = p.closestPath.subarray(0, PATH_SIZE);
    // An empty value with sum 0 is treated as a non-membership check (smt VerifySumProof).
    const nonMembership = vh === null || (vh.length === 16 && sumAndCount(vh)[0] === 0n);
    let start: Uint8Array;
    if (nonMembership) {
      const leaf = p.closestProof.nonMembershipLeafData;
      if (leaf === null || leaf.length === 0) start = PLACEHOLDER;
      else {
        if (equal(leaf.subarray(1, 1 + PATH_SIZE), path)) return false;
        start = digestOfEncoding(leaf);
      }
    } else {
      start = digestOfEncoding(encodeLeaf(path, vh!));
    }
    return equal(fold(start, path, p.closestProof.sideNodes), root);
  } catch {
    return false;
  }
}

export { PLACEHOLDER };
