import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Document } from 'yaml';
import type { SupplierKey } from '../crypto/supplier-key.js';
import { isValidCompressedPoint } from '../crypto/ring/signature.js';
import { PLACEHOLDER_RING_PUBLIC_KEY } from '../crypto/placeholder-ring-key.js';
import { parseHostPort } from './host-port.js';
import { interpolateEnv } from './env.js';
import { ConfigError, joinPath, unreadableReason, type ConfigProblem } from './problems.js';
import { parseRedisUrl } from './redis-url.js';
import {
  ConfigSchema,
  PocketNodeSchema,
  RedisSchema,
  RPC_TYPES,
  type BackendConfig,
  type LoggingConfig,
  type PluginEntry,
  type PocketNodeConfig,
  type RawConfig,
  type RedisConfig,
  type RpcTypeName,
  type ServiceConfig,
  type ShutdownConfig,
  type RelayMeterConfig,
  type RelayListenerLimits,
  type ResponseCompression,
  type SimulationConfig,
} from './schema.js';
import { keyringDirectory } from './keyring.js';
import { loadSupplierKeys } from './supplier-keys.js';
import { validateAgainst } from './validator.js';
import { BAD_FIELD_VALUE, HTTP_TOKEN, PER_REQUEST_FIELDS } from '../protocol/http-fields.js';
import { decodeUrlPart } from './url-secrets.js';

export type Role = 'relayer' | 'miner';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface ResolvedRedis extends Omit<RedisConfig, 'address'> {
  url: string;
}

export interface ResolvedBackend extends Omit<BackendConfig, 'url' | 'urls'> {
  urls: string[];
}

export interface ResolvedService extends Omit<ServiceConfig, 'backends'> {
  backends: Partial<Record<RpcTypeName, ResolvedBackend>>;
}

/** A place `keys.watch` watches: a directory, and the one file in it that matters (all of them when absent). */
export interface KeyWatch {
  dir: string;
  file?: string;
}

/** What every role needs to run, after role sections have overridden the shared ones. */
export interface RoleSettings {
  redis: ResolvedRedis;
  pocket_node: PocketNodeConfig;
  suppliers: SupplierKey[];
  /** Where each supplier key was read: address → its config path, with the file or variable. */
  supplier_sources: Map<string, string>;
  /** What `keys.watch` watches: the keys file (in its directory, where editors and Kubernetes replace it) and the keys directory. */
  key_watch: KeyWatch[];
}

export interface ResolvedRelayer extends RoleSettings {
  listen_address: string;
  error_model: 'poktroll' | 'http';
  meter: RelayMeterConfig;
  ring_verify_threads: number;
  ring_tables: number;
  limits: RelayListenerLimits;
  response_compression: ResponseCompression;
  simulation: SimulationConfig;
  health_address: string;
  metrics_address: string;
  dashboard: boolean;
}

export interface ResolvedMiner extends RoleSettings {
  metrics_address: string;
  health_address: string | undefined;
  dashboard: boolean;
}

export interface ResolvedConfig {
  /** Absolute path of the file, when loaded from one. */
  file: string | undefined;
  /** Directory that relative paths (plugins, keys files) are resolved from. */
  dir: string;
  relayer: ResolvedRelayer | undefined;
  miner: ResolvedMiner | undefined;
  services: Record<string, ResolvedService>;
  plugins: PluginEntry[];
  /** True when the file has no `plugins:` key: the runtime then runs what its sections describe. */
  pluginsImplied: boolean;
  logging: LoggingConfig;
  shutdown: ShutdownConfig;
  /** Things that load but that an operator should fix (literal keys in the file, loose file modes). */
  warnings: string[];
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Directory for relative paths when parsing text that is not from a file. */
  dir?: string;
}

export function loadConfigFile(file: string, opts: LoadOptions = {}): ResolvedConfig {
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const reason = unreadableReason(err);
    throw new ConfigError([{ path: '', message: reason === 'file not found' ? reason : `cannot read: ${reason}` }], absolute);
  }
  return parseConfig(text, { ...opts, file: absolute });
}

