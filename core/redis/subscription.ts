import type { Logger } from 'pino';
import type { RedisClient } from './connection.js';

/** What a subscription says when its first attempt fails, and once it works after that. */
export interface SubscriptionMessages {
  failed: string;
  subscribed: string;
}

export interface KeptSubscription {
  /** Settles after the first attempt, whether it worked or not. */
  attempted: Promise<void>;
  /** Stops the retries. */
  cancel(): void;
}

/**
 * Subscribes to a pub/sub channel, and while Redis does not answer (a process may start before its Redis)
 * tries again with backoff up to 10 s: the failure is said once as a warning, the subscription once it
 * works. ioredis subscribes again by itself after later reconnects, so only the first subscription needs
 * this. The retries end with `cancel()` or once the connection is closed for good.
 */
export function keepSubscribed(subscriber: RedisClient, channel: string, log: Logger, messages: SubscriptionMessages, fields: Record<string, unknown> = {}): KeptSubscription {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  let failures = 0;
  const attempt = async (): Promise<void> => {
    try {
      await subscriber.subscribe(channel);
      if (failures > 0) log.info(fields, messages.subscribed);
    } catch (err) {
      if (cancelled || subscriber.status === 'end') return;
      if (failures === 0) log.warn({ ...fields, err: (err as Error).message }, messages.failed);
      timer = setTimeout(() => void attempt(), Math.min(500 * 2 ** failures++, 10_000));
      timer.unref();
    }
  };
  return {
    attempted: attempt(),
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
