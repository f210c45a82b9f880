import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import { messageCodec, protoRoot } from './codec.js';

/**
 * grpc-js service definitions built from the repo's .proto services, with the canonical codec doing
 * the (de)serialization: the gRPC layer and every hash share one definition of each message.
 */
export function grpcServiceDefinition(serviceName: string): ServiceDefinition {
  const service = protoRoot().lookupService(serviceName);
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methodsArray) {
    m.resolve();
    const req = messageCodec<unknown>(m.resolvedRequestType!.fullName.replace(/^\./, ''));
    const res = messageCodec<unknown>(m.resolvedResponseType!.fullName.replace(/^\./, ''));
    definition[m.name] = {
      path: `/${serviceName}/${m.name}`,
      requestStream: Boolean(m.requestStream),
      responseStream: Boolean(m.responseStream),
      requestSerialize: (v: unknown) => Buffer.from(req.encode(v)),
      requestDeserialize: (b: Buffer) => req.decode(b),
      responseSerialize: (v: unknown) => Buffer.from(res.encode(v)),
      responseDeserialize: (b: Buffer) => res.decode(b),
    };
  }
  return definition as ServiceDefinition;
}
