import type { BackendRequest } from '../backend/http-backend.js';
import { relayPath } from '../backend/relay-url.js';
import type { DecodedRelay } from './validator.js';

/**
 * What an HTTP transport plugin knows of its protocol. The kit (HttpRelayRouter) decodes the relay's
 * POKTHTTPRequest into the request its backend would get, and the plugin of the relay's RPC type sees it
 * before any backend does: it returns the request to forward (completed where its protocol needs it), or
 * answers itself, as a backend that does not serve the call would, and no backend is called. Whatever it
 * returns is signed and mined like a backend's answer. It may throw a RelayRejection.
 */
export interface HttpRelayProtocol {
  /**
   * The protocol reads the body (a name check, a call count): the kit undoes a request's Content-Encoding before
   * `prepare` sees it and forwards the decoded body, so no compression hides a call from the check.
   */
  readsBody?: boolean;
  prepare(request: BackendRequest, relay: DecodedRelay): BackendRequest | HttpAnswer;
}

/** An answer a transport plugin gives in place of the backend. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

export function isHttpAnswer(value: BackendRequest | HttpAnswer): value is HttpAnswer {
  return typeof (value as HttpAnswer).status === 'number';
}

/** An answer with a JSON body. */
export function jsonAnswer(value: unknown, status = 200): HttpAnswer {
  return { status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(value)) };
}

/** The request with header `name` set to `value` unless it carries one already (in any case). */
export function withHeaderDefault(request: BackendRequest, name: string, value: string): BackendRequest {
  const lower = name.toLowerCase();
  for (const key of Object.keys(request.headers)) if (key.toLowerCase() === lower) return request;
  // Not `{ ...request.headers, [lower]: value }`: V8 gives each such object a hidden class of its own.
  return { ...request, headers: Object.assign({}, request.headers, { [lower]: value }) };
}

/** The options-schema entry for a list of names an operator writes (read with namePatterns). */
export function namePatternsOption(defaults: readonly string[], description: string, item: Record<string, unknown> = {}) {
  return { type: 'array', items: { type: 'string', minLength: 1, maxLength: 1024, ...item }, maxItems: 256, default: defaults, description } as const;
}

/**
 * One call of a JSON-RPC 2.0 request: its id as sent (undefined for a notification; read, as the method is, under
 * any spelling of the key) and its method.
 * `aliases`: the call's other method names, when it spells the key more than one way (`"Method"`, `"METHOD"`).
 * Go's encoding/json, which geth, erigon and CometBFT read requests with, matches keys regardless of case and
 * keeps the last one sent, so `{"Method":"admin_addPeer"}` is a call of admin_addPeer to them: a name check
 * must look at every spelling (`deniedCalls`).
 */
export interface JsonRpcCall {
  id: unknown;
  method: string | undefined;
  aliases?: readonly string[];
}

/** The calls `denied` refuses, each with the name it refused: its method, else the first of its aliases it matches. */
export function deniedCalls(calls: readonly JsonRpcCall[], denied: (name: string) => boolean): Map<JsonRpcCall, string> {
  const out = new Map<JsonRpcCall, string>();
  for (const c of calls) {
    const name = c.method !== undefined && denied(c.method) ? c.method : c.aliases?.find(denied);
    if (name !== undefined) out.set(c, name);
  }
  return out;
}

/** The call's method as the backend may read it: the `method` key, else another spelling of it (see JsonRpcCall). */
function readCall(c: unknown): JsonRpcCall {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return { id: null, method: undefined };
  const o = c as Record<string, unknown>;
  let method = typeof o.method === 'string' ? o.method : undefined;
  let id: unknown;
  let aliases: string[] | undefined;
  for (const k in o) {
    // `{"ID":1}` has an id to Go's encoding/json; of several spellings the last one sent counts there.
    if (k.length === 2 && k.toLowerCase() === 'id') id = o[k];
    if (k.length !== 6 || k === 'method' || k.toLowerCase() !== 'method') continue;
    const v = o[k];
    if (typeof v !== 'string') continue;
    if (method === undefined) method = v;
    else if (v !== method && !aliases?.includes(v)) (aliases ??= []).push(v);
  }
  return aliases ? { id, method, aliases } : { id, method };
}

/**
 * Whether every call of the body is a notification (a method and no id). A node answers nothing to those
 * (geth runs each and throws its result away), so over a connection that is paid for by its answers, such as
 * a WebSocket bridge, they would be served unpaid.
 */
export function onlyNotifications(parsed: { calls: readonly JsonRpcCall[] }): boolean {
  return parsed.calls.length > 0 && parsed.calls.every((c) => c.id === undefined && !!c.method);
}

/** The answer, in a node's place, to a body of notifications alone (a JSON-RPC error with a null id, as geth answers a batch it will not run). */
export function notificationsAnswer(): HttpAnswer {
  return jsonAnswer(jsonRpcError(null, INVALID_REQUEST, 'notifications are not served: a call without an id gets no answer, and a relay is paid for by its answer'));
}

/**
 * The calls of a JSON-RPC 2.0 body: one object, or a batch (an array), the body's first JSON value as geth reads
 * it (bytes after it are never read). Undefined for a body that is not JSON or not shaped as JSON-RPC: `Rpc-Type`
 * may name another protocol than the one a gateway sends (docs/spec/wire.md §2.1), so a body the transport does
 * not understand is forwarded as it is. A batch
 * element that is not an object is a call without a method (the backend answers it "invalid request"),
 * never a reason to pass the batch unread: its other calls would reach the backend unchecked.
 */
