import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import type { KeyWatch } from '../config/load.js';

/** Changes closer together than this are one edit (an editor's save, a Secret's atomic swap). */
const SETTLE_MS = 1000;

/**
 * `keys.watch`: calls `reload` once the watched key files have been still for a second after a change. A keys
 * file is watched through its directory, where editors and Kubernetes' atomic writer replace it (a watch on the
 * file itself would follow the replaced inode); in a mounted Secret the swap shows as `..data`. Returns the
 * function that stops watching.
 */
export function watchKeyFiles(places: readonly KeyWatch[], reload: () => void, log: Logger): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(reload, SETTLE_MS);
  };
  for (const place of places) {
    try {
      const w = watch(place.dir, { persistent: false }, (_event, name) => {
        if (!place.file || name === null || name === place.file || name.startsWith('..')) changed();
      });
      w.on('error', (err) => log.warn({ dir: place.dir, err: err.message }, 'keys.watch: stopped watching this directory; SIGHUP still reloads the keys'));
      watchers.push(w);
    } catch (err) {
      log.warn({ dir: place.dir, err: (err as Error).message }, 'keys.watch: cannot watch this directory; SIGHUP still reloads the keys');
    }
  }
  if (watchers.length > 0) log.info({ dirs: places.map((p) => (p.file ? `${p.dir}/${p.file}` : p.dir)) }, 'keys.watch: a change to the key files reloads the keys');
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
