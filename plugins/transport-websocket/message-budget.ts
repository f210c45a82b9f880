import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { BodyBudget } from 'relayminer';

/** A masked control frame's bytes besides its payload (RFC 6455 5.2: no extended length, 125 bytes at most). */
const CONTROL_FRAME_HEADER = 6;

/**
 * Draws on the relayer's budget for large bodies while a message arrives: `ws` keeps a message's bytes
 * until it is whole (up to `max_frame_bytes`), so without it many connections each sending one large
 * message hold that much each. Counted as read since the last whole message, less the pings and pongs
 * among them (a read that ends one message and starts the next counts toward the next: at most one read
 * too many). A control frame does not start the count again: one may come between the fragments of a
 * message, whose earlier fragments `ws` still holds. `onRefused` runs once when a message does not fit;
 * it then holds nothing.
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
  // What a ping or pong took of the reads: a client's control frame is its payload (at most 125 bytes),
  // two header bytes and a four-byte mask.
  const control = (payload: Buffer) => void (receiving -= payload.length + CONTROL_FRAME_HEADER);
  ws.on('ping', control);
  ws.on('pong', control);
  ws.once('close', () => {
    done = true;
    settle();
  });
}
