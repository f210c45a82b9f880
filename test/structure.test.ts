import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import t from 'tap';
import { ROOT } from './helpers/cli.js';

/**
 * The dependency rules of the source tree, read from its import statements: plugins reach core only
 * through the package entry ('relayminer'), core never reaches plugins, no plugin reaches another, the
 * simulated node stays out of the relay layer and the plugins, the CLI reaches plugins only through
 * their registry, and core's directories do not import each other in a circle.
 */

const SKIP = new Set(['node_modules', 'dist', '.git', 'vectors', 'fixtures']);

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports (static and dynamic imports with a literal). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const patterns = [/\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

interface Edge {
  from: string;
  to: string;
  specifier: string;
}

/** Imports between files of the repository (relative specifiers resolved; .js names the .ts source). */
function edges(files: string[]): Edge[] {
  return files.flatMap((from) =>
    importsOf(readFileSync(join(ROOT, from), 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((specifier) => ({ from, specifier, to: relative(ROOT, resolve(ROOT, dirname(from), specifier)).replace(/\.js$/, '.ts') })),
  );
}

const top = (path: string) => path.split(sep)[0]!;
/** A plugin's folder name; undefined for files directly in plugins/ (the registry and its helpers). */
const pluginOf = (path: string) => (path.startsWith(`plugins${sep}`) && path.split(sep).length > 2 ? path.split(sep)[1] : undefined);
const coreDir = (path: string) => (path.startsWith(`core${sep}`) ? (path.split(sep).length > 2 ? path.split(sep)[1]! : '(entry)') : undefined);

/** Names the rule a repository import breaks, if it breaks one. */
export function violation(e: Edge): string | undefined {
  const [a, b] = [top(e.from), top(e.to)];
  const isTest = e.from.split(sep).includes('test');
  if (a === 'core' && b === 'plugins') return 'core imports a plugin';
  if (a === 'plugins') {
    const [pa, pb] = [pluginOf(e.from), pluginOf(e.to)];
    if (b === 'core') return 'a plugin imports a core file (use the package entry, \'relayminer\')';
    if (b === 'plugins' && pa && pb && pa !== pb) return 'a plugin imports another plugin';
    if (!isTest && b === 'plugins' && pa && !pb) return 'a plugin imports the plugin registry';
    if (!isTest && b === 'test') return 'plugin code imports test code';
  }
  if (a === 'localnet' && (b === 'plugins' || e.to.startsWith(`core${sep}relay${sep}`))) return 'the simulated node imports the relay layer or a plugin';
  if (a === 'cli' && b === 'plugins' && e.to !== join('plugins', 'index.ts')) return 'the CLI imports a plugin file other than the registry (plugins/index.ts)';
  return undefined;
}

/** Cycles in the graph of core's directories (relay → backend → relay, …), each as its path. */
export function directoryCycles(list: Edge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const e of list) {
    const [a, b] = [coreDir(e.from), coreDir(e.to)];
    if (!a || !b || a === b || a === '(entry)' || b === '(entry)') continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
  }
  const cycles: string[][] = [];
  const seen = new Set<string>();
  for (const start of graph.keys()) {
    // Every simple cycle through `start` whose other nodes sort after it: each cycle reported once.
    const walk = (node: string, path: string[]) => {
      for (const next of graph.get(node) ?? []) {
        if (next === start) cycles.push([...path, start]);
        else if (next > start && !path.includes(next)) walk(next, [...path, next]);
      }
    };
    walk(start, [start]);
    seen.add(start);
  }
  return cycles;
}

const ALL = ['core', 'plugins', 'cli', 'localnet', 'bench', 'scripts', 'examples', 'test'].flatMap((d) => sources(d));
const EDGES = edges(ALL);

t.test('the rules hold on the whole tree', async (t) => {
  t.ok(ALL.length > 150, `${ALL.length} source files read`);
  t.ok(EDGES.length > 500, `${EDGES.length} imports between them`);
  const broken = EDGES.flatMap((e) => {
    const rule = violation(e);
    return rule ? [`${e.from} → '${e.specifier}': ${rule}`] : [];
  });
  t.same(broken, [], 'no import breaks a rule');
  t.same(directoryCycles(EDGES), [], "no cycle between core's directories");
});

t.test('the built-in plugins import core only as the package entry', async (t) => {
  const plugins = ALL.filter((f) => pluginOf(f) && !f.split(sep).includes('test'));
  const entry = plugins.filter((f) => importsOf(readFileSync(join(ROOT, f), 'utf8')).includes('relayminer'));
  t.ok(entry.length >= 12, `${entry.length} of ${plugins.length} plugin files import 'relayminer'`);
});

t.test('each rule is caught (the scan itself is checked)', async (t) => {
  const e = (from: string, specifier: string) => ({ from: join(...from.split('/')), specifier, to: relative(ROOT, resolve(ROOT, dirname(join(...from.split('/'))), specifier)).replace(/\.js$/, '.ts') });
  t.match(violation(e('core/relay/x.ts', '../../plugins/miner/index.js')), /core imports a plugin/);
  t.match(violation(e('plugins/miner/x.ts', '../../core/relay/pipeline.js')), /imports a core file/);
  t.match(violation(e('plugins/miner/test/a.test.ts', '../../../core/redis/key-builder.js')), /imports a core file/);
  t.match(violation(e('plugins/miner/x.ts', '../transport-grpc/index.js')), /another plugin/);
  t.match(violation(e('localnet/x.ts', '../core/relay/events.js')), /simulated node/);
  t.match(violation(e('localnet/x.ts', '../plugins/miner/session-store.js')), /simulated node/);
  t.match(violation(e('cli/x.ts', '../plugins/miner/session-store.js')), /CLI imports a plugin file/);
  t.equal(violation(e('cli/x.ts', '../plugins/index.js')), undefined, 'the registry is the way in');
  t.equal(violation(e('plugins/miner/x.ts', './session-store.js')), undefined, "a plugin's own files");
  t.match(violation(e('plugins/miner/x.ts', '../index.js')), /imports the plugin registry/);
  t.equal(violation(e('plugins/docs.ts', './index.js')), undefined, 'the registry-level files use the registry');
  t.equal(violation(e('plugins/index.ts', './miner/index.js')), undefined, 'the registry names the plugins');
  t.equal(violation(e('localnet/x.ts', '../core/protocol/index.js')), undefined);
  t.same(directoryCycles([e('core/relay/a.ts', '../backend/b.js'), e('core/backend/b.ts', '../relay/a.js'), e('core/chain/c.ts', '../protocol/d.js')]), [['backend', 'relay', 'backend']]);
  t.same(importsOf(`import a from './a.js';\nimport { type B,\n  c } from "../b.js";\nexport * from './e.js';\nconst m = await import('./f.js');\nimport './g.js';`), ['./a.js', '../b.js', './e.js', './g.js', './f.js']);
});

t.test('every runtime dependency is used by shipped code (tests and benchmarks use devDependencies)', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const shipped = ['core', 'cli', 'plugins', 'localnet'].flatMap(sources).filter((f) => !f.split(sep).includes('test'));
  const used = new Set<string>();
  const packageOf = (s: string) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
  for (const file of shipped) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const required = [...text.matchAll(/\b(?:require|createRequire\([^)]*\))(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
    for (const s of [...importsOf(text), ...required]) if (!s.startsWith('.') && !s.startsWith('node:')) used.add(packageOf(s));
  }
  t.same(Object.keys(pkg.dependencies).filter((d) => !used.has(d)), [], 'dependencies nothing shipped imports');
  t.equal(pkg.dependencies.secp256k1, /^\d+\.\d+\.\d+$/.test(pkg.dependencies.secp256k1 ?? '') ? pkg.dependencies.secp256k1 : 'an exact version', 'secp256k1 pinned exactly: binding.gyp compiles its sources');
  t.same(Object.keys(pkg.devDependencies).filter((d) => Object.hasOwn(pkg.dependencies, d)), [], 'no package is both');
});
