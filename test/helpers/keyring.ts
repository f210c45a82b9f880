import { createCipheriv, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageCodec } from '../../core/protocol/codec.js';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';

const ALG = 'PBES2-HS256+A128KW';

/**
 * A keyring file as 99designs/keyring's file backend writes one (JWE PBES2-HS256+A128KW / A256GCM of the item's
 * JSON), around any item data. For tests of what the Go-written vectors in test/vectors/keyring do not show.
 */
export function keyringToken(data: Uint8Array, passphrase: string, itemKey = 'key.info'): string {
  const p2s = randomBytes(12).toString('base64url');
  const header = Buffer.from(JSON.stringify({ alg: ALG, enc: 'A256GCM', p2c: 8192, p2s })).toString('base64url');
  const kek = pbkdf2Sync(passphrase, Buffer.concat([Buffer.from(ALG), Buffer.of(0), Buffer.from(p2s, 'base64url')]), 8192, 16, 'sha256');
  const cek = randomBytes(32);
  const wrap = createCipheriv('id-aes128-wrap', kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
  const wrapped = Buffer.concat([wrap.update(cek), wrap.final()]);
  const iv = randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv).setAAD(Buffer.from(header, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(JSON.stringify({ Key: itemKey, Data: Buffer.from(data).toString('base64') })), gcm.final()]);
  return [header, wrapped.toString('base64url'), iv.toString('base64url'), ciphertext.toString('base64url'), gcm.getAuthTag().toString('base64url')].join('.');
}

const RecordCodec = messageCodec<object>('cosmos.crypto.keyring.v1.Record');
const KeyCodec = messageCodec<{ key: Uint8Array }>('cosmos.crypto.secp256k1.PrivKey');

/** Writes `<home>/keyring-test/<name>.info` holding a local secp256k1 key, as `pocketd keys add` would. */
export function addTestKeyringKey(home: string, name: string, privateKeyHex: string): void {
  const privateKey = Buffer.from(privateKeyHex, 'hex');
  const record = RecordCodec.encode({
    name,
    pub_key: { type_url: '/cosmos.crypto.secp256k1.PubKey', value: KeyCodec.encode({ key: publicKeyFromPrivateKey(privateKey) }) },
    local: { priv_key: { type_url: '/cosmos.crypto.secp256k1.PrivKey', value: KeyCodec.encode({ key: privateKey }) } },
  });
  mkdirSync(join(home, 'keyring-test'), { recursive: true });
  writeFileSync(join(home, 'keyring-test', `${name}.info`), keyringToken(record, 'test', `${name}.info`), { mode: 0o600 });
}
