import type { Counter } from 'prom-client';
import { BoundedLabels, type HttpRelayProtocol, jsonAnswer, namePatterns, requestPath } from 'relayminer';

export interface RestOptions {
  deny_paths: readonly string[];
}

/**
 * REST: the relay's method, path, query and headers go to the backend as they are (the kit joins the path
 * onto the backend URL); requests are counted by method, and paths the operator denies are answered here
 * with 403 instead of reaching the backend. A backend's SSE or NDJSON answer is streamed by the kit, which
 * does so for every HTTP type (docs/architecture.md, Forward).
 */
export function restProtocol(opts: RestOptions, requests: Counter<'service' | 'method' | 'outcome'>): HttpRelayProtocol {
  const denied = namePatterns(opts.deny_paths);
  const methods = new BoundedLabels(16);
  return {
    prepare(request, relay) {
      const path = requestPath(request);
      const refused = denied(path);
      requests.inc({ service: relay.header.service_id, method: methods.label(request.method.toUpperCase()), outcome: refused ? 'refused' : 'forwarded' });
      if (!refused) return request;
      return jsonAnswer({ error: `path ${path} is not served by this supplier` }, 403);
    },
  };
}
