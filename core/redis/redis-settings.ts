import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './connection.js';

/** What matters to relayminer of one Redis server's settings, from `INFO memory` and `INFO persistence`. */
export interface RedisServerSettings {
  usedMemoryBytes: number;
  /** 0: no limit. */
  maxmemoryBytes: number;
  maxmemoryPolicy: string;
  aofEnabled: boolean;
}

function field(info: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return m?.[1]?.trim();
}

/** `INFO` rather than `CONFIG GET`: managed Redis services often disable CONFIG. */
export async function readServerSettings(node: Redis): Promise<RedisServerSettings> {
  const [memory, persistence] = await Promise.all([node.info('memory'), node.info('persistence')]);
  return {
    usedMemoryBytes: Number(field(memory, 'used_memory') ?? 0),
    maxmemoryBytes: Number(field(memory, 'maxmemory') ?? 0),
    maxmemoryPolicy: field(memory, 'maxmemory_policy') ?? 'unknown',
    aofEnabled: field(persistence, 'aof_enabled') === '1',
  };
}

/** Every server that holds data: the client itself, or each master of a cluster. */
export function dataNodes(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

export interface SettingsVerdict {
  /** Refuse to run (the miner): keys may be evicted. */
  fatal?: string;
  warnings: string[];
}

/**
 * The miner keeps sessions, leaves and submissions in Redis: an evicted key is a lost claim or a lost
 * proof, so only `noeviction` is acceptable. Without AOF a restart loses what the last snapshot did not
 * hold. Relayers only warn: what they keep there (meters, caches, streams) is rebuilt or re-served.
 */
export function judgeSettings(s: RedisServerSettings, role: 'miner' | 'relayer', where: string): SettingsVerdict {
  const warnings: string[] = [];
  let fatal: string | undefined;
  if (s.maxmemoryPolicy !== 'noeviction') {
    const why = `Redis ${where} has maxmemory-policy ${s.maxmemoryPolicy}: it may evict keys when memory is full`;
    const fix = 'run `redis-cli -h <host> CONFIG SET maxmemory-policy noeviction` and put `maxmemory-policy noeviction` in redis.conf (or the equivalent parameter of a managed Redis)';
    if (role === 'miner') fatal = `${why}, and an evicted session, leaf set or submission is a claim or proof lost. The miner needs noeviction: ${fix}.`;
    else warnings.push(`${why} (stream entries not yet mined, meters). Fix: ${fix}.`);
  }
  if (role === 'miner' && !s.aofEnabled) {
    warnings.push(`Redis ${where} has no append-only file: a restart loses the writes since the last snapshot (relays, claims in flight). Fix: \`appendonly yes\` and \`appendfsync everysec\`.`);
  }
  return fatal ? { fatal, warnings } : { warnings };
}
