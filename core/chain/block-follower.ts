import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { rootCertificates as tlsRoots0 } from 'node:tls';
import WebSocket from 'ws';

const tlsRoots = () => [...tlsRoots0];
import type { RedisClient } from '../redis/connection.js';
import { keepSubscribed, type KeptSubscription } from '../redis/subscription.js';
import type { BlockInfo, CometClient } from './comet-client.js';

/**
 * Knows the chain height even when one source fails. Sources, all optional but the poll:
 *   - the node's WebSocket (NewBlockHeader), reconnecting with exponential backoff;
 *   - heights another replica publishes on Redis pub/sub;
 *   - a `status` poll that starts whenever no block arrived for `staleAfterMs`.
 * Emits 'block' with strictly increasing heights (duplicates from several sources are dropped) and
 * 'subscribed' each time the node confirms the WebSocket subscription; republishes blocks it learned
 * first-hand on Redis, so other replicas can follow it.
 */

export interface BlockFollowerOptions {
  comet: CometClient;
  log: Logger;
  /** Follow the node's WebSocket (default true). */
  websocket?: boolean;
  redis?: { subscriber: RedisClient; publisher?: RedisClient; channel: string };
  staleAfterMs?: number;
  pollIntervalMs?: number;
}

const SUBSCRIPTION_ID = 'relayminer-blocks';

interface WireBlock {
  height: number;
  hash: string;
  time: string;
}

export class BlockFollower extends EventEmitter {
  #latest: BlockInfo | undefined;
  #ws: WebSocket | undefined;
  #wsAttempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #subscription: KeptSubscription | undefined;
  #onMessage: ((channel: string, message: string) => void) | undefined;
  /** When a subscription (WebSocket or Redis) last delivered a block, new or not. */
  #lastSubscriptionAt = Date.now();
  #stopped = false;
  readonly #o: Required<Omit<BlockFollowerOptions, 'redis'>> & Pick<BlockFollowerOptions, 'redis'>;

  constructor(opts: BlockFollowerOptions) {
    super();
    this.#o = { websocket: true, staleAfterMs: 10_000, pollIntervalMs: 1000, ...opts };
  }

  get latest(): BlockInfo | undefined {
    return this.#latest;
  }

  async start(): Promise<void> {
    try {
      this.#accept(await this.#o.comet.block(), 'poll');
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'block follower: first block query failed; will retry');
    }
    if (this.#o.websocket) this.#connect();
    // The poll is the source that needs nothing but the node: it must run even when Redis is down.
    this.#watchdog = setInterval(() => this.#checkStale(), Math.min(this.#o.staleAfterMs, 1000));
    this.#watchdog.unref();
    if (this.#o.redis) {
      const { subscriber, channel } = this.#o.redis;
      this.#onMessage = (ch: string, message: string) => {
        if (ch !== channel) return;
        try {
          const b = JSON.parse(message) as WireBlock;
          this.#accept({ height: b.height, hash: Uint8Array.from(Buffer.from(b.hash, 'hex')), timeMs: Date.parse(b.time) }, 'redis');
        } catch {
          // a malformed message from another process is ignored
        }
      };
      subscriber.on('message', this.#onMessage);
      // Redis may be down when the process starts: the WebSocket and the poll follow the node meanwhile.
      this.#subscription = keepSubscribed(subscriber, channel, this.#o.log, {
        failed: 'block follower: could not subscribe to the block channel in Redis; following the node meanwhile, retrying',
        subscribed: 'block follower: subscribed to the block channel in Redis',
      });
      await this.#subscription.attempted;
    }
  }

  #accept(b: BlockInfo, source: 'websocket' | 'redis' | 'poll'): void {
    if (source !== 'poll') this.#lastSubscriptionAt = Date.now();
    if (this.#latest && b.height <= this.#latest.height) return;
    this.#latest = b;
    this.emit('block', b, source);
    const pub = this.#o.redis?.publisher;
    if (pub && source !== 'redis') {
      const wire: WireBlock = { height: b.height, hash: Buffer.from(b.hash).toString('hex'), time: new Date(b.timeMs).toISOString() };
      pub.publish(this.#o.redis!.channel, JSON.stringify(wire)).catch(() => {});
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    const ca = this.#o.comet.ca;
    const ws = new WebSocket(this.#o.comet.websocketUrl, { handshakeTimeout: 5000, ...(ca && { ca: [...tlsRoots(), ca.toString()] }) });
    this.#ws = ws;
    ws.on('open', () => {
      this.#wsAttempt = 0;
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: SUBSCRIPTION_ID, method: 'subscribe', params: { query: "tm.event='NewBlockHeader'" } }));
    });
    ws.on('message', (data) => {
      let msg: { id?: unknown; error?: { message?: string; data?: string }; result?: { data?: { value?: { header?: { height: string } } } } };
      try {
        msg = JSON.parse(String(data)) as typeof msg;
      } catch {
        return;
      }
      if (msg.id === SUBSCRIPTION_ID && !msg.result?.data) {
        // The node's answer to the subscribe request itself: only now are headers on their way (or never).
        if (msg.error) this.#o.log.warn({ err: msg.error.data || msg.error.message }, 'block follower: the node refused the block subscription; following by polling once blocks stop arriving');
        else {
          this.#o.log.info('block follower: subscribed to new block headers');
          this.emit('subscribed');
        }
        return;
      }
      const height = Number(msg.result?.data?.value?.header?.height);
      if (!Number.isSafeInteger(height) || height <= (this.#latest?.height ?? 0)) return;
      // The header event carries no block hash: ask for block_id.hash, as the chain stores it.
      this.#o.comet.block(height).then(
        (b) => this.#accept(b, 'websocket'),
        (err: Error) => this.#o.log.warn({ height, err: err.message }, 'block follower: block query failed'),
      );
    });
    ws.on('error', () => {}); // 'close' follows and schedules the reconnect
    ws.on('close', () => {
      if (this.#stopped) return;
      const delay = Math.min(500 * 2 ** this.#wsAttempt++, 10_000);
      this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
      this.#reconnectTimer.unref();
    });
  }

  /** Poll while the subscriptions are silent; stop polling as soon as one delivers again. */
  #checkStale(): void {
    const stale = Date.now() - this.#lastSubscriptionAt > this.#o.staleAfterMs;
    if (stale && !this.#pollTimer) {
      this.#o.log.warn({ staleAfterMs: this.#o.staleAfterMs }, 'block follower: no new block from the subscriptions; polling status');
      this.#pollTimer = setInterval(() => {
        this.#o.comet.status().then(
          (s) => this.#accept(s.latest, 'poll'),
          () => {},
        );
      }, this.#o.pollIntervalMs);
      this.#pollTimer.unref();
    } else if (!stale && this.#pollTimer) {
      clearInterval(this.#pollTimer);
      this.#pollTimer = undefined;
      this.#o.log.info('block follower: subscriptions deliver again; polling stopped');
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.#subscription?.cancel();
    clearInterval(this.#watchdog);
    clearInterval(this.#pollTimer);
    this.#ws?.terminate();
    if (this.#o.redis && this.#onMessage) {
      const { subscriber, channel } = this.#o.redis;
      subscriber.off('message', this.#onMessage);
      // Not waited for: a Redis that does not answer would hold the shutdown, and the connection closes with its pool.
      subscriber.unsubscribe(channel).catch(() => {});
    }
  }
}
