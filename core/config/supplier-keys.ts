import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SupplierKey } from '../crypto/supplier-key.js';
import { passphraseLine, readKeyring } from './keyring.js';
import type { KeysConfig } from './schema.js';
import type { ConfigProblem } from './problems.js';
import { few, joinPath, unreadableReason } from './problems.js';

/** Files of a keys directory that hold a key; the rest (a README, an editor's backup) are not read. */
const KEY_FILE = /\.(ya?ml|json)$/i;

export interface LoadedKeys {
  keys: SupplierKey[];
  /** Where each key was read (address → config path, with the file or variable), for `relayminer validate --keys`. */
  sources: Map<string, string>;
  problems: ConfigProblem[];
  warnings: string[];
}

interface InlineKey {
  address?: string | undefined;
  private_key_hex: string;
}

/**
 * Reads every key source of one role (keys file, keys directory, environment variable, keyring, inline list) and returns
 * the union, deduplicated by address. Error messages never contain key material.
 */
export function loadSupplierKeys(
  keys: KeysConfig | undefined,
  shorthand: InlineKey[] | undefined,
  opts: { base: (string | number)[]; shorthandBase: (string | number)[]; configDir: string; env: NodeJS.ProcessEnv; interpolated: Set<string> },
): LoadedKeys {
  const out: SupplierKey[] = [];
  const sources = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];

  const take = (hex: string, path: string, expectedAddress?: string) => {
    try {
      const key = SupplierKey.fromHex(hex);
      if (expectedAddress && expectedAddress !== key.address) {
        problems.push({ path, message: `address ${expectedAddress} does not match the key, which derives ${key.address}` });
        return;
      }
      out.push(key);
      if (!sources.has(key.address)) sources.set(key.address, path);
    } catch (err) {
      problems.push({ path, message: (err as Error).message });
    }
  };

  if (keys?.keys_file) {
    const path = joinPath([...opts.base, 'keys_file']);
    const file = resolve(opts.configDir, keys.keys_file);
    try {
      const text = readFileSync(file, 'utf8');
      const mode = statSync(file).mode;
      if ((mode & 0o077) !== 0) {
        warnings.push(`${path}: ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
      }
      const doc: unknown = parseYaml(text);
      const list = (doc as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(list) || list.some((k) => typeof k !== 'string')) {
        problems.push({ path, message: `${file} must hold "keys:" followed by a list of hex private keys` });
      } else {
        list.forEach((hex: string, i) => take(hex, `${path} (${file}, keys[${i}])`));
      }
    } catch (err) {
      problems.push({ path, message: `cannot read keys file ${file}: ${unreadableReason(err)}` });
    }
  }

  if (keys?.keys_dir) {
    const path = joinPath([...opts.base, 'keys_dir']);
    const dir = resolve(opts.configDir, keys.keys_dir);
    let names: string[] = [];
    try {
      names = readdirSync(dir, { withFileTypes: true })
        .filter((e) => !e.isDirectory() && KEY_FILE.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const reason = e.code === 'ENOENT' ? 'directory not found' : e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOTDIR' ? 'not a directory' : e.message.split('\n')[0];
      problems.push({ path, message: `cannot read keys directory ${dir}: ${reason}` });
    }
    const loose: string[] = [];
    for (const name of names) {
      const file = join(dir, name);
      const where = `${path} (${file})`;
      try {
        const text = readFileSync(file, 'utf8');
        if ((statSync(file).mode & 0o077) !== 0) loose.push(name);
        const doc = parseYaml(text) as { private_key_hex?: unknown; operator_address?: unknown } | null;
        if (typeof doc?.private_key_hex !== 'string' || typeof doc.operator_address !== 'string') {
          problems.push({ path: where, message: 'a key file holds "private_key_hex" and "operator_address" (strings)' });
          continue;
        }
        take(doc.private_key_hex, where, doc.operator_address);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        // A YAML error's text quotes the file, which holds a key: only its kind is said.
        const reason = e.code === 'EACCES' ? 'permission denied' : e.syscall ? (e.code ?? e.message) : 'not YAML or JSON';
        problems.push({ path: where, message: `cannot read key file: ${reason}` });
      }
    }
    if (loose.length > 0) {
      warnings.push(`${path}: ${loose.length} key file(s) in ${dir} readable by group or others (${few(loose)}); chmod 600 them`);
    }
  }

  if (keys?.keys_env) {
    const path = joinPath([...opts.base, 'keys_env']);
    const value = opts.env[keys.keys_env];
    if (value === undefined || value.trim() === '') {
      problems.push({ path, message: `environment variable ${keys.keys_env} is not set or empty` });
    } else {
      value
        .split(/[\s,]+/)
        .filter(Boolean)
        .forEach((hex, i) => take(hex, `${path} (${keys.keys_env}, key ${i + 1})`));
    }
  }

  if (keys?.keyring) {
    const path = joinPath([...opts.base, 'keyring']);
    const passphrase = keyringPassphrase(keys.keyring, path, opts, problems, warnings);
    if (keys.keyring.dir.startsWith('~')) {
      problems.push({ path: `${path}.dir`, message: '"~" is not expanded here; write ${HOME}/… or an absolute path' });
    } else if (passphrase !== null) {
      const read = readKeyring({ home: resolve(opts.configDir, keys.keyring.dir), backend: keys.keyring.backend, passphrase, keyNames: keys.keyring.key_names });
      for (const message of read.problems) problems.push({ path, message });
      for (const warning of read.warnings) warnings.push(`${path}: ${warning}`);
      for (const key of read.keys) take(Buffer.from(key.privateKey).toString('hex'), `${path} (${key.file})`);
    }
  }

  // One warning for all literal keys of a list: an operator with hundreds of them needs it once.
  const inline = (list: InlineKey[] | undefined, base: (string | number)[]) => {
    const literal: string[] = [];
    list?.forEach((k, i) => {
      const path = joinPath([...base, i, 'private_key_hex']);
      if (!opts.interpolated.has(path)) literal.push(path);
      take(k.private_key_hex, path, k.address);
    });
    if (literal.length === 1) warnings.push(`${literal[0]} is a literal key in the config file; prefer keys_file, keys_env or \${ENV_VAR}`);
    else if (literal.length > 1) {
      warnings.push(`${literal.length} literal keys in the config file (${few(literal)}); prefer keys_file, keys_env or \${ENV_VAR}`);
    }
  };
  inline(keys?.supplier_keys, [...opts.base, 'supplier_keys']);
  inline(shorthand, opts.shorthandBase);

  const byAddress = new Map<string, SupplierKey>();
  for (const k of out) byAddress.set(k.address, k);
  if (byAddress.size !== out.length) {
    warnings.push(`${joinPath(opts.base) || 'keys'}: ${out.length - byAddress.size} duplicate key(s) ignored`);
  }
  return { keys: [...byAddress.values()], sources, problems, warnings };
}

/**
 * The `file` backend's passphrase from `passphrase_env` or `passphrase_file` (undefined for `test`, which has a
 * fixed one), or null after saying what is missing. The passphrase itself is never put in a message.
 */
function keyringPassphrase(
  keyring: NonNullable<KeysConfig['keyring']>,
  path: string,
  opts: { configDir: string; env: NodeJS.ProcessEnv },
  problems: ConfigProblem[],
  warnings: string[],
): string | undefined | null {
  const { passphrase_env: envName, passphrase_file: fileName } = keyring;
  if (keyring.backend === 'test') {
    if (envName === undefined && fileName === undefined) return undefined;
    problems.push({ path, message: 'the test backend has no passphrase to give: passphrase_env and passphrase_file are for the file backend' });
    return null;
  }
  if (envName !== undefined && fileName !== undefined) {
    problems.push({ path, message: 'set one of passphrase_env and passphrase_file, not both' });
    return null;
  }
  if (envName !== undefined) {
    const value = opts.env[envName];
    if (value === undefined || passphraseLine(value) === '') {
      problems.push({ path: `${path}.passphrase_env`, message: `environment variable ${envName} is not set or empty` });
      return null;
    }
    return value;
  }
  if (fileName !== undefined) {
    const file = resolve(opts.configDir, fileName);
    try {
      const text = readFileSync(file, 'utf8');
      if ((statSync(file).mode & 0o077) !== 0) warnings.push(`${path}.passphrase_file: ${file} is readable by group or others; chmod 600 it`);
      if (passphraseLine(text) === '') {
        problems.push({ path: `${path}.passphrase_file`, message: `${file} is empty` });
        return null;
      }
      return text;
    } catch (err) {
      problems.push({ path: `${path}.passphrase_file`, message: `cannot read ${file}: ${unreadableReason(err)}` });
      return null;
    }
  }
  problems.push({ path, message: 'the file backend is passphrase-protected: set passphrase_env or passphrase_file (a service has no terminal to ask on)' });
  return null;
}
