import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from './helpers/temp-dir.js';
import { withoutTapHook } from './helpers/child-env.js';

// What an operator gets from `npm install relayminer`: the packed tarball (dist/ as `npm test` just built it)
// installed into an empty project, its CLI and, where a C compiler is present, its ring-signature addon built
// by node-gyp at install and loaded by node-gyp-build. Dependencies come from npm's cache (`npm ci` filled it).
const ROOT = join(import.meta.dirname, '..');
const npm = (args: string[], cwd: string) => spawnSync(...withoutTapHook('npm', args), { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });

t.test('npm pack, then npm install <tarball> in an empty directory: a working CLI and the addon', async (t) => {
  const dir = tempDir(t, 'relayminer-pack');
  const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  t.equal(packed.status, 0, packed.stderr);
  const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  const paths = new Set(files.map((f) => f.path));
  for (const needed of ['binding.gyp', 'core/crypto/native/secp256k1-lincomb.c', 'scripts/build-native.mjs', 'dist/cli/main.js', 'dist/core/index.js', 'core/protocol/proto/pocket/service/relay.proto']) {
    t.ok(paths.has(needed), `the tarball holds ${needed}`);
  }
  t.notOk([...paths].some((p) => p.startsWith('build/') || p.startsWith('test/') || p.startsWith('node_modules/')), 'no local build output, tests or dependencies');

  const project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'operator', version: '1.0.0', private: true }));
  const installed = npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', join(dir, filename)], project);
  t.equal(installed.status, 0, installed.stderr.slice(-2000));

  const help = spawnSync(...withoutTapHook(join(project, 'node_modules/.bin/relayminer'), ['--help']), { encoding: 'utf8' });
  t.equal(help.status, 0, help.stderr);
  t.match(help.stdout, /^Usage: relayminer \[options\] \[command\]/);
  t.match(help.stdout, /relayer \[options\]/);
  t.match(help.stdout, /miner \[options\]/);

  const metric = spawnSync(
    ...withoutTapHook(process.execPath, [
      '--input-type=module',
      '-e',
      "import { Metrics } from 'relayminer'; process.stdout.write(await new Metrics({ version: 'v', roles: ['relayer'] }).registry.getSingleMetricAsString('relayminer_build_info'));",
    ]),
    { cwd: project, encoding: 'utf8' },
  );
  t.equal(metric.status, 0, metric.stderr);
  const compiler = spawnSync(process.env.CC || 'cc', ['--version']).status === 0;
  if (compiler) {
    t.ok(existsSync(join(project, 'node_modules/relayminer/build/Release/secp256k1_lincomb.node')), 'the install script built the addon with node-gyp');
    t.match(metric.stdout, /relayminer_build_info\{version="v",roles="relayer",ring_crypto="native-strauss"\} 1/, 'and it is what verifies rings');
  } else {
    t.match(metric.stdout, /ring_crypto="native"/, 'no compiler: the secp256k1 package\'s prebuilt binary');
  }
});
