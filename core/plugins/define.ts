import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { RPC_TYPES, type RpcTypeName } from '../config/schema.js';

export type PluginRole = 'relayer' | 'miner';

export const PLUGIN_ROLES: readonly PluginRole[] = ['relayer', 'miner'];

export interface PluginMeta {
  /** Unique name, lower-case words joined by dashes, e.g. `transport-jsonrpc` or `acme-audit-log`. */
  name: string;
  /** The plugin's own version (semver). */
  version: string;
  /** Roles the plugin runs in; in other roles it is skipped. */
  roles: readonly PluginRole[];
  /** RPC types a transport serves; two enabled plugins may not claim the same one. */
  rpcTypes?: readonly RpcTypeName[];
  /** JSON Schema (TypeBox schemas are JSON Schema) for the options; validated before anything starts. */
  optionsSchema?: object;
  description?: string;
}

/** A relay miner plugin: an async fastify plugin (wrapped with fastify-plugin) that carries its meta. */
export type RelayMinerPlugin<Options extends object = Record<string, unknown>> = FastifyPluginAsync<Options> & {
  readonly meta: Readonly<PluginMeta>;
};

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * Declares a plugin. The function receives the fastify instance of the role host (decorated with
 * `relayminer`, see RelayMinerContext) and its validated options. Because it is wrapped with
 * fastify-plugin, routes, decorators and hooks it adds are visible to the host, not encapsulated.
 */
export function definePlugin<Options extends object = Record<string, unknown>>(
  meta: PluginMeta,
  fn: FastifyPluginAsync<Options>,
): RelayMinerPlugin<Options> {
  checkMeta(meta);
  const frozen = Object.freeze({ ...meta, roles: [...meta.roles], rpcTypes: meta.rpcTypes ? [...meta.rpcTypes] : undefined });
  const wrapped = fp(fn, { name: meta.name, fastify: '5.x' });
  return Object.assign(wrapped, { meta: frozen }) as RelayMinerPlugin<Options>;
}

function checkMeta(meta: PluginMeta): void {
  const bad = (why: string) => {
    throw new TypeError(`definePlugin(${JSON.stringify(meta?.name)}): ${why}`);
  };
  if (!meta || typeof meta !== 'object') bad('meta must be an object');
  if (typeof meta.name !== 'string' || !NAME.test(meta.name)) bad('name must be lower-case letters, digits and dashes');
  if (typeof meta.version !== 'string' || !SEMVER.test(meta.version)) bad('version must be semver, e.g. "1.0.0"');
  if (!Array.isArray(meta.roles) || meta.roles.length === 0 || meta.roles.some((r) => !PLUGIN_ROLES.includes(r))) {
    bad(`roles must be a non-empty list of ${PLUGIN_ROLES.join(', ')}`);
  }
  if (meta.rpcTypes !== undefined) {
    if (!Array.isArray(meta.rpcTypes) || meta.rpcTypes.some((t) => !RPC_TYPES.includes(t))) {
      bad(`rpcTypes must be a list of ${RPC_TYPES.join(', ')}`);
    }
    if (new Set(meta.rpcTypes).size !== meta.rpcTypes.length) bad('rpcTypes lists a type twice');
  }
  if (meta.optionsSchema !== undefined && (typeof meta.optionsSchema !== 'object' || meta.optionsSchema === null)) {
    bad('optionsSchema must be a JSON Schema object');
  }
}

export function isRelayMinerPlugin(value: unknown): value is RelayMinerPlugin {
  if (typeof value !== 'function') return false;
  const meta: unknown = (value as unknown as { meta?: unknown }).meta;
  return typeof meta === 'object' && meta !== null;
}
