export * from './messages.js';
export * from './relay.js';
export { messageCodec, protoRoot, isPresentEmpty, ProtoDecodeError, PROTO_DIR, type MessageCodec } from './codec.js';
