// Builds core/crypto/native/secp256k1-lincomb.c into build/native/secp256k1-lincomb.node (see the C
// file for why). Optional: without a C compiler it says so and exits 0, and ring verification uses
// libsecp256k1's public API (same results, ~0.15 ms slower per two-member ring). A compiler that
// fails is an error only when RELAYMINER_REQUIRE_NATIVE=1 (CI sets it), so an operator's odd
// toolchain never stops `npm start`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const source = join(root, 'core/crypto/native/secp256k1-lincomb.c');
const output = join(root, 'build/native/secp256k1-lincomb.node');
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

if (process.platform === 'win32') skip('not built on Windows');
const libsecp = join(dirname(require.resolve('secp256k1/package.json')), 'src/secp256k1');
if (!existsSync(join(libsecp, 'src/secp256k1.c'))) skip(`libsecp256k1 sources not found under ${libsecp}`);
const inputs = [source, fileURLToPath(import.meta.url), join(libsecp, 'src/secp256k1.c')];
if (existsSync(output) && inputs.every((f) => statSync(f).mtimeMs <= statSync(output).mtimeMs)) process.exit(0);

const napiHeaders = require('node-api-headers').include_dir;
try {
  execFileSync(cc, ['--version'], { stdio: 'ignore' });
} catch {
  skip(`no C compiler (${cc})`);
}

// The configuration the secp256k1 package's binding.gyp builds its prebuilt binary with.
const defines = ['ECMULT_GEN_PREC_BITS=4', 'ECMULT_WINDOW_SIZE=15', 'USE_ENDOMORPHISM=1', 'USE_NUM_NONE=1', 'USE_FIELD_INV_BUILTIN=1', 'USE_SCALAR_INV_BUILTIN=1'];
if (process.arch === 'x64') defines.push('HAVE___INT128=1', 'USE_ASM_X86_64=1', 'USE_FIELD_5X52=1', 'USE_SCALAR_4X64=1');
else if (process.arch === 'arm64') defines.push('HAVE___INT128=1', 'USE_FIELD_5X52=1', 'USE_SCALAR_4X64=1');
else defines.push('USE_FIELD_10X26=1', 'USE_SCALAR_8X32=1');
const link = process.platform === 'darwin' ? ['-bundle', '-undefined', 'dynamic_lookup'] : ['-shared', '-pthread'];

mkdirSync(dirname(output), { recursive: true });
const partial = `${output}.${process.pid}.tmp`;
try {
  execFileSync(
    cc,
    ['-O2', '-fPIC', '-Wno-unused-function', ...defines.map((d) => `-D${d}`), `-I${napiHeaders}`, `-I${libsecp}`, `-I${join(libsecp, 'src')}`, source, ...link, '-o', partial],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
} catch {
  rmSync(partial, { force: true });
  skip(`${cc} failed to compile ${source}`);
}
renameSync(partial, output); // whole file or nothing, even with two builds at once
console.log(`build-native: built ${output}`);
