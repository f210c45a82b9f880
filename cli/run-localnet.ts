import { parseHostPort } from '../core/config/host-port.js';
import { OperatorError } from '../core/runtime/operator-error.js';

/** `relayminer localnet`: the simulated node until SIGINT/SIGTERM. */
export async function runLocalnet(genesisFile: string, rpcAddress: string, grpcAddress: string): Promise<void> {
  for (const [flag, address] of [['--rpc-address', rpcAddress], ['--grpc-address', grpcAddress]] as const) {
    try {
      parseHostPort(address);
    } catch (err) {
      throw new OperatorError('INVALID_ARGUMENT', `localnet: ${flag}: ${(err as Error).message}`);
    }
  }
  // Loaded once the arguments are known to be good: a mistyped address is said at once.
  const { loadGenesisFile, startLocalnet } = await import('../localnet/index.js');
  const { createLogger } = await import('../core/observability/logger.js');
  const { routeGrpcLibraryLog } = await import('../core/observability/grpc-library-log.js');
  const genesis = loadGenesisFile(genesisFile);
  const log = createLogger({ level: 'info', format: 'auto' }, { base: { role: 'localnet' } });
  routeGrpcLibraryLog(log);
  const net = await startLocalnet(genesis, { rpcAddress, grpcAddress, log });
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'localnet stopping');
    void net.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
