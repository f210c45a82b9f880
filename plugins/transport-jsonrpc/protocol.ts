import { BoundedLabels, deniedCalls, type HttpRelayProtocol, jsonAnswer, jsonRpcCalls, jsonRpcError, namePatterns, requestRoute, unservedMethodsAnswer, withHeaderDefault } from 'relayminer';
import type { Counter } from 'prom-client';

export interface JsonRpcOptions {
  deny_methods: readonly string[];
  max_batch_calls: number;
}

/** -32600 as geth answers a batch past its limit. */
const INVALID_REQUEST = -32600;

/**
 * JSON-RPC 2.0 over HTTP: reads the body as one call or a batch, counts the calls by method, answers
 * itself (as a node that does not serve them) for methods the operator denies and for batches past the
 * limit, and gives the backend the `Content-Type: application/json` a relay may leave out (geth answers
 * 415 without it). A body that is not JSON-RPC is forwarded as it is: a gateway's `Rpc-Type` can name
 * another protocol than the one it sends (docs/spec/wire.md §2.1).
 */
export function jsonRpcProtocol(opts: JsonRpcOptions, calls: Counter<'service' | 'method' | 'outcome'>): HttpRelayProtocol {
  const denied = namePatterns(opts.deny_methods);
  const labels = new BoundedLabels(100);
  return {
    readsBody: true,
    prepare(request, relay) {
      const service = relay.header.service_id;
      // A jsonrpc backend may be a CometBFT RPC port, which serves its routes as URIs too (`GET /dial_seeds`), and a
      // gateway's RPC-type fallback sends such requests to jsonrpc backends (docs/spec/wire.md §2.1). An EVM node
      // reads no path, so a denied name as the whole path refuses nothing it would serve.
      const route = requestRoute(request);
      if (route !== undefined && denied(route)) {
        calls.inc({ service, method: labels.label(route), outcome: 'refused' });
        const call = { id: null, method: route };
        return unservedMethodsAnswer({ batch: false, calls: [call] }, new Map([[call, route]]));
      }
      const parsed = jsonRpcCalls(request.body);
      if (!parsed) return request;
      if (parsed.batch && opts.max_batch_calls > 0 && parsed.calls.length > opts.max_batch_calls) {
        calls.inc({ service, method: 'batch', outcome: 'refused' }, parsed.calls.length);
        return jsonAnswer(jsonRpcError(null, INVALID_REQUEST, `batch too large: at most ${opts.max_batch_calls} calls`));
      }
      const refused = deniedCalls(parsed.calls, denied);
      for (const c of parsed.calls) calls.inc({ service, method: labels.label(refused.get(c) ?? c.method ?? '(none)'), outcome: refused.size ? 'refused' : 'forwarded' });
      if (refused.size === 0) return withHeaderDefault(request, 'content-type', 'application/json');
      return unservedMethodsAnswer(parsed, refused);
    },
  };
}
