import { definePlugin, VERSION } from 'relayminer';

/**
 * JSON-RPC relays (Rpc-Type 3): enables the type on core's HTTP relay route, which runs the
 * shared pipeline and forwards to `services.<id>.backends.jsonrpc`.
 */
export default definePlugin(
  { name: 'transport-jsonrpc', version: VERSION, roles: ['relayer'], rpcTypes: ['jsonrpc'], description: 'JSON-RPC relays over HTTP (Rpc-Type 3).' },
  async (app) => {
    app.relayminer.relay!.http.enable('jsonrpc', 'transport-jsonrpc');
  },
);