export function parseConfig(text: string, opts: LoadOptions & { file?: string } = {}): ResolvedConfig {
  const env = opts.env ?? process.env;
  const file = opts.file;
  const dir = opts.dir ?? (file ? dirname(file) : process.cwd());
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });

  let pluginEntries: { name: string; options: Record<string, unknown> }[] | undefined;
  const fail = (problems: ConfigProblem[]): never => {
    // Shared sections are read once per role: a bad top-level keys file is one problem, not two.
    const unique = [...new Map(problems.map((p) => [`${p.path}\n${p.message}`, p])).values()];
    throw new ConfigError(
      unique.map((p) => ({ ...locate(doc, lineCounter, p.path), ...p })),
      file,
      pluginEntries,
    );
  };

  if (doc.errors.length > 0) {
    fail(
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { path: '', message: `YAML: ${e.message.split('\n')[0]}`, line, column: col };
      }),
    );
  }
  const parsed: unknown = doc.toJS() ?? {};
  if (typeof parsed !== 'object' || Array.isArray(parsed) || parsed === null) {
    fail([{ path: '', message: 'the configuration must be a map of sections' }]);
  }

  const { value, interpolated, problems: envProblems } = interpolateEnv(parsed, env, (path) => schemaTypeAt(ConfigSchema, path));
  const raw = value as Record<string, unknown>;
  const pluginsImplied = !Object.hasOwn(raw, 'plugins');
  if (Array.isArray(raw.plugins)) {
    raw.plugins = raw.plugins.map((p: unknown) => (typeof p === 'string' ? { name: p } : p));
    pluginEntries = (raw.plugins as unknown[]).flatMap((p) => {
      const e = p as { name?: unknown; options?: unknown } | null;
      return typeof e?.name === 'string' ? [{ name: e.name, options: (e.options && typeof e.options === 'object' ? e.options : {}) as Record<string, unknown> }] : [];
    });
  }
  // Read before the schema fills in defaults: only what the file says counts.
  const unusedKeys = httpOnlyBackendKeys(raw);
  const schemaProblems = validateAgainst(ConfigSchema, raw);
  if (envProblems.length + schemaProblems.length + unusedKeys.length > 0) fail([...envProblems, ...schemaProblems, ...unusedKeys]);

  const resolution = resolveConfig(raw as RawConfig, { env, dir, interpolated });
  if (resolution.problems.length > 0) fail(resolution.problems);
  return { ...resolution.config, file, pluginsImplied };
}

interface ResolveContext {
  env: NodeJS.ProcessEnv;
  dir: string;
  interpolated: Set<string>;
}

