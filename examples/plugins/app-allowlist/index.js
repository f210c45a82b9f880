// @ts-check
/**
 * A third-party relay miner plugin, written as an external package would be: it imports only the
 * public API of 'relayminer'. It refuses relays from applications that are not on a list (or that
 * are on a deny list), counts what it refused, and reports itself in /ready.
 *
 * Enable it in a config file:
 *   plugins:
 *     - name: ./plugins/app-allowlist/index.js
 *       options:
 *         mode: allow
 *         applications: [pokt1…]
 */
import { Counter } from 'prom-client';
import { definePlugin, RelayRejection } from 'relayminer';

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['applications'],
  properties: {
    mode: { type: 'string', enum: ['allow', 'deny'], default: 'allow' },
    applications: {
      type: 'array',
      items: { type: 'string', pattern: '^pokt1[02-9ac-hj-np-z]{38}$' },
      uniqueItems: true,
    },
  },
};

export default definePlugin(
  {
    name: 'app-allowlist',
    version: '1.0.0',
    roles: ['relayer'],
    description: 'Serve only (or never) the listed applications.',
    optionsSchema,
  },
  /** @param {import('fastify').FastifyInstance} app @param {{ mode: 'allow' | 'deny', applications: string[] }} options */
  async function appAllowlist(app, options) {
    const listed = new Set(options.applications);
    const refused = new Counter({
      name: 'app_allowlist_refused_total',
      help: 'Relays refused by the app-allowlist plugin.',
      registers: [app.relayminer.metrics.registry],
    });

    app.relayminer.relayHooks.add(
      'onRelayValidated',
      ({ relay }) => {
        const app = relay.applicationAddress ?? '';
        const allowed = options.mode === 'allow' ? listed.has(app) : !listed.has(app);
        if (!allowed) {
          refused.inc();
          throw new RelayRejection('rejected_by_plugin', `application ${app} is not served here`);
        }
      },
      'app-allowlist',
    );

    app.relayminer.readiness.add('app-allowlist', () => {
      if (options.mode === 'allow' && listed.size === 0) throw new Error('allow mode with an empty list refuses every relay');
    });

    app.log.info({ mode: options.mode, applications: listed.size }, 'app-allowlist enabled');
  },
);
