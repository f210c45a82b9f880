import { definePlugin, VERSION } from 'relayminer';

/**
 * CometBFT RPC relays (Rpc-Type 5): enables the type on core's HTTP relay route, which runs the
 * shared pipeline and forwards to `services.<id>.backends.cometbft`.
 */
export default definePlugin(
  { name: 'transport-cometbft', version: VERSION, roles: ['relayer'], rpcTypes: ['cometbft'], description: 'CometBFT RPC relays over HTTP (Rpc-Type 5).' },
  async (app) => {
    app.relayminer.relay!.http.enable('cometbft', 'transport-cometbft');
  },
);
