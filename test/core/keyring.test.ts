import { chmodSync, copyFileSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBech32 } from '@cosmjs/encoding';
import t from 'tap';
import { parseConfig } from '../../core/config/load.js';
import { ConfigError } from '../../core/config/problems.js';
import { TEST_KEYS } from '../helpers/config.js';
import { keyringToken } from '../helpers/keyring.js';
import { tempDir } from '../helpers/temp-dir.js';

// Written by pocketd's test backend (poktroll's localnet) and by jose2go as the file backend writes (test/vectors/README.md).
const VECTORS = join(import.meta.dirname, '..', 'vectors', 'keyring');
const POCKETD_HOME = join(VECTORS, 'pocketd-home');
const FILE_HOME = join(VECTORS, 'file-home');
const PASSPHRASE = 'correct horse battery staple';
const SUPPLIER1 = { hex: 'cd41a98ac7ac3b190c345b88e2885422d7bb553c59bca03c6e2618d49f8b1c06', address: 'pokt19a3t4yunp0dlpfjrp7qwnzwlrzd5fzs2gjaaaj' };
const SUPPLIER_A = { hex: 'c5c00b7f73ce0f9de4641e54d5b4e766d4c8fb53063cd87ad375f9ec567cc258', address: 'pokt13m65twfrdkqk66r54rd64fmq2t2n03dc2gywj8' };
const SUPPLIER_B = { hex: 'e31e9c2974d96729cc007ab4ee436d1024ee29670a9acd206e771477c9bbdb5e', address: 'pokt1ufzlfnhd6yguamxz73pzfwpqa7mm4r7c98art9' };

function load(keyring: string, opts: { env?: NodeJS.ProcessEnv; dir?: string; watch?: boolean } = {}) {
  return parseConfig(`keys: { ${opts.watch ? 'watch: true, ' : ''}keyring: { ${keyring} } }\nrelayer: {}\n`, { env: opts.env ?? {}, dir: opts.dir ?? '/etc/relayminer' });
}

