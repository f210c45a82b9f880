import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { parseConfig } from '../../core/config/load.js';
import { definePlugin, type PluginRole } from '../../core/plugins/define.js';
import { PluginError, registerPlugins, resolvePlugins, type BuiltinPlugins } from '../../core/plugins/loader.js';
import type { RelayMinerContext } from '../../core/plugins/context.js';
import { Metrics } from '../../core/observability/metrics.js';
import { Readiness } from '../../core/observability/readiness.js';
import { RelayHooks } from '../../core/relay/hooks.js';
import { RelayRejection } from '../../core/relay/reasons.js';
import type { RelayInfo } from '../../core/relay/events.js';
import { captureLogs } from '../helpers/logs.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');
const RECORDER_URL = pathToFileURL(join(FIXTURES, 'plugins', 'recorder.js')).href;
const BUILTINS: BuiltinPlugins = {
  'fixture-recorder': () => import(RECORDER_URL),
  'broken-builtin': () => Promise.reject(new Error('built-in plugin "broken-builtin" is not available in this version yet')),
};

async function resolveYaml(yaml: string, roles: PluginRole[] = ['relayer'], dir = FIXTURES) {
  const config = parseConfig(yaml, { env: {}, dir });
  return resolvePlugins({ entries: config.plugins, roles: new Set(roles), builtins: BUILTINS, configDir: dir, configFile: '/etc/relayminer/relayer.yaml' });
}

async function rejection(yaml: string, roles: PluginRole[] = ['relayer'], dir = FIXTURES): Promise<PluginError> {
  try {
    await resolveYaml(yaml, roles, dir);
  } catch (err) {
    if (err instanceof PluginError) return err;
    throw err;
  }
  throw new Error('expected a PluginError');
}

/** A host app as the runtime builds it, minus Redis (the loader and these fixtures do not use it). */
function hostApp(): { app: FastifyInstance & { recorded?: string[] }; context: RelayMinerContext } {
  const { logger } = captureLogs();
  const app = Fastify({ loggerInstance: logger as unknown as FastifyBaseLogger }) as unknown as FastifyInstance & { recorded?: string[] };
  const metrics = new Metrics({ version: 'test', roles: ['relayer'] });
  const context = {
    roles: new Set<PluginRole>(['relayer']),
    metrics,
    readiness: new Readiness(),
    relayHooks: new RelayHooks(logger, (hook, plugin) => metrics.relayHookErrors.inc({ hook, plugin })),
  } as unknown as RelayMinerContext;
  app.decorate('relayminer', context);
  return { app, context };
}

t.test('loads by built-in name, by path and by package name, in config order', async (t) => {
  const pkgDir = tempDir(t, 'relayminer-pkg');
  const pkg = join(pkgDir, 'node_modules', 'acme-relayminer-recorder');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'acme-relayminer-recorder', type: 'module', exports: { '.': { import: './index.js' } } }));
  writeFileSync(join(pkg, 'index.js'), `export { default } from ${JSON.stringify(pathToFileURL(join(FIXTURES, 'plugins', 'recorder-b.js')).href)};\n`);
  const yaml = `
plugins:
  - name: ${join(FIXTURES, 'plugins', 'recorder.js')}
    options: { label: by-path, delay_ms: 30 }
  - name: acme-relayminer-recorder
    options: { label: by-package }
`;
  const { active } = await resolveYaml(yaml, ['relayer'], pkgDir);
  t.same(active.map((p) => [p.plugin.meta.name, p.source, p.configPath]), [
    ['recorder', 'path', 'plugins[0]'],
    ['recorder-b', 'package', 'plugins[1]'],
  ]);
  t.same(active[1]!.options, { label: 'by-package', delay_ms: 0 }, 'schema defaults filled in');

  const builtin = await resolveYaml(`plugins: [{ name: fixture-recorder, options: { label: builtin } }]`);
  t.equal(builtin.active[0]!.source, 'builtin');

  const { app } = hostApp();
  registerPlugins(app, [...active, ...builtin.active]);
  await app.ready();
  t.same(app.recorded, ['start:by-path', 'start:by-package', 'start:builtin'], 'started in config order although the first is slowest');
  await app.close();
  t.same(app.recorded, ['start:by-path', 'start:by-package', 'start:builtin', 'close:builtin', 'close:by-package', 'close:by-path'], 'closed in reverse');
});

t.test('a relative path resolves from the config file directory', async (t) => {
  const { active } = await resolveYaml(`plugins: [{ name: ./plugins/recorder.js, options: { label: rel } }]`);
  t.equal(active[0]!.plugin.meta.name, 'recorder');
});