function resolveConfig(raw: RawConfig, ctx: ResolveContext): { config: ResolvedConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];

  const services = resolveServices(raw, problems);
  const topNode = pickPocketNode(raw, [], problems);

  const roleSettings = (role: Role, section: RoleSectionLike): RoleSettings => {
    const redisRaw = section.redis ?? raw.redis;
    const redisBase = section.redis ? [role, 'redis'] : ['redis'];
    const redis = resolveRedis(redisRaw, redisBase, ctx.dir, problems);
    let pocket_node = pickPocketNode(section, [role], problems) ?? topNode ?? defaults<PocketNodeConfig>(PocketNodeSchema);
    const nodeBase = section.pocket_node || section.chain ? [role, section.chain ? 'chain' : 'pocket_node'] : [raw.chain ? 'chain' : 'pocket_node'];
    const rpcProblem = urlProblem(pocket_node.rpc_url, ['http', 'https', 'ws', 'wss'], "the node's CometBFT RPC") ?? credentialsProblem(pocket_node.rpc_url);
    if (rpcProblem) problems.push({ path: joinPath([...nodeBase, 'rpc_url']), message: rpcProblem });
    checkPort(pocket_node.grpc_address, [...nodeBase, 'grpc_address'], problems, { connect: true });
    if (pocket_node.ca_file) {
      const caFile = resolve(ctx.dir, pocket_node.ca_file);
      const unreadable = caFileProblem(caFile);
      if (unreadable) problems.push({ path: joinPath([...nodeBase, 'ca_file']), message: unreadable });
      pocket_node = { ...pocket_node, ca_file: caFile };
    }
    const keysSection = section.keys ?? raw.keys;
    const loaded = loadSupplierKeys(keysSection, section.supplier_keys, {
      base: section.keys ? [role, 'keys'] : ['keys'],
      shorthandBase: [role, 'supplier_keys'],
      configDir: ctx.dir,
      env: ctx.env,
      interpolated: ctx.interpolated,
    });
    problems.push(...loaded.problems);
    warnings.push(...loaded.warnings);
    if (loaded.keys.length === 0 && loaded.problems.length === 0) {
      const how = 'set keys.keys_file, keys.keys_dir, keys.keys_env, keys.keyring or supplier_keys (top level or in this section)';
      // A miner without keys runs (leases, streams, readiness) and claims for nobody: fine while keys
      // are being provisioned. A relayer without keys could not answer a single relay.
      if (role === 'miner') warnings.push(`miner: no supplier keys, so this miner claims and proves for no supplier until they are given: ${how}`);
      else problems.push({ path: role, message: `no supplier keys: ${how}` });
    }
    const keyWatch: KeyWatch[] = [];
    if (keysSection?.watch) {
      if (keysSection.keys_file) {
        const file = resolve(ctx.dir, keysSection.keys_file);
        keyWatch.push({ dir: dirname(file), file: basename(file) });
      }
      if (keysSection.keys_dir) keyWatch.push({ dir: resolve(ctx.dir, keysSection.keys_dir) });
      if (keysSection.keyring) keyWatch.push({ dir: keyringDirectory(resolve(ctx.dir, keysSection.keyring.dir), keysSection.keyring.backend) });
      if (keyWatch.length === 0) problems.push({ path: joinPath([...(section.keys ? [role, 'keys'] : ['keys']), 'watch']), message: 'watches keys_file, keys_dir and keyring: set one of them' });
    }
    return { redis, pocket_node, suppliers: loaded.keys, supplier_sources: loaded.sources, key_watch: keyWatch };
  };

  let relayer: ResolvedRelayer | undefined;
  if (raw.relayer) {
    const r = raw.relayer;
    for (const key of ['listen_address', 'health_address', 'metrics_address'] as const) {
      checkPort(r[key], ['relayer', key], problems);
    }
    if (r.simulation.enabled) checkSimulation(r.simulation, services, problems);
    relayer = {
      listen_address: r.listen_address,
      error_model: r.error_model,
      meter: r.meter,
      ring_verify_threads: r.ring_verify_threads,
      ring_tables: r.ring_tables,
      limits: r.limits,
      response_compression: r.response_compression,
      simulation: r.simulation,
      health_address: r.health_address,
      metrics_address: r.metrics_address,
      dashboard: r.dashboard,
      ...roleSettings('relayer', r),
    };
  }

  let miner: ResolvedMiner | undefined;
  if (raw.miner) {
    const m = raw.miner;
    checkPort(m.metrics_address, ['miner', 'metrics_address'], problems);
    if (m.health_address) checkPort(m.health_address, ['miner', 'health_address'], problems);
    miner = {
      metrics_address: m.metrics_address,
      health_address: m.health_address,
      dashboard: m.dashboard,
      ...roleSettings('miner', m),
    };
  }

  const seen = new Map<string, number>();
  raw.plugins.forEach((p, i) => {
    const first = seen.get(p.name);
    if (first !== undefined) {
      problems.push({ path: joinPath(['plugins', i, 'name']), message: `plugin "${p.name}" is already listed at plugins[${first}]` });
    } else seen.set(p.name, i);
  });

  return {
    problems,
    config: {
      file: undefined,
      dir: ctx.dir,
      relayer,
      miner,
      services,
      plugins: raw.plugins,
      pluginsImplied: false,
      logging: raw.logging,
      shutdown: raw.shutdown,
      warnings: [...new Set(warnings)],
    },
  };
}

