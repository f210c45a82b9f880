import { createLogger } from '../core/observability/logger.js';
import { loadGenesisFile, startLocalnet } from '../localnet/index.js';

/** `relayminer localnet`: the simulated node until SIGINT/SIGTERM. */
export async function runLocalnet(genesisFile: string, rpcAddress: string, grpcAddress: string): Promise<void> {
  const genesis = loadGenesisFile(genesisFile);
  const log = createLogger({ level: 'info', format: 'auto' }, { base: { role: 'localnet' } });
  const net = await startLocalnet(genesis, { rpcAddress, grpcAddress, log });
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'localnet stopping');
    void net.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
