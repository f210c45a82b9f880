import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** What a transport does with an HTTP/1.1 Upgrade request for its protocol: Node's 'upgrade' event arguments. */
export type UpgradeTaker = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** The Upgrade header's first protocol, lower-cased ("websocket", "h2c"). */
function upgradeProtocol(req: IncomingMessage): string {
  const value = req.headers.upgrade;
  if (!value) return '';
  const comma = value.indexOf(',');
  const first = comma < 0 ? value : value.slice(0, comma);
  const slash = first.indexOf('/');
  return (slash < 0 ? first : first.slice(0, slash)).trim().toLowerCase();
}

/** Headers that only ask for the switch (RFC 9110 §7.8, RFC 7540 §3.2); the request without them is the same request. */
const UPGRADE_ONLY = new Set(['upgrade', 'http2-settings']);

/** The request head again as it came, without its ask to switch protocols, and the bytes read after it. */
function asPlainRequest(req: IncomingMessage, head: Buffer): Buffer {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (UPGRADE_ONLY.has(lower)) continue;
    let value = raw[i + 1]!;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && !UPGRADE_ONLY.has(t.toLowerCase()))
        .join(', ');
      if (value === '') continue;
    }
    text += `${name}: ${value}\r\n`;
  }
  // Node decodes header bytes as latin1, so latin1 gives the same bytes back.
  return Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]);
}

/**
 * HTTP/1.1 Upgrade requests on the relay listener. A transport takes the protocols it serves (WebSocket); a request
 * asking for any other (curl's `--http2` and Java's HttpClient ask for h2c on every `http://` URL) is served as the
 * HTTP/1.1 request it also is, as RFC 9110 §7.8 lets a server do, instead of being refused or dropped.
 *
 * Node hands every Upgrade request to the server's 'upgrade' listeners once there is one. From Node 24.9 the server's
 * `shouldUpgradeCallback` (see `takes`) keeps the others on the HTTP/1.1 path; before it, such a request reaches the
 * listener installed here, which gives its connection back to the HTTP/1.1 server with the head re-read.
 */
export class UpgradeHandoff {
  readonly #takers = new Map<string, { owner: string; take: UpgradeTaker }>();

  /**
   * Hands `take` every Upgrade request for `protocol` (case-insensitive, e.g. "websocket") on the relay listener, until
   * the function returned is called; from then on such requests are plain HTTP/1.1 requests. One transport per protocol.
   */
  serve(owner: string, protocol: string, take: UpgradeTaker): () => void {
    const key = protocol.toLowerCase();
    const held = this.#takers.get(key);
    if (held) throw new Error(`${owner}: ${key} upgrades on the relay listener are already served by ${held.owner}`);
    const entry = { owner, take };
    this.#takers.set(key, entry);
    return () => {
      if (this.#takers.get(key) === entry) this.#takers.delete(key);
    };
  }

  /** Whether a transport takes this request's upgrade (the relay server's `shouldUpgradeCallback`). */
  takes(req: IncomingMessage): boolean {
    return this.#takers.has(upgradeProtocol(req));
  }

  /**
   * Listens for the server's Upgrade requests (once, before other 'connection' listeners are put in front of the
   * HTTP/1.1 server's own: a connection given back goes straight to that).
   */
  install(server: Server): void {
    const http1 = server.listeners('connection') as ((socket: Socket) => void)[];
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const taker = this.#takers.get(upgradeProtocol(req));
      if (taker) return taker.take(req, socket, head);
      socket.unshift(asPlainRequest(req, head));
      for (const listener of http1) listener.call(server, socket as Socket);
    });
  }
}
