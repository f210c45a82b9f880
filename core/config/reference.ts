import { ConfigSchema } from './schema.js';

/**
 * Renders docs/configuration.md and schema/relayminer.config.schema.json from ConfigSchema, so the
 * documentation cannot drift from what the validator enforces (a test compares the committed files).
 */

type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  expected?: string;
  minimum?: number;
  maximum?: number;
};

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

const PLACEHOLDERS: Record<string, string> = {
  services: '<service_id>',
  backends: '<service_id>',
  headers: '<header>',
  options: '<option>',
};

function typeOf(s: Schema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  const base = s.type ?? 'any';
  if (base === 'string' && s.expected) return `string: ${s.expected}`;
  if ((base === 'integer' || base === 'number') && (s.minimum !== undefined || s.maximum !== undefined)) {
    return `${base} ${s.minimum ?? ''}–${s.maximum ?? ''}`;
  }
  if (base === 'array' && s.items) return `list of ${s.items.type === 'object' ? 'maps' : `${s.items.type ?? 'any'}s`}`;
  if (base === 'object') return 'map';
  return base;
}

function defaultOf(s: Schema): string {
  if (s.default === undefined) return '—';
  if (s.type === 'object' && s.properties) return 'see its keys';
  return `\`${JSON.stringify(s.default)}\``;
}

function walk(s: Schema, path: string, rows: Row[], parentKey: string, seen: Map<string, string>): void {
  const description = (s.description ?? '').replace(/\|/g, '\\|');
  const complex = s.type === 'object' && (s.properties || s.patternProperties);
  if (complex) {
    // A map already documented elsewhere (a role's own redis, the shorthand backends): point there.
    const fingerprint = JSON.stringify(s);
    const first = seen.get(fingerprint);
    if (first) {
      rows.push({ key: path, type: 'map', default: defaultOf(s), description: `${description} Same keys as \`${first}\`.`.trim() });
      return;
    }
    seen.set(fingerprint, path);
  }
  if (path) rows.push({ key: path, type: typeOf(s), default: defaultOf(s), description });
  const children = Object.values(s.properties ?? {});
  const uniform =
    children.length > 1 && children.every((c) => JSON.stringify(c) === JSON.stringify(children[0]) && c.type === 'object');
  if (s.type === 'object' && s.properties && uniform) {
    // e.g. backends.{grpc,websocket,jsonrpc,rest,cometbft}: one table for all.
    walk(children[0]!, `${path}.<rpc_type>`, rows, '', seen);
  } else if (s.type === 'object' && s.properties) {
    for (const [k, child] of Object.entries(s.properties)) walk(child, path ? `${path}.${k}` : k, rows, k, seen);
  } else if (s.type === 'object' && s.patternProperties) {
    const [inner] = Object.values(s.patternProperties);
    if (inner && (inner.type === 'object' || inner.properties)) walk(inner, `${path}.${PLACEHOLDERS[parentKey] ?? '<name>'}`, rows, '', seen);
  } else if (s.type === 'array' && s.items?.type === 'object') {
    for (const [k, child] of Object.entries(s.items.properties ?? {})) walk(child, `${path}[].${k}`, rows, k, seen);
  }
}

/** Top-level shared sections first, so role sections can point to them. */
const ORDER = ['redis', 'pocket_node', 'chain', 'keys', 'services', 'relayer', 'miner', 'plugins', 'logging', 'shutdown'];

export function configReferenceRows(): Row[] {
  const rows: Row[] = [];
  const seen = new Map<string, string>();
  const props = (ConfigSchema as unknown as Schema).properties!;
  for (const key of [...ORDER, ...Object.keys(props).filter((k) => !ORDER.includes(k))]) {
    if (props[key]) walk(props[key], key, rows, key, seen);
  }
  return rows;
}

