import { definePlugin, VERSION } from 'relayminer';

/**
 * REST relays (Rpc-Type 4): enables the type on core's HTTP relay route, which runs the shared
 * pipeline and forwards to `services.<id>.backends.rest` with the method, path and query the
 * relay's POKTHTTPRequest carries.
 */
export default definePlugin(
  { name: 'transport-rest-sse', version: VERSION, roles: ['relayer'], rpcTypes: ['rest'], description: 'REST relays over HTTP (Rpc-Type 4).' },
  async (app) => {
    app.relayminer.relay!.http.enable('rest', 'transport-rest-sse');
  },
);
