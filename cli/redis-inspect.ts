import { loadConfigFile } from '../core/config/load.js';
import { createRedisClient, type RedisClient } from '../core/redis/connection.js';
import { CACHE_ENTITIES, KeyBuilder } from '../core/redis/key-builder.js';
import { dataNodes } from '../core/redis/redis-settings.js';
import { redactRedisUrl } from '../core/config/redis-url.js';
import { OperatorError } from '../core/runtime/operator-error.js';
import { SessionStore } from '../plugins/index.js';

export type InspectWhat = 'sessions' | 'streams' | 'leases' | 'submissions' | 'meter' | 'cache';
export const INSPECT_WHAT: readonly InspectWhat[] = ['sessions', 'streams', 'leases', 'submissions', 'meter', 'cache'];

type Row = Record<string, string | number>;

/**
 * `relayminer redis <what> -c config`: what the relayers and miners keep in Redis, per supplier of the
 * config (its miner section, else its relayer section), read-only. Rows as a table, or JSON lines.
 */
export async function inspectRedis(o: { config: string; what: InspectWhat; supplier?: string; json: boolean; out: (line: string) => void }): Promise<void> {
  const config = loadConfigFile(o.config);
  const role = config.miner ?? config.relayer;
  if (!role) throw new Error(`${o.config} has no miner or relayer section`);
  const suppliers = role.suppliers.map((s) => s.address).filter((a) => !o.supplier || a === o.supplier);
  if (o.supplier && suppliers.length === 0) throw new Error(`supplier ${o.supplier} is not in ${o.config}`);
  const redis = createRedisClient(role.redis, { connectionName: 'relayminer-inspect' });
  const keys = new KeyBuilder(role.redis.namespace);
  try {
    await reachable(redis, role.redis.url, role.redis.pool.connect_timeout_ms);
    const rows = await ROWS[o.what](redis, keys, suppliers, o.supplier !== undefined);
    if (o.json) for (const r of rows) o.out(JSON.stringify(r));
    else o.out(render(rows, `no ${o.what}`));
  } finally {
    redis.disconnect();
  }
}

/**
 * Waits for the client to be ready; an operator's command against a Redis that does not answer ends with
 * one line naming the server (password hidden) and the cause, not a retry log and a stack.
 */
async function reachable(redis: RedisClient, url: string, timeoutMs: number): Promise<void> {
  let last: Error | undefined;
  redis.on('error', (err: Error) => (last = err));
  if (redis.status === 'ready') return;
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    redis.once('ready', () => (clearTimeout(timer), resolve(true)));
  });
  if (!ready) throw new OperatorError('REDIS_UNREACHABLE', `cannot reach Redis at ${redactRedisUrl(url)}: ${last?.message ?? `no answer within ${timeoutMs} ms`}`);
}

/** Every key matching `pattern` on every server that holds data (each master of a cluster). */
async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const out: string[] = [];
  for (const node of dataNodes(redis)) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      out.push(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
  return out.sort();
}

