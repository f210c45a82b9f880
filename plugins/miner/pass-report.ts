import type { FastifyBaseLogger } from 'fastify';
import { named, sayChanges } from './say-changes.js';

/**
 * What changed in one block's supplier passes: suppliers whose pass started failing (or failed again
 * after `alerts.repeat_minutes`), and those whose pass works again, said in one line per error and one
 * for the recoveries, not one per supplier: a Redis or node outage fails every owned supplier's pass at
 * once, and an operator with hundreds of suppliers should read one line about it. Also what the passes
 * did (`said`: claims and proofs broadcast, sessions settled), said together at the end of the block as
 * lease changes are: every owned supplier's sessions of a height are claimed in one block, proved in a few.
 */
export class PassReport {
  readonly #failed = new Map<string, string[]>();
  readonly #recovered: string[] = [];
  readonly #said = new Map<string, ({ supplier: string } & Record<string, unknown>)[]>();

  failed(supplier: string, err: string): void {
    const list = this.#failed.get(err);
    if (list) list.push(supplier);
    else this.#failed.set(err, [supplier]);
  }

  recovered(supplier: string): void {
    this.#recovered.push(supplier);
  }

  /** An info line of one supplier's pass, kept for the end of the block. */
  said(msg: string, fields: { supplier: string } & Record<string, unknown>): void {
    const list = this.#said.get(msg);
    if (list) list.push(fields);
    else this.#said.set(msg, [fields]);
  }

  log(log: FastifyBaseLogger, height: number): void {
    for (const [msg, changes] of this.#said) sayChanges(log, 'info', msg, changes, { fields: { height } });
    for (const [err, suppliers] of this.#failed) log.error({ ...named(suppliers), height, err }, 'session lifecycle pass failed');
    if (this.#recovered.length) log.info({ ...named(this.#recovered), height }, 'session lifecycle pass works again');
  }
}
