import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ResolvedRedis } from '../config/load.js';
import { settlesWithin } from '../async/settles-within.js';
import { parseRedisUrl } from '../config/redis-url.js';

/** Either topology; code that must work on both uses only this. */
export type RedisClient = Redis | Cluster;

export interface ConnectOptions {
  /** Shown in CLIENT LIST, so an operator can tell relayers, miners and readers apart. */
  connectionName: string;
  /** Connection for blocking commands (XREADGROUP BLOCK): no command timeout. */
  blocking?: boolean;
}

const DISCONNECT_MS = 250;

/** Reconnect forever with capped backoff: Redis coming back must not need a process restart. */
const backoff = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000);

export function createRedisClient(cfg: ResolvedRedis, opts: ConnectOptions): RedisClient {
  const target = parseRedisUrl(cfg.url);
  const base: RedisOptions = {
    connectionName: opts.connectionName,
    connectTimeout: cfg.pool.connect_timeout_ms,
    commandTimeout: opts.blocking || cfg.pool.command_timeout_ms === 0 ? undefined : cfg.pool.command_timeout_ms,
    // A connection closed here is cut once this passes without the server closing its side: Redis does at
    // once, one that hangs or is cut off never does, and its commands (a blocking read's too) would wait.
    disconnectTimeout: DISCONNECT_MS,
    maxRetriesPerRequest: cfg.pool.max_retries_per_request,
    enableReadyCheck: true,
    username: target.username,
    password: target.password,
    tls: target.tls ? tlsOptions(cfg) : undefined,
  };
  switch (target.kind) {
    case 'standalone':
      return new Redis({ ...base, host: target.node.host, port: target.node.port, db: target.db, retryStrategy: backoff });
    case 'unix':
      return new Redis({ ...base, path: target.path, db: target.db, retryStrategy: backoff });
    case 'sentinel':
      return new Redis({
        ...base,
        sentinels: target.sentinels,
        name: target.masterName,
        db: target.db,
        sentinelPassword: target.sentinelPassword,
        retryStrategy: backoff,
        sentinelRetryStrategy: backoff,
      });
    case 'cluster':
      return new Cluster(target.nodes, {
        clusterRetryStrategy: backoff,
        enableReadyCheck: true,
        scaleReads: 'master',
        redisOptions: base,
      });
  }
}

function tlsOptions(cfg: ResolvedRedis): { ca?: Buffer } {
  return cfg.tls_ca_file ? { ca: readFileSync(cfg.tls_ca_file) } : {};
}

/**
 * `pool.size` multiplexed command connections, handed out round-robin. A caller that needs several
 * commands in order on one connection takes one with `next()` and uses pipeline/multi on it.
 */
export class RedisPool {
  readonly #clients: RedisClient[];
  readonly #cfg: ResolvedRedis;
  readonly #name: string;
  readonly #extra = new Set<RedisClient>();
  readonly #onError: (err: Error, connection: string, failing: number) => void;
  readonly #onRecovered: () => void;
  /** Connections whose last event was an error (not a 'ready' since). */
  readonly #failing = new Set<string>();
  #i = 0;

  /**
   * `onError` receives connection errors (ioredis reconnects by itself; they are for logs and metrics)
   * with the number of connections failing now; `onRecovered` runs when the last failing one is ready again.
   */
  constructor(
    cfg: ResolvedRedis,
    name: string,
    onError: (err: Error, connection: string, failing: number) => void = () => {},
    onRecovered: () => void = () => {},
  ) {
    this.#cfg = cfg;
    this.#name = name;
    this.#onError = onError;
    this.#onRecovered = onRecovered;
    this.#clients = Array.from({ length: cfg.pool.size }, (_, i) => this.#create(`${name}-${i}`, false));
  }

  #create(connectionName: string, blocking: boolean): RedisClient {
    const c = createRedisClient(this.#cfg, { connectionName, blocking });
    c.on('error', (err: Error) => {
      this.#failing.add(connectionName);
      this.#onError(err, connectionName, this.#failing.size);
    });
    c.on('ready', () => {
      if (this.#failing.delete(connectionName) && this.#failing.size === 0) this.#onRecovered();
    });
    // Closed on purpose (ours never stop retrying otherwise): no longer one that fails, and no recovery either.
    c.on('end', () => this.#failing.delete(connectionName));
    return c;
  }

  next(): RedisClient {
    const c = this.#clients[this.#i]!;
    this.#i = (this.#i + 1) % this.#clients.length;
    return c;
  }

  /** A connection of its own (blocking reads, subscriptions); closed with the pool. */
  dedicated(purpose: string, opts: { blocking?: boolean } = {}): RedisClient {
    const c = this.#create(`${this.#name}-${purpose}`, opts.blocking ?? false);
    this.#extra.add(c);
    return c;
  }

  /** Resolves true once every command connection is ready, or false after `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ready) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
    return true;
  }

  /** True when every command connection is connected and ready. */
  get ready(): boolean {
    return this.#clients.every((c) => c.status === 'ready');
  }

  /** A Cluster: its masters fail one by one, each holding some keys. */
  get clustered(): boolean {
    return this.#clients[0] instanceof Cluster;
  }

  get status(): string {
    return this.#clients[0]!.status;
  }

  async ping(timeoutMs: number): Promise<void> {
    const client = this.#clients[0]!;
    if (client.status !== 'ready') throw new Error(`connection is ${client.status}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no PING reply within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Closes every connection: QUIT where one is ready, so replies already on their way are read; a
   * connection whose QUIT gets no reply within `timeoutMs` (a server that hangs, a blocking
   * connection has no command timeout) is dropped.
   */
  async close(timeoutMs = 1000): Promise<void> {
    await Promise.all(
      [...this.#clients, ...this.#extra].map(async (c) => {
        if (c.status !== 'ready') return c.disconnect();
        const quit = c.quit().then(() => true, () => false);
        if (!(await settlesWithin(quit, timeoutMs)) || !(await quit)) c.disconnect();
      }),
    );
  }

  /**
   * Drops every connection at once (a shutdown past its bound): commands waiting for a reply fail now.
   * Commands queued while a connection waits to reconnect stay pending (redis/ioredis#2169).
   */
  disconnect(): void {
    for (const c of [...this.#clients, ...this.#extra]) c.disconnect();
  }
}
