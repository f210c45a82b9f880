import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** What every HTTP/2 connection with prior knowledge (RFC 9113 §3.3) sends first; no HTTP/1.1 request starts so. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * HTTP/2 over cleartext (h2c, prior knowledge) on the HTTP/1.1 relay listener, as the Go HA relay miner serves gRPC
 * on its one port: a transport that serves such connections takes them here, and each new connection on the
 * listener is told apart by its first bytes. Until one claims them nothing is looked at (connections go straight
 * to the HTTP/1.1 server, which refuses a preface as a bad request).
 */
export class H2cHandoff {
  #taker?: { owner: string; take: (socket: Socket) => void };

  /** Hands `take` every h2c connection of the relay listener, with its first bytes still unread. One transport only. */
  serve(owner: string, take: (socket: Socket) => void): void {
    if (this.#taker) throw new Error(`${owner}: h2c connections on the relay listener are already served by ${this.#taker.owner}`);
    this.#taker = { owner, take };
  }

  /** Whether a transport serves h2c on the relay listener. */
  get served(): boolean {
    return this.#taker !== undefined;
  }

  /**
   * Puts the first-bytes check in front of the listener's HTTP/1.1 handling (once, before it listens). A connection
   * that sends nothing within `timeoutMs` is closed and `onTimeout` called: the HTTP/1.1 server's own request
   * timeout starts only once it has the connection.
   */
  install(server: Server, timeoutMs: number, onTimeout: () => void): void {
    const taker = this.#taker;
    if (!taker) return;
    const http1 = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      let seen: Buffer = Buffer.alloc(0);
      const timer = setTimeout(() => {
        cleanup();
        onTimeout();
        socket.destroy();
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('close', cleanup);
        socket.off('end', gone);
        socket.off('error', gone);
      };
      // Until a server has it nothing else listens: a reset (an 'error' nobody handles) would end the process.
      const gone = () => {
        cleanup();
        socket.destroy();
      };
      const onData = (chunk: Buffer) => {
        seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
        const n = Math.min(seen.length, PREFACE.length);
        const prefix = seen.compare(PREFACE, 0, n, 0, n) === 0;
        // A proper prefix of the preface (a first segment of a few bytes) decides nothing yet.
        if (prefix && n < PREFACE.length) return;
        cleanup();
        socket.pause();
        socket.unshift(seen);
        if (prefix) {
          // Not resumed: the HTTP/2 session reads what is buffered itself, and a flowing socket would drop it.
          taker.take(socket);
        } else {
          for (const listener of http1) listener.call(server, socket);
          socket.resume();
        }
      };
      socket.on('data', onData);
      socket.on('close', cleanup);
      socket.on('end', gone);
      socket.on('error', gone);
    });
  }
}