t.test('a missing plugin stops start-up naming it, its config path and the reason', async (t) => {
  const byPath = await rejection(`plugins: [{ name: ./plugins/nope.js }]`);
  t.equal(byPath.pluginName, './plugins/nope.js');
  t.equal(byPath.configPath, 'plugins[0]');
  t.match(byPath.message, `plugin "./plugins/nope.js" (plugins[0] in /etc/relayminer/relayer.yaml): file not found: ${join(FIXTURES, 'plugins', 'nope.js')}`);

  const byName = await rejection(`plugins: [fixture-recorder-typo]`);
  t.match(byName.reason, /no built-in plugin and no installed package has this name \(built-ins: fixture-recorder, broken-builtin; for a package: npm install fixture-recorder-typo\)/);

  const unavailable = await rejection(`plugins: [broken-builtin]`);
  t.equal(unavailable.reason, 'failed to load: built-in plugin "broken-builtin" is not available in this version yet');

  const notAName = await rejection(`plugins: ["Not A Name!"]`);
  t.match(notAName.reason, /not a built-in plugin .*a package name or a path/);
});

t.test('a plugin that throws while loading, or is not a plugin', async (t) => {
  const atImport = await rejection(`plugins: [./plugins/throws-on-import.js]`);
  t.equal(atImport.reason, 'threw while loading: boom at import time');
  const notPlugin = await rejection(`plugins: [./plugins/not-a-plugin.js]`);
  t.match(notPlugin.reason, 'does not export a relay miner plugin');

  const { active } = await resolveYaml(`plugins: [{ name: ./plugins/recorder.js, options: { label: a } }, ./plugins/throws-on-start.js]`);
  const { app } = hostApp();
  registerPlugins(app, active, '/etc/relayminer/relayer.yaml');
  const err = (await app.ready().then(
    () => undefined,
    (e: unknown) => e,
  )) as PluginError;
  t.ok(err instanceof PluginError, 'a PluginError');
  t.equal(err.pluginName, 'throws-on-start');
  t.equal(err.configPath, 'plugins[1]');
  t.equal(err.message, 'plugin "throws-on-start" (plugins[1] in /etc/relayminer/relayer.yaml): failed to start: backend pool could not be created');
});

t.test('bad options are refused before anything starts', async (t) => {
  const missing = await rejection(`plugins: [{ name: ./plugins/recorder.js, options: { delay_ms: -1, lable: x } }]`);
  t.equal(missing.pluginName, './plugins/recorder.js');
  t.match(missing.reason, /^bad options: /);
  t.match(missing.reason, 'plugins[0].options.label: is required');
  t.match(missing.reason, 'plugins[0].options.delay_ms: must be >= 0, got -1');
  t.match(missing.reason, 'plugins[0].options.lable: unknown key; did you mean "label"?');
  const noOptions = await rejection(`plugins: [{ name: ./plugins/throws-on-start.js, options: { x: 1 } }]`);
  t.equal(noOptions.reason, 'takes no options, got x at plugins[0].options');
  // Every plugin's problems at once: a missing one does not hide the bad options of the next.
  const both = await rejection(`plugins: [fixture-recorder-typo, { name: ./plugins/recorder.js, options: { label: x, lable: x } }]`);
  t.same(
    both.problems.map((p) => p.path),
    ['plugins[0]', 'plugins[1].options.lable'],
  );
  t.equal(
    both.message,
    [
      '/etc/relayminer/relayer.yaml: 2 problems',
      '  /etc/relayminer/relayer.yaml: plugins[0]: plugin "fixture-recorder-typo": no built-in plugin and no installed package has this name (built-ins: fixture-recorder, broken-builtin; for a package: npm install fixture-recorder-typo)',
      '  /etc/relayminer/relayer.yaml: plugins[1].options.lable: unknown key; did you mean "label"? (valid: label, delay_ms)',
    ].join('\n'),
  );
});

t.test('two plugins claiming one RPC type is a start-up error', async (t) => {
  const err = await rejection(`plugins: [./plugins/transport-a.js, ./plugins/transport-b.js]`);
  t.equal(err.pluginName, 'transport-b');
  t.equal(err.configPath, 'plugins[1]');
  t.equal(err.reason, 'RPC type "rest" is already served by plugin "transport-a" (plugins[0]); enable only one of them');
});

t.test('a plugin runs only in the roles it declares', async (t) => {
  const yaml = `plugins: [./plugins/miner-only.js, ./plugins/transport-a.js]`;
  const relayer = await resolveYaml(yaml, ['relayer']);
  t.same(relayer.active.map((p) => p.plugin.meta.name), ['transport-a']);
  t.same(relayer.skipped.map((s) => [s.entryName, s.roles]), [['./plugins/miner-only.js', ['miner']]]);
  const miner = await resolveYaml(yaml, ['miner']);
  t.same(miner.active.map((p) => p.plugin.meta.name), ['miner-only']);
  const both = await resolveYaml(yaml, ['relayer', 'miner']);
  t.same(both.active.map((p) => p.plugin.meta.name), ['miner-only', 'transport-a']);
});