type RoleSectionLike = {
  redis?: RedisConfig | undefined;
  pocket_node?: PocketNodeConfig | undefined;
  chain?: PocketNodeConfig | undefined;
  keys?: RawConfig['keys'];
  supplier_keys?: { address?: string | undefined; private_key_hex: string }[] | undefined;
};

function pickPocketNode(
  section: { pocket_node?: PocketNodeConfig | undefined; chain?: PocketNodeConfig | undefined },
  base: string[],
  problems: ConfigProblem[],
): PocketNodeConfig | undefined {
  if (section.pocket_node && section.chain) {
    problems.push({ path: joinPath([...base, 'chain']), message: '"chain" is another name for "pocket_node"; set only one' });
  }
  return section.pocket_node ?? section.chain;
}

function resolveRedis(raw: RedisConfig | undefined, base: string[], dir: string, problems: ConfigProblem[]): ResolvedRedis {
  const r = raw ?? defaults<RedisConfig>(RedisSchema);
  if (r.url && r.address) {
    problems.push({ path: joinPath([...base, 'address']), message: 'set only one of "url" and "address"' });
  }
  const { address, ...rest } = r;
  const url = r.url ?? (address ? `redis://${address}` : DEFAULT_REDIS_URL);
  // Read whole now, so `validate` finds what connecting would refuse, and a role does not start to fail on it.
  let tls: boolean | undefined;
  try {
    tls = parseRedisUrl(url).tls;
  } catch (err) {
    problems.push({ path: joinPath([...base, r.url ? 'url' : 'address']), message: (err as Error).message });
  }
  if (!rest.tls_ca_file) return { ...rest, url };
  const caFile = resolve(dir, rest.tls_ca_file);
  if (tls === false) {
    problems.push({ path: joinPath([...base, 'tls_ca_file']), message: 'is read only for a TLS connection: use rediss:// (or tls=true in the URL), or remove it' });
  } else {
    const unreadable = caFileProblem(caFile);
    if (unreadable) problems.push({ path: joinPath([...base, 'tls_ca_file']), message: unreadable });
  }
  return { ...rest, url, tls_ca_file: caFile };
}

/**
 * What TLS would make of a CA file, found now rather than when a connection first reads it (which would stop a
 * role with a stack): it must be readable, and hold PEM certificates that parse.
 */
function caFileProblem(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `cannot read ${file}: ${unreadableReason(err)}`;
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return `${file} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`;
  const bad = blocks.findIndex((pem) => {
    try {
      new X509Certificate(pem);
      return false;
    } catch {
      return true;
    }
  });
  return bad < 0 ? undefined : `${file}: certificate ${bad + 1} of ${blocks.length} cannot be read`;
}

/** Backend keys only the HTTP relay kit's pools (jsonrpc, rest, cometbft) read. */
const HTTP_ONLY_BACKEND_KEYS = ['load_balancing', 'connections', 'application_share', 'pipelining', 'keep_alive_ms', 'circuit_breaker', 'max_body_bytes'] as const;
/** `health_check` keys that shape an HTTP probe request: a grpc backend's probe may call `path`, a websocket one's may send `body`. */
const HTTP_ONLY_HEALTH_CHECK_KEYS = { grpc: ['method', 'body', 'expected_status'], websocket: ['path', 'method', 'expected_status'] } as const;
/** A gRPC method's path, as a grpc backend's health check calls it. */
const GRPC_METHOD_PATH = /^\/[^/\s]+\/[^/\s]+$/;

/**
 * A websocket or grpc backend given a key only HTTP backends read: the operator expects it to act (a health check
 * that probes, a body limit that bounds), and it would do nothing, so it is refused like an unknown key.
 */
