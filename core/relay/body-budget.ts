import type { IncomingHttpHeaders } from 'node:http';

/**
 * Bytes of large request bodies the relay listener holds at once, all connections together. A body is
 * read whole before its relay starts, and anyone can send one: without a shared bound, a few hundred
 * connections each sending (or announcing and dripping) a body near `max_body_bytes` hold gigabytes
 * until `request_timeout_ms`. Bodies up to `largeBody` bytes draw nothing: the relays gateways send
 * are that small, and their total is bounded by the connection cap.
 */
export class BodyBudget {
  readonly #largeBody: number;
  readonly #limit: number;
  readonly #bodyLimit: number;
  #held = 0;

  /** `bodyLimit`: the listener's largest accepted body (a chunked body, whose size is unknown, draws that much). */
  constructor(largeBody: number, limit: number, bodyLimit: number) {
    this.#largeBody = largeBody;
    this.#limit = limit;
    this.#bodyLimit = bodyLimit;
  }

  /** Bodies (or messages) up to this many bytes draw nothing. */
  get largeBody(): number {
    return this.#largeBody;
  }

  /**
   * What an HTTP request's body draws: 0 for a small body (or one the body limit refuses anyway),
   * undefined when it does not fit.
   */
  take(headers: IncomingHttpHeaders): number | undefined {
    const length = headers['content-length'];
    let bytes: number;
    if (length !== undefined) {
      bytes = Number(length);
      if (!(bytes > this.#largeBody) || bytes > this.#bodyLimit) return 0;
    } else if (headers['transfer-encoding'] !== undefined) {
      bytes = this.#bodyLimit;
    } else {
      return 0;
    }
    return this.reserve(bytes) ? bytes : undefined;
  }

  /**
   * Draws `bytes` for a message being received (false: it does not fit, nothing drawn). Whatever is
   * held alone always fits, so a budget smaller than the largest message still serves one at a time.
   */
  reserve(bytes: number): boolean {
    if (this.#held > 0 && this.#held + bytes > this.#limit) return false;
    this.#held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#held -= bytes;
  }

  /** Bytes drawn now. */
  get held(): number {
    return this.#held;
  }
}
