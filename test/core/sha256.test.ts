import t from 'tap';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { sha256 } from '../../core/crypto/sha256.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('sha256: the FIPS 180-2 answers, and the same bytes as @noble/hashes at every block boundary', async (t) => {
  t.equal(hex(sha256(new TextEncoder().encode('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.equal(hex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  for (const n of [1, 55, 56, 63, 64, 65, 1000, 1 << 20]) {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) % 256);
    t.equal(hex(sha256(data)), hex(nobleSha256(data)), `${n} bytes`);
  }
  // A window on a larger buffer hashes only its own bytes.
  const big = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
  t.equal(hex(sha256(big.subarray(100, 200))), hex(nobleSha256(big.slice(100, 200))));
  t.equal(sha256(big).length, 32);
});
