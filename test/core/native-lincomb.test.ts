import { randomBytes } from 'node:crypto';
import t from 'tap';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { nativeLinearCombination } from '../../core/crypto/native-lincomb.js';
import { bigIntTo32, bytesToBigInt, CURVE_ORDER } from '../../core/crypto/ring/hash.js';

// The addon against @noble/curves (an independent implementation) on random and edge inputs; the
// ring vectors in ring.test.ts run through it as the `native-strauss` backend.
const lincomb = nativeLinearCombination;
const G = secp256k1.Point.BASE;
const randomScalar = () => bytesToBigInt(randomBytes(32)) % CURVE_ORDER;
const randomPoint = () => G.multiply(randomScalar() || 1n);
const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));

t.test('a·A + b·B and a·G + b·B equal @noble/curves on random inputs', { skip: lincomb ? false : 'addon not built (no C compiler)' }, async (t) => {
  for (let i = 0; i < 200; i++) {
    const [a, b, A, B] = [randomScalar(), randomScalar(), randomPoint(), randomPoint()];
    const withA = lincomb!(bigIntTo32(a), A.toBytes(false), bigIntTo32(b), B.toBytes(false));
    t.equal(hex(withA), hex(A.multiply(a).add(B.multiply(b)).toBytes(true)), `a·A + b·B #${i}`);
    const withG = lincomb!(bigIntTo32(a), null, bigIntTo32(b), B.toBytes(false));
    t.equal(hex(withG), hex(G.multiply(a).add(B.multiply(b)).toBytes(true)), `a·G + b·B #${i}`);
  }
});

t.test('edges: zero scalars, the same point twice, a sum at infinity, bad input', { skip: lincomb ? false : 'addon not built (no C compiler)' }, async (t) => {
  const A = randomPoint();
  const a = randomScalar();
  const Au = A.toBytes(false);
  t.equal(hex(lincomb!(bigIntTo32(0n), Au, bigIntTo32(a), Au)), hex(A.multiply(a).toBytes(true)), 'zero a leaves b·B');
  t.equal(hex(lincomb!(bigIntTo32(a), null, bigIntTo32(0n), Au)), hex(G.multiply(a).toBytes(true)), 'zero b leaves a·G');
  t.equal(hex(lincomb!(bigIntTo32(2n), Au, bigIntTo32(3n), Au)), hex(A.multiply(5n).toBytes(true)), '2·A + 3·A = 5·A');
  t.equal(lincomb!(bigIntTo32(a), Au, bigIntTo32(CURVE_ORDER - a), Au), null, 'a·A + (n−a)·A is infinity: null');
  t.equal(lincomb!(bigIntTo32(0n), Au, bigIntTo32(0n), Au), null, 'both zero: infinity, null');
  t.equal(lincomb!(bigIntTo32(a), null, bigIntTo32(CURVE_ORDER - a), G.toBytes(false)), null, 'a·G − a·G: null');
  t.equal(lincomb!(bigIntTo32(CURVE_ORDER), Au, bigIntTo32(1n), Au), null, 'a scalar not below the order: null');
  const offCurve = Uint8Array.from(Au);
  offCurve[64] = offCurve[64]! ^ 1;
  t.equal(lincomb!(bigIntTo32(1n), offCurve, bigIntTo32(1n), Au), null, 'a point off the curve: null');
  t.equal(lincomb!(bigIntTo32(1n), A.toBytes(true), bigIntTo32(1n), Au), null, 'a compressed point (65 bytes expected): null');
  t.equal(lincomb!(new Uint8Array(31), Au, bigIntTo32(1n), Au), null, 'a 31-byte scalar: null');
  t.equal(lincomb!(bigIntTo32(1n), Au, bigIntTo32(1n), 'x' as unknown as Uint8Array), null, 'not bytes: null');
  t.equal((lincomb as unknown as (...x: unknown[]) => unknown)(bigIntTo32(1n), Au), null, 'too few arguments: null');
});
