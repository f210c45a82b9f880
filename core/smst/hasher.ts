import { sha256 } from '../crypto/sha256.js';

/**
 * Node encodings and 48-byte digests of the Sparse Merkle Sum Trie (docs/spec/smst.md §3), SHA-256 through
 * core/crypto/sha256.ts. A digest is hash(32) ‖ u64be(sum) ‖ u64be(count); sums and counts wrap
 * modulo 2^64 as Go's uint64 does.
 */

export const PATH_SIZE = 32;
export const DIGEST_SIZE = 48;
export const MAX_DEPTH = 256;
export const PLACEHOLDER: Uint8Array = new Uint8Array(DIGEST_SIZE);

export const LEAF_PREFIX = 0x00;
export const INNER_PREFIX = 0x01;
export const EXT_PREFIX = 0x02;

const MASK64 = (1n << 64n) - 1n;

export function getPathBit(path: Uint8Array, i: number): number {
  return (path[i >> 3]! >> (7 - (i & 7))) & 1;
}

export function flipPathBit(path: Uint8Array, i: number): void {
  path[i >> 3]! ^= 1 << (7 - (i & 7));
}

export function setPathBit(bytes: Uint8Array, i: number): void {
  bytes[i >> 3]! |= 1 << (7 - (i & 7));
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Sum and count from the last 16 bytes of a digest or an encoding. */
export function sumAndCount(b: Uint8Array): [bigint, bigint] {
  const v = view(b);
  return [v.getBigUint64(b.length - 16, false), v.getBigUint64(b.length - 8, false)];
}

export function u64be(v: bigint): Uint8Array {
  const out = new Uint8Array(8);
  view(out).setBigUint64(0, v & MASK64, false);
  return out;
}

/** H(encoding) ‖ encoding[-16:]: the digest of a leaf or inner encoding. */
export function digestOfEncoding(encoding: Uint8Array): Uint8Array {
  // Buffer.allocUnsafe takes small buffers from a shared pool: far cheaper than new Uint8Array on
  // this hot path (every node of every session trie).
  const out = Buffer.allocUnsafe(DIGEST_SIZE);
  out.set(sha256(encoding), 0);
  out.set(encoding.subarray(encoding.length - 16), 32);
  return out;
}

/** leafData = value ‖ u64be(weight) ‖ u64be(1). */
export function leafData(value: Uint8Array, weight: bigint): Uint8Array {
  const out = new Uint8Array(value.length + 16);
  out.set(value, 0);
  const v = view(out);
  v.setBigUint64(value.length, weight & MASK64, false);
  v.setBigUint64(value.length + 8, 1n, false);
  return out;
}

export function encodeLeaf(path: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + PATH_SIZE + data.length);
  out[0] = LEAF_PREFIX;
  out.set(path, 1);
  out.set(data, 1 + PATH_SIZE);
  return out;
}

/** out[o..o+8) = a[ao..ao+8) + b[bo..bo+8) mod 2^64, big-endian, in 32-bit halves (no BigInt). */
function addU64(out: Uint8Array, o: number, a: Uint8Array, ao: number, b: Uint8Array, bo: number): void {
  const alo = ((a[ao + 4]! << 24) | (a[ao + 5]! << 16) | (a[ao + 6]! << 8) | a[ao + 7]!) >>> 0;
  const blo = ((b[bo + 4]! << 24) | (b[bo + 5]! << 16) | (b[bo + 6]! << 8) | b[bo + 7]!) >>> 0;
  const ahi = ((a[ao]! << 24) | (a[ao + 1]! << 16) | (a[ao + 2]! << 8) | a[ao + 3]!) >>> 0;
  const bhi = ((b[bo]! << 24) | (b[bo + 1]! << 16) | (b[bo + 2]! << 8) | b[bo + 3]!) >>> 0;
  const lo = alo + blo;
  const hi = (ahi + bhi + (lo > 0xffffffff ? 1 : 0)) >>> 0;
  const l = lo >>> 0;
  out[o] = hi >>> 24;
  out[o + 1] = (hi >>> 16) & 0xff;
  out[o + 2] = (hi >>> 8) & 0xff;
  out[o + 3] = hi & 0xff;
  out[o + 4] = l >>> 24;
  out[o + 5] = (l >>> 16) & 0xff;
  out[o + 6] = (l >>> 8) & 0xff;
  out[o + 7] = l & 0xff;
}

const INNER_SIZE = 1 + 2 * DIGEST_SIZE + 16;

function writeInner(out: Uint8Array, left: Uint8Array, right: Uint8Array): void {
  out[0] = INNER_PREFIX;
  out.set(left, 1);
  out.set(right, 1 + DIGEST_SIZE);
  addU64(out, 1 + 2 * DIGEST_SIZE, left, 32, right, 32);
  addU64(out, 1 + 2 * DIGEST_SIZE + 8, left, 40, right, 40);
}

export function encodeInner(left: Uint8Array, right: Uint8Array): Uint8Array {
  const out = new Uint8Array(INNER_SIZE);
  writeInner(out, left, right);
  return out;
}

// Scratch space for the encoding that is hashed and dropped; JavaScript runs one call at a time.
const innerScratch = new Uint8Array(INNER_SIZE);

export function innerDigest(left: Uint8Array, right: Uint8Array): Uint8Array {
  writeInner(innerScratch, left, right);
  return digestOfEncoding(innerScratch);
}

export function encodeExtension(path: Uint8Array, start: number, end: number, childDigest: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 + PATH_SIZE + DIGEST_SIZE + 16);
  out[0] = EXT_PREFIX;
  out[1] = start;
  out[2] = end;
  out.set(path, 3);
  out.set(childDigest, 3 + PATH_SIZE);
  out.set(childDigest.subarray(32, 48), 3 + PATH_SIZE + DIGEST_SIZE);
  return out;
}

/** An extension's digest is that of the chain of inner nodes it stands for (bits [start, end) of its path). */
export function extensionDigest(path: Uint8Array, start: number, end: number, childDigest: Uint8Array): Uint8Array {
  let cur = childDigest;
  for (let i = end - 1; i >= start; i--) {
    cur = getPathBit(path, i) === 0 ? innerDigest(cur, PLACEHOLDER) : innerDigest(PLACEHOLDER, cur);
  }
  return cur;
}

/**
 * The digest of an encoding that arrives as data (proof SiblingData): extensions are parsed and
 * expanded, anything else is H(data) ‖ data[-16:] (smt trie_spec.go hashSumSerialization).
 * Undefined when an extension encoding is malformed.
 */
export function hashPreimage(data: Uint8Array): Uint8Array | undefined {
  if (data.length > 0 && data[0] === EXT_PREFIX) {
    if (data.length < 3 + PATH_SIZE + DIGEST_SIZE) return undefined;
    const start = data[1]!;
    const end = data[2]!;
    const path = data.subarray(3, 3 + PATH_SIZE);
    const child = data.subarray(3 + PATH_SIZE, 3 + PATH_SIZE + DIGEST_SIZE);
    return extensionDigest(path, start, end, Uint8Array.from(child));
  }
  if (data.length < 16) return undefined;
  return digestOfEncoding(data);
}
