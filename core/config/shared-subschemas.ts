type Schema = Record<string, unknown>;

const isObjectSchema = (s: Schema): boolean => s.type === 'object' && typeof s.properties === 'object';

function withoutDefault(s: Schema): Schema {
  const { default: _default, ...rest } = s;
  return rest;
}

/**
 * The schema with each object subschema that occurs more than once (the configuration's backend, Redis, node
 * and keys sections recur under every service and role) written once under `$defs` and referred to by `$ref`.
 * ajv inlines a subschema at every place it occurs, so the configuration's validator was four times the code
 * and most of its compile time, which every process start and `validate` pays. A `default` stays beside its
 * `$ref` (ajv fills defaults from the property's own schema, and refuses one at a compiled root). Schemas
 * that carry `$id`, `$ref` or `$defs` below their root are returned as they are: moving a part could change what
 * a reference in it resolves to.
 */
export function shareRepeatedSubschemas<T extends object>(schema: T): T {
  const root = schema as Schema;
  const below = Object.entries(root).filter(([k]) => k !== '$id');
  if ('$defs' in root || 'definitions' in root || /"\$(id|ref|defs)"/.test(JSON.stringify(below))) return schema;

  const key = (s: Schema) => JSON.stringify(withoutDefault(s));
  const counts = new Map<string, number>();
  const count = (v: unknown): void => {
    if (!v || typeof v !== 'object') return;
    if (!Array.isArray(v) && isObjectSchema(v as Schema)) {
      const k = key(v as Schema);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    for (const child of Object.values(v)) count(child);
  };
  for (const [, v] of below) count(v);

  const defs: Record<string, Schema> = {};
  const names = new Map<string, string>();
  const rewrite = (v: unknown, asDefinition = false): unknown => {
    if (!v || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => rewrite(x));
    const s = v as Schema;
    if (!asDefinition && isObjectSchema(s) && (counts.get(key(s)) ?? 0) > 1) {
      const k = key(s);
      let name = names.get(k);
      if (!name) {
        name = `shared${names.size}`;
        names.set(k, name);
        defs[name] = rewrite(withoutDefault(s), true) as Schema;
      }
      return 'default' in s ? { $ref: `#/$defs/${name}`, default: s.default } : { $ref: `#/$defs/${name}` };
    }
    return Object.fromEntries(Object.entries(s).map(([k, child]) => [k, rewrite(child)]));
  };
  const out = Object.fromEntries(Object.entries(root).map(([k, v]) => [k, k === '$id' ? v : rewrite(v)]));
  if (names.size === 0) return schema;
  return { ...out, $defs: defs } as T;
}
