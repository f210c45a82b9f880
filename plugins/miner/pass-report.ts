import type { FastifyBaseLogger } from 'fastify';

/** How many suppliers a line names before it only counts them. */
const NAMED = 5;

/**
 * What changed in one block's supplier passes: suppliers whose pass started failing (or failed again
 * after `alerts.repeat_minutes`), and those whose pass works again. Said in one line per error and one
 * for the recoveries, not one per supplier: a Redis or node outage fails every owned supplier's pass at
 * once, and an operator with hundreds of suppliers should read one line about it.
 */
export class PassReport {
  readonly #failed = new Map<string, string[]>();
  readonly #recovered: string[] = [];

  failed(supplier: string, err: string): void {
    const list = this.#failed.get(err);
    if (list) list.push(supplier);
    else this.#failed.set(err, [supplier]);
  }

  recovered(supplier: string): void {
    this.#recovered.push(supplier);
  }

  log(log: FastifyBaseLogger, height: number): void {
    for (const [err, suppliers] of this.#failed) log.error({ ...named(suppliers), height, err }, 'session lifecycle pass failed');
    if (this.#recovered.length) log.info({ ...named(this.#recovered), height }, 'session lifecycle pass works again');
  }
}

/** The one supplier, or how many and the first few. */
function named(suppliers: string[]): { supplier: string } | { suppliers: number; first: string[] } {
  return suppliers.length === 1 ? { supplier: suppliers[0]! } : { suppliers: suppliers.length, first: suppliers.slice(0, NAMED) };
}
