import { Counter } from 'prom-client';
import { COMETBFT_OPERATOR_ROUTES, definePlugin, namePatternsOption, VERSION } from 'relayminer';
import { restProtocol, type RestOptions } from './protocol.js';

/** CometBFT's routes that change the node, as paths: a `rest` backend may be a CometBFT node's RPC port, which serves them as URIs. */
const DENY_BY_DEFAULT = COMETBFT_OPERATOR_ROUTES.map((route) => `/${route}`);

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    deny_paths: namePatternsOption(DENY_BY_DEFAULT, "Paths answered with 403 instead of reaching the backend: exact paths or prefixes ending in `*` (`/admin/*`). Matched on the path once percent-escapes are decoded and `..` and `.` resolved (`/a/..%2Fadmin` is `/admin`). The default is CometBFT's routes that change the node (a `rest` backend may be a CometBFT RPC port); a list you set replaces it.", { pattern: '^/' }),
  },
} as const;

/**
 * REST relays (Rpc-Type 4) on core's HTTP relay route: the shared pipeline, `services.<id>.backends.rest`
 * with the relay's method, path and query, SSE and NDJSON answers streamed as signed batches, and this
 * plugin's reading of the request (protocol.ts): requests by method, denied paths.
 */
export default definePlugin(
  { name: 'transport-rest-sse', version: VERSION, roles: ['relayer'], rpcTypes: ['rest'], description: 'REST relays over HTTP (Rpc-Type 4), SSE and NDJSON streamed.', optionsSchema },
  async (app, opts: Partial<RestOptions>) => {
    const ctx = app.relayminer;
    const requests = new Counter({
      name: 'relayminer_rest_requests_total',
      help: 'REST relays by HTTP method and whether they were forwarded or answered here (denied path).',
      labelNames: ['service', 'method', 'outcome'],
      registers: [ctx.metrics.registry],
    });
    ctx.relay!.http.enable('rest', 'transport-rest-sse', restProtocol({ deny_paths: opts.deny_paths ?? DENY_BY_DEFAULT }, requests));
  },
);
