import { climbsWhenDecoded, relayPath } from './relay-url.js';
import { BAD_FIELD_VALUE, HTTP_TOKEN } from '../protocol/http-fields.js';

/**
 * Who is at fault when a backend call throws: the backend (its connection, its HTTP), the clock
 * (our deadline), or the request itself (something no HTTP client would send). Only the first two
 * may count against a backend URL's health; the last is the relay's own fault.
 */
export type BackendFault = 'backend' | 'timeout' | 'request' | 'unknown';

// Node and undici refuse these while building the request: nothing was sent.
const REQUEST_CODES = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'ERR_INVALID_URL',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_CHAR',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_HTTP2_INVALID_HEADER_VALUE',
  'ERR_HTTP2_INVALID_CONNECTION_HEADERS',
  'ERR_HTTP2_HEADER_SINGLE_VALUE',
  'ERR_HTTP2_INVALID_PSEUDOHEADER',
]);

// The connection or the peer's HTTP failed.
const BACKEND_CODES = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_ERROR']);

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_ABORTED', 'ETIMEDOUT']);

export function backendFault(err: unknown): BackendFault {
  const e = err as { name?: string; code?: string } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || TIMEOUT_CODES.has(code)) return 'timeout';
  if (REQUEST_CODES.has(code)) return 'request';
  // System errors (ECONNREFUSED, ECONNRESET, EHOSTUNREACH, …) and the HTTP parser's (HPE_*).
  if (BACKEND_CODES.has(code) || /^E[A-Z_]+$/.test(code) || code.startsWith('HPE_')) return 'backend';
  return 'unknown';
}

const PHRASES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  ENOTFOUND: 'host name not resolved',
  EAI_AGAIN: 'host name not resolved',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the backend',
  UND_ERR_CLOSED: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_OVERFLOW: 'response headers too large',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'response shorter than its Content-Length',
  HEALTH_CHECK_UNANSWERED: 'health check not answered',
  HEALTH_CHECK_ERROR: 'health check answered with an error',
  HEALTH_CHECK_NOT_SERVING: 'health check answered not serving',
  HEALTH_CHECK_SYNCING: 'health check answered still syncing',
};

/**
 * What a client may be told of a backend failure: a phrase and the error code, never the message
 * (node's messages carry the backend's address, e.g. `connect ECONNREFUSED 10.0.0.7:8545`).
 */
export function describeBackendError(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || code === '') return 'backend request failed';
  if (code.startsWith('HPE_')) return `invalid HTTP response (${code})`;
  return `${PHRASES[code] ?? 'backend request failed'} (${code})`;
}


/**
 * Why no HTTP client could send this request (undefined when it can be sent). Checked before a
 * backend is touched: undici refuses such a request only once it is queued on a connection.
 */
export function unsendableRequest(method: string, url: string, headers: Readonly<Record<string, string | readonly string[]>>): string | undefined {
  if (method && !HTTP_TOKEN.test(method)) return `method ${quote(method)} is not an HTTP token`;
  // A tunnel, not a request: a Node backend drops the connection unanswered, which would count against it.
  if (method.toUpperCase() === 'CONNECT') return 'method CONNECT asks for a tunnel, not an answer';
  if (url) {
    const path = relayPath(url);
    if (path === undefined) return `url ${quote(url)} does not parse`;
    if ((path.pathname.includes('%') || path.pathname.includes(';')) && climbsWhenDecoded(path.pathname)) return `url ${quote(url)} climbs above the backend's path once percent-decoded`;
  }
  for (const name in headers) {
    if (!HTTP_TOKEN.test(name)) return `header name ${quote(name)} is not an HTTP token`;
    const v = headers[name]!;
    if (typeof v === 'string' ? BAD_FIELD_VALUE.test(v) : v.some((x) => BAD_FIELD_VALUE.test(x))) return `header ${name} has a value with CR, LF or NUL`;
  }
  return undefined;
}

/** A client's string in an error message: JSON-quoted (control characters escaped) and cut short. */
const quote = (s: string) => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
