import t from 'tap';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { until } from '../helpers/until.js';
import { withoutTapHook } from '../helpers/child-env.js';

const SERVER_MODULE = pathToFileURL(join(import.meta.dirname, '../../core/redis/local-server.ts')).href;

/** Resolves with the error code of a TCP connection to the port, or 'connected'. */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

t.test('a redis-server started by a process that is SIGKILLed stops too (a test killed at its timeout leaves none behind)', async (t) => {
  const script = `
    const { LocalRedisServer } = await import(${JSON.stringify(SERVER_MODULE)});
    const server = await LocalRedisServer.start();
    process.stdout.write(server.port + '\\n', () => process.kill(process.pid, 'SIGKILL'));
  `;
  const child = spawn(...withoutTapHook(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]), { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, s) => resolve(s)));
  t.equal(signal, 'SIGKILL', `the starting process was killed (${err.trim() || 'nothing on stderr'})`);
  const port = Number(out.trim());
  t.ok(Number.isInteger(port) && port > 0, `it had started a server (port ${out.trim()})`);
  let last = '';
  await until('the orphaned redis-server to stop', async () => (last = await probe(port)) === 'ECONNREFUSED', 10_000).catch(() => undefined);
  t.equal(last, 'ECONNREFUSED', 'nothing listens on its port any more');
});
