import { Counter, type Registry } from 'prom-client';
import type { SimulationConfig } from '../config/schema.js';
import { addressFromPublicKey } from '../crypto/address.js';
import { deserializeRingSignature, ringMembersAllowed } from '../crypto/ring/index.js';
import { sha256 } from '../crypto/sha256.js';
import type { RedisClient } from '../redis/connection.js';
import type { KeyBuilder } from '../redis/key-builder.js';
import type { RedisCircuits } from '../redis/redis-circuit.js';
import { RelayRejection } from './reasons.js';
import { relaySignatureValid, type DecodedRelay, type VerifyRing } from './validator.js';
import { TokenBucket } from './token-bucket.js';

/** The header (gRPC: metadata key) naming the pinned identity a simulated relay is signed by. */
export const SIMULATION_HEADER = 'pocket-simulation-key-id';

/**
 * A simulated relay's session id, as the Go HA relay miner's clients write it: `simv1:<unix seconds>:<hex nonce>`,
 * a signed timestamp the relayer checks against its clock (the nonce makes each signature new).
 */
export function simulatedSessionId(unixSeconds: number, nonceHex: string): string {
  return `simv1:${unixSeconds}:${nonceHex}`;
}
const SESSION_ID = /^simv1:(-?\d{1,19}):([^:]+)$/;

export interface SimulatedRelaysOptions {
  config: SimulationConfig;
  keys: KeyBuilder;
  redis: () => RedisClient;
  /** Whether Redis answers: while it does not, the replay check refuses at once. */
  redisCircuits?: RedisCircuits;
  registry: Registry;
  /** Where ring signatures are verified (the crypto threads); on this thread when absent. */
  verifyRing?: VerifyRing;
  /** Milliseconds since the epoch (tests move it). */
  now?: () => number;
}

interface Identity {
  enabled: boolean;
  notAfterMs: number | undefined;
  appAddress: string;
  ring: Uint8Array[];
  allowed: ReadonlySet<string>;
  bucket: TokenBucket;
}

/**
 * Admission of simulated relays (the Go HA relay miner's health-check relays, `relayer.simulation`): a
 * relay whose request names a pinned identity is checked against that identity alone — application and
 * service bound to it, a fresh signed timestamp, seen once across relayers (Redis), a ring signature by
 * the pinned keys — instead of the chain, and is then forwarded and signed as any relay, never metered,
 * mined or published. Every decision is the relayer's own; the caller is trusted for nothing.
 */
export class SimulatedRelays {
  readonly #o: SimulatedRelaysOptions;
  readonly #identities = new Map<string, Identity>();
  readonly #counter: Counter<'service' | 'rpc_type' | 'result'>;
  readonly #now: () => number;
  #inFlight = 0;

  constructor(o: SimulatedRelaysOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    for (const id of o.config.identities) {
      const ring = [id.app_pubkey_hex, ...id.gateway_pubkeys_hex].map((hex) => Uint8Array.from(Buffer.from(hex.replace(/^0x/, ''), 'hex')));
      this.#identities.set(id.key_id, {
        enabled: id.enabled,
        notAfterMs: id.not_after === undefined ? undefined : Date.parse(id.not_after),
        appAddress: addressFromPublicKey(ring[0]!),
        ring,
        allowed: new Set(id.allowed_services),
        bucket: new TokenBucket(id.max_rps, this.#now),
      });
    }
    this.#counter = new Counter({
      name: 'relayminer_simulated_relays_total',
      help: 'Simulated relays (relayer.simulation), by outcome: served, backend_5xx, or the reason refused. They are counted here only, never in the relay counters.',
      labelNames: ['service', 'rpc_type', 'result'],
      registers: [o.registry],
    });
  }

  /** A slot of `max_concurrent`, released by the function returned; undefined when none is free. */
  acquire(): (() => void) | undefined {
    if (this.#inFlight >= this.#o.config.max_concurrent) return undefined;
    this.#inFlight++;
    let released = false;
    return () => {
      if (!released) this.#inFlight--;
      released = true;
    };
  }

  count(labels: { service: string; rpc_type: string }, result: string): void {
    this.#counter.inc({ ...labels, result });
  }

  /** Resolves when `relay` (decoded: its service configured, its supplier's key loaded) is admitted; throws a RelayRejection. */
  async admit(relay: DecodedRelay, keyId: string): Promise<void> {
    const refuse = (detail: string) => new RelayRejection('simulation_rejected', detail);
    const id = this.#identities.get(keyId);
    if (!id) throw refuse(`unknown key_id ${JSON.stringify(keyId.slice(0, 64))}`);
    if (!id.enabled) throw refuse(`identity ${keyId} is disabled`);
    const now = this.#now();
    if (id.notAfterMs !== undefined && now > id.notAfterMs) throw refuse(`identity ${keyId} expired (not_after)`);
    const { header } = relay;
    if (header.application_address !== id.appAddress) throw refuse(`application ${header.application_address} is not identity ${keyId}'s`);
    if (id.allowed.size > 0 && !id.allowed.has(header.service_id)) throw refuse(`service ${header.service_id} is not allowed for identity ${keyId}`);
    const sessionId = SESSION_ID.exec(header.session_id);
    if (!sessionId) throw new RelayRejection('simulation_malformed', 'session id is not simv1:<unix seconds>:<nonce>');
    const window = this.#o.config.freshness_window_seconds;
    if (Math.abs(Math.floor(now / 1000) - Number(sessionId[1])) >= window) throw refuse(`signed time ${sessionId[1]} is not within ${window} s of the relayer's clock`);

    const serialized = relay.request.meta.signature;
    const signature = deserializeRingSignature(serialized);
    if (!signature) throw refuse('not a ring signature');
    if (!ringMembersAllowed(signature, id.ring)) throw refuse(`ring is not identity ${keyId}'s pinned keys`);
    if (!(await relaySignatureValid(relay.request, signature, this.#o.verifyRing))) throw refuse('invalid ring signature');

    // Once admitted, its signature is spent on every relayer sharing the Redis: a captured request cannot be
    // sent again while it is fresh (twice the window: a timestamp ahead of the clock stays fresh that long).
    // Written only after the signature verified (the Go relayer writes first): forgeries cost Redis nothing.
    const replayKey = this.#o.keys.simulationReplay(Buffer.from(sha256(serialized)).toString('hex'));
    const skipped = this.#o.redisCircuits?.skipped(replayKey);
    if (skipped) throw new RelayRejection('simulation_unavailable', `the replay check's Redis did not answer: ${skipped.message}`);
    let first: string | null;
    try {
      first = await this.#o.redis().set(replayKey, '1', 'EX', 2 * window, 'NX');
    } catch (err) {
      this.#o.redisCircuits?.failed(replayKey, err);
      throw new RelayRejection('simulation_unavailable', `the replay check's Redis did not answer: ${(err as Error).message}`);
    }
    if (first === null) throw new RelayRejection('simulation_replay', 'this signed request was already admitted');
    // Charged once verified: the key id is not a secret, and someone without the keys must not spend the budget.
    if (!id.bucket.take()) throw new RelayRejection('simulation_rate_limited', `identity ${keyId} is over max_rps`);
  }
}
