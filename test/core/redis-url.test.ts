import t from 'tap';
import { parseRedisUrl, redactRedisUrl } from '../../core/redis/url.js';

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

t.test('refusals say why, and never print a password', async (t) => {
  t.throws(() => parseRedisUrl('http://x:6379'), /unsupported Redis URL scheme http:/);
  t.throws(() => parseRedisUrl('redis://a:1,b:2'), /takes one host/);
  t.throws(() => parseRedisUrl('redis://h:99999'), /bad Redis port/);
  t.throws(() => parseRedisUrl('redis://h/abc'), /bad Redis database "abc"/);
  const err = t.throws(() => parseRedisUrl('redis:/user:hunter2@h')) as Error;
  t.notMatch(err.message, 'hunter2');
  t.equal(redactRedisUrl('redis://user:hunter2@h:6379/1'), 'redis://user:***@h:6379/1');
  t.equal(redactRedisUrl('redis-cluster://:hunter2@a,b'), 'redis-cluster://:***@a,b');
  t.equal(redactRedisUrl('redis://h:6379'), 'redis://h:6379');
});
