import type { RpcTypeName } from '../config/schema.js';

/** Numeric Rpc-Type of each transport (pocket.shared.RPCType): endpoints on chain, the `Rpc-Type` header. */
export const RPC_TYPE_CODES: Record<RpcTypeName, number> = {
  grpc: 1,
  websocket: 2,
  jsonrpc: 3,
  rest: 4,
  cometbft: 5,
};
