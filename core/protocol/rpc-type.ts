/** The relay transports by their configuration names (pocket.shared.RPCType, lower-cased). */
export const RPC_TYPES = ['grpc', 'websocket', 'jsonrpc', 'rest', 'cometbft'] as const;
export type RpcTypeName = (typeof RPC_TYPES)[number];

/** Numeric Rpc-Type of each transport (pocket.shared.RPCType): endpoints on chain, the `Rpc-Type` header. */
export const RPC_TYPE_CODES: Record<RpcTypeName, number> = {
  grpc: 1,
  websocket: 2,
  jsonrpc: 3,
  rest: 4,
  cometbft: 5,
};
