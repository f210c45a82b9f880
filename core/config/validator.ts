import { Ajv, type ErrorObject, type AnySchemaObject, type ValidateFunction } from 'ajv';
import type { ConfigProblem } from './problems.js';
import { goKeyCounterpart, goValueCounterpart } from './go-keys.js';
import { joinPath, suggestKey } from './problems.js';
import { maskUrlSecrets } from './url-secrets.js';
import { shareRepeatedSubschemas } from './shared-subschemas.js';

/**
 * One ajv setup for the configuration and for every plugin's options schema: all errors at once,
 * defaults filled in, unknown keywords refused (except `expected`, our human-readable form). ajv's
 * optimization of the code it generates is off: a validator runs once per file read, so its compile
 * time is what a process start pays, and the optimization takes about a third of it.
 */
export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, verbose: true, allowUnionTypes: true, code: { optimize: false } });
  ajv.addKeyword({ keyword: 'expected', schemaType: 'string' });
  return ajv;
}

const shared = createAjv();
const compiled = new WeakMap<object, ValidateFunction>();

export function compileSchema(schema: AnySchemaObject): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = shared.compile(shareRepeatedSubschemas(schema));
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
    // A key pasted where something else belongs (`supplier_keys: ["<hex>"]`) is still a key.
    if (KEY_SHAPED.test(v.trim()) || MNEMONIC_SHAPED.test(v.trim())) return 'a string (not shown: it looks like a private key or a mnemonic)';
    const shown = maskUrlSecrets(v);
    return `a string (${JSON.stringify(shown.length > 40 ? `${shown.slice(0, 40)}…` : shown)})`;
  }
  return `${typeof v} (${String(v)})`;
}

const SECRET_PATH = /(password|token|secret|private_key|key_hex)/i;
// A secp256k1 private key in hex, and a BIP-39 mnemonic (12 to 24 lower-case words).
const KEY_SHAPED = /^(0x)?[0-9a-f]{64}$/i;
const MNEMONIC_SHAPED = /^[a-z]+(\s+[a-z]+){11,23}$/;

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
      const counterpart = goKeyCounterpart(segments, key);
      if (counterpart) return [{ path, message: `is a Go relay miner's setting; here: ${counterpart}` }];
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
      const counterpart = goValueCounterpart(segments, e.data);
      return [{ path: at, message: `must be ${want}, got ${typeName(e.data, at)}${counterpart ? ` (${counterpart})` : ''}` }];
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
