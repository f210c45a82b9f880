import { decodeUrlPart, maskUrlSecrets } from './url-secrets.js';

export interface RedisNode {
  host: string;
  port: number;
}

interface Credentials {
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

export type RedisTarget =
  | ({ kind: 'standalone'; node: RedisNode; db: number } & Credentials)
  | ({ kind: 'unix'; path: string; db: number } & Credentials)
  | ({ kind: 'sentinel'; sentinels: RedisNode[]; masterName: string; db: number; sentinelPassword: string | undefined } & Credentials)
  | ({ kind: 'cluster'; nodes: RedisNode[] } & Credentials);

const SCHEMES = {
  'redis:': 'standalone',
  'rediss:': 'standalone',
  'unix:': 'unix',
  'redis-sentinel:': 'sentinel',
  'redis-cluster:': 'cluster',
} as const;

/**
 * The query parameters each form reads. Any other is refused rather than ignored: a URL copied from
 * another client's settings (`?timeout=…`, a `db` on a cluster) must not run with part of it dropped.
 */
const PARAMETERS: Record<RedisTarget['kind'], readonly string[]> = {
  standalone: ['db', 'tls'],
  unix: ['db'],
  sentinel: ['db', 'tls', 'sentinel_password'],
  cluster: ['tls'],
};

/**
 * Parses the five URL forms:
 *   redis://[user:pass@]host[:port][/db]         rediss:// is the same over TLS
 *   unix://[user:pass@]/path/to/redis.sock       a Redis on this machine, by its socket
 *   redis-sentinel://[user:pass@]h1[:p1],h2[:p2]/master[/db][?sentinel_password=…&tls=true]
 *   redis-cluster://[user:pass@]h1[:p1],h2[:p2][?tls=true]
 * The database may also be given as `?db=N` (go-redis's form, as the Go relay miners write it) on every form
 * but the cluster's. `new URL` cannot read comma-separated host lists, hence this small parser. Messages never
 * carry the URL itself (it may hold a password).
 */
export function parseRedisUrl(url: string): RedisTarget {
  const m = /^([a-z-]+:)\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(url);
  if (!m) throw new Error('not a Redis URL (expected scheme://[user:pass@]host[:port][/…])');
  const [, scheme, userinfo, hostList, pathPart, queryPart] = m;
  const kind = SCHEMES[scheme as keyof typeof SCHEMES];
  if (!kind) throw new Error(`unsupported Redis URL scheme ${scheme}// (use redis, rediss, unix, redis-sentinel or redis-cluster)`);
  const query = new URLSearchParams(queryPart ?? '');
  checkParameters(query, kind, scheme!);
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo) {
    const i = userinfo.indexOf(':');
    const user = decodeUrlPart(i < 0 ? userinfo : userinfo.slice(0, i), "the Redis URL's user name");
    username = user === '' ? undefined : user;
    password = i < 0 ? undefined : decodeUrlPart(userinfo.slice(i + 1), "the Redis URL's password");
  }
  const tls = parseTls(scheme!, query.get('tls'));
  const creds = { username, password, tls };

  if (kind === 'unix') {
    if (hostList) throw new Error('unix:// takes a socket path, not a host: unix:///path/to/redis.sock');
    const path = decodeUrlPart(pathPart ?? '', "the Redis URL's socket path");
    if (path === '' || path === '/') throw new Error('unix:// needs the socket path: unix:///path/to/redis.sock');
    return { kind, path, db: databaseOf(undefined, query.get('db')), ...creds };
  }

  const defaultPort = kind === 'sentinel' ? 26379 : 6379;
  const nodes = (hostList ?? '')
    .split(',')
    .filter(Boolean)
    .map((h) => parseNode(h, defaultPort));
  if (nodes.length === 0) throw new Error('Redis URL has no host');
  const path = (pathPart ?? '').split('/').filter(Boolean);

  if (kind === 'standalone') {
    if (nodes.length > 1) throw new Error('redis:// takes one host; use redis-cluster:// or redis-sentinel:// for several');
    if (path.length > 1) throw new Error('redis:// takes one path segment, the database: redis://host:port/db');
    return { kind, node: nodes[0]!, db: databaseOf(path[0], query.get('db')), ...creds };
  }
  if (kind === 'sentinel') {
    const masterName = path[0];
    if (!masterName) throw new Error('redis-sentinel:// needs the master name as its path: redis-sentinel://h1,h2/mymaster');
    if (path.length > 2) throw new Error('redis-sentinel:// takes the master name and a database: redis-sentinel://h1,h2/mymaster/db');
    return {
      kind,
      sentinels: nodes,
      masterName,
      db: databaseOf(path[1], query.get('db')),
      sentinelPassword: query.get('sentinel_password') ?? undefined,
      ...creds,
    };
  }
  if (path.length > 0) throw new Error('redis-cluster:// takes no database path (a cluster has only db 0)');
  return { kind, nodes, ...creds };
}

function checkParameters(query: URLSearchParams, kind: RedisTarget['kind'], scheme: string): void {
  const known = PARAMETERS[kind];
  for (const name of new Set(query.keys())) {
    if (!known.includes(name)) {
      const why = kind === 'cluster' && name === 'db' ? ' (a cluster has only db 0)' : '';
      throw new Error(`${scheme}// takes no "${name}" parameter${why}; it reads ${known.map((k) => `"${k}"`).join(', ')}`);
    }
    if (query.getAll(name).length > 1) throw new Error(`Redis URL parameter "${name}" given more than once`);
  }
}

function parseTls(scheme: string, value: string | null): boolean {
  if (value !== null && value !== 'true' && value !== 'false') throw new Error(`bad Redis URL parameter tls="${value}" (true or false)`);
  if (scheme === 'rediss:' && value === 'false') throw new Error('rediss:// is Redis over TLS: drop tls=false, or use redis://');
  return scheme === 'rediss:' || value === 'true';
}

function parseNode(text: string, defaultPort: number): RedisNode {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`bad Redis host "${text}"`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) throw new Error(`bad Redis port in "${text}"`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** The database from the path, `?db=`, or both when they agree. */
function databaseOf(fromPath: string | undefined, fromQuery: string | null): number {
  const path = fromPath === undefined ? undefined : parseDb(fromPath);
  const query = fromQuery === null ? undefined : parseDb(fromQuery);
  if (path !== undefined && query !== undefined && path !== query) {
    throw new Error(`Redis database given twice, ${path} in the path and db=${query}: keep one`);
  }
  return path ?? query ?? 0;
}

function parseDb(text: string): number {
  if (!/^\d{1,2}$/.test(text)) throw new Error(`bad Redis database "${text}"`);
  return Number(text);
}

/** The URL with any password replaced (its user's, and a Sentinel's in the query), fit for logs. */
export function redactRedisUrl(url: string): string {
  return maskUrlSecrets(url);
}
