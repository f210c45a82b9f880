import t from 'tap';
import { Type } from '@sinclair/typebox';
import { shareRepeatedSubschemas } from '../../core/config/shared-subschemas.js';
import { ConfigSchema } from '../../core/config/schema.js';
import { validateAgainst } from '../../core/config/validator.js';

type Schema = { $ref?: string; $defs?: Record<string, { properties: Record<string, unknown> }> } & Record<string, unknown>;

function refsTo(schema: unknown, ref: string): number {
  if (!schema || typeof schema !== 'object') return 0;
  let n = (schema as Schema).$ref === ref ? 1 : 0;
  for (const v of Object.values(schema)) n += refsTo(v, ref);
  return n;
}

t.test('the configuration: each recurring section once, referred to where it occurs', async (t) => {
  const shared = shareRepeatedSubschemas(ConfigSchema) as unknown as Schema;
  const defs = Object.entries(shared.$defs ?? {});
  const backend = defs.find(([, d]) => 'urls' in d.properties);
  t.ok(backend, 'the backend section is a definition');
  // Five RPC types under each service, and relayer.backends.
  t.equal(refsTo(shared, `#/$defs/${backend![0]}`), 6);
  const redis = defs.find(([, d]) => 'namespace' in d.properties);
  // redis at the top, under relayer and under miner.
  t.equal(refsTo(shared, `#/$defs/${redis![0]}`), 3);
  t.equal(shared.$id, ConfigSchema.$id);
  t.ok(JSON.stringify(shared).length < JSON.stringify(ConfigSchema).length / 2, 'under half the size');
  t.equal(JSON.stringify(ConfigSchema).includes('$defs'), false, 'the schema itself is left as it was');
});

t.test('problems inside a shared section keep their own paths', async (t) => {
  const problems = validateAgainst(ConfigSchema, {
    services: { a: { backends: { jsonrpc: { url: 'http://x', retrys: 1 } } } },
    relayer: { backends: { b: { url: 5 } } },
  });
  t.same(
    problems.map((p) => p.path),
    ['relayer.backends.b.url', 'services.a.backends.jsonrpc.retrys'],
  );
  t.match(problems[0]!.message, 'must be a string, got number (5)');
  t.match(problems[1]!.message, 'unknown key');
});

t.test("a default beside a shared part is filled, and the part's own defaults inside it", async (t) => {
  const Part = Type.Object({ n: Type.Integer({ default: 7 }) }, { additionalProperties: false });
  const schema = Type.Object({ a: Type.Object(Part.properties, { additionalProperties: false, default: {} }), b: Type.Optional(Part) });
  const shared = shareRepeatedSubschemas(schema) as unknown as Schema;
  t.equal(Object.keys(shared.$defs!).length, 1);
  const value: Record<string, unknown> = { b: {} };
  t.same(validateAgainst(schema, value), []);
  t.same(value, { a: { n: 7 }, b: { n: 7 } });
});

t.test('schemas with references of their own, or nothing recurring, are returned as they are', async (t) => {
  const withRef = { type: 'object', properties: { a: { $ref: '#/$defs/x' }, b: { type: 'object', properties: {} }, c: { type: 'object', properties: {} } }, $defs: { x: { type: 'string' } } };
  t.equal(shareRepeatedSubschemas(withRef), withRef);
  const once = Type.Object({ a: Type.Object({ x: Type.String() }), b: Type.Object({ y: Type.String() }) });
  t.equal(shareRepeatedSubschemas(once), once);
});
