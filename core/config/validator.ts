import { Ajv, type ErrorObject, type AnySchemaObject, type ValidateFunction } from 'ajv';
import type { ConfigProblem } from './problems.js';
import { joinPath, suggestKey } from './problems.js';

/**
 * One ajv setup for the configuration and for every plugin's options schema: all errors at once,
 * defaults filled in, unknown keywords refused (except `expected`, our human-readable form).
 */
export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, verbose: true, allowUnionTypes: true });
  ajv.addKeyword({ keyword: 'expected', schemaType: 'string' });
  return ajv;
}

const shared = createAjv();
const compiled = new WeakMap<object, ValidateFunction>();

export function compileSchema(schema: AnySchemaObject): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = shared.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

/**
 * Validates `data` in place (defaults are written into it) and returns every problem,
 * each with the YAML path below `base`.
 */
export function validateAgainst(
  schema: AnySchemaObject,
  data: unknown,
  base: readonly (string | number)[] = [],
): ConfigProblem[] {
  const validate = compileSchema(schema);
  if (validate(data)) return [];
  const problems = (validate.errors ?? []).flatMap((e) => describe(e, data, base));
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function pointerSegments(pointer: string, data: unknown): (string | number)[] {
  if (!pointer) return [];
  const out: (string | number)[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function typeName(v: unknown, path = ''): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') {
    // An error message is read and pasted by operators: a secret in the value is not shown.
    if (SECRET_PATH.test(path)) return 'a string (not shown: it is a secret)';
    const shown = v.replace(URL_PASSWORD, '$1***@');
    return `a string (${JSON.stringify(shown.length > 40 ? `${shown.slice(0, 40)}…` : shown)})`;
  }
  return `${typeof v} (${String(v)})`;
}

const SECRET_PATH = /(password|token|secret|private_key|key_hex)/i;
// `scheme://user:password@`: the password part.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:)[^@/\s]*@/gi;

const TYPE_WORDS: Record<string, string> = {
  object: 'a map',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
};

/** Settings that belong to a plugin's options now, by their former path. */
const MOVED_TO_PLUGIN: Record<string, string> = {
  'miner.transaction': 'miner',
  'miner.consume': 'miner',
  'miner.lease_ttl_ms': 'miner',
  'miner.instance_id': 'miner',
};

/**
 * Top-level keys of the Go relay miners' configurations (poktroll's `pocketd relayminer` and the HA relay miner's
 * relayer), and what stands for each here: their files are flat where this one has role sections.
 */
const GO_TOP_LEVEL_KEYS: Record<string, string> = {
  listen_addr: 'relayer.listen_address',
  suppliers:
    'services.<service_id>.backends.jsonrpc.url for service_config.backend_url (rpc_type_service_configs: the other backends, rest, cometbft, websocket, grpc), relayer.listen_address for listen_url, one listener for every service',
  default_signing_key_names: 'keys.keyring: { backend: <its --keyring-backend>, dir: <its --home>, key_names: [<these names>] }',
  smt_store_path: 'session trees are kept in Redis (redis), nothing to set',
  metrics: 'relayer.metrics_address and miner.metrics_address, always served',
  pprof: 'no profiling endpoint is served; node --cpu-prof profiles a process',
  ping: 'relayer.health_address serves /ready and /ready/<service>, which check the backends',
  health_check: 'relayer.health_address (/health, /ready, /ready/<service>)',
  enable_eager_relay_request_validation: 'services.<service_id>.validation_mode (eager unless set)',
  default_validation_mode: 'services.<service_id>.validation_mode (eager unless set)',
  enable_over_servicing: 'relayer.meter.enabled: false serves past the stake meter (enabled unless set)',
  relay_meter: 'relayer.meter (enabled; fail_mode for fail_behavior; ttl_seconds for cache_ttl)',
  response_compression: 'relayer.response_compression (enabled; min_bytes for min_size_bytes)',
  default_request_timeout_seconds: 'services.<service_id>.backends.<rpc type>.timeout_ms',
  timeout_profiles: 'services.<service_id>.backends.<rpc type>.timeout_ms',
  default_max_body_size_bytes: 'services.<service_id>.backends.<rpc type>.max_body_bytes',
  http_transport: 'services.<service_id>.backends.<rpc type>.connections and keep_alive_ms',
  pool_profiles: 'services.<service_id>.backends.<rpc type>.connections and keep_alive_ms',
  hot_reload_enabled: 'keys.watch',
  block_time_seconds: "nothing to set: claims and proofs are timed by the chain's blocks and their header times",
  block_health_monitor: 'pocket_node.stale_after_blocks (a node without a new block for that long fails /ready and is alerted on)',
  balance_monitor: "the miner plugin's alerts (balance_transactions, missed_proofs)",
  session_lifecycle: "the miner plugin's scale.concurrency",
  worker_pools: "the miner plugin's scale.concurrency",
  leader_election: 'nothing to set: the leader lock is taken and renewed with the supplier leases',
  supplier_claiming: "the miner plugin's lease_ttl_ms (renewed every third of it)",
  batch_size: "the miner plugin's consume.batch",
  deduplication_ttl_blocks: "nothing to set: a session's tree keeps one leaf per relay for the session's whole life",
  smst_live_root_checkpoint_interval: 'nothing to set: every relay read from a stream is in its session tree before it is acknowledged',
  submission_tracking_ttl: 'nothing to set: submissions are kept a week (relayminer redis submissions)',
  cache_ttl: 'nothing to set: a session is kept until it is final (its leaves a day more, its record a week)',
  default_service_factor: 'relayer.meter.service_factors, per service id (the relayers apply them; without one, the baseline split)',
  service_factors: 'relayer.meter.service_factors',
};

/** Keys of a service in the HA relay miner's configuration that have no counterpart of the same shape here. */
const GO_SERVICE_KEYS: Record<string, string> = {
  default_backend: "a relay without an Rpc-Type header goes to the service's jsonrpc backend: give the URL of the backend it named there too",
};

function describe(e: ErrorObject, root: unknown, base: readonly (string | number)[]): ConfigProblem[] {
  const segments = [...base, ...pointerSegments(e.instancePath, root)];
  const at = joinPath(segments);
  const parent = e.parentSchema as AnySchemaObject | undefined;
  const own = parent?.expected as string | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const path = joinPath([...segments, key]);
      const valid = Object.keys((parent?.properties as object | undefined) ?? {});
      const patterns = Object.keys((parent?.patternProperties as object | undefined) ?? {});
      if (valid.length === 0 && patterns.length > 0) {
        return [{ path, message: `"${key}" is not a valid name here (must match ${patterns.join(' or ')})` }];
      }
      const goKey = GO_TOP_LEVEL_KEYS[path] ?? (segments[0] === 'services' && segments.length === 2 ? GO_SERVICE_KEYS[key] : undefined);
      if (goKey) return [{ path, message: `is a Go relay miner's setting; here: ${goKey}` }];
      const plugin = MOVED_TO_PLUGIN[path];
      if (plugin) return [{ path, message: `is a setting of the ${plugin} plugin: write it under its options (plugins: [{ name: ${plugin}, options: { ${key}: … } }])` }];
      const hint = suggestKey(key, valid);
      return [{ path, message: `unknown key${hint ? `; did you mean "${hint}"?` : ''} (valid: ${valid.join(', ')})` }];
    }
    case 'required': {
      const key = (e.params as { missingProperty: string }).missingProperty;
      return [{ path: joinPath([...segments, key]), message: 'is required' }];
    }
    case 'type': {
      const want = String((e.params as { type: string | string[] }).type)
        .split(',')
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(' or ');
      return [{ path: at, message: `must be ${want}, got ${typeName(e.data, at)}` }];
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const hint = typeof e.data === 'string' ? suggestKey(e.data, allowed) : undefined;
      return [
        {
          path: at,
          message: `must be one of ${allowed.join(', ')}, got ${typeName(e.data, at)}${hint ? `; did you mean "${hint}"?` : ''}`,
        },
      ];
    }
    case 'pattern':
      return [{ path: at, message: `must be ${own ?? `a string matching ${(e.params as { pattern: string }).pattern}`}, got ${typeName(e.data, at)}` }];
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const p = e.params as { comparison: string; limit: number };
      return [{ path: at, message: `must be ${p.comparison} ${p.limit}, got ${String(e.data)}` }];
    }
    default:
      return [{ path: at, message: e.message ?? `fails ${e.keyword}` }];
  }
}
