import t from 'tap';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { signSupplierResponse, verifySupplierResponse, type SignatureBackend } from '../../core/crypto/supplier-signature.js';
import { nativeSecp256k1 } from '../../core/crypto/native-secp256k1.js';
import { hex, toHex } from '../helpers/vectors.js';

// docs/spec/protocol.md §11.3: the response signable hash of fixture minable[0], signed with the app1 test key.
const KEY = hex('2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a');
const HASH = hex('85277ba770dad449843742cc909eeb6e075bbb6c5e96f6ffbc484dd17c876f15');
const SIG = '309aa84d90fa9aec737cf182f0a9435dec066e096ef97c9b1ce8d542b20cbd3e539b0643b1f0c95b0d38d23675e8bc5aad3e9e810e4f4dd8832227f300a60bbd';

const BACKENDS: SignatureBackend[] = nativeSecp256k1 ? ['noble', 'native'] : ['noble'];

t.test('§11.3: RFC 6979, low-S, r‖s over SHA-256(signableHash), on every backend', async (t) => {
  for (const b of BACKENDS) {
    const sig = signSupplierResponse(HASH, KEY, b);
    t.equal(toHex(sig), SIG, `${b}: signature bytes`);
    t.ok(verifySupplierResponse(HASH, sig, publicKeyFromPrivateKey(KEY), b), `${b}: verifies`);
  }
  // Both backends agree on many keys and messages (RFC 6979 makes the bytes deterministic).
  if (BACKENDS.length === 2) {
    for (let i = 1; i <= 50; i++) {
      const key = sha256(Uint8Array.of(i));
      const msg = sha256(Uint8Array.of(i, i));
      t.equal(toHex(signSupplierResponse(msg, key, 'native')), toHex(signSupplierResponse(msg, key, 'noble')));
    }
  }
});

t.test('verification refuses high-S, wrong lengths, other keys and other hashes, on every backend', async (t) => {
  for (const b of BACKENDS) {
  const pub = publicKeyFromPrivateKey(KEY);
  const sig = hex(SIG);
  const N = secp256k1.Point.Fn.ORDER;
  const s = BigInt(`0x${SIG.slice(64)}`);
  const highS = hex(SIG.slice(0, 64) + (N - s).toString(16).padStart(64, '0'));
  t.ok(secp256k1.verify(highS, sha256(HASH), pub, { prehash: false, lowS: false }), 'the high-S twin is mathematically valid…');
  t.notOk(verifySupplierResponse(HASH, highS, pub, b), '…and refused, as cosmos-sdk refuses it');
  t.notOk(verifySupplierResponse(HASH, sig.subarray(0, 63), pub, b), '63 bytes');
  t.notOk(verifySupplierResponse(HASH, Uint8Array.from([...sig, 0]), pub, b), '65 bytes');
  t.notOk(verifySupplierResponse(HASH, new Uint8Array(64), pub, b), 'zeros');
  t.notOk(verifySupplierResponse(sha256(HASH), sig, pub, b), 'another hash');
  t.notOk(verifySupplierResponse(HASH, sig, publicKeyFromPrivateKey(hex('cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177')), b), 'another key');
  t.notOk(verifySupplierResponse(HASH, sig, new Uint8Array(33), b), 'not a point: false, no throw');
  }
});