function httpOnlyBackendKeys(raw: Record<string, unknown>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const record = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  for (const [id, service] of Object.entries(record(raw.services) ?? {})) {
    const backends = record(record(service)?.backends);
    for (const type of ['websocket', 'grpc'] as const) {
      const backend = record(backends?.[type]);
      if (!backend) continue;
      const limit = type === 'grpc' ? "transport-grpc's max_message_bytes" : "transport-websocket's max_frame_bytes";
      for (const key of HTTP_ONLY_BACKEND_KEYS) {
        if (!Object.hasOwn(backend, key)) continue;
        const how = key === 'max_body_bytes' ? `its messages are bounded by ${limit}` : `it tries its URLs in order, and ${key} is not applied`;
        problems.push({ path: joinPath(['services', id, 'backends', type, key]), message: `only HTTP backends (jsonrpc, rest, cometbft) use it; a ${type} backend would ignore it: ${how}` });
      }
      const hc = record(backend.health_check);
      for (const key of HTTP_ONLY_HEALTH_CHECK_KEYS[type]) {
        if (!hc || !Object.hasOwn(hc, key)) continue;
        const probe = type === 'grpc' ? 'an HTTP/2 connection whose settings arrive (and `path` called, if set)' : 'a WebSocket handshake to the URL (and `body` sent as a message, if set)';
        problems.push({ path: joinPath(['services', id, 'backends', type, 'health_check', key]), message: `only HTTP backends (jsonrpc, rest, cometbft) send a probe request; a ${type} backend's probe is ${probe}` });
      }
      if (type === 'grpc' && hc && typeof hc.path === 'string' && !GRPC_METHOD_PATH.test(hc.path)) {
        problems.push({ path: joinPath(['services', id, 'backends', type, 'health_check', 'path']), message: `a grpc backend's health check calls a method: /<package.Service>/<Method>, e.g. /cosmos.base.tendermint.v1beta1.Service/GetSyncing` });
      }
    }
  }
  return problems;
}

/** The schemes each kind of backend is reached by (a grpc backend's grpc:// and grpcs:// are h2c and HTTP/2 over TLS). */
const BACKEND_SCHEMES: Record<RpcTypeName, readonly string[]> = {
  jsonrpc: ['http', 'https'],
  rest: ['http', 'https'],
  cometbft: ['http', 'https'],
  websocket: ['ws', 'wss', 'http', 'https'],
  grpc: ['grpc', 'grpcs', 'http', 'https'],
};

/** What connecting to `url` would refuse, said now. The URL is not repeated: it may carry a password. */
function urlProblem(url: string, schemes: readonly string[], what: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const port = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/?#]*):(\d+)/i.exec(url)?.[1];
    return port && Number(port) > 65535 ? `port ${port} is out of range (1-65535)` : 'not a valid URL';
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (!schemes.includes(scheme)) return `${what} is reached over ${schemes.map((s) => `${s}://`).join(', ')}, not ${scheme}://`;
  if (!parsed.hostname) return 'has no host';
  return undefined;
}

/**
 * A user and password in a backend URL or the node's rpc_url are sent as basic auth (urlBasicAuthorization): said
 * now if they cannot be decoded, or if a backend's `auth` or `authorization` header would say otherwise.
 */
function credentialsProblem(url: string, b?: BackendConfig): string | undefined {
  const { username, password } = new URL(url);
  if (!username && !password) return undefined;
  try {
    decodeUrlPart(username, "the URL's user or password");
    decodeUrlPart(password, "the URL's user or password");
  } catch (err) {
    return (err as Error).message;
  }
  if (b?.auth) return 'carries a user and password, and auth is set too: keep one';
  if (b && Object.keys(b.headers ?? {}).some((k) => k.toLowerCase() === 'authorization')) return 'carries a user and password, and headers sets authorization too: keep one';
  return undefined;
}

