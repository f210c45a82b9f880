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
  | ({ kind: 'sentinel'; sentinels: RedisNode[]; masterName: string; db: number; sentinelPassword: string | undefined } & Credentials)
  | ({ kind: 'cluster'; nodes: RedisNode[] } & Credentials);

const SCHEMES = {
  'redis:': 'standalone',
  'rediss:': 'standalone',
  'redis-sentinel:': 'sentinel',
  'redis-cluster:': 'cluster',
} as const;

/**
 * Parses the four URL forms:
 *   redis://[user:pass@]host[:port][/db]         rediss:// is the same over TLS
 *   redis-sentinel://[user:pass@]h1[:p1],h2[:p2]/master[/db][?sentinel_password=…&tls=true]
 *   redis-cluster://[user:pass@]h1[:p1],h2[:p2][?tls=true]
 * `new URL` cannot read comma-separated host lists, hence this small parser.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const m = /^([a-z-]+:)\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(url);
  if (!m) throw new Error('not a Redis URL (expected scheme://[user:pass@]host[:port][/…])');
  const [, scheme, userinfo, hostList, pathPart, queryPart] = m;
  const kind = SCHEMES[scheme as keyof typeof SCHEMES];
  if (!kind) throw new Error(`unsupported Redis URL scheme ${scheme}// (use redis, rediss, redis-sentinel or redis-cluster)`);
  const query = new URLSearchParams(queryPart ?? '');
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo) {
    const i = userinfo.indexOf(':');
    const user = decodeURIComponent(i < 0 ? userinfo : userinfo.slice(0, i));
    username = user === '' ? undefined : user;
    password = i < 0 ? undefined : decodeURIComponent(userinfo.slice(i + 1));
  }
  const tls = scheme === 'rediss:' || query.get('tls') === 'true';
  const defaultPort = kind === 'sentinel' ? 26379 : 6379;
  const nodes = (hostList ?? '')
    .split(',')
    .filter(Boolean)
    .map((h) => parseNode(h, defaultPort));
  if (nodes.length === 0) throw new Error('Redis URL has no host');
  const path = (pathPart ?? '').split('/').filter(Boolean);
  const creds = { username, password, tls };

  if (kind === 'standalone') {
    if (nodes.length > 1) throw new Error('redis:// takes one host; use redis-cluster:// or redis-sentinel:// for several');
    return { kind, node: nodes[0]!, db: parseDb(path[0]), ...creds };
  }
  if (kind === 'sentinel') {
    const masterName = path[0];
    if (!masterName) throw new Error('redis-sentinel:// needs the master name as its path: redis-sentinel://h1,h2/mymaster');
    return {
      kind,
      sentinels: nodes,
      masterName,
      db: parseDb(path[1]),
      sentinelPassword: query.get('sentinel_password') ?? undefined,
      ...creds,
    };
  }
  if (path.length > 0) throw new Error('redis-cluster:// takes no database path (a cluster has only db 0)');
  return { kind, nodes, ...creds };
}

function parseNode(text: string, defaultPort: number): RedisNode {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`bad Redis host "${text}"`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) throw new Error(`bad Redis port in "${text}"`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

function parseDb(text: string | undefined): number {
  if (text === undefined) return 0;
  if (!/^\d{1,2}$/.test(text)) throw new Error(`bad Redis database "${text}"`);
  return Number(text);
}

/** The URL with any password replaced, fit for logs. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z-]+:\/\/)([^@/]*):([^@/]*)@/, '$1$2:***@');
}
