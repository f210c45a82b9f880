import { createDecipheriv, createHash, pbkdf2Sync } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { messageCodec } from '../protocol/codec.js';
import { few } from './problems.js';
import type { KeyringBackend } from './schema.js';

/**
 * Supplier keys read from a cosmos-sdk keyring (what `pocketd keys add` writes, and what the Go relay miners'
 * `keyring` key source reads): the `test` and `file` backends, the two a service can open without a prompt or a
 * desktop session. Each `<name>.info` file of `<dir>/keyring-<backend>` is a JWE (99designs/keyring's file
 * backend: PBES2-HS256+A128KW, A256GCM) whose payload is the JSON of a keyring item; the item's `Data` is a
 * `cosmos.crypto.keyring.v1.Record`. The test backend's passphrase is the fixed string "test".
 */

/** The directory cosmos-sdk keeps a backend's records in, below the home directory it is given. */
export function keyringDirectory(home: string, backend: KeyringBackend): string {
  return join(home, `keyring-${backend}`);
}

const TEST_PASSPHRASE = 'test';
/** A file written by 99designs/keyring uses 8,192 rounds; the bound keeps a crafted header from pinning a core. */
const MAX_PBKDF2_ROUNDS = 1_000_000;
const SECP256K1_PRIVKEY = '/cosmos.crypto.secp256k1.PrivKey';

interface Any {
  type_url: string;
  value: Uint8Array;
}
interface KeyringRecord {
  name: string;
  pub_key?: Any | undefined;
  local?: { priv_key?: Any | undefined } | undefined;
  ledger?: object | undefined;
  multi?: object | undefined;
  offline?: object | undefined;
}
const RecordCodec = messageCodec<KeyringRecord>('cosmos.crypto.keyring.v1.Record');
const PrivKeyCodec = messageCodec<{ key: Uint8Array }>('cosmos.crypto.secp256k1.PrivKey');

export interface KeyringKey {
  name: string;
  file: string;
  privateKey: Uint8Array;
}

export interface KeyringRead {
  keys: KeyringKey[];
  /** Each names what is wrong and, where it helps, what to do; never key material. */
  problems: string[];
  warnings: string[];
}

/** Why one file of the keyring gave no key. */
class RecordUnreadable extends Error {}
/** A record the passphrase does not open (said once for all of them). */
class WrongPassphrase extends RecordUnreadable {}

/**
 * Per keyring directory, its decrypted records by file contents and passphrase, from the last read only: a SIGHUP
 * or `keys.watch` reload runs on the event loop, and 8,192 PBKDF2 rounds per unchanged record would stall it for
 * seconds at hundreds of keys. A changed file or passphrase is a new entry, so a rotated key is always read afresh.
 */
const decrypted = new Map<string, Map<string, Uint8Array>>();

