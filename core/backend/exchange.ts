import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { BackendError } from './backend-error.js';
import { isStreamContentType } from './stream-batches.js';

export interface ExchangeRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
  /** The whole exchange, queueing for a connection included; a stream's body too. */
  timeoutMs: number;
  /** The body, a stream's whole body included. */
  maxBodyBytes: number;
}

export interface ExchangeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The whole body, for anything but a stream. */
  body?: Buffer;
  /** SSE / NDJSON bodies as they arrive (backpressure pauses the socket). */
  stream?: Readable;
}

/** Named like AbortSignal.timeout's error, so callers tell a timeout from a failure the same way. */
class ExchangeTimeout extends Error {
  override name = 'TimeoutError';
}

/**
 * One HTTP exchange over an undici dispatcher's handler API. `request()` would wrap every answer in a
 * Readable, an async iterator and an AbortSignal; a relay's small JSON answer needs none of that, and
 * on the relay path that machinery costs more CPU than the rest of the backend call.
 */
export function exchange(dispatcher: Dispatcher, req: ExchangeRequest): Promise<ExchangeResponse> {
  return new Promise<ExchangeResponse>((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    /** The exchange is over: ended, failed or aborted. */
    let done = false;
    let stream: Readable | undefined;
    let status = 0;
    let headers: ExchangeResponse['headers'] = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: Error) => {
      done = true;
      clearTimeout(timer);
      if (stream) stream.destroy(err);
      if (!settled) {
        settled = true;
        reject(err);
      }
    };
    const abort = (err: Error) => {
      // A request still queued for a connection has no controller yet: it is aborted when it gets one.
      if (controller && !controller.aborted) controller.abort(err);
      fail(err);
    };
    const timer = setTimeout(() => abort(new ExchangeTimeout(`no answer within ${req.timeoutMs} ms`)), req.timeoutMs);
    try {
      dispatch();
    } catch (err) {
      // Refused while building the request (an invalid argument): no exchange, no timer left behind.
      fail(err as Error);
    }
    function dispatch() {
      dispatcher.dispatch(
        { method: req.method as Dispatcher.HttpMethod, path: req.path, headers: req.headers, body: req.body, headersTimeout: req.timeoutMs, bodyTimeout: req.timeoutMs },
        {
          onRequestStart(c) {
            controller = c;
            if (settled && !stream) c.abort(new ExchangeTimeout(`no answer within ${req.timeoutMs} ms`));
          },
          onResponseStart(c, statusCode, responseHeaders) {
            if (statusCode < 200) return; // 1xx: the real answer follows
            status = statusCode;
            headers = responseHeaders;
            const type = responseHeaders['content-type'];
            if (!isStreamContentType(Array.isArray(type) ? type[0] : type)) return;
            stream = new Readable({
              read: () => c.resume(),
              // A consumer that stops reading (or a failure) releases the connection: abort what is still coming.
              destroy: (err, callback) => {
                clearTimeout(timer);
                if (!done && !c.aborted) c.abort(err ?? new Error('stream closed before its end'));
                done = true;
                callback(err);
              },
            });
            settled = true;
            resolve({ status, headers, stream });
          },
          onResponseData(c, chunk) {
            size += chunk.length;
            // A stream is bounded too: its whole body is kept to mine it.
            if (size > req.maxBodyBytes) {
              abort(new BackendError('BACKEND_RESPONSE_TOO_LARGE', `backend ${stream ? 'stream' : 'response'} larger than max_body_bytes (${req.maxBodyBytes})`));
              return;
            }
            if (!stream) chunks.push(chunk);
            else if (!stream.push(chunk)) c.pause();
          },
          onResponseEnd() {
            done = true;
            clearTimeout(timer);
            if (stream) {
              stream.push(null);
              return;
            }
            if (settled) return;
            settled = true;
            resolve({ status, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
          },
          onResponseError(_c, err) {
            fail(err);
          },
        },
      );
    }
  });
}