function resolveBackend(b: BackendConfig, type: RpcTypeName, path: (string | number)[], problems: ConfigProblem[]): ResolvedBackend {
  const { url, urls, ...rest } = b;
  if (url && urls) problems.push({ path: joinPath([...path, 'urls']), message: 'set only one of "url" and "urls"' });
  if (!url && !urls) problems.push({ path: joinPath(path), message: 'needs "url" or "urls"' });
  const checked: [string, (string | number)[]][] = urls ? urls.map((u, i) => [u, [...path, 'urls', i]]) : url ? [[url, [...path, 'url']]] : [];
  for (const [u, at] of checked) {
    const problem = urlProblem(u, BACKEND_SCHEMES[type], `a ${type} backend`) ?? credentialsProblem(u, b);
    if (problem) problems.push({ path: joinPath(at), message: problem });
  }
  for (const [name, value] of Object.entries(b.headers ?? {})) {
    const at = joinPath([...path, 'headers', name]);
    if (!HTTP_TOKEN.test(name)) problems.push({ path: at, message: "is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)" });
    else if (BAD_FIELD_VALUE.test(value)) problems.push({ path: at, message: 'has a value with CR, LF or NUL' });
    else if (PER_REQUEST_FIELDS.has(name.toLowerCase())) problems.push({ path: at, message: 'is set for each request by the relayer and its HTTP client; it cannot be fixed here' });
  }
  const auth = b.auth;
  if (auth) {
    const basic = auth.username !== undefined || auth.password !== undefined;
    if (auth.bearer_token && basic) {
      problems.push({ path: joinPath([...path, 'auth']), message: 'use either bearer_token or username/password, not both' });
    } else if (basic && (auth.username === undefined || auth.password === undefined)) {
      problems.push({ path: joinPath([...path, 'auth']), message: 'basic auth needs both username and password' });
    } else if (!auth.bearer_token && !basic) {
      problems.push({ path: joinPath([...path, 'auth']), message: 'set bearer_token, or username and password' });
    }
  }
  return { ...rest, urls: urls ?? (url ? [url] : []) };
}

function resolveServices(raw: RawConfig, problems: ConfigProblem[]): Record<string, ResolvedService> {
  // No prototype: a service id from a relay (`constructor`, `__proto__`) finds nothing but configured services.
  const out: Record<string, ResolvedService> = Object.create(null) as Record<string, ResolvedService>;
  for (const [id, svc] of Object.entries(raw.services ?? {})) {
    const backends: ResolvedService['backends'] = {};
    for (const t of RPC_TYPES) {
      const b = svc.backends[t];
      if (b) backends[t] = resolveBackend(b, t, ['services', id, 'backends', t], problems);
    }
    if (Object.keys(backends).length === 0) {
      problems.push({ path: joinPath(['services', id, 'backends']), message: 'a service needs at least one backend' });
    }
    out[id] = { ...svc, backends };
  }
  for (const [id, b] of Object.entries(raw.relayer?.backends ?? {})) {
    const path = ['relayer', 'backends', id];
    const existing = out[id];
    if (existing?.backends.jsonrpc) {
      problems.push({ path: joinPath(path), message: `services.${id}.backends.jsonrpc is also set; keep one` });
      continue;
    }
    const backend = resolveBackend(b, 'jsonrpc', path, problems);
    out[id] = existing
      ? { ...existing, backends: { ...existing.backends, jsonrpc: backend } }
      : { validation_mode: 'eager', backends: { jsonrpc: backend } };
  }
  return out;
}

/**
 * What the schema cannot say of simulated relays' identities (only when they are on: a block switched off
 * is not read): keys on the curve and not the ring's public placeholder, key ids once, services configured.
 */
