import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { PluginEntry } from '../config/schema.js';
import { formatProblem, formatProblems, joinPath, type ConfigProblem } from '../config/problems.js';
import { validateAgainst } from '../config/validator.js';
import { isRelayMinerPlugin, type PluginRole, type RelayMinerPlugin } from './define.js';

/** Built-in plugins by name, each imported only when a config enables it. */
export type BuiltinPlugins = Readonly<Record<string, () => Promise<unknown>>>;

export type PluginSource = 'builtin' | 'package' | 'path';

export interface LoadedPlugin {
  /** The name as written in the config. */
  entryName: string;
  /** `plugins[i]` */
  configPath: string;
  source: PluginSource;
  plugin: RelayMinerPlugin;
  /** Validated options with the schema's defaults filled in. */
  options: Record<string, unknown>;
}

export interface SkippedPlugin {
  entryName: string;
  configPath: string;
  roles: readonly PluginRole[];
}

/** A plugin that cannot be used: one message naming the plugin, where the config lists it, and why. */
export class PluginError extends Error {
  readonly pluginName: string;
  readonly configPath: string;
  readonly reason: string;
  /** For bad options: each problem with its path in the file (`plugins[i].options.…`). */
  readonly problems: ConfigProblem[];

  constructor(pluginName: string, configPath: string, reason: string, file?: string, options?: { cause?: unknown; problems?: ConfigProblem[] }) {
    super(`plugin "${pluginName}" (${configPath}${file ? ` in ${file}` : ''}): ${reason}`, options);
    this.name = 'PluginError';
    this.pluginName = pluginName;
    this.configPath = configPath;
    this.reason = reason;
    this.problems = options?.problems ?? [{ path: configPath, message: `plugin "${pluginName}": ${reason}` }];
  }

  /** Several plugins' problems as one error (the first one's name and path), every problem listed in its message. */
  static all(errors: PluginError[], file?: string): PluginError {
    if (errors.length === 1) return errors[0]!;
    const first = errors[0]!;
    const problems = errors.flatMap((e) => e.problems);
    const all = new PluginError(first.pluginName, first.configPath, first.reason, file, { problems });
    all.message = formatProblems(problems, file);
    return all;
  }
}

export interface ResolvePluginsOptions {
  entries: readonly PluginEntry[];
  roles: ReadonlySet<PluginRole>;
  builtins: BuiltinPlugins;
  /** Directory of the config file: paths and packages resolve from there. */
  configDir: string;
  configFile?: string | undefined;
}

/**
 * Imports every listed plugin and validates its options, before anything starts. Throws a PluginError
 * with every plugin's problem (a missing plugin, one that throws while being imported, one that is not a
 * plugin, bad options), or two plugins claiming one RPC type.
 */
export async function resolvePlugins(opts: ResolvePluginsOptions): Promise<{ active: LoadedPlugin[]; skipped: SkippedPlugin[] }> {
  const active: LoadedPlugin[] = [];
  const skipped: SkippedPlugin[] = [];
  const failures: PluginError[] = [];
  for (const [i, entry] of opts.entries.entries()) {
    try {
      const resolved = await resolveEntry(entry, i, opts);
      if ('plugin' in resolved) active.push(resolved);
      else skipped.push(resolved);
    } catch (err) {
      if (!(err instanceof PluginError)) throw err;
      failures.push(err);
    }
  }
  if (failures.length) throw PluginError.all(failures, opts.configFile);
  checkRpcTypes(active, opts.configFile);
  return { active, skipped };
}

/** One entry of the list: imported and its options validated, or skipped (no role of this process). */
async function resolveEntry(entry: PluginEntry, i: number, opts: ResolvePluginsOptions): Promise<LoadedPlugin | SkippedPlugin> {
  const configPath = `plugins[${i}]`;
  const fail = (reason: string, cause?: unknown, problems?: ConfigProblem[]): never => {
    throw new PluginError(entry.name, configPath, reason, opts.configFile, { cause, problems });
  };
  const { source, module } = await importPlugin(entry.name, opts, fail);
  const candidate = (module as { default?: unknown; plugin?: unknown }).default ?? (module as { plugin?: unknown }).plugin;
  if (!isRelayMinerPlugin(candidate)) {
    fail('the module does not export a relay miner plugin (export default definePlugin(meta, fn))');
  }
  const plugin = candidate as RelayMinerPlugin;
  if (!plugin.meta.roles.some((r) => opts.roles.has(r))) return { entryName: entry.name, configPath, roles: plugin.meta.roles };
  const options = structuredClone(entry.options ?? {});
  if (plugin.meta.optionsSchema) {
    const problems = validateAgainst(plugin.meta.optionsSchema, options, ['plugins', i, 'options']);
    if (problems.length > 0) fail(`bad options: ${problems.map((p) => formatProblem(p)).join('; ')}`, undefined, problems);
  } else if (Object.keys(options).length > 0) {
    fail(`takes no options, got ${Object.keys(options).join(', ')} at ${joinPath(['plugins', i, 'options'])}`);
  }
  return { entryName: entry.name, configPath, source, plugin, options };
}

/**
 * The plugins a file with no `plugins:` list runs: for a relayer section, each built-in transport that
 * serves an RPC type some service has a backend for; for a miner section, the built-in miner. What a
 * seed-shaped file describes is what it runs; an explicit list (even empty) is taken as written.
 */
