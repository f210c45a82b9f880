import type { Test } from 'tap';
import { LocalRedisServer, startLocalRedisCluster, type LocalRedisCluster, type LocalRedisOptions } from '../../core/redis/local-server.js';

/** A real redis-server for one test (file), stopped when it ends. */
export async function startRedis(t: Test, opts: LocalRedisOptions = {}): Promise<LocalRedisServer> {
  const server = await LocalRedisServer.start(opts);
  t.teardown(() => server.stop());
  return server;
}

/** A real 3-master Redis Cluster for one test, stopped when it ends. */
export async function startRedisCluster(t: Test, masters = 3): Promise<LocalRedisCluster> {
  const cluster = await startLocalRedisCluster(masters);
  t.teardown(() => cluster.stop());
  return cluster;
}
