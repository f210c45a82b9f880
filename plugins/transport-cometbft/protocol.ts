import type { Counter } from 'prom-client';
import { BoundedLabels, deniedCalls, type HttpRelayProtocol, jsonAnswer, jsonRpcCalls, jsonRpcError, jsonRpcRefusal, namePatterns, requestRoute, withHeaderDefault } from 'relayminer';

export interface CometBftOptions {
  deny_methods: readonly string[];
}

const METHOD_NOT_FOUND = -32601;
/** CometBFT answers a URI-form request with this id (it has none of its own). */
const URI_FORM_ID = -1;

/**
 * The two forms of CometBFT's RPC: URI (`GET /block?height=5`: the route is the path) and JSON-RPC
 * (`POST /` with `{"method":"block",…}` or a batch). Both are read for the route names, counted by name,
 * and routes the operator denies are answered here with CometBFT's own "Method not found" error instead
 * of reaching the node. Anything else is forwarded as it is.
 */
export function cometBftProtocol(opts: CometBftOptions, calls: Counter<'service' | 'method' | 'form' | 'outcome'>): HttpRelayProtocol {
  const denied = namePatterns(opts.deny_methods);
  const labels = new BoundedLabels(100);
  return {
    readsBody: true,
    prepare(request, relay) {
      const service = relay.header.service_id;
      const route = requestRoute(request);
      if (route !== undefined) {
        const refused = denied(route);
        calls.inc({ service, method: labels.label(route), form: 'uri', outcome: refused ? 'refused' : 'forwarded' });
        return refused ? jsonAnswer(jsonRpcError(URI_FORM_ID, METHOD_NOT_FOUND, 'Method not found', route)) : request;
      }
      const parsed = jsonRpcCalls(request.body);
      if (!parsed) return request;
      const refused = deniedCalls(parsed.calls, denied);
      for (const c of parsed.calls) calls.inc({ service, method: labels.label(refused.get(c) ?? c.method ?? '(none)'), form: 'jsonrpc', outcome: refused.size ? 'refused' : 'forwarded' });
      if (refused.size === 0) return withHeaderDefault(request, 'content-type', 'application/json');
      const first = refused.values().next().value!;
      return jsonRpcRefusal(parsed, refused, (c, isDenied) => jsonRpcError(c.id, METHOD_NOT_FOUND, 'Method not found', isDenied ? refused.get(c) : `not served: the batch holds ${first}`));
    },
  };
}
