import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigReference, renderJsonSchema } from '../core/config/reference.js';
import { builtinPluginDocs } from '../plugins/docs.js';

/** Writes docs/configuration.md (with the built-in plugins' options) and schema/relayminer.config.schema.json. */
const root = process.argv[2] ?? process.cwd();
writeFileSync(join(root, 'docs', 'configuration.md'), renderConfigReference(await builtinPluginDocs()));
writeFileSync(join(root, 'schema', 'relayminer.config.schema.json'), renderJsonSchema());
process.stdout.write('wrote docs/configuration.md and schema/relayminer.config.schema.json\n');