const INTRO = `# Configuration reference

Generated from \`core/config/schema.ts\` and the built-in plugins' option schemas by \`npm run gen:config\`; a test\nfails when this file is stale.
An editor schema is in \`schema/relayminer.config.schema.json\`.

## How a file is read

- **YAML, strict.** An unknown key is an error that names its path and suggests the nearest valid key
  (\`relayer.listen_adress: unknown key; did you mean "listen_address"?\`); keys of the Go relay miner that have
  another name here are pointed to theirs, and the top-level keys of the Go relay miners' flat files (poktroll's
  \`suppliers\`, \`default_signing_key_names\`, \`smt_store_path\`; the HA relay miner's \`listen_addr\`, \`relay_meter\`,
  \`timeout_profiles\`, …) say what stands for them here. Wrong types and out-of-range values name the path and the expected form.
  \`relayminer validate -c FILE\` prints every problem with file, line and path, and exits 1.
- **Roles.** \`relayminer relayer\` needs a \`relayer\` section, \`relayminer miner\` a \`miner\` section;
  \`relayminer start\` runs both in one process (they must then use the same Redis).
- **Shared and per-role sections.** \`redis\`, \`pocket_node\` (also spelled \`chain\`) and \`keys\` can be written at
  the top level for every role, or inside \`relayer\`/\`miner\` for that role alone; a role's own section replaces the
  top-level one whole (no deep merge).
- **Environment.** \`\${NAME}\` and \`\${NAME:-default}\` are replaced in every value (never in keys); \`$\${\` is a
  literal \`\${\`. A value that is exactly one reference takes the variable's type when it is a plain number or
  \`true\`/\`false\` (\`port: \${PORT}\`); anything else stays a string.
- **Keys.** Supplier operator keys come from \`keys.keys_file\` (YAML \`keys: [hex, …]\`), \`keys.keys_dir\` (one file
  per key, \`private_key_hex\` and \`operator_address\`), \`keys.keys_env\` (a variable holding hex keys separated by
  commas or spaces), \`keys.keyring\` (a cosmos-sdk keyring as \`pocketd keys add\` writes it: the \`test\` or
  \`file\` backend under pocketd's \`--home\`, every key or those in \`key_names\`) and \`supplier_keys\` (inline; use
  \`\${VAR}\` for the value). Every source is read and the union is used; addresses are derived, and an \`address\`
  (\`operator_address\`) given next to a key must match. A literal key in the file, or a keys file readable by others,
  loads with a warning. SIGHUP reads them again (a running process's own environment does not change: \`keys_env\`
  keys and the keyring's \`passphrase_env\` change with a restart).
- **Simple form.** \`relayer.backends.<service_id>.url\` is shorthand for
  \`services.<service_id>.backends.jsonrpc.url\`; \`redis.address: host:port\` for \`redis.url: redis://host:port\`.

## Keys
`;

/** A plugin whose options the reference documents (the built-ins: the generator passes them in). */
export interface DocumentedPlugin {
  name: string;
  description?: string;
  optionsSchema?: object;
}

export function renderConfigReference(plugins: readonly DocumentedPlugin[] = []): string {
  const rows = configReferenceRows();
  const sections = new Map<string, Row[]>();
  for (const r of rows) {
    const top = r.key.split(/[.[]/)[0]!;
    if (!sections.has(top)) sections.set(top, []);
    sections.get(top)!.push(r);
  }
  let out = INTRO;
  for (const [top, list] of sections) {
    out += `\n### \`${top}\`\n\n| key | type | default | meaning |\n|---|---|---|---|\n`;
    for (const r of list) out += `| \`${r.key}\` | ${r.type} | ${r.default} | ${r.description} |\n`;
  }
  const documented = plugins.filter((p) => p.optionsSchema);
  if (documented.length) {
    out += `\n## Plugin options\n\nA plugin's options are written under its entry in \`plugins\`, e.g.\n\`plugins: [{ name: miner, options: { lease_ttl_ms: 15000 } }]\`, and checked against the plugin's schema with the\nsame strictness as the rest of the file (\`plugins[i].options.<key>\` in problems).\n`;
    for (const p of documented) {
      const optionRows: Row[] = [];
      walk(p.optionsSchema as Schema, '', optionRows, '', new Map());
      out += `\n### \`${p.name}\`\n\n${p.description ?? ''}\n\n| option | type | default | meaning |\n|---|---|---|---|\n`;
      for (const r of optionRows) out += `| \`${r.key}\` | ${r.type} | ${r.default} | ${r.description} |\n`;
    }
  }
  return out;
}

/**
 * The schema for editors describes what an operator writes, not what the loader produces: keys that
 * have a default are optional, and a string may hold `${VAR}` references that only resolve at load time.
 */
function forEditors(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forEditors);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = forEditors(v);
  const props = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && props) {
    const required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  if (out.type === 'string' && typeof out.pattern === 'string') out.pattern = `(?:${out.pattern})|\\$\\{`;
  return out;
}

export function renderJsonSchema(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...(forEditors(JSON.parse(JSON.stringify(ConfigSchema))) as object) } as unknown as {
    properties: { plugins: { items: object } };
  };
  // The loader accepts `- transport-jsonrpc` as shorthand for `- { name: transport-jsonrpc }`; so must editors.
  const entry = schema.properties.plugins.items;
  schema.properties.plugins.items = { anyOf: [{ type: 'string', minLength: 1 }, entry] };
  return `${JSON.stringify(schema, null, 2)}\n`;
}
