import t from 'tap';
import { parseRedisUrl, redactRedisUrl } from '../../core/config/redis-url.js';

t.test('redis:// and rediss://', async (t) => {
  t.same(parseRedisUrl('redis://127.0.0.1:6380/3'), {
    kind: 'standalone', node: { host: '127.0.0.1', port: 6380 }, db: 3, username: undefined, password: undefined, tls: false,
  });
  t.same(parseRedisUrl('rediss://default:s%40cret@cache.example:6379'), {
    kind: 'standalone', node: { host: 'cache.example', port: 6379 }, db: 0, username: 'default', password: 's@cret', tls: true,
  });
  t.same(parseRedisUrl('redis://:pw@redis'), {
    kind: 'standalone', node: { host: 'redis', port: 6379 }, db: 0, username: undefined, password: 'pw', tls: false,
  }, 'default port, password without a user');
  t.match(parseRedisUrl('redis://[::1]:7000'), { kind: 'standalone', node: { host: '::1', port: 7000 } });
  // A password with a bare %: the part is named, its text never shown.
  t.throws(() => parseRedisUrl('redis://u:50%off@h'), { message: "bad percent-encoding in the Redis URL's password (a % must start %XX, hexadecimal; write % itself as %25)" });
  t.throws(() => parseRedisUrl('redis://%zz:pw@h'), /bad percent-encoding in the Redis URL's user name/);
  t.equal(parseRedisUrl('redis://u:50%25off@h').password, '50%off');
});

t.test('redis-sentinel://', async (t) => {
  t.same(parseRedisUrl('redis-sentinel://u:p@s1:26379,s2,s3:26380/mymaster/2?sentinel_password=sp'), {
    kind: 'sentinel',
    sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }, { host: 's3', port: 26380 }],
    masterName: 'mymaster', db: 2, sentinelPassword: 'sp', username: 'u', password: 'p', tls: false,
  });
  t.throws(() => parseRedisUrl('redis-sentinel://s1,s2'), /needs the master name/);
});

t.test('redis-cluster://', async (t) => {
  t.same(parseRedisUrl('redis-cluster://n1:7000,n2:7001,n3?tls=true'), {
    kind: 'cluster',
    nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }, { host: 'n3', port: 6379 }],
    username: undefined, password: undefined, tls: true,
  });
  t.throws(() => parseRedisUrl('redis-cluster://n1,n2/1'), /no database path/);
});

t.test('?db=N, as go-redis and the Go relay miners write the database', async (t) => {
  t.match(parseRedisUrl('redis://h:6379?db=4'), { kind: 'standalone', db: 4 });
  t.match(parseRedisUrl('redis://h:6379/4?db=4'), { kind: 'standalone', db: 4 }, 'path and query agreeing');
  t.match(parseRedisUrl('redis-sentinel://s1,s2/mymaster?db=2'), { kind: 'sentinel', masterName: 'mymaster', db: 2 });
  t.throws(() => parseRedisUrl('redis://h/1?db=2'), /database given twice, 1 in the path and db=2/);
  t.throws(() => parseRedisUrl('redis-sentinel://s1/m/1?db=3'), /database given twice/);
  t.throws(() => parseRedisUrl('redis://h?db=x'), /bad Redis database "x"/);
  t.throws(() => parseRedisUrl('redis-cluster://n1,n2?db=1'), /redis-cluster:\/\/ takes no "db" parameter \(a cluster has only db 0\)/);
});

t.test('unix:// sockets', async (t) => {
  t.same(parseRedisUrl('unix:///run/redis/redis.sock'), {
    kind: 'unix', path: '/run/redis/redis.sock', db: 0, username: undefined, password: undefined, tls: false,
  });
  t.same(parseRedisUrl('unix://app:pw@/var/run/redis%20a.sock?db=5'), {
    kind: 'unix', path: '/var/run/redis a.sock', db: 5, username: 'app', password: 'pw', tls: false,
  });
  t.throws(() => parseRedisUrl('unix://localhost/run/redis.sock'), /takes a socket path, not a host/);
  t.throws(() => parseRedisUrl('unix://'), /needs the socket path/);
  t.throws(() => parseRedisUrl('unix:///run/%zz.sock'), /bad percent-encoding in the Redis URL's socket path/);
  t.throws(() => parseRedisUrl('unix:///run/redis.sock?tls=true'), /unix:\/\/ takes no "tls" parameter; it reads "db"/);
});

t.test('query parameters other than the form reads are refused, not dropped', async (t) => {
  t.throws(() => parseRedisUrl('redis://h:6379?timeout=5'), /redis:\/\/ takes no "timeout" parameter; it reads "db", "tls"/);
  t.throws(() => parseRedisUrl('redis://h?sentinel_password=x'), /takes no "sentinel_password" parameter/);
  t.throws(() => parseRedisUrl('redis://h?db=1&db=1'), /"db" given more than once/);
  t.throws(() => parseRedisUrl('redis://h?tls=yes'), /tls="yes" \(true or false\)/);
  t.throws(() => parseRedisUrl('rediss://h?tls=false'), /rediss:\/\/ is Redis over TLS/);
  t.match(parseRedisUrl('redis://h?tls=true'), { tls: true });
  t.match(parseRedisUrl('redis://h?tls=false'), { tls: false });
  t.throws(() => parseRedisUrl('redis://h/1/2'), /takes one path segment/);
  t.throws(() => parseRedisUrl('redis-sentinel://s/m/1/2'), /the master name and a database/);
});

t.test('refusals say why, and never print a password', async (t) => {
  t.throws(() => parseRedisUrl('http://x:6379'), /unsupported Redis URL scheme http:\/\/ \(use redis, rediss, unix, redis-sentinel or redis-cluster\)/);
  t.throws(() => parseRedisUrl('redis://a:1,b:2'), /takes one host/);
  t.throws(() => parseRedisUrl('redis://h:99999'), /bad Redis port/);
  t.throws(() => parseRedisUrl('redis://h/abc'), /bad Redis database "abc"/);
  const err = t.throws(() => parseRedisUrl('redis:/user:hunter2@h')) as Error;
  t.notMatch(err.message, 'hunter2');
  t.equal(redactRedisUrl('redis://user:hunter2@h:6379/1'), 'redis://user:***@h:6379/1');
  t.equal(redactRedisUrl('redis://user:hun:ter2@h:6379/1'), 'redis://user:***@h:6379/1', 'a password holding ":" masked whole');
  t.equal(redactRedisUrl('redis-cluster://:hunter2@a,b'), 'redis-cluster://:***@a,b');
  t.equal(redactRedisUrl('redis://h:6379'), 'redis://h:6379');
  t.equal(redactRedisUrl('unix://app:hunter2@/run/redis.sock'), 'unix://app:***@/run/redis.sock');
  t.equal(redactRedisUrl('redis-sentinel://s1,s2/m?sentinel_password=hunter2&tls=true'), 'redis-sentinel://s1,s2/m?sentinel_password=***&tls=true');
  t.equal(redactRedisUrl('redis-sentinel://s1/m?tls=true&sentinel_password=hunter2'), 'redis-sentinel://s1/m?tls=true&sentinel_password=***');
  const refused = t.throws(() => parseRedisUrl('redis-sentinel://s1/m?sentinel_password=hunter2&timeout=1')) as Error;
  t.notMatch(refused.message, 'hunter2');
});
