import t from 'tap';
import { bytesKey } from '../../core/crypto/bytes-key.js';

t.test('bytesKey: one character per byte, read from a view at its offset, equal bytes giving equal keys', async (t) => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const slab = new Uint8Array(300).fill(0xee);
  slab.set(all, 40);
  const view = slab.subarray(40, 296);
  const key = bytesKey(view);
  t.equal(key.length, 256);
  t.same(Array.from(key, (c) => c.charCodeAt(0)), Array.from(all), 'every byte value 0..255 as the character of that code');
  t.equal(bytesKey(all), key, 'the same bytes in another array: the same key');
  t.equal(bytesKey(slab.subarray(40, 40)), '', 'an empty view');
  const point = Uint8Array.from(Buffer.from('0397896e9b106df70124a856861cc9be52fac9980e2c7a118a36c19d0198692cc5', 'hex'));
  const other = Uint8Array.from(point);
  other[32]! ^= 1;
  t.not(bytesKey(other), bytesKey(point), 'one bit apart: different keys');
  t.equal(bytesKey(point), Buffer.from(point).toString('latin1'), "Buffer's latin1 string of the bytes");
});