t.test('definePlugin refuses malformed meta', async (t) => {
  const fn = async () => {};
  t.throws(() => definePlugin({ name: 'Bad Name', version: '1.0.0', roles: ['relayer'] }, fn), /name must be lower-case/);
  t.throws(() => definePlugin({ name: 'x', version: '1', roles: ['relayer'] }, fn), /version must be semver/);
  t.throws(() => definePlugin({ name: 'x', version: '1.0.0', roles: [] }, fn), /roles must be a non-empty list/);
  t.throws(() => definePlugin({ name: 'x', version: '1.0.0', roles: ['gateway' as PluginRole] }, fn), /roles must be/);
  t.throws(() => definePlugin({ name: 'x', version: '1.0.0', roles: ['relayer'], rpcTypes: ['soap' as never] }, fn), /rpcTypes must be a list of grpc/);
  t.throws(() => definePlugin({ name: 'x', version: '1.0.0', roles: ['relayer'], rpcTypes: ['rest', 'rest'] }, fn), /lists a type twice/);
  const ok = definePlugin({ name: 'x', version: '1.0.0', roles: ['relayer'], rpcTypes: ['grpc'] }, fn);
  t.same(ok.meta.rpcTypes, ['grpc']);
  t.ok(Object.isFrozen(ok.meta));
});

const relay = (applicationAddress: string): RelayInfo => ({
  id: 'r1',
  rpcType: 'jsonrpc',
  transport: 'transport-jsonrpc',
  receivedAtMs: 0,
  applicationAddress,
});

t.test('relay hooks: validated handlers can refuse; observers cannot break the pipeline', async (t) => {
  const { logger, lines } = captureLogs();
  const failures: string[] = [];
  const hooks = new RelayHooks(logger, (hook, plugin) => failures.push(`${hook}/${plugin}`));
  const seen: string[] = [];
  hooks.add('onRelayValidated', () => void seen.push('first'), 'p1');
  hooks.add('onRelayValidated', () => {
    throw new Error('bug in p2');
  }, 'p2');
  hooks.add('onRelayValidated', ({ relay }) => {
    seen.push('third');
    if (relay.applicationAddress === 'blocked') throw new RelayRejection('rejected_by_plugin', 'blocked app');
  }, 'p3');
  await hooks.runValidated({ relay: relay('ok'), mode: 'eager' });
  t.same(seen, ['first', 'third'], 'a throwing handler does not stop the others');
  t.same(failures, ['onRelayValidated/p2']);
  const err = await hooks.runValidated({ relay: relay('blocked'), mode: 'eager' }).catch((e: unknown) => e);
  t.ok(RelayRejection.is(err));
  t.equal((err as RelayRejection).reason, 'rejected_by_plugin');
  t.equal((err as RelayRejection).httpStatus, 403);
  t.equal((err as RelayRejection).message, 'relay validation failed: refused by a plugin: blocked app');

  hooks.add('onRelayMined', async () => {
    throw new Error('async observer bug');
  }, 'p4');
  hooks.add('onRelayRejected', () => {
    throw new Error('sync observer bug');
  }, 'p5');
  t.doesNotThrow(() => hooks.emit('onRelayMined', { relay: relay('a'), relayHash: new Uint8Array(32), computeUnits: 1n, streamId: '1-0' }));
  t.doesNotThrow(() => hooks.emit('onRelayRejected', { relay: relay('a'), reason: 'internal', message: 'x' }));
  await new Promise((r) => setImmediate(r));
  t.same(failures, ['onRelayValidated/p2', 'onRelayValidated/p2', 'onRelayRejected/p5', 'onRelayMined/p4']);
  const said = lines.filter((l) => String(l.msg).startsWith('relay hook handler failed')).map((l) => `${l.hook}/${l.plugin}`);
  t.same(said, ['onRelayValidated/p2', 'onRelayRejected/p5', 'onRelayMined/p4'], "each failing handler said once: p2's second failure counted, not said again");
  t.throws(() => hooks.add('onRelayExploded' as never, () => {}), /unknown relay hook "onRelayExploded"/);
  t.throws(() => new RelayRejection('no_such_reason' as never), /unknown reject reason/);
});

t.test('the worked example plugin (examples/plugins/app-allowlist) as a third party uses it', async (t) => {
  const allowed = 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4';
  const yaml = `plugins:\n  - name: ./plugins/app-allowlist/index.js\n    options: { applications: [${allowed}] }\n`;
  const { active } = await resolveYaml(yaml, ['relayer'], EXAMPLES);
  t.same(active[0]!.options, { mode: 'allow', applications: [allowed] });
  const { app, context } = hostApp();
  registerPlugins(app, active);
  await app.ready();
  t.equal(context.relayHooks.count('onRelayValidated'), 1);
  await context.relayHooks.runValidated({ relay: relay(allowed), mode: 'eager' });
  const err = await context.relayHooks.runValidated({ relay: relay('pokt1other'), mode: 'eager' }).catch((e: unknown) => e);
  t.equal((err as RelayRejection).reason, 'rejected_by_plugin');
  t.match(await context.metrics.registry.getSingleMetricAsString('app_allowlist_refused_total'), /app_allowlist_refused_total 1$/m);
  t.equal((await context.readiness.evaluate()).status, 'ready');
  await app.close();

  const bad = await rejection(`plugins: [{ name: ./plugins/app-allowlist/index.js, options: { applications: [not-an-address] } }]`, ['relayer'], EXAMPLES);
  t.match(bad.reason, 'plugins[0].options.applications[0]: must be a string matching');
});