function checkSimulation(sim: SimulationConfig, services: Record<string, ResolvedService>, problems: ConfigProblem[]): void {
  const seen = new Map<string, number>();
  sim.identities.forEach((id, i) => {
    const base = ['relayer', 'simulation', 'identities', i];
    const first = seen.get(id.key_id);
    if (first !== undefined) problems.push({ path: joinPath([...base, 'key_id']), message: `key_id "${id.key_id}" is already used by identities[${first}]` });
    else seen.set(id.key_id, i);
    const keys: [string | number, string][] = [['app_pubkey_hex', id.app_pubkey_hex], ...id.gateway_pubkeys_hex.map((k, j): [string, string] => [`gateway_pubkeys_hex[${j}]`, k])];
    for (const [field, hex] of keys) {
      const bytes = Buffer.from(hex.replace(/^0x/, ''), 'hex');
      const path = `${joinPath(base)}.${field}`;
      if (!isValidCompressedPoint(bytes)) problems.push({ path, message: 'not a point on the secp256k1 curve' });
      else if (bytes.equals(Buffer.from(PLACEHOLDER_RING_PUBLIC_KEY))) problems.push({ path, message: "the ring's padding placeholder key, whose private key is public: anyone could sign as it" });
    }
    if (id.not_after !== undefined && Number.isNaN(Date.parse(id.not_after))) problems.push({ path: joinPath([...base, 'not_after']), message: 'not a valid time' });
    id.allowed_services.forEach((s, j) => {
      if (!Object.hasOwn(services, s)) problems.push({ path: joinPath([...base, 'allowed_services', j]), message: `service "${s}" is not configured under services` });
    });
  });
}

/** A host:port's port in range; `connect`: an address to connect to, where port 0 (a listener's "any free port") means nothing. */
function checkPort(address: string, path: string[], problems: ConfigProblem[], o: { connect?: boolean } = {}): void {
  try {
    if (parseHostPort(address).port === 0 && o.connect) problems.push({ path: joinPath(path), message: 'port 0 is not a port to connect to' });
  } catch (err) {
    problems.push({ path: joinPath(path), message: (err as Error).message });
  }
}

/** The defaults a schema gives an empty section. */
export function defaults<T>(schema: object): T {
  const value = {};
  validateAgainst(schema, value);
  return value as T;
}

/** A role's settings as the runtime needs them; throws a ConfigError naming the missing section. */
export function requireRole(config: ResolvedConfig, role: 'relayer'): ResolvedRelayer;
export function requireRole(config: ResolvedConfig, role: 'miner'): ResolvedMiner;
export function requireRole(config: ResolvedConfig, role: Role): ResolvedRelayer | ResolvedMiner {
  const section = config[role];
  if (!section) {
    throw new ConfigError([{ path: role, message: `this file has no "${role}" section; "relayminer ${role}" needs one` }], config.file);
  }
  return section;
}

/** The `type` the schema declares at a path (through properties, patternProperties and items). */
function schemaTypeAt(schema: unknown, path: readonly (string | number)[]): string | undefined {
  let node = schema as { type?: string; properties?: Record<string, unknown>; patternProperties?: Record<string, unknown>; items?: unknown } | undefined;
  for (const seg of path) {
    if (!node) return undefined;
    if (typeof seg === 'number') node = node.items as typeof node;
    else node = (node.properties?.[seg] ?? Object.values(node.patternProperties ?? {})[0]) as typeof node;
  }
  return node?.type;
}

function parsePath(path: string): (string | number)[] {
  const clean = path.split(' ')[0] ?? '';
  const out: (string | number)[] = [];
  for (const part of clean.split('.')) {
    if (!part) continue;
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** Adds line and column to problems found in the data parsed from `text` (for any YAML file the product reads). */
export function withYamlLocations(text: string, problems: ConfigProblem[]): ConfigProblem[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  return problems.map((p) => ({ ...locate(doc, lineCounter, p.path), ...p }));
}

/** Line and column of the deepest existing node on `path` (the key's position for map entries). */
function locate(doc: Document, lc: LineCounter, path: string): { line?: number; column?: number } {
  const segs = parsePath(path);
  for (let n = segs.length; n > 0; n--) {
    const parent = n > 1 ? doc.getIn(segs.slice(0, n - 1), true) : doc.contents;
    const last = segs[n - 1];
    let offset: number | undefined;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === last);
      offset = pair && isScalar(pair.key) ? pair.key.range?.[0] : undefined;
    } else if (isSeq(parent) && typeof last === 'number') {
      const item = parent.items[last] as { range?: [number, number, number] } | undefined;
      offset = item?.range?.[0];
    }
    if (offset !== undefined) {
      const { line, col } = lc.linePos(offset);
      return { line, column: col };
    }
  }
  return {};
}
