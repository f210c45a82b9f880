import { Counter } from 'prom-client';
import { COMETBFT_OPERATOR_ROUTES, definePlugin, EVM_OPERATOR_METHODS, namePatternsOption, VERSION } from 'relayminer';
import { jsonRpcProtocol, type JsonRpcOptions } from './protocol.js';

/** A `jsonrpc` backend is an EVM node, or a CometBFT node's RPC port, which speaks JSON-RPC 2.0 at `/` too. */
const DENY_BY_DEFAULT = [...EVM_OPERATOR_METHODS, ...COMETBFT_OPERATOR_ROUTES];

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    deny_methods: namePatternsOption(DENY_BY_DEFAULT, 'Methods answered with a JSON-RPC error (-32601) instead of reaching the backend: exact names or prefixes ending in `*`. The default is every method that acts on the node rather than reads the chain (its peers, accounts, block production, consensus link, and the `debug_*` methods that rewind, rewrite or stall it, write files on its host or change its runtime; `debug_trace*` and the other reads pass), and CometBFT\'s routes that change the node (a `jsonrpc` backend may be a CometBFT RPC port). A list you set replaces it; `[]` forwards every method.'),
    max_batch_calls: {
      type: 'integer',
      minimum: 0,
      maximum: 100_000,
      default: 0,
      description: 'A batch with more calls is answered with one JSON-RPC error (-32600), as geth answers a batch past its limit; 0: no limit here (the backend keeps its own). A batch is one relay, whatever it holds.',
    },
  },
} as const;

/**
 * JSON-RPC relays (Rpc-Type 3) on core's HTTP relay route: the shared pipeline, `services.<id>.backends.jsonrpc`,
 * and this plugin's reading of the body (protocol.ts): calls by method, denied methods, batch limits.
 */
export default definePlugin(
  { name: 'transport-jsonrpc', version: VERSION, roles: ['relayer'], rpcTypes: ['jsonrpc'], description: 'JSON-RPC relays over HTTP (Rpc-Type 3).', optionsSchema },
  async (app, opts: Partial<JsonRpcOptions>) => {
    const ctx = app.relayminer;
    const calls = new Counter({
      name: 'relayminer_jsonrpc_calls_total',
      help: 'JSON-RPC calls in relays (a batch counts each call), by method (the first 100 names seen; later ones as "other") and whether they were forwarded or answered here (denied method, batch too large).',
      labelNames: ['service', 'method', 'outcome'],
      registers: [ctx.metrics.registry],
    });
    const protocol = jsonRpcProtocol({ deny_methods: opts.deny_methods ?? DENY_BY_DEFAULT, max_batch_calls: opts.max_batch_calls ?? 0 }, calls);
    ctx.relay!.http.enable('jsonrpc', 'transport-jsonrpc', protocol);
  },
);
