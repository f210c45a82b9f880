import type { Logger } from 'pino';
import { StateSignals } from '../observability/state-signals.js';
import { RelayRejection } from './reasons.js';
import {
  RELAY_HOOK_NAMES,
  type RelayHookEvents,
  type RelayHookHandler,
  type RelayHookName,
} from './events.js';

/**
 * The pipeline's extension points.
 *
 * - `onRelayValidated` handlers run in order and are awaited before the relay goes on; a handler
 *   may refuse the relay by throwing a `RelayRejection` (any other error is logged and ignored, so
 *   a broken plugin cannot take relays down).
 * - `onRelayServed`, `onRelayMined` and `onRelayRejected` are observers: they run after the fact,
 *   are not awaited by the pipeline, and their errors are logged and counted.
 *
 * A handler's failures are counted each, and logged at most once a minute per hook and plugin: a broken
 * plugin fails on every relay.
 */
export class RelayHooks {
  readonly #handlers: { [N in RelayHookName]: { plugin: string; fn: RelayHookHandler<N> }[] } = {
    onRelayValidated: [],
    onRelayServed: [],
    onRelayMined: [],
    onRelayRejected: [],
  };
  readonly #log: Logger;
  readonly #onHandlerError: (hook: RelayHookName, plugin: string) => void;
  readonly #failing = new StateSignals(60_000);

  constructor(log: Logger, onHandlerError: (hook: RelayHookName, plugin: string) => void = () => {}) {
    this.#log = log;
    this.#onHandlerError = onHandlerError;
  }

  /** Subscribes `fn`; `plugin` names the subscriber in logs and metrics. */
  add<N extends RelayHookName>(hook: N, fn: RelayHookHandler<N>, plugin = 'anonymous'): void {
    if (!RELAY_HOOK_NAMES.includes(hook)) {
      throw new TypeError(`unknown relay hook "${String(hook)}" (valid: ${RELAY_HOOK_NAMES.join(', ')})`);
    }
    if (typeof fn !== 'function') throw new TypeError(`relay hook ${hook} handler must be a function`);
    this.#handlers[hook].push({ plugin, fn });
  }

  count(hook: RelayHookName): number {
    return this.#handlers[hook].length;
  }

  /** Runs the `onRelayValidated` handlers in order; rethrows a RelayRejection from any of them. */
  async runValidated(event: RelayHookEvents['onRelayValidated']): Promise<void> {
    for (const { plugin, fn } of this.#handlers.onRelayValidated) {
      try {
        await fn(event);
      } catch (err) {
        if (RelayRejection.is(err)) throw err;
        this.#failed('onRelayValidated', plugin, err);
      }
    }
  }

  /** Notifies observers without delaying the caller. */
  emit<N extends Exclude<RelayHookName, 'onRelayValidated'>>(hook: N, event: RelayHookEvents[N]): void {
    const handlers = this.#handlers[hook] as { plugin: string; fn: RelayHookHandler<N> }[];
    for (const { plugin, fn } of handlers) {
      try {
        const result = fn(event);
        if (result && typeof (result as Promise<void>).catch === 'function') {
          (result as Promise<void>).catch((err: unknown) => this.#failed(hook, plugin, err));
        }
      } catch (err) {
        this.#failed(hook, plugin, err);
      }
    }
  }

  #failed(hook: RelayHookName, plugin: string, err: unknown): void {
    this.#onHandlerError(hook, plugin);
    this.#failing.update(`${hook}|${plugin}`, true, () =>
      this.#log.error({ hook, plugin, err }, 'relay hook handler failed (logged at most once a minute per hook and plugin; relayminer_relay_hook_errors_total counts every failure)'),
    );
  }
}
