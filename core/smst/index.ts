import { decodeCompactClosestProof } from './gob.js';
import { decompactClosestProof, verifyClosestProof } from './proof.js';

export { SparseMerkleSumTrie, KeyNotFoundError, type ClosestProof, type SparseMerkleProof } from './trie.js';
export {
  compactClosestProof,
  decompactClosestProof,
  verifyClosestProof,
  validateClosestProofBasic,
  BadProofError,
  intToBytes,
  bytesToInt,
  type CompactClosestProof,
  type CompactProof,
} from './proof.js';
export { encodeCompactClosestProof, decodeCompactClosestProof, GobError } from './gob.js';
export { PLACEHOLDER, hashPreimage, sumAndCount } from './hasher.js';

/**
 * The chain's pipeline for MsgSubmitProof.proof (poktroll proof_validation.go): gob decode →
 * decompact → verify against the claim root. False on any malformed input; never throws.
 */
export function verifyClosestProofBytes(proofBytes: Uint8Array, root: Uint8Array): boolean {
  try {
    return verifyClosestProof(decompactClosestProof(decodeCompactClosestProof(proofBytes)), root);
  } catch {
    return false;
  }
}

/** ClosestValueHash minus its weight and count: the relay bytes (GetValueHash). */
export function valueOfClosestLeaf(closestValueHash: Uint8Array): Uint8Array {
  if (closestValueHash.length < 16) throw new RangeError('closest value hash shorter than 16 bytes');
  return closestValueHash.subarray(0, closestValueHash.length - 16);
}
export { Frontier, frontierBits, proveClosest, sortedLeaf, leafPathAndDigest, comparePaths, rangeDigest, memoryLeafSource, type SortedLeaf, type LeafSource } from './sorted-leaves.js';
