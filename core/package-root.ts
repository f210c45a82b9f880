import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The relayminer package root, found from this module whether it runs from source (core/) or from
 * dist/core/. Files that tsc does not emit (the .proto definitions, example configs) live under it.
 */
export const PACKAGE_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'relayminer') return dir;
    dir = dirname(dir);
  }
  throw new Error('relayminer: cannot find the package root (package.json) above core/');
})();
