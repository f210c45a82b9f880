import { spawnBoundToParent } from '../process/child-process.js';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What redis-server says when its port (or a cluster node's bus port) is taken. */
const ADDRESS_IN_USE = /Address already in use/;

/** A free TCP port on 127.0.0.1 (the OS picks it; tiny race until the caller binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** `redis-server` could not be started because it is not installed (not on the PATH). */
export class RedisServerMissingError extends Error {
  readonly code = 'REDIS_SERVER_MISSING';

  constructor() {
    super('redis-server is not on the PATH: install it (apt-get install redis-server)');
    this.name = 'RedisServerMissingError';
  }
}

export interface LocalRedisOptions {
  port?: number;
  /** Data directory; a fresh temporary one (removed on stop) when omitted. */
  dir?: string;
  /** Remove `dir` on stop (default: only when the directory was created here). */
  removeDir?: boolean;
  appendOnly?: boolean;
  /** Extra `redis-server` arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[];
  /** A config file passed first (Sentinel needs one it can rewrite). */
  configFile?: string;
  /** Log text that means the process is ready (default: "Ready to accept connections"). */
  readyText?: string;
}

/**
 * A real `redis-server` child process on 127.0.0.1, for tests, the dev start and benchmarks.
 * It can be stopped and started again on the same port and data directory (outage tests).
 * It stops with this process however that ends, SIGKILL and a test runner's timeout included: no
 * caller wants a server that outlives it, holding its port and the CPU the next run needs.
 */
export class LocalRedisServer {
  readonly port: number;
  readonly dir: string;
  readonly #ownsDir: boolean;
  readonly #opts: LocalRedisOptions;
  #child: ChildProcess | undefined;

  private constructor(port: number, dir: string, ownsDir: boolean, opts: LocalRedisOptions) {
    this.port = port;
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.#opts = opts;
  }

  /**
   * A port it chose itself can be taken between `freePort()` and redis-server's bind (by another test or
   * process on the machine): it is chosen again, twice at most. A port the caller gave is the caller's.
   */
  static async start(opts: LocalRedisOptions = {}): Promise<LocalRedisServer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await LocalRedisServer.#startOnce(opts);
      } catch (err) {
        if (opts.port !== undefined || attempt >= 3 || !ADDRESS_IN_USE.test((err as Error).message)) {
          // A folder the caller made (a sentinel's, with its configuration) is kept between tries.
          if (opts.dir && opts.removeDir) rmSync(opts.dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  static async #startOnce(opts: LocalRedisOptions): Promise<LocalRedisServer> {
    const port = opts.port ?? (await freePort());
    const ownsDir = opts.removeDir ?? !opts.dir;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'relayminer-redis-'));
    const server = new LocalRedisServer(port, dir, ownsDir, opts);
    try {
      await server.startProcess();
    } catch (err) {
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the process again after `stopProcess()` (same port, same data). */
  async startProcess(): Promise<void> {
    if (this.#child) return;
    const args = [
      ...(this.#opts.configFile ? [this.#opts.configFile] : []),
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.#opts.appendOnly ? 'yes' : 'no',
      '--daemonize', 'no',
      '--protected-mode', 'yes',
      '--loglevel', 'notice',
      ...(this.#opts.args ?? []),
    ];
    const child = spawnBoundToParent('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const onOutput = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(this.#opts.readyText ?? 'Ready to accept connections')) ready();
      };
      const onEarlyExit = (code: number | null) => fail(new Error(`redis-server exited with ${code} before it was ready:\n${output}`));
      const onError = (err: NodeJS.ErrnoException) =>
        fail(err.code === 'ENOENT' ? new RedisServerMissingError() : err);
      const timer = setTimeout(() => fail(new Error(`redis-server on port ${this.port} not ready after 10 s:\n${output}`)), 10_000);
      const detach = () => {
        clearTimeout(timer);
        child.stdout!.off('data', onOutput);
        child.stderr!.off('data', onOutput);
        child.off('exit', onEarlyExit);
        child.off('error', onError);
        // Keep draining the pipes: a full pipe would block redis-server's logging.
        child.stdout!.resume();
        child.stderr!.resume();
      };
      const ready = () => {
        detach();
        child.on('exit', () => {
          if (this.#child === child) this.#child = undefined;
        });
        resolve();
      };
      const fail = (err: Error) => {
        detach();
        child.kill('SIGKILL');
        if (this.#child === child) this.#child = undefined;
        reject(err);
      };
      child.on('error', onError);
      child.on('exit', onEarlyExit);
      child.stdout!.on('data', onOutput);
      child.stderr!.on('data', onOutput);
    });
  }

  /** Freezes the process (SIGSTOP): its connections stay open and nothing answers, as a hung server or a partition. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  /** Lets a paused process run again (SIGCONT). */
  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Stops the process (SIGTERM, then SIGKILL after 5 s), keeping port and data for `startProcess()`. */
  async stopProcess(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGCONT'); // a paused server takes no other signal but SIGKILL
      child.kill(signal);
    });
    this.#child = undefined;
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Sentinel (redis-server --sentinel) monitoring `master` under `masterName`, quorum 1. */
export async function startLocalRedisSentinel(master: LocalRedisServer, masterName = 'mymaster'): Promise<LocalRedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-sentinel-'));
  const configFile = join(dir, 'sentinel.conf');
  writeFileSync(configFile, `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1\n`);
  return LocalRedisServer.start({
    dir,
    removeDir: true,
    configFile,
    args: ['--sentinel'],
    readyText: `+monitor master ${masterName}`,
  });
}

export interface LocalRedisCluster {
  nodes: LocalRedisServer[];
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,…` */
  url: string;
  stop(): Promise<void>;
}

/**
 * One cluster node. Its bus port is chosen like its port: left to the default (port + 10,000) it lands in
 * the OS's ephemeral range, where another process may hold it. A port taken between `freePort()` and
 * the bind (that race exists for every free port) gets the node a second and third try.
 */
async function startClusterNode(): Promise<LocalRedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await LocalRedisServer.start({
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000', '--cluster-port', String(await freePort())],
      });
    } catch (err) {
      if (attempt >= 3 || !ADDRESS_IN_USE.test((err as Error).message)) throw err;
    }
  }
}

/** A cluster of `masters` masters and no replicas, created with `redis-cli --cluster create`. */
export async function startLocalRedisCluster(masters = 3): Promise<LocalRedisCluster> {
  const nodes: LocalRedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startClusterNode());
    await run('redis-cli', [
      '--cluster', 'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas', '0',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 20_000;
    for (const n of nodes) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(n.port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${n.port} not ok after 20 s:\n${stdout}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`, stop };
}
