import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigReference, renderJsonSchema } from '../core/config/reference.js';

/** Writes docs/configuration.md and schema/relayminer.config.schema.json from the config schema. */
const root = process.argv[2] ?? process.cwd();
writeFileSync(join(root, 'docs', 'configuration.md'), renderConfigReference());
writeFileSync(join(root, 'schema', 'relayminer.config.schema.json'), renderJsonSchema());
process.stdout.write('wrote docs/configuration.md and schema/relayminer.config.schema.json\n');
