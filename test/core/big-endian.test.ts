import t from 'tap';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import { bigIntTo32, bytesToBigInt } from '../../core/crypto/big-endian.js';
import { toHex } from '../helpers/vectors.js';

t.test('big-endian bytes to bigint and back, at every length the ring and difficulty code use', async (t) => {
  t.equal(bytesToBigInt(new Uint8Array(0)), 0n, 'no bytes: zero');
  t.equal(bytesToBigInt(Uint8Array.from([1, 2, 3])), 0x010203n, 'shorter than a word');
  t.equal(bytesToBigInt(new Uint8Array(32).fill(0xff)), 2n ** 256n - 1n);
  const pool = new Uint8Array(200).map((_, i) => (i * 37 + 11) % 256);
  for (const [offset, length] of [[0, 32], [3, 32], [5, 33], [7, 64], [1, 65], [9, 8], [2, 15]] as const) {
    const bytes = pool.subarray(offset, offset + length);
    t.equal(bytesToBigInt(bytes), bytesToNumberBE(bytes), `${length} bytes at offset ${offset} of a larger buffer`);
  }
  const cases: [bigint, bigint][] = [[0n, 0n], [0x10n, 0x10n], [0xan, 0xan], [-1n, 2n ** 256n - 1n], [2n ** 256n + 5n, 5n], [2n ** 255n, 2n ** 255n], [secp256k1.Point.Fn.ORDER - 1n, secp256k1.Point.Fn.ORDER - 1n]];
  for (const [v, reduced] of cases) t.equal(toHex(bigIntTo32(v)), toHex(numberToBytesBE(reduced, 32)), `bigIntTo32(${v}): ${reduced} in 32 bytes`);
  for (let i = 0; i < 64; i++) {
    const v = bytesToNumberBE(pool.subarray(i, i + 1 + (i % 32)));
    t.equal(bytesToBigInt(bigIntTo32(v)), v, `round trip of a ${1 + (i % 32)}-byte value`);
  }
});
