import type { DocumentedPlugin } from 'relayminer';
import { BUILTIN_PLUGINS } from './index.js';

/** Every built-in plugin's name, description and options schema, for the configuration reference. */
export async function builtinPluginDocs(): Promise<DocumentedPlugin[]> {
  const out: DocumentedPlugin[] = [];
  for (const load of Object.values(BUILTIN_PLUGINS)) {
    const mod = (await load()) as { default: { meta: DocumentedPlugin } };
    const { name, description, optionsSchema } = mod.default.meta;
    out.push({ name, description, optionsSchema });
  }
  return out;
}
