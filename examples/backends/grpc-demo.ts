import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import { PACKAGE_ROOT } from '../../core/package-root.js';

/**
 * A demo gRPC backend (used by tests, the devnet and benchmarks): `demo.v1.Demo` from
 * examples/backends/demo.proto, with a unary `Echo` and a server-streaming `Count`.
 */
const definition = loadSync(join(PACKAGE_ROOT, 'examples/backends/demo.proto'), { keepCase: true, defaults: true });
const service = definition['demo.v1.Demo'] as Record<'Echo' | 'Count', MethodDefinition<object, object>>;

export interface EchoRequest { message: string }
export interface EchoReply { message: string; supplier: string }
export interface CountRequest { to: number; interval_ms: number }
export interface CountReply { n: number }

/** Message codecs and paths of the demo service, for clients that build relays by hand. */
export const demo = {
  echoPath: service.Echo.path,
  countPath: service.Count.path,
  encodeEcho: (m: EchoRequest) => service.Echo.requestSerialize(m),
  decodeEcho: (b: Buffer) => service.Echo.responseDeserialize(b) as EchoReply,
  encodeCount: (m: CountRequest) => service.Count.requestSerialize(m),
  decodeCount: (b: Buffer) => service.Count.responseDeserialize(b) as CountReply,
};

export interface GrpcBackend {
  address: string;
  url: string;
  /** Methods called, in order. */
  calls: string[];
  close(): Promise<void>;
}

export async function startGrpcBackend(o: { host?: string; port?: number } = {}): Promise<GrpcBackend> {
  const server = new grpc.Server();
  const calls: string[] = [];
  server.addService(service as unknown as grpc.ServiceDefinition, {
    Echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      calls.push('Echo');
      const { message } = call.request;
      if (message === 'fail') return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'you asked for it' });
      if (message === 'crash') return cb({ code: grpc.status.INTERNAL, details: 'backend crashed' });
      const supplier = call.metadata.get('pocket-supplier')[0];
      cb(null, { message, supplier: typeof supplier === 'string' ? supplier : '' });
    },
    Count: (call: grpc.ServerWritableStream<CountRequest, CountReply>) => {
      calls.push('Count');
      const { to, interval_ms } = call.request;
      let n = 0;
      if (interval_ms === 0) {
        // As fast as the client reads: write until the buffer is full, continue on drain.
        const pump = () => {
          while (n < to && !call.cancelled) if (!call.write({ n: ++n })) return void call.once('drain', pump);
          if (!call.cancelled) call.end();
        };
        return pump();
      }
      const tick = () => {
        if (call.cancelled) return;
        if (n >= to) return call.end();
        call.write({ n: ++n });
        setTimeout(tick, interval_ms);
      };
      tick();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${o.host ?? '127.0.0.1'}:${o.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `${o.host ?? '127.0.0.1'}:${port}`;
  return {
    address,
    url: `http://${address}`,
    calls,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

// `node dist/examples/backends/grpc-demo.js [port]` runs it on its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  startGrpcBackend({ port: Number(process.argv[2] ?? 9090) }).then((b) => process.stdout.write(`gRPC demo backend on ${b.address}\n`));
}
