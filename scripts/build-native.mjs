// Builds the ring-signature addon (binding.gyp: core/crypto/native/secp256k1-lincomb.c) with node-gyp into
// build/Release/secp256k1_lincomb.node, where node-gyp-build finds it. Runs in `npm run build` for a checkout
// and as the package's install script for an npm user (`npm rebuild relayminer` runs it again).
// Optional: without a C compiler, make or node-gyp it says so and exits 0, and ring verification uses
// libsecp256k1's public API (same results, more CPU per ring). A build that fails is an error only when
// RELAYMINER_REQUIRE_NATIVE=1 (CI and the container image set it), so an operator's odd toolchain never
// stops an install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const output = join(root, 'build/Release/secp256k1_lincomb.node');
const required = process.env.RELAYMINER_REQUIRE_NATIVE === '1';
const cc = process.env.CC || 'cc';

function skip(reason) {
  const line = `build-native: ${reason}; ring verification will use libsecp256k1's public API (slower, same results)`;
  if (required) {
    console.error(`${line}\nbuild-native: RELAYMINER_REQUIRE_NATIVE=1, failing`);
    process.exit(1);
  }
  console.warn(line);
  process.exit(0);
}

function runs(command, args) {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** npm's own node-gyp (npm names it to its scripts), one installed beside us, or the one bundled with npm. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')];
  try {
    candidates.splice(1, 0, require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed beside us
  }
  return candidates.find((c) => c && existsSync(c));
}

if (process.platform === 'win32') skip('not built on Windows');
let libsecp;
try {
  libsecp = join(dirname(require.resolve('secp256k1/package.json')), 'src/secp256k1');
} catch {
  skip('the secp256k1 package is not installed');
}
if (!existsSync(join(libsecp, 'src/secp256k1.c'))) skip(`libsecp256k1 sources not found under ${libsecp}`);
const inputs = [join(root, 'binding.gyp'), join(root, 'core/crypto/native/secp256k1-lincomb.c'), fileURLToPath(import.meta.url), join(libsecp, 'src/secp256k1.c')];
if (existsSync(output) && inputs.every((f) => statSync(f).mtimeMs <= statSync(output).mtimeMs)) process.exit(0);

if (!runs(cc, ['--version'])) skip(`no C compiler (${cc})`);
if (process.platform !== 'win32' && !runs('make', ['--version'])) skip('no make');
const gyp = nodeGyp();
if (!gyp) skip('node-gyp not found (it comes with npm)');

// Node's own headers where its installation has them (official builds, distribution packages): node-gyp
// would otherwise download them, and many hosts that build this have no internet.
const args = [gyp, 'rebuild', '--directory', root, '--jobs', 'max'];
const prefix = join(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include/node/node_api.h')) && existsSync(join(prefix, 'include/node/common.gypi'))) args.push(`--nodedir=${prefix}`);
const result = spawnSync(process.execPath, args, { cwd: root, env: { ...process.env, CC: cc }, encoding: 'utf8' });
if (result.status !== 0 || !existsSync(output)) {
  const log = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  if (log) console.error(log);
  skip('node-gyp could not build binding.gyp');
}
console.log(`build-native: built ${output}`);
