import type { ChildProcess } from 'node:child_process';
import { spawnBoundToParent } from '../../core/process/child-process.js';
import { BIN, ROOT } from './cli.js';
import { withoutTapHook } from './child-env.js';
import { repeatedKeys } from './logs.js';

export interface Started {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  addresses: Record<string, string>;
  exit: Promise<number | null>;
  /** Everything written to stderr so far. */
  stderr: () => string;
}

/** How long a process may take to log that it started: seconds here, far more on a loaded machine. */
const START_MS = 45_000;

/**
 * Runs the built CLI with JSON logs on stdout; resolves once `readyMessage` is logged. The process gets
 * SIGTERM if the test's own process dies first (a tap timeout skips the teardowns that would stop it).
 */
export async function startProcess(args: string[], env: NodeJS.ProcessEnv, readyMessage = 'relayminer started'): Promise<Started> {
  const child = spawnBoundToParent(...withoutTapHook(process.execPath, [BIN, ...args]), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let up = false;
  const started = new Promise<Record<string, string>>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, i);
        const line = JSON.parse(text) as Record<string, unknown>;
        buf = buf.slice(i + 1);
        // JSON.parse keeps the last of a repeated key; log pipelines differ (some keep the first, some refuse the line).
        const repeated = repeatedKeys(text);
        if (repeated.length > 0) {
          const err = new Error(`a log line repeats ${repeated.join(', ')}: ${text}`);
          if (!up) return reject(err);
          throw err;
        }
        lines.push(line);
        if (line.msg === readyMessage) {
          up = true;
          resolve((line.addresses ?? { rpc: line.rpc }) as Record<string, string>);
        }
      }
    });
    void exit.then((code) => reject(new Error(`exited with ${code} before starting: ${stderr}`)));
    setTimeout(() => reject(new Error(`not started after ${START_MS / 1000} s: ${stderr}`)), START_MS).unref();
  });
  // A process that did not start is killed, or it would outlive its test and hold the file open until tap's timeout.
  const addresses = await started.catch((err: Error) => {
    child.kill('SIGKILL');
    throw err;
  });
  return { child, lines, addresses, exit, stderr: () => stderr };
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
