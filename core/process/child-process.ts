import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

let setpriv: string | null | undefined;

function findSetpriv(): string | null {
  if (setpriv !== undefined) return setpriv;
  setpriv = null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, 'setpriv'), constants.X_OK);
      setpriv = join(dir, 'setpriv');
      break;
    } catch {
      // not here
    }
  }
  return setpriv;
}

/**
 * Spawns a child that gets SIGTERM when this process dies, however it dies (SIGKILL included), through
 * the kernel's parent-death signal (util-linux `setpriv --pdeathsig`, which then runs the command in its
 * place: same pid). Where setpriv is missing, a plain spawn: a node child can still watch its parent.
 * With the parent-death signal, the child gets a process group of its own: a terminal's Ctrl-C goes to
 * the whole foreground group, and a child stopped by it (the devnet's Redis) would be gone before the
 * parent's shutdown, which still needs it; the parent stops its children itself, in order.
 */
export function spawnBoundToParent(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const wrapper = process.platform === 'linux' ? findSetpriv() : null;
  return wrapper ? spawn(wrapper, ['--pdeathsig', 'TERM', '--', command, ...args], { ...options, detached: true }) : spawn(command, [...args], options);
}

/**
 * Calls `onOrphaned` once this process's parent is gone (it was re-parented): a supervisor or npm
 * that died without passing its signal on. Checked every second.
 */
export function watchParent(onOrphaned: () => void): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onOrphaned();
    }
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