function problemsOf(keyring: string, opts: { env?: NodeJS.ProcessEnv; dir?: string } = {}): string[] {
  try {
    load(keyring, opts);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const hexOf = (c: ReturnType<typeof load>) => c.relayer!.suppliers.map((s) => Buffer.from(s.privateKeyBytes()).toString('hex'));

t.test("pocketd's test keyring: every local key, its scalar and its address as the chain knows them", async (t) => {
  const c = load(`backend: test, dir: ${POCKETD_HOME}, app_name: pocket`);
  t.same(c.relayer!.suppliers.map((s) => s.address), [TEST_KEYS.app1.address, SUPPLIER1.address], 'app1.info, supplier1.info; the .address file is not a key');
  t.same(hexOf(c), [TEST_KEYS.app1.hex, SUPPLIER1.hex]);
  const addressFile = readdirSync(join(POCKETD_HOME, 'keyring-test')).find((f) => f.endsWith('.address'));
  t.equal(`${Buffer.from(fromBech32(c.relayer!.suppliers[0]!.address, 90).data).toString('hex')}.address`, addressFile, "the derived address is the one pocketd filed app1 under");

  // Modes as pocketd leaves them (600); then one record opened to the group.
  const home = tempDir(t, 'relayminer-keyring');
  cpSync(POCKETD_HOME, home, { recursive: true });
  const records = join(home, 'keyring-test');
  for (const f of readdirSync(records)) chmodSync(join(records, f), 0o600);
  t.same(load(`backend: test, dir: ${home}`).warnings, []);
  chmodSync(join(records, 'supplier1.info'), 0o640);
  t.same(load(`backend: test, dir: ${home}`).warnings, [
    `keys.keyring: 1 record(s) of the test keyring ${records} readable by group or others (supplier1.info); its passphrase is public, so chmod 600 them`,
  ]);

  const named = load(`backend: test, dir: ${POCKETD_HOME}, key_names: [supplier1]`);
  t.same(named.relayer!.suppliers.map((s) => s.address), [SUPPLIER1.address], 'key_names picks by the name pocketd gave');
  t.same(problemsOf(`backend: test, dir: ${POCKETD_HOME}, key_names: [supplier1, supplier9]`), [
    `keys.keyring: key "supplier9" is not in the test keyring ${join(POCKETD_HOME, 'keyring-test')} (it holds app1, supplier1)`,
  ]);
});

t.test('a file keyring opens with the passphrase from the environment or a file, and skips keys without a private key', async (t) => {
  const c = load(`backend: file, dir: ${FILE_HOME}, passphrase_env: KEYRING_PASS`, { env: { KEYRING_PASS: `${PASSPHRASE}\r\n` } });
  t.same(c.relayer!.suppliers.map((s) => s.address), [SUPPLIER_A.address, SUPPLIER_B.address]);
  t.same(hexOf(c), [SUPPLIER_A.hex, SUPPLIER_B.hex]);
  t.same(c.warnings, [`keys.keyring: 1 key(s) of the keyring ${join(FILE_HOME, 'keyring-file')} hold no local secp256k1 private key and are skipped (watcher)`]);
  t.same(problemsOf(`backend: file, dir: ${FILE_HOME}, key_names: [watcher], passphrase_env: P`, { env: { P: PASSPHRASE } }), [
    `keys.keyring: key "watcher" of the keyring ${join(FILE_HOME, 'keyring-file')} holds no private key (a Ledger, offline or multisig key, or not secp256k1); a supplier signs with a local secp256k1 key`,
  ]);

  const dir = tempDir(t, 'relayminer-keyring');
  writeFileSync(join(dir, 'pass'), `${PASSPHRASE}\n\n`);
  chmodSync(join(dir, 'pass'), 0o600);
  const fromFile = load(`backend: file, dir: ${FILE_HOME}, key_names: [supplier-b], passphrase_file: pass`, { dir });
  t.same(fromFile.relayer!.suppliers.map((s) => s.address), [SUPPLIER_B.address], 'line ends are not part of the passphrase');
  t.same(fromFile.warnings, []);
  chmodSync(join(dir, 'pass'), 0o640);
  t.same(load(`backend: file, dir: ${FILE_HOME}, key_names: [supplier-b], passphrase_file: pass`, { dir }).warnings, [
    `keys.keyring.passphrase_file: ${join(dir, 'pass')} is readable by group or others; chmod 600 it`,
  ]);
});

t.test('a wrong passphrase, a wrong backend or a wrong directory is said once, plainly, without key material', async (t) => {
  const fileDir = join(FILE_HOME, 'keyring-file');
  const wrong = problemsOf(`backend: file, dir: ${FILE_HOME}, passphrase_env: P`, { env: { P: 'Tr0ub4dor&3' } });
  t.same(wrong, [`keys.keyring: the file keyring ${fileDir}: the configured passphrase opens none of its 3 records; is it the passphrase the keys were added with?`]);
  t.notMatch(wrong.join('\n'), 'Tr0ub4dor', 'the passphrase is not echoed');

  const home = tempDir(t, 'relayminer-keyring');
  cpSync(fileDir, join(home, 'keyring-test'), { recursive: true });
  t.same(problemsOf(`backend: test, dir: ${home}`), [
    `keys.keyring: the test keyring ${join(home, 'keyring-test')}: the test backend's fixed passphrase opens none of its 3 records; is it a file-backend keyring?`,
  ]);
  t.same(problemsOf(`backend: test, dir: ${join(POCKETD_HOME, 'keyring-test')}`), [
    `keys.keyring: ${join(POCKETD_HOME, 'keyring-test')} is the keyring itself; set dir to the directory holding it (${POCKETD_HOME}), as pocketd's --home`,
  ]);
  t.same(problemsOf(`backend: file, dir: ${POCKETD_HOME}, passphrase_env: P`, { env: { P: PASSPHRASE } }), [
    `keys.keyring: no file keyring in ${POCKETD_HOME}: ${join(POCKETD_HOME, 'keyring-file')} does not exist (dir is the home directory pocketd was given with --home, e.g. the one holding keyring-file/)`,
  ]);
  t.same(problemsOf('backend: test, dir: ~/.pocket'), ['keys.keyring.dir: "~" is not expanded here; write ${HOME}/… or an absolute path']);
  t.same(problemsOf('backend: test, dir: "${HOME}/nowhere"', { env: { HOME: home } }), [
    `keys.keyring: no test keyring in ${join(home, 'nowhere')}: ${join(home, 'nowhere', 'keyring-test')} does not exist (dir is the home directory pocketd was given with --home, e.g. the one holding keyring-test/)`,
  ]);
});

t.test('the passphrase settings fit the backend', async (t) => {
  t.same(problemsOf(`backend: file, dir: ${FILE_HOME}`), ['keys.keyring: the file backend is passphrase-protected: set passphrase_env or passphrase_file (a service has no terminal to ask on)']);
  t.same(problemsOf(`backend: test, dir: ${POCKETD_HOME}, passphrase_env: P`, { env: { P: 'x' } }), [
    'keys.keyring: the test backend has no passphrase to give: passphrase_env and passphrase_file are for the file backend',
  ]);
  t.same(problemsOf(`backend: file, dir: ${FILE_HOME}, passphrase_env: P, passphrase_file: f`, { env: { P: 'x' } }), ['keys.keyring: set one of passphrase_env and passphrase_file, not both']);
  t.same(problemsOf(`backend: file, dir: ${FILE_HOME}, passphrase_env: P`), ['keys.keyring.passphrase_env: environment variable P is not set or empty']);
  const dir = tempDir(t, 'relayminer-keyring');
  writeFileSync(join(dir, 'empty'), '\n', { mode: 0o600 });
  t.same(problemsOf(`backend: file, dir: ${FILE_HOME}, passphrase_file: empty`, { dir }), [`keys.keyring.passphrase_file: ${join(dir, 'empty')} is empty`]);
  t.same(problemsOf(`backend: file, dir: ${FILE_HOME}, passphrase_file: missing`, { dir }), [`keys.keyring.passphrase_file: cannot read ${join(dir, 'missing')}: file not found`]);
  t.same(problemsOf(`backend: os, dir: ${FILE_HOME}`), ['keys.keyring.backend: must be one of test, file, got a string ("os")']);
});

t.test('damaged records are named; a changed record is read afresh; keys.watch watches the keyring', async (t) => {
  const home = tempDir(t, 'relayminer-keyring');
  const dir = join(home, 'keyring-file');
  cpSync(join(FILE_HOME, 'keyring-file'), dir, { recursive: true });
  const env = { P: PASSPHRASE };
  const cfg = `backend: file, dir: ${home}, passphrase_env: P`;
  t.same(load(cfg, { env, watch: true }).relayer!.key_watch, [{ dir }]);

  // A rotation that keeps the file's name: supplier-a.info now holds supplier-b's record.
  t.same(load(cfg, { env }).relayer!.suppliers.map((s) => s.address), [SUPPLIER_A.address, SUPPLIER_B.address]);
  copyFileSync(join(dir, 'supplier-b.info'), join(dir, 'supplier-a.info'));
  t.same(load(cfg, { env }).relayer!.suppliers.map((s) => s.address), [SUPPLIER_B.address], 'the old key is gone, not served from a cache');

  writeFileSync(join(dir, 'cut.info'), 'eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ci');
  const token = readFileSync(join(dir, 'supplier-b.info'), 'utf8').split('.');
  token[3] = `${token[3]!.startsWith('A') ? 'B' : 'A'}${token[3]!.slice(1)}`;
  writeFileSync(join(dir, 'tampered.info'), token.join('.'));
  writeFileSync(join(dir, 'legacy.info'), keyringToken(Buffer.from('f28e5ea40a046f6c64', 'hex'), PASSPHRASE, 'legacy.info'));
  const problems = problemsOf(cfg, { env });
  t.same(problems, [
    `keys.keyring: ${join(dir, 'cut.info')}: not a keyring record (expected a JWE of five parts)`,
    `keys.keyring: ${join(dir, 'legacy.info')}: not a cosmos-sdk 0.46+ keyring record (an older keyring's format: \`pocketd keys list\` with the same --home and --keyring-backend rewrites it)`,
    `keys.keyring: the file keyring ${dir}: the configured passphrase does not open 1 of its 6 records (tampered.info): damaged, or added with another passphrase`,
  ]);
  t.notMatch(problems.join('\n'), SUPPLIER_B.hex);
});