export function jsonRpcCalls(body: Uint8Array | undefined): { batch: boolean; calls: JsonRpcCall[] } | undefined {
  if (!body || body.length === 0) return undefined;
  let first = 0;
  while (first < body.length && (body[first] === 0x20 || body[first] === 0x0a || body[first] === 0x0d || body[first] === 0x09)) first++;
  if (body[first] !== 0x7b && body[first] !== 0x5b) return undefined; // neither { nor [
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.length);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    // geth reads a body's first JSON value and never what follows it: `{"method":"admin_peers"} x` calls admin_peers.
    const end = firstValueEnd(bytes, first);
    if (end < 0) return undefined;
    try {
      parsed = JSON.parse(bytes.toString('utf8', first, end));
    } catch {
      return undefined;
    }
  }
  if (Array.isArray(parsed)) return { batch: true, calls: parsed.map(readCall) };
  const one = readCall(parsed);
  return one.method !== undefined ? { batch: false, calls: [one] } : undefined;
}

/** Where the object or array opening at `start` closes (the index after it), or -1 when it does not. */
function firstValueEnd(b: Uint8Array, start: number): number {
  let depth = 0;
  for (let i = start; i < b.length; i++) {
    const c = b[i];
    if (c === 0x22) {
      // A string: its brackets do not count; a backslash escapes the byte after it.
      for (i++; i < b.length && b[i] !== 0x22; i++) if (b[i] === 0x5c) i++;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i + 1;
  }
  return -1;
}

/**
 * The answer to a JSON-RPC body holding calls the operator does not serve: `error` writes each call's error
 * (`denied`: that call is one of them), for every call with an id; a batch is answered with an array.
 */
export function jsonRpcRefusal(parsed: { batch: boolean; calls: JsonRpcCall[] }, denied: { has(call: JsonRpcCall): boolean }, error: (call: JsonRpcCall, denied: boolean) => Record<string, unknown>): HttpAnswer {
  const answers = parsed.calls.filter((c) => c.id !== undefined).map((c) => error(c, denied.has(c)));
  if (parsed.batch) return jsonAnswer(answers);
  const [only] = parsed.calls;
  return jsonAnswer(answers[0] ?? error({ id: null, method: only!.method }, true));
}

/**
 * What a node that does not serve the refused calls answers (geth's words and codes): -32601 naming the method for
 * each refused call, -32600 for the other calls of the batch; `refused` as `deniedCalls` gives it.
 */
export function unservedMethodsAnswer(parsed: { batch: boolean; calls: JsonRpcCall[] }, refused: ReadonlyMap<JsonRpcCall, string>): HttpAnswer {
  return jsonRpcRefusal(parsed, refused, (c, isDenied) =>
    isDenied
      ? jsonRpcError(c.id, METHOD_NOT_AVAILABLE, `the method ${refused.get(c)} does not exist/is not available`)
      : jsonRpcError(c.id, INVALID_REQUEST, 'not served: the batch holds a method this supplier does not serve'),
  );
}

const METHOD_NOT_AVAILABLE = -32601;
const INVALID_REQUEST = -32600;

/**
 * The path a request asks its backend for, percent-decoded as the backend's router decodes it (`/dial%5Fseeds`
 * is `/dial_seeds`; `/%2Fadmin`, once decoded and its slashes merged, `/admin`; `/a/..%2Fadmin`, once decoded
 * and resolved as nginx resolves it, `/admin`), so a name list cannot be got around by encoding; the path as
 * written when it does not decode.
 */
export function requestPath(request: BackendRequest): string {
  const path = relayPath(request.url)?.pathname ?? '/';
  try {
    return withoutDotSegments(decodeURIComponent(path).replace(/\/{2,}/g, '/'));
  } catch {
    return path;
  }
}

/**
 * The path as one route name, as CometBFT serves its URI form (`/dial_seeds`, `/status/`): decoded and resolved as
 * `requestPath` reads it; undefined for `/` and for a path of several segments.
 */
export function requestRoute(request: BackendRequest): string | undefined {
  if (request.url === '' || request.url === '/') return undefined;
  const route = requestPath(request).replace(/^\/+|\/+$/g, '');
  return route === '' || route.includes('/') ? undefined : route;
}

/** An absolute path with its `.` and `..` segments resolved (RFC 3986 §5.2.4); never above `/`. */
function withoutDotSegments(path: string): string {
  if (!path.includes('.')) return path;
  const segments = path.split('/');
  const out = [''];
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '..') {
      if (out.length > 1) out.pop();
      if (last) out.push('');
    } else if (s === '.') {
      if (last) out.push('');
    } else out.push(s);
  }
  return out.join('/') || '/';
}

/** A JSON-RPC 2.0 error response object (the id as the call sent it; null when it had none). */
export function jsonRpcError(id: unknown, code: number, message: string, data?: unknown): Record<string, unknown> {
  return data === undefined ? { jsonrpc: '2.0', id: id ?? null, error: { code, message } } : { jsonrpc: '2.0', id: id ?? null, error: { code, message, data } };
}

/**
 * A matcher for a list of names an operator writes in config: an exact name, or a prefix ending in `*`
 * (`admin_*`). Case-sensitive, as JSON-RPC methods are.
 */
export function namePatterns(patterns: readonly string[]): (name: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  if (exact.size === 0 && prefixes.length === 0) return () => false;
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

/**
 * A metric label taken from what clients send (method names): the first `limit` distinct values keep their
 * name, later ones (and names past 64 characters) are counted as `other`, so a client cannot grow the metrics without bound.
 */
export class BoundedLabels {
  readonly #seen = new Set<string>();

  constructor(readonly limit: number) {}

  label(value: string): string {
    if (this.#seen.has(value)) return value;
    if (value.length > 64) return 'other';
    if (this.#seen.size >= this.limit) return 'other';
    this.#seen.add(value);
    return value;
  }
}
