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
  // Taken before it starts: a signal on its "localnet started" line, or earlier, stops it once it is up.
  let net: Awaited<ReturnType<typeof startLocalnet>> | undefined;
  let stopWhenStarted: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (!net) {
      stopWhenStarted = signal;
      return;
    }
    log.info({ signal }, 'localnet stopping');
    void net.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  net = await startLocalnet(genesis, { rpcAddress, grpcAddress, log });
  if (stopWhenStarted) stop(stopWhenStarted);
}
