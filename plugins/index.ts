import { type BuiltinPlugins } from 'relayminer';

/**
 * The built-in plugins by name. Each is imported only when a config enables it, so an operator
 * who serves only JSON-RPC never loads the gRPC stack.
 */
export const BUILTIN_PLUGINS: BuiltinPlugins = {
  'transport-jsonrpc': () => import('./transport-jsonrpc/index.js'),
  'transport-websocket': () => import('./transport-websocket/index.js'),
  'transport-grpc': () => import('./transport-grpc/index.js'),
  'transport-rest-sse': () => import('./transport-rest-sse/index.js'),
  'transport-cometbft': () => import('./transport-cometbft/index.js'),
  miner: () => import('./miner/index.js'),
};

/** The miner's session storage, for the CLI's inspection and devnet tools (they read what the miner wrote). */
export { SessionStore, type SessionRecord } from './miner/session-store.js';
