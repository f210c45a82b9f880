import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { parseHostPort } from '../core/config/host-port.js';
import { OperatorError } from '../core/runtime/operator-error.js';
import type { LocalChain } from './chain.js';
import { createCometRpcServer } from './comet-rpc.js';
import { LocalnetNode } from './node.js';
import { createGrpcServer, listenGrpc } from './grpc-server.js';
import type { LoadedGenesis } from './genesis.js';

export { LocalChain, ChainError, type Block, type SessionView } from './chain.js';
export { loadGenesisFile, parseGenesis, GenesisSchema, type LoadedGenesis } from './genesis.js';

export { LocalnetNode } from './node.js';
export { startDemoBackend, type DemoBackend } from './demo-backend.js';

export interface RunningLocalnet {
  node: LocalnetNode;
  chain: LocalChain;
  /** host:port the CometBFT RPC listens on. */
  rpcAddress: string;
  /** host:port the Cosmos gRPC listens on. */
  grpcAddress: string;
  stop(): Promise<void>;
}

/** Starts the simulated node: the chain (timer or manual), its CometBFT RPC and its Cosmos gRPC. */
export async function startLocalnet(
  genesis: LoadedGenesis,
  opts: { rpcAddress: string; grpcAddress?: string; log: Logger },
): Promise<RunningLocalnet> {
  const node = new LocalnetNode(genesis);
  const chain = node.chain;
  const rpc: FastifyInstance = createCometRpcServer(chain, opts.log, () => node.snapshot(), node.txs);
  const { host, port } = parseHostPort(opts.rpcAddress);
  await rpc.listen({ host, port }).catch((err: unknown) => {
    throw OperatorError.cannotListen('localnet CometBFT RPC', opts.rpcAddress, err);
  });
  const a = rpc.server.address();
  const rpcAddress = typeof a === 'object' && a ? `${a.address}:${a.port}` : opts.rpcAddress;
  const grpc = createGrpcServer(node, opts.log);
  let grpcAddress: string;
  try {
    grpcAddress = await listenGrpc(grpc, opts.grpcAddress ?? '127.0.0.1:9190');
  } catch (err) {
    await rpc.close();
    throw OperatorError.cannotListen('localnet Cosmos gRPC', opts.grpcAddress ?? '127.0.0.1:9190', err);
  }
  chain.start();
  opts.log.info({ rpc: rpcAddress, grpc: grpcAddress, chain_id: chain.chainId, manual: chain.manual, height: chain.height }, 'localnet started');
  return {
    node,
    chain,
    rpcAddress,
    grpcAddress,
    stop: async () => {
      chain.stop();
      grpc.forceShutdown();
      await rpc.close();
    },
  };
}