export function readKeyring(opts: { home: string; backend: KeyringBackend; passphrase?: string | undefined; keyNames?: string[] | undefined }): KeyringRead {
  const { home, backend } = opts;
  const dir = keyringDirectory(home, backend);
  const passphrase = backend === 'test' ? TEST_PASSPHRASE : passphraseLine(opts.passphrase ?? '');
  const read: KeyringRead = { keys: [], problems: [], warnings: [] };

  let files: string[];
  try {
    files = readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.isDirectory() && e.name.endsWith('.info'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && basename(home) === `keyring-${backend}`) {
      read.problems.push(`${home} is the keyring itself; set dir to the directory holding it (${dirname(home)}), as pocketd's --home`);
    } else if (code === 'ENOENT') {
      read.problems.push(`no ${backend} keyring in ${home}: ${dir} does not exist (dir is the home directory pocketd was given with --home, e.g. the one holding keyring-${backend}/)`);
    } else {
      read.problems.push(`cannot read keyring directory ${dir}: ${code === 'EACCES' ? `permission denied (this process runs as uid ${process.getuid?.() ?? '?'})` : (code ?? (err as Error).message)}`);
    }
    return read;
  }

  const cached = decrypted.get(dir);
  const next = new Map<string, Uint8Array>();
  const noPrivateKey: string[] = [];
  const found = new Map<string, KeyringKey | 'no private key'>();
  const unopened: string[] = [];
  const loose: string[] = [];
  let unreadable = 0;
  for (const name of files) {
    const file = join(dir, name);
    try {
      const token = readFileSync(file, 'utf8').trim();
      // A test keyring's passphrase is public: its files' mode is all that guards the keys.
      if (backend === 'test' && (statSync(file).mode & 0o077) !== 0) loose.push(name);
      const cacheKey = createHash('sha256').update(passphrase).update('\0').update(token).digest('hex');
      const data = cached?.get(cacheKey) ?? itemData(openToken(token, passphrase));
      next.set(cacheKey, data);
      const record = decodeRecord(data);
      const privateKey = recordPrivateKey(record);
      if (privateKey) found.set(record.name, { name: record.name, file, privateKey });
      else {
        found.set(record.name, 'no private key');
        noPrivateKey.push(record.name);
      }
    } catch (err) {
      unreadable++;
      if (err instanceof WrongPassphrase) unopened.push(name);
      else if (err instanceof RecordUnreadable) read.problems.push(`${file}: ${err.message}`);
      else {
        const code = (err as NodeJS.ErrnoException).code;
        read.problems.push(`${file}: cannot read: ${code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message)}`);
      }
    }
  }
  decrypted.set(dir, next);
  if (loose.length > 0) {
    read.warnings.push(`${loose.length} record(s) of the test keyring ${dir} readable by group or others (${few(loose)}); its passphrase is public, so chmod 600 them`);
  }
  if (unopened.length > 0) {
    const which = backend === 'file' ? 'the configured passphrase' : "the test backend's fixed passphrase";
    if (unopened.length === files.length) {
      const why = backend === 'file' ? 'is it the passphrase the keys were added with?' : 'is it a file-backend keyring?';
      read.problems.push(`the ${backend} keyring ${dir}: ${which} opens none of its ${files.length} records; ${why}`);
    } else {
      read.problems.push(`the ${backend} keyring ${dir}: ${which} does not open ${unopened.length} of its ${files.length} records (${few(unopened, 5)}): damaged, or added with another passphrase`);
    }
  }

  if (opts.keyNames && opts.keyNames.length > 0) {
    for (const wanted of opts.keyNames) {
      const key = found.get(wanted);
      if (key === undefined) {
        if (unreadable > 0) continue; // the unreadable records are said above; the name may be among them
        const held = [...found.keys()];
        const shown = held.length === 0 ? 'it holds no keys' : `it holds ${few(held, 10)}`;
        read.problems.push(`key "${wanted}" is not in the ${backend} keyring ${dir} (${shown})`);
      } else if (key === 'no private key') read.problems.push(`key "${wanted}" of the keyring ${dir} holds no private key (a Ledger, offline or multisig key, or not secp256k1); a supplier signs with a local secp256k1 key`);
      else read.keys.push(key);
    }
  } else {
    for (const key of found.values()) if (key !== 'no private key') read.keys.push(key);
    if (noPrivateKey.length > 0) {
      read.warnings.push(`${noPrivateKey.length} key(s) of the keyring ${dir} hold no local secp256k1 private key and are skipped (${few(noPrivateKey, 5)})`);
    }
    if (files.length === 0) read.warnings.push(`the ${backend} keyring ${dir} holds no keys`);
  }
  return read;
}

/** A passphrase as given: line ends are never part of one (pocketd reads it as a line), and `echo` or a file adds one. */
export function passphraseLine(raw: string): string {
  return raw.replace(/[\r\n]+$/, '');
}