export async function impliedPluginEntries(
  config: { relayer?: unknown; miner?: unknown; services: Readonly<Record<string, { backends: Partial<Record<string, unknown>> }>> },
  builtins: BuiltinPlugins,
): Promise<PluginEntry[]> {
  const types = new Set(Object.values(config.services).flatMap((s) => Object.keys(s.backends).filter((t) => s.backends[t] !== undefined)));
  const out: PluginEntry[] = [];
  for (const [name, load] of Object.entries(builtins)) {
    const module = (await load()) as { default?: unknown };
    if (!isRelayMinerPlugin(module.default)) continue;
    const meta = (module.default as RelayMinerPlugin).meta;
    const transport = (meta.rpcTypes ?? []).length > 0;
    if (config.relayer && transport && meta.roles.includes('relayer') && meta.rpcTypes!.some((t) => types.has(t))) out.push({ name, options: {} });
    else if (config.miner && !transport && meta.roles.includes('miner')) out.push({ name, options: {} });
  }
  return out;
}

function checkRpcTypes(active: LoadedPlugin[], file?: string): void {
  const owner = new Map<string, LoadedPlugin>();
  for (const p of active) {
    for (const t of p.plugin.meta.rpcTypes ?? []) {
      const first = owner.get(t);
      if (first) {
        throw new PluginError(
          p.plugin.meta.name,
          p.configPath,
          `RPC type "${t}" is already served by plugin "${first.plugin.meta.name}" (${first.configPath}); enable only one of them`,
          file,
        );
      }
      owner.set(t, p);
    }
  }
}

const PATH_LIKE = /^(\.{1,2}[\\/]|[\\/]|file:|[A-Za-z]:[\\/])/;

async function importPlugin(
  name: string,
  opts: ResolvePluginsOptions,
  fail: (reason: string, cause?: unknown) => never,
): Promise<{ source: PluginSource; module: unknown }> {
  const builtin = opts.builtins[name];
  if (builtin) {
    try {
      return { source: 'builtin', module: await builtin() };
    } catch (err) {
      return fail(`failed to load: ${(err as Error).message}`, err);
    }
  }
  if (PATH_LIKE.test(name) || /\.(m?js|ts)$/.test(name)) {
    const file = name.startsWith('file:') ? new URL(name) : pathToFileURL(isAbsolute(name) ? name : resolve(opts.configDir, name));
    if (!existsSync(file)) return fail(`file not found: ${fileURLToPath(file)}`);
    try {
      return { source: 'path', module: await import(file.href) };
    } catch (err) {
      return fail(`threw while loading: ${(err as Error).message}`, err);
    }
  }
  if (!/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+(\/[A-Za-z0-9._/-]+)?$/.test(name)) {
    return fail(
      `not a built-in plugin (${Object.keys(opts.builtins).join(', ')}), a package name or a path starting with ./, ../ or /`,
    );
  }
  // A package installed next to the config wins; else the one next to relayminer itself.
  const specifier = resolvePackage(name, opts.configDir) ?? resolveBesideRelayminer(name);
  if (!specifier) {
    return fail(
      `no built-in plugin and no installed package has this name (built-ins: ${Object.keys(opts.builtins).join(', ')}; for a package: npm install ${name})`,
    );
  }
  try {
    return { source: 'package', module: await import(specifier) };
  } catch (err) {
    return fail(`threw while loading: ${(err as Error).message}`, err);
  }
}

/**
 * Where `name` resolves from `dir`, as a file URL, or undefined when no such package is installed there.
 * Packages whose exports offer only an `import` condition are found through their package.json.
 */
function resolvePackage(name: string, dir: string): string | undefined {
  const require = createRequire(join(dir, 'package.json'));
  try {
    return pathToFileURL(require.resolve(name)).href;
  } catch {
    // ESM-only exports: locate the package folder and resolve its entry from package.json.
  }
  const [scopeOrName, maybeName, ...rest] = name.split('/');
  const pkgName = scopeOrName!.startsWith('@') ? `${scopeOrName}/${maybeName}` : scopeOrName!;
  const subpath = scopeOrName!.startsWith('@') ? rest.join('/') : [maybeName, ...rest].filter(Boolean).join('/');
  for (const base of require.resolve.paths(pkgName) ?? []) {
    const pkgDir = join(base, pkgName);
    const manifest = join(pkgDir, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: unknown; main?: string };
    const entry = subpath ? `./${subpath}` : '.';
    const target = exportTarget(pkg.exports, entry) ?? (entry === '.' ? (pkg.main ?? 'index.js') : subpath);
    const file = join(pkgDir, target);
    return existsSync(file) ? pathToFileURL(file).href : undefined;
  }
  return undefined;
}

function resolveBesideRelayminer(name: string): string | undefined {
  try {
    return import.meta.resolve(name);
  } catch {
    return undefined;
  }
}

function exportTarget(exports: unknown, entry: string): string | undefined {
  const pick = (v: unknown): string | undefined => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const c = v as Record<string, unknown>;
      return pick(c.import) ?? pick(c.node) ?? pick(c.default);
    }
    return undefined;
  };
  if (typeof exports === 'string') return entry === '.' ? exports : undefined;
  if (!exports || typeof exports !== 'object') return undefined;
  const map = exports as Record<string, unknown>;
  const conditional = !Object.keys(map).some((k) => k.startsWith('.'));
  return conditional ? (entry === '.' ? pick(map) : undefined) : pick(map[entry]);
}

/**
 * Registers the plugins in config order through fastify's avvio queue. An error while a plugin
 * starts surfaces from `app.ready()` as a PluginError naming it.
 */
export function registerPlugins(app: FastifyInstance, plugins: readonly LoadedPlugin[], configFile?: string): void {
  for (const p of plugins) {
    app.register(p.plugin, p.options);
    // avvio passes a one-parameter callback's rejection on to ready(); a synchronous throw it would not.
    app.after(async (err) => {
      if (!err) return;
      if (err instanceof PluginError) throw err;
      throw new PluginError(p.plugin.meta.name, p.configPath, `failed to start: ${err.message}`, configFile, { cause: err });
    });
  }
}
