import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { NativeCurveAddon } from '../core/crypto/native-lincomb.js';
import { tempDir } from './helpers/temp-dir.js';
import { withoutTapHook } from './helpers/child-env.js';

// scripts/build-native.mjs in a scratch copy of the package (so the real build/ is never touched):
// no compiler is a warning unless RELAYMINER_REQUIRE_NATIVE=1; a compiler builds, through node-gyp and
// binding.gyp, an addon that loads.
const ROOT = join(import.meta.dirname, '..');

function scratchPackage(t: Test): string {
  const dir = tempDir(t, 'relayminer-native');
  mkdirSync(join(dir, 'scripts'));
  mkdirSync(join(dir, 'core/crypto/native'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  copyFileSync(join(ROOT, 'binding.gyp'), join(dir, 'binding.gyp'));
  copyFileSync(join(ROOT, 'scripts/build-native.mjs'), join(dir, 'scripts/build-native.mjs'));
  copyFileSync(join(ROOT, 'core/crypto/native/secp256k1-lincomb.c'), join(dir, 'core/crypto/native/secp256k1-lincomb.c'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

const build = (dir: string, env: NodeJS.ProcessEnv) =>
  spawnSync(...withoutTapHook(process.execPath, [join(dir, 'scripts/build-native.mjs')]), { env: { ...process.env, RELAYMINER_REQUIRE_NATIVE: '', ...env }, encoding: 'utf8' });

t.test('without a C compiler: a warning and exit 0, or exit 1 when the addon is required', async (t) => {
  const dir = scratchPackage(t);
  const soft = build(dir, { CC: 'no-such-cc' });
  t.equal(soft.status, 0);
  t.match(soft.stderr, /build-native: no C compiler \(no-such-cc\); ring verification will use libsecp256k1's public API/);
  t.notOk(existsSync(join(dir, 'build/Release/secp256k1_lincomb.node')), 'nothing built');
  const hard = build(dir, { CC: 'no-such-cc', RELAYMINER_REQUIRE_NATIVE: '1' });
  t.equal(hard.status, 1);
  t.match(hard.stderr, /RELAYMINER_REQUIRE_NATIVE=1, failing/);
});

t.test('with a compiler: the addon is built, loads, computes, and is not rebuilt when up to date', async (t) => {
  // A C compiler is a test requirement (README, Requirements; .ci/run installs gcc), like redis-server.
  t.equal(spawnSync(process.env.CC || 'cc', ['--version']).status, 0, `a C compiler (${process.env.CC || 'cc'}) is on the PATH`);
  const dir = scratchPackage(t);
  const first = build(dir, {});
  t.equal(first.status, 0, first.stderr);
  t.match(first.stdout, /build-native: built .*build\/Release\/secp256k1_lincomb\.node/);
  const addon = createRequire(import.meta.url)(join(dir, 'build/Release/secp256k1_lincomb.node')) as NativeCurveAddon;
  const one = new Uint8Array(32);
  one[31] = 1;
  const two = new Uint8Array(32);
  two[31] = 2;
  const G = Buffer.from('0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8', 'hex');
  // 1·G + 2·G = 3·G, whose compressed encoding is well known.
  t.equal(Buffer.from(addon.lincomb(one, null, two, G)!).toString('hex'), '02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9');
  const again = build(dir, { CC: 'no-such-cc' });
  t.equal(again.status, 0);
  t.equal(again.stdout + again.stderr, '', 'up to date: nothing to do, no compiler needed');
});
