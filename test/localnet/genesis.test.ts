import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../../core/config/problems.js';
import { loadGenesisFile } from '../../localnet/genesis.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('a genesis file that cannot be read says why', async (t) => {
  const dir = tempDir(t, 'relayminer-genesis');
  const problem = (file: string) => {
    const err = t.throws(() => loadGenesisFile(file)) as ConfigError;
    t.ok(err instanceof ConfigError);
    return err.problems.map((p) => p.message);
  };
  t.same(problem(join(dir, 'missing.yaml')), ['file not found']);
  t.same(problem(dir), ['a directory, not a file']);
});
