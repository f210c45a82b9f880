import { Counter } from 'prom-client';
import { COMETBFT_OPERATOR_ROUTES, definePlugin, namePatternsOption, VERSION } from 'relayminer';
import { cometBftProtocol, type CometBftOptions } from './protocol.js';

const DENY_BY_DEFAULT = COMETBFT_OPERATOR_ROUTES;

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    deny_methods: namePatternsOption(DENY_BY_DEFAULT, 'Routes answered with CometBFT\'s "Method not found" error instead of reaching the node, in the URI and the JSON-RPC form: exact names or prefixes ending in `*`. A list you set replaces the default; `[]` forwards every route.'),
  },
} as const;

/**
 * CometBFT RPC relays (Rpc-Type 5) on core's HTTP relay route: the shared pipeline,
 * `services.<id>.backends.cometbft`, and this plugin's reading of both request forms (protocol.ts).
 */
export default definePlugin(
  { name: 'transport-cometbft', version: VERSION, roles: ['relayer'], rpcTypes: ['cometbft'], description: 'CometBFT RPC relays over HTTP (Rpc-Type 5).', optionsSchema },
  async (app, opts: Partial<CometBftOptions>) => {
    const ctx = app.relayminer;
    const calls = new Counter({
      name: 'relayminer_cometbft_calls_total',
      help: 'CometBFT RPC calls in relays, by route (the first 100 names seen; later ones as "other"), form (uri or jsonrpc) and whether they were forwarded or answered here (denied route).',
      labelNames: ['service', 'method', 'form', 'outcome'],
      registers: [ctx.metrics.registry],
    });
    ctx.relay!.http.enable('cometbft', 'transport-cometbft', cometBftProtocol({ deny_methods: opts.deny_methods ?? DENY_BY_DEFAULT }, calls));
  },
);
