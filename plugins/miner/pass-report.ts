import type { FastifyBaseLogger } from 'fastify';
import { named, sayChanges } from './say-changes.js';

/** Why the node refused a transaction: its ABCI code, codespace and log (the first supplier's, when several). */
export interface Refusal {
  code: number;
  codespace: string;
  log: string;
}

/**
 * What changed in one block's supplier passes: suppliers whose pass started failing (or failed again
 * after `alerts.repeat_minutes`), and those whose pass works again, said in one line per error and one
 * for the recoveries, not one per supplier: a Redis or node outage fails every owned supplier's pass at
 * once, and an operator with hundreds of suppliers should read one line about it. Also what the passes
 * did (`said`: claims and proofs broadcast, sessions settled), said together at the end of the block as
 * lease changes are: every owned supplier's sessions of a height are claimed in one block, proved in a few.
 * And sends the node refused (tried again next block), one error line per reason for all the suppliers it
 * refused alike.
 */
export class PassReport {
  readonly #failed = new Map<string, string[]>();
  readonly #recovered: string[] = [];
  readonly #said = new Map<string, { counted: 'suppliers' | 'sessions'; changes: ({ supplier: string } & Record<string, unknown>)[] }>();
  /** Sends the node refused, by message and reason: one error line for the suppliers refused alike. */
  readonly #refused = new Map<string, { msg: string; reason: Refusal; changes: ({ supplier: string } & Record<string, unknown>)[] }>();

  failed(supplier: string, err: string): void {
    const list = this.#failed.get(err);
    if (list) list.push(supplier);
    else this.#failed.set(err, [supplier]);
  }

  recovered(supplier: string): void {
    this.#recovered.push(supplier);
  }

  /**
   * An info line of one supplier's pass, kept for the end of the block; `counted` names what many of them add up
   * to (a supplier may have several sessions of a height, one per application and service).
   */
  said(msg: string, fields: { supplier: string } & Record<string, unknown>, counted: 'suppliers' | 'sessions' = 'suppliers'): void {
    const entry = this.#said.get(msg);
    if (entry) entry.changes.push(fields);
    else this.#said.set(msg, { counted, changes: [fields] });
  }

  /** A send the node refused, kept for the end of the block with the others refused for the same reason. */
  refused(msg: string, reason: Refusal, fields: { supplier: string } & Record<string, unknown>): void {
    const key = `${msg}|${reason.codespace}|${reason.code}`;
    const entry = this.#refused.get(key);
    if (entry) entry.changes.push({ ...fields, ...reason });
    else this.#refused.set(key, { msg, reason, changes: [{ ...fields, ...reason }] });
  }

  log(log: FastifyBaseLogger, height: number): void {
    for (const [msg, { counted, changes }] of this.#said) sayChanges(log, 'info', msg, changes, { fields: { height }, counted });
    for (const { msg, reason, changes } of this.#refused.values()) sayChanges(log, 'error', msg, changes, { fields: { height }, summary: { ...reason } });
    for (const [err, suppliers] of this.#failed) log.error({ ...named(suppliers), height, err }, 'session lifecycle pass failed');
    if (this.#recovered.length) log.info({ ...named(this.#recovered), height }, 'session lifecycle pass works again');
  }
}