const ROWS: Record<InspectWhat, (redis: RedisClient, keys: KeyBuilder, suppliers: string[], oneSupplier: boolean) => Promise<Row[]>> = {
  /** The stake meter: budget units consumed per (supplier, session), and when each meter expires. */
  async meter(redis, keys, suppliers) {
    const order = new Map(suppliers.map((s, i) => [s, i]));
    const meters = (await scanKeys(redis, keys.meterPatternAll()))
      .map((key) => ({ key, parts: keys.meterParts(key) }))
      .filter((m): m is { key: string; parts: { supplier: string; sessionId: string } } => m.parts !== undefined && order.has(m.parts.supplier))
      .sort((a, b) => order.get(a.parts.supplier)! - order.get(b.parts.supplier)!);
    return Promise.all(
      meters.map(async ({ key, parts }) => {
        const [used, ttl] = await Promise.all([redis.get(key), redis.ttl(key)]);
        return { supplier: parts.supplier, session: parts.sessionId, used_units: used ?? '', expires_in_s: ttl };
      }),
    );
  },

  /** The shared chain cache: which entities are held, how large, and when each expires. */
  async cache(redis, keys) {
    const rows: Row[] = [];
    for (const entity of CACHE_ENTITIES) {
      for (const key of await scanKeys(redis, keys.cachePattern(entity))) {
        const [bytes, ttl] = await Promise.all([redis.strlen(key).catch(() => -1), redis.ttl(key)]);
        rows.push({ entity, id: key.slice(keys.cachePattern(entity).length - 1), bytes, expires_in_s: ttl });
      }
    }
    return rows;
  },


  async sessions(redis, keys, suppliers) {
    const store = new SessionStore(keys, () => redis);
    return perSupplier(suppliers, async (supplier) =>
      (await store.sessions(supplier, await store.sessionIds(supplier)))
        .filter((s) => s !== undefined)
        .map((s) => ({
          supplier,
          session: s.sessionId,
          state: s.state,
          service: s.serviceId,
          application: s.applicationAddress,
          start: String(s.startHeight),
          end: String(s.endHeight),
          relays: s.count,
          compute_units: String(s.computeUnits),
          claimed_upokt: s.claimedUpokt ?? '',
          proof: s.proof ?? '',
          reason: s.reason ?? '',
        })),
    );
  },

  /**
   * Each configured supplier's relay stream, then (unless one supplier was asked for) the streams of suppliers
   * the config no longer has (`configured: no`): a key let go leaves its stream, and an operator decides
   * whether relays still in it matter before deleting it.
   */
  async streams(redis, keys, suppliers, oneSupplier) {
    const known = new Set(suppliers);
    const others = oneSupplier ? [] : (await scanKeys(redis, keys.relayStreamPattern())).map((k) => keys.relayStreamSupplier(k)).filter((s): s is string => s !== undefined && !known.has(s));
    return perSupplier([...suppliers, ...others], async (supplier) => {
      const stream = keys.relayStream(supplier);
      const length = await redis.xlen(stream);
      let pending = 0;
      let lag: string | number = '';
      let consumers = '';
      try {
        const groups = (await redis.xinfo('GROUPS', stream)) as (string | number)[][];
        for (const g of groups) {
          const info = Object.fromEntries(chunks(g)) as Record<string, string | number>;
          if (info.name !== keys.minerConsumerGroup()) continue;
          pending = Number(info.pending);
          lag = info.lag ?? '';
          const list = (await redis.xinfo('CONSUMERS', stream, keys.minerConsumerGroup())) as (string | number)[][];
          consumers = list.map((c) => Object.fromEntries(chunks(c)) as Record<string, string | number>).map((c) => `${c.name}(pending ${c.pending}, idle ${c.idle} ms)`).join(' ');
        }
      } catch (err) {
        if (!String((err as Error).message).includes('no such key')) throw err;
      }
      return [{ supplier, configured: known.has(supplier) ? 'yes' : 'no', stream, length, pending, lag, consumers }];
    });
  },

  async leases(redis, keys, suppliers) {
    const rows = await perSupplier(suppliers, async (supplier) => {
      const [value, ttl, fence] = await Promise.all([redis.get(keys.supplierLease(supplier)), redis.pttl(keys.supplierLease(supplier)), redis.get(keys.supplierLeaseFence(supplier))]);
      const [owner, token] = (value ?? '').split(' ');
      return [{ supplier, owner: owner || '(none)', token: token ?? '', ttl_ms: ttl > 0 ? ttl : '', fence: fence ?? '0' }];
    });
    const leader = await redis.get(keys.globalLeader());
    const now = Date.now();
    const active = await redis.zrange(keys.activeMiners(), '0', '-1', 'WITHSCORES');
    const miners = chunks(active).map(([id, at]) => `${id} (${now - Number(at)} ms ago)`).join(', ');
    rows.push({ supplier: '(global)', owner: leader?.split(' ')[0] ?? '(none)', token: 'leader', ttl_ms: Math.max(0, await redis.pttl(keys.globalLeader())), fence: `miners: ${miners || '(none)'}` });
    return rows;
  },

  async submissions(redis, keys, suppliers) {
    const store = new SessionStore(keys, () => redis);
    return perSupplier(suppliers, async (supplier) => {
      const records = await store.sessions(supplier, await store.sessionIds(supplier));
      const ends = [...new Set(records.flatMap((s) => (s ? [s.endHeight] : [])))].sort((a, b) => (a < b ? -1 : 1));
      const reads = ends.flatMap((end) => (['claim', 'proof'] as const).map((phase) => ({ end, phase })));
      const sent = await Promise.all(reads.map(({ end, phase }) => store.submissions(supplier, phase, end)));
      // Sessions that did not fit one transaction went in later ones: the earlier sends first.
      return reads.flatMap(({ end, phase }, i) =>
        sent[i]!.map((s) => ({
          supplier,
          phase,
          session_end: String(end),
          txhash: s.txhash,
          sent_at: String(s.height),
          attempts: s.attempts,
          sessions: s.sessions.length,
          // What the chain said of the latest send of these messages that a block included and refused.
          refused: s.failure?.text ?? '',
        })),
      );
    });
  },
};

/**
 * Rows for each supplier, in the suppliers' order, the suppliers read at once: an operator with hundreds of
 * suppliers would otherwise wait a round trip per read, one after another.
 */
async function perSupplier(suppliers: readonly string[], rows: (supplier: string) => Promise<Row[]>): Promise<Row[]> {
  return (await Promise.all(suppliers.map(rows))).flat();
}

function chunks<T>(flat: T[]): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

function render(rows: Row[], empty: string): string {
  if (rows.length === 0) return empty;
  const cols = Object.keys(rows[0]!);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => String(r[c] ?? ''))))].join('\n');
}
