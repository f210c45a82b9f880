import type { Logger } from 'pino';
import { loadConfigFile } from '../core/config/load.js';
import type { PluginRole } from '../core/plugins/define.js';
import { Runtime } from '../core/runtime/runtime.js';
import { VERSION } from '../core/version.js';
import { BUILTIN_PLUGINS } from '../plugins/index.js';

export interface RunningProcess {
  runtime: Runtime;
  /** Resolves when the process has stopped (after a signal). */
  stopped: Promise<void>;
}

/**
 * Starts the roles and owns the process lifecycle: the first SIGTERM or SIGINT shuts down
 * gracefully; a second one exits at once.
 */
export async function runRoles(configFile: string, roles: PluginRole[], onStopped: () => Promise<void> = async () => {}): Promise<RunningProcess> {
  const config = loadConfigFile(configFile);
  const runtime = await Runtime.start({ config, roles, builtins: BUILTIN_PLUGINS, version: VERSION });
  installCrashGuards(runtime.log);
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      runtime.log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    runtime
      .shutdown(signal)
      .then(onStopped)
      .then(
        () => {
          resolveStopped();
          process.exit(0);
        },
        (err: unknown) => {
          runtime.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { runtime, stopped };
}

function installCrashGuards(log: Logger): void {
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled promise rejection (a bug: please report it)');
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception (a bug: please report it); exiting');
    process.exit(1);
  });
}
