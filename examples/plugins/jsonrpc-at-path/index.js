// @ts-check
/**
 * A third-party transport, written as an external package would be: it imports only the public API of
 * 'relayminer' (and fastify, which the host gives it). It serves JSON-RPC relays (Rpc-Type 3) on a path
 * of its own, e.g. for a supplier whose staked endpoint is https://relays.example.com/v1/jsonrpc, and
 * calls the service's JSON-RPC backend itself with fetch. Validation, metering, signing and mining are
 * the one relay pipeline every transport uses.
 *
 * Enable it instead of transport-jsonrpc (both serve Rpc-Type 3):
 *   plugins:
 *     - name: ./plugins/jsonrpc-at-path/index.js
 *       options: { path: /v1/jsonrpc }
 */
import { decodeHttpPayload, definePlugin, pocketHeaders, POKTHTTPResponseCodec, RelayRejection, relayPath } from 'relayminer';

const NAME = 'jsonrpc-at-path';

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: { type: 'string', pattern: '^/[A-Za-z0-9/_-]*$', default: '/v1/jsonrpc', description: 'Where relays are accepted (POST).' },
    timeout_ms: { type: 'integer', minimum: 100, maximum: 600000, default: 30000, description: 'How long a backend call may take.' },
    max_body_bytes: { type: 'integer', minimum: 1024, maximum: 104857600, default: 10485760, description: 'Largest relay request accepted.' },
  },
};

export default definePlugin(
  { name: NAME, version: '1.0.0', roles: ['relayer'], rpcTypes: ['jsonrpc'], description: 'JSON-RPC relays on a path of their own.', optionsSchema },
  /** @param {import('fastify').FastifyInstance} app @param {{ path: string, timeout_ms: number, max_body_bytes: number }} options */
  async function jsonrpcAtPath(app, options) {
    const { relay, config } = app.relayminer;
    if (!relay) return;
    const pipeline = relay.pipeline;

    /**
     * The backend call, given a relay the pipeline validated (or is validating, for optimistic services).
     * @type {import('relayminer').Forward}
     */
    const forward = async (decoded) => {
      const service = decoded.header.service_id;
      const backend = config.services[service]?.backends.jsonrpc;
      if (!backend) throw new RelayRejection('no_healthy_backend', `service ${service} has no jsonrpc backend configured`);
      const { http, headers } = decodeHttpPayload(decoded);
      const sent = new Headers(pocketHeaders(decoded));
      for (const [name, values] of Object.entries(headers)) for (const v of values) sent.append(name, v);
      const url = new URL(relayPath(http.url), backend.urls[0]);
      let res;
      try {
        res = await fetch(url, { method: http.method || 'POST', headers: sent, body: http.body_bz.length ? http.body_bz : undefined, signal: AbortSignal.timeout(options.timeout_ms) });
      } catch (err) {
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        throw new RelayRejection(timedOut ? 'backend_timeout' : 'backend_error', timedOut ? `no answer within ${options.timeout_ms} ms` : 'the backend did not answer');
      }
      const body = new Uint8Array(await res.arrayBuffer());
      /** @type {Map<string, { key: string, values: string[] }>} */
      const header = new Map();
      const type = res.headers.get('content-type');
      if (type) header.set('content-type', { key: 'content-type', values: [type] });
      return { payload: POKTHTTPResponseCodec.encode({ status_code: res.status, header, body_bz: body }), backendStatus: res.status, retries: 0 };
    };

    // Encapsulated: the raw-body parser applies to this route only, not to the host's other routes.
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.max_body_bytes }, (_req, body, done) => done(null, body));
      scope.post(options.path, async (req, reply) => {
        const socket = req.raw.socket;
        const body = req.body;
        const r = Buffer.isBuffer(body)
          ? await pipeline.handle(body, 'jsonrpc', NAME, forward, () => socket.destroyed)
          : pipeline.refuse(new RelayRejection('body_unreadable', 'no request body'), 'jsonrpc', NAME);
        return reply.code(r.status).type(r.contentType).send(Buffer.from(r.body));
      });
    });
  },
);
