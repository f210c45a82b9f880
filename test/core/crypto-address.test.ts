import t from 'tap';
import { accountIdFromPublicKey, addressFromPrivateKey, isPoktAddress, publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { parsePrivateKeyHex } from '../../core/crypto/private-key.js';
import { SupplierKey } from '../../core/crypto/supplier-key.js';
import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';

// docs/spec/protocol.md §11.1-D (poktroll and pocket-relay-miner test keys) and §11.3 (placeholder ring key).
const VECTORS = [
  {
    key: '2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a',
    pubkey: '0397896e9b106df70124a856861cc9be52fac9980e2c7a118a36c19d0198692cc5',
    address: 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4',
  },
  {
    key: 'cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177',
    pubkey: '025821a2ac597a034250ac14b772efccf9297aa7c4bea5444564059a7cfb152063',
    address: 'pokt15vzxjqklzjtlz7lahe8z2dfe9nm5vxwwmscne4',
  },
  {
    key: '60c6cbe6b5011807d6486f351cbde6f964356df1d0bc1b04f8589cead5ab5206',
    pubkey: '021066f293709356a33e9c13017867586baf52513e845bc4335233a15ed1e00baf',
    address: 'pokt1v9utztg8z8e6jv9xzv7rnt3m38570xsyjr2crf',
    accountIdHex: '6178B12D0711F3A930A6133C39AE3B89E9E79A04',
  },
];

t.test('key → compressed pubkey → address, as the chain derives them', async (t) => {
  for (const v of VECTORS) {
    const priv = parsePrivateKeyHex(v.key);
    t.equal(Buffer.from(publicKeyFromPrivateKey(priv)).toString('hex'), v.pubkey);
    t.equal(addressFromPrivateKey(priv), v.address);
    t.ok(isPoktAddress(v.address));
    if (v.accountIdHex) {
      t.equal(Buffer.from(accountIdFromPublicKey(Buffer.from(v.pubkey, 'hex'))).toString('hex').toUpperCase(), v.accountIdHex, 'PlaceholderRingAddress');
    }
  }
  t.equal(addressFromPrivateKey(parsePrivateKeyHex(`0x${VECTORS[0]!.key.toUpperCase()}`)), VECTORS[0]!.address, '0x prefix and upper case');
  t.notOk(isPoktAddress('pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva5'), 'bad checksum');
  t.notOk(isPoktAddress('cosmos1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnqmhqjh'), 'other prefix');
  t.throws(() => accountIdFromPublicKey(new Uint8Array(65)), /33 bytes/);
});

t.test('public keys from libsecp256k1 (where it loads) are the ones noble derives, for any key', async (t) => {
  let same = 0;
  for (let i = 0; i < 200; i++) {
    const priv = secp256k1.utils.randomSecretKey(randomBytes(48));
    if (Buffer.from(publicKeyFromPrivateKey(priv)).equals(Buffer.from(secp256k1.getPublicKey(priv, true)))) same++;
  }
  t.equal(same, 200);
  t.throws(() => publicKeyFromPrivateKey(new Uint8Array(32)), 'a zero scalar is refused');
});

t.test('a SupplierKey never shows its scalar', async (t) => {
  const k = SupplierKey.fromHex(VECTORS[0]!.key);
  t.equal(JSON.stringify(k), `{"address":"${VECTORS[0]!.address}"}`);
  t.equal(String(k), `SupplierKey(${VECTORS[0]!.address})`);
  t.equal(inspect(k), `SupplierKey(${VECTORS[0]!.address})`);
  t.equal(Buffer.from(k.privateKeyBytes()).toString('hex'), VECTORS[0]!.key);
  t.throws(() => parsePrivateKeyHex('ff'.repeat(32)), /not a valid secp256k1 scalar/, 'above the curve order');
});
