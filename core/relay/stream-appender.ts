import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import type { RedisCircuits } from '../redis/redis-circuit.js';

interface Pending {
  key: string;
  entry: Buffer;
  resolve: (id: string) => void;
  reject: (err: Error) => void;
}

/**
 * Appends mined relays to their supplier's stream, the appends of relays answered together in one
 * round trip: each is queued, and once the event loop has handled the I/O that was ready (setImmediate)
 * the queue leaves as one explicit pipeline, so under load one write carries many relays where each
 * would otherwise cost a write and a read of its own. Every caller still gets its own entry id (or its
 * own error) before it answers its client: nothing is answered before it is published.
 *
 * A Cluster cannot pipeline keys of different slots (every supplier's stream is its own), so there
 * each key's appends form a pipeline of their own.
 *
 * While Redis does not answer for a stream (its circuit is open), an append to it fails at once instead
 * of waiting out the command timeout; a failure that is not Redis's own answer opens the circuit.
 */
export class StreamAppender {
  readonly #redis: () => RedisClient;
  readonly #circuits: RedisCircuits | undefined;
  #queue: Pending[] = [];
  #scheduled = false;

  constructor(redis: () => RedisClient, circuits?: RedisCircuits) {
    this.#redis = redis;
    this.#circuits = circuits;
  }

  append(key: string, entry: Buffer): Promise<string> {
    const skipped = this.#circuits?.skipped(key);
    if (skipped) return Promise.reject(skipped);
    return new Promise<string>((resolve, reject) => {
      this.#queue.push({ key, entry, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    const client = this.#redis();
    if (client instanceof Cluster) {
      const byKey = new Map<string, Pending[]>();
      for (const p of batch) {
        const group = byKey.get(p.key);
        if (group) group.push(p);
        else byKey.set(p.key, [p]);
      }
      for (const group of byKey.values()) this.#send(client, group);
    } else {
      this.#send(client, batch);
    }
  }

  #send(client: RedisClient, batch: Pending[]): void {
    if (batch.length === 1) {
      const [p] = batch;
      (client.xadd(p!.key, '*', 'data', p!.entry) as Promise<string>).then(p!.resolve, (err: Error) => {
        this.#circuits?.failed(p!.key, err);
        p!.reject(err);
      });
      return;
    }
    const pipeline = client.pipeline();
    for (const p of batch) pipeline.xadd(p.key, '*', 'data', p.entry);
    pipeline.exec().then(
      (results) => {
        batch.forEach((p, i) => {
          const [err, id] = results?.[i] ?? [new Error('no reply for the stream append'), undefined];
          if (err) {
            this.#circuits?.failed(p.key, err);
            p.reject(err);
          } else p.resolve(id as string);
        });
      },
      (err: Error) => {
        for (const p of batch) {
          this.#circuits?.failed(p.key, err);
          p.reject(err);
        }
      },
    );
  }
}
