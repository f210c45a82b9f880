export * from './messages.js';
export * from './relay.js';
export { messageCodec, protoRoot, isPresentEmpty, ProtoDecodeError, PROTO_DIR, type MessageCodec } from './codec.js';
export { grpcFrame, grpcFrames, RELAY_SERVICE_PATHS, splitGrpcFrames } from './grpc-wire.js';
export { RPC_TYPE_CODES } from './rpc-type.js';
