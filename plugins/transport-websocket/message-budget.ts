import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { BodyBudget } from 'relayminer';

/**
 * Draws on the relayer's budget for large bodies while a message arrives: `ws` keeps a message's bytes
 * until it is whole (up to `max_frame_bytes`), so without it many connections each sending one large
 * message hold that much each. Counted as read since the last whole message, ping or pong (a read that
 * ends one message and starts the next counts toward the next: at most one read too many). `onRefused`
 * runs once when a message does not fit; it then holds nothing.
 */
export function drawForMessages(socket: Duplex, ws: WebSocket, budget: BodyBudget, onRefused: () => void): void {
  let receiving = 0;
  let drawn = 0;
  let done = false;
  const settle = () => {
    budget.give(drawn);
    drawn = 0;
    receiving = 0;
  };
  socket.on('data', (chunk: Buffer) => {
    if (done) return;
    receiving += chunk.length;
    if (receiving <= budget.largeBody) return;
    if (budget.reserve(receiving - drawn)) {
      drawn = receiving;
      return;
    }
    done = true;
    settle();
    onRefused();
  });
  ws.on('message', settle);
  ws.on('ping', settle);
  ws.on('pong', settle);
  ws.once('close', () => {
    done = true;
    settle();
  });
}
