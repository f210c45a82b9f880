import { hash } from 'node:crypto';

/**
 * SHA-256 through OpenSSL's one-shot hash: the relay path hashes five times per relay and the sum trie
 * once per node, and OpenSSL's SHA extensions take a fraction of the pure-JS time for these inputs.
 * Same bytes as @noble/hashes' sha256 (tested).
 */
export function sha256(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}
