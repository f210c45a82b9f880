import type { FastifyBaseLogger } from 'fastify';

/** Changes of one kind at one moment up to this many are said one line each; more, as one line. */
const LINES_PER_CHANGE = 5;

/**
 * Changes of one kind at one moment (a lease tick, a block's settlements): a line each when there are a few,
 * else one line with how many, the first few suppliers and `summary`'s fields, and every one at debug. An
 * operator with hundreds of suppliers sees them change together: a replica taking over, every session of a
 * height settling.
 */
export function sayChanges<T extends { supplier: string }>(
  log: FastifyBaseLogger,
  level: 'info' | 'warn' | 'error',
  msg: string,
  changes: readonly T[],
  o: { fields?: Record<string, unknown>; summary?: Record<string, unknown>; counted?: string } = {},
): void {
  const fields = o.fields ?? {};
  if (changes.length <= LINES_PER_CHANGE) {
    for (const c of changes) log[level]({ ...(c as object), ...fields }, msg);
    return;
  }
  log[level]({ ...named([...new Set(changes.map((c) => c.supplier))]), ...fields, ...o.summary }, `${msg}: ${changes.length} ${o.counted ?? 'suppliers'}`);
  for (const c of changes) log.debug({ ...(c as object), ...fields }, msg);
}

/** The one supplier, or how many and the first few. */
export function named(suppliers: readonly string[]): { supplier: string } | { suppliers: number; first: string[] } {
  return suppliers.length === 1 ? { supplier: suppliers[0]! } : { suppliers: suppliers.length, first: suppliers.slice(0, LINES_PER_CHANGE) };
}