/** The plaintext of a compact JWE as 99designs/keyring writes it (PBES2-HS256+A128KW, A256GCM). */
function openToken(token: string, passphrase: string): Buffer {
  const parts = token.split('.');
  if (parts.length !== 5) throw new RecordUnreadable('not a keyring record (expected a JWE of five parts)');
  const [protectedHeader, wrappedKey, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  let header: { alg?: unknown; enc?: unknown; p2s?: unknown; p2c?: unknown };
  try {
    header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8')) as typeof header;
  } catch {
    throw new RecordUnreadable('not a keyring record (its JWE header is not JSON)');
  }
  if (header.alg !== 'PBES2-HS256+A128KW' || header.enc !== 'A256GCM') {
    throw new RecordUnreadable(`encrypted as ${String(header.alg)} / ${String(header.enc)}; a cosmos-sdk keyring uses PBES2-HS256+A128KW / A256GCM`);
  }
  const rounds = header.p2c;
  if (typeof header.p2s !== 'string' || typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1 || rounds > MAX_PBKDF2_ROUNDS) {
    throw new RecordUnreadable('not a keyring record (its JWE header has no usable p2s and p2c)');
  }
  // RFC 7518 §4.8.1.1: the salt is the algorithm's name, a zero byte, then p2s.
  const salt = Buffer.concat([Buffer.from(header.alg, 'utf8'), Buffer.of(0), Buffer.from(header.p2s, 'base64url')]);
  const kek = pbkdf2Sync(passphrase, salt, rounds, 16, 'sha256');
  const wrongPassphrase = () => new WrongPassphrase('the passphrase does not open it');
  let cek: Buffer;
  try {
    const unwrap = createDecipheriv('id-aes128-wrap', kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
    cek = Buffer.concat([unwrap.update(Buffer.from(wrappedKey, 'base64url')), unwrap.final()]);
  } catch {
    throw wrongPassphrase();
  }
  if (cek.length !== 32) throw new RecordUnreadable('not a keyring record (its content key is not 256 bits)');
  try {
    const gcm = createDecipheriv('aes-256-gcm', cek, Buffer.from(iv, 'base64url'));
    gcm.setAAD(Buffer.from(protectedHeader, 'ascii'));
    gcm.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([gcm.update(Buffer.from(ciphertext, 'base64url')), gcm.final()]);
  } catch {
    throw wrongPassphrase();
  }
}

/** The `Data` of a keyring item (JSON, with Go's base64 for []byte). */
function itemData(plaintext: Buffer): Uint8Array {
  let item: { Data?: unknown };
  try {
    item = JSON.parse(plaintext.toString('utf8')) as typeof item;
  } catch {
    throw new RecordUnreadable('not a keyring record (its content is not a keyring item)');
  }
  if (typeof item.Data !== 'string') throw new RecordUnreadable('not a keyring record (its item has no Data)');
  return Buffer.from(item.Data, 'base64');
}

function decodeRecord(data: Uint8Array): KeyringRecord {
  let record: KeyringRecord | undefined;
  try {
    record = RecordCodec.decode(data);
  } catch {
    record = undefined;
  }
  if (!record?.name || !(record.local || record.ledger || record.multi || record.offline)) {
    throw new RecordUnreadable('not a cosmos-sdk 0.46+ keyring record (an older keyring\'s format: `pocketd keys list` with the same --home and --keyring-backend rewrites it)');
  }
  return record;
}

function recordPrivateKey(record: KeyringRecord): Uint8Array | undefined {
  const any = record.local?.priv_key;
  if (!any || any.type_url !== SECP256K1_PRIVKEY) return undefined;
  let key: Uint8Array;
  try {
    key = PrivKeyCodec.decode(any.value).key;
  } catch {
    throw new RecordUnreadable(`key "${record.name}": its private key is not a secp256k1 PrivKey`);
  }
  if (key.length !== 32) throw new RecordUnreadable(`key "${record.name}": its private key is ${key.length} bytes, not 32`);
  return key;
}
