#!/usr/bin/env node
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, type ConfigProblem } from '../core/config/problems.js';
import { OperatorError } from '../core/runtime/operator-error.js';
import type { NodeTls } from '../core/chain/node-endpoints.js';
import type { ClientTransport } from './relay-client.js';
import type { InspectWhat } from './redis-inspect.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { VERSION } from '../core/version.js';

// Each command loads what it runs when it runs: `--help`, `version` and a mistyped option answer without loading
// every plugin, the chain clients and the localnet (about a second of module loading).

function parseNodeTls(v: string): NodeTls {
  if (v === 'true' || v === 'false') return v === 'true';
  if (v === 'auto') return 'auto';
  return program.error(`--node-tls must be true, false or auto, got ${JSON.stringify(v)}`, { exitCode: 1 });
}

/** Missed proofs a key's stake covers at or under which `validate --check-stake` warns: the miner's `alerts.missed_proofs` default. */
const LOW_STAKE_MARGIN = 3n;

async function validate(file: string, checkStake = false, listKeys = false): Promise<void> {
  const { loadConfigFile, withYamlLocations } = await import('../core/config/load.js');
  const { impliedPluginEntries, PluginError, resolvePlugins } = await import('../core/plugins/loader.js');
  const { BUILTIN_PLUGINS } = await import('../plugins/index.js');
  const roles = new Set(['relayer', 'miner'] as const);
  let config: ReturnType<typeof loadConfigFile> | undefined;
  let entries: { name: string; options: Record<string, unknown> }[] = [];
  const problems: ConfigProblem[] = [];
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    // Plugin options are checked even when the rest of the file has problems: every problem at once.
    entries = err.pluginEntries ?? [];
  }
  if (config) entries = config.pluginsImplied ? await impliedPluginEntries(config, BUILTIN_PLUGINS) : config.plugins;
  let active: Awaited<ReturnType<typeof resolvePlugins>>['active'] = [];
  try {
    ({ active } = await resolvePlugins({ entries, roles, builtins: BUILTIN_PLUGINS, configDir: config?.dir ?? dirname(resolvePath(file)), configFile: config?.file ?? resolvePath(file) }));
  } catch (err) {
    if (!(err instanceof PluginError)) throw err;
    problems.push(...withYamlLocations(readFileSync(file, 'utf8'), err.problems));
  }
  // A file that names no role runs nothing (an empty or wrongly mounted file): not "ok".
  if (config && !config.relayer && !config.miner) problems.push({ path: '', message: 'no "relayer" or "miner" section: this file runs nothing' });
  if (problems.length) throw new ConfigError(problems, resolvePath(file));
  if (!config) return;
  for (const w of config.warnings) process.stderr.write(`warning: ${w}\n`);
  const parts: string[] = [];
  if (config.relayer) parts.push(`relayer (${config.relayer.suppliers.length} supplier key(s))`);
  if (config.miner) parts.push(`miner (${config.miner.suppliers.length} supplier key(s))`);
  const services = Object.keys(config.services).length;
  const plugins = active.map((p) => p.plugin.meta.name).join(', ') || 'none';
  process.stdout.write(
    `ok: ${file}: ${parts.join(', ')}; ${services} service(s); ${active.length} plugin(s): ${plugins}${config.pluginsImplied ? ' (no plugins list: what the sections describe)' : ''}\n`,
  );
  if (listKeys) {
    for (const [role, settings] of [['relayer', config.relayer], ['miner', config.miner]] as const) {
      for (const key of settings?.suppliers ?? []) process.stdout.write(`${role} ${key.address} ${settings!.supplier_sources.get(key.address) ?? ''}\n`);
    }
  }
  if (!checkStake) return;
  const relayer = config.relayer;
  if (!relayer) throw new OperatorError('INVALID_ARGUMENT', '--check-stake compares supplier stakes with what a relayer serves: this file has no "relayer" section');
  const { ChainQueryClient, CometClient } = await import('../core/chain/index.js');
  const { nodeEndpoints } = await import('../core/chain/node-endpoints.js');
  const { readSupplierStakes, servedRelays, stakeCoverage } = await import('../core/relay/stake-coverage.js');
  const { sessionEndHeight, sessionStartHeight } = await import('../core/session/grid.js');
  const { missedProofsBeforeUnstake } = await import('../core/chain/stake-margin.js');
  const query = new ChainQueryClient(relayer.pocket_node);
  const endpoints = nodeEndpoints(relayer.pocket_node);
  const comet = new CometClient(endpoints.rpcUrl, relayer.pocket_node.query_timeout_ms, endpoints.ca);
  try {
    const stakes = await readSupplierStakes(query, relayer.suppliers.map((k) => k.address));
    const { refused, notes } = stakeCoverage(stakes, servedRelays(config.services, active.flatMap((p) => p.plugin.meta.rpcTypes ?? [])));
    for (const r of refused) process.stdout.write(`refused: ${r.message}\n`);
    for (const line of notes) process.stdout.write(`note: ${line}\n`);
    const staked = stakes.filter((s) => s.services).length;
    process.stdout.write(
      `stake: ${stakes.length} supplier key(s), ${staked} staked on ${relayer.pocket_node.grpc_address}; ${refused.length ? `${refused.length} staked service transport(s) not served` : 'every staked service transport is served'}\n`,
    );
    // Before the miner runs: how many missed proofs each staked key can afford before the chain unstakes it.
    const [penalty, minStake] = await Promise.all([query.proofMissingPenalty(), query.supplierMinStake()]);
    const margins = stakes.flatMap((s) => {
      const left = s.stakeUpokt === undefined ? undefined : missedProofsBeforeUnstake(s.stakeUpokt, minStake, penalty);
      return left === undefined ? [] : [{ address: s.address, stake: s.stakeUpokt!, left }];
    });
    const low = margins.filter((m) => m.left <= LOW_STAKE_MARGIN);
    for (const m of low) {
      process.stdout.write(`warning: ${m.address} stakes ${m.stake} uPOKT: ${m.left} missed proof(s) of ${penalty} uPOKT each before its stake is under min_stake ${minStake} and the chain unstakes it\n`);
    }
    if (margins.length) {
      const fewest = margins.reduce((a, b) => (b.left < a.left ? b : a));
      process.stdout.write(`stake margin: ${low.length} of ${margins.length} staked key(s) at ${LOW_STAKE_MARGIN} or fewer missed proofs before the chain unstakes them; the fewest ${fewest.left} (${fewest.address})\n`);
    }
    // What a move from another relay miner needs: session starts, for the miner plugin's submission.handover_height.
    const height = BigInt((await comet.status()).latest.height);
    const params = await query.sharedParams();
    const [start, end, blocks] = [sessionStartHeight(params, height), sessionEndHeight(params, height), params.num_blocks_per_session];
    process.stdout.write(`sessions: height ${height} is in session [${start}, ${end}] of ${blocks} blocks; the next start at ${end + 1n} and ${end + 1n + blocks}\n`);
    if (refused.length) process.exitCode = 1;
  } finally {
    query.close();
    await comet.close();
  }
}

/** What moves each of the devnet's listeners (defaults in brackets): a port already taken is why `npm start` fails most. */
const DEVNET_PORTS =
  'DEVNET_RPC_PORT (26657), DEVNET_GRPC_PORT (9190), DEVNET_BACKEND_PORT (8545), DEVNET_WS_BACKEND_PORT (8546), DEVNET_GRPC_BACKEND_PORT (9091), ' +
  'DEVNET_RELAY_PORT (8080), DEVNET_HEALTH_PORT (8081), DEVNET_RELAY_GRPC_PORT (8082), DEVNET_METRICS_PORT (9090), DEVNET_MINER_METRICS_PORT (9092), ' +
  'DEVNET_MINER2_METRICS_PORT (9093)';

/** A devnet listener that could not bind, said in one line with what moves the devnet's ports; other errors as they are. */
function devnetListenError(err: unknown): unknown {
  let what: string | undefined;
  if (err instanceof OperatorError && err.code === 'CANNOT_LISTEN') what = err.message;
  else if (err instanceof ConfigError && err.problems.length && err.problems.every((p) => p.message.startsWith('cannot listen on'))) {
    what = err.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  }
  return what === undefined ? err : new OperatorError('CANNOT_LISTEN', `devnet: ${what}. The devnet's ports move with ${DEVNET_PORTS}`);
}

/** Starts one of the devnet's demo backends; a port it cannot bind is said as such. */
async function demoBackend<T>(what: string, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    throw OperatorError.cannotListen(what, `127.0.0.1:${port}`, err);
  }
}

/**
 * `start --dev`: a private redis-server (unless REDIS_URL is set), the simulated Pocket node from
 * the default genesis, and both roles against them; everything stops together.
 */
async function startDev(): Promise<void> {
  const { LocalRedisServer, RedisServerMissingError } = await import('../core/redis/local-server.js');
  const { loadGenesisFile, startDemoBackend, startLocalnet } = await import('../localnet/index.js');
  const { createLogger } = await import('../core/observability/logger.js');
  const { spawnBoundToParent, watchParent } = await import('../core/process/child-process.js');
  const { runRoles } = await import('./run-role.js');
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const stop of cleanups.reverse()) await stop().catch(() => {});
  };
  try {
    if (!process.env.REDIS_URL) {
      // With an append-only file, as the miner asks of production Redis (it warns otherwise).
      const redis = await LocalRedisServer.start({ appendOnly: true }).catch((err: unknown) => {
        if (err instanceof RedisServerMissingError) throw new OperatorError('PROGRAM_MISSING', `${err.message}, or set REDIS_URL to a Redis of yours`);
        throw err;
      });
      cleanups.push(() => redis.stop());
      process.env.REDIS_URL = redis.url;
      process.stderr.write(`devnet: started redis-server on ${redis.url} (set REDIS_URL to use your own)\n`);
    }
    const net = await startLocalnet(loadGenesisFile(join(PACKAGE_ROOT, 'examples', 'localnet', 'genesis.yaml')), {
      rpcAddress: `127.0.0.1:${process.env.DEVNET_RPC_PORT ?? '26657'}`,
      grpcAddress: `127.0.0.1:${process.env.DEVNET_GRPC_PORT ?? '9190'}`,
      log: createLogger({ level: 'warn', format: 'auto' }, { base: { role: 'localnet' } }),
    });
    cleanups.push(() => net.stop());
    process.env.DEVNET_NODE_RPC_URL = `http://${net.rpcAddress}`;
    process.env.DEVNET_NODE_GRPC_ADDRESS = net.grpcAddress;
    process.stderr.write(`devnet: localnet chain on http://${net.rpcAddress} (CometBFT RPC) and ${net.grpcAddress} (gRPC)\n`);
    const backendPort = Number(process.env.DEVNET_BACKEND_PORT ?? 8545);
    const backend = await demoBackend('demo JSON-RPC backend', backendPort, () => startDemoBackend({ host: '127.0.0.1', port: backendPort }, () => net.chain.height));
    cleanups.push(() => backend.close());
    process.env.DEVNET_BACKEND_URL = backend.url;
    process.stderr.write(`devnet: demo JSON-RPC backend on ${backend.url} (service "anvil")\n`);
    // Loaded only here: the demo backends are not part of a production start.
    const { startWebSocketBackend } = await import('../examples/backends/websocket-jsonrpc.js');
    const { startGrpcBackend } = await import('../examples/backends/grpc-demo.js');
    const wsPort = Number(process.env.DEVNET_WS_BACKEND_PORT ?? 8546);
    const ws = await demoBackend('demo WebSocket backend', wsPort, () => startWebSocketBackend({ port: wsPort, intervalMs: 1000 }));
    cleanups.push(() => ws.close());
    process.env.DEVNET_WS_BACKEND_URL = ws.url;
    const grpcPort = Number(process.env.DEVNET_GRPC_BACKEND_PORT ?? 9091);
    const grpcBackend = await demoBackend('demo gRPC backend', grpcPort, () => startGrpcBackend({ port: grpcPort }));
    cleanups.push(() => grpcBackend.close());
    process.env.DEVNET_GRPC_BACKEND_URL = grpcBackend.url;
    process.stderr.write(`devnet: demo WebSocket backend on ${ws.url}, demo gRPC backend (demo.v1.Demo) on ${grpcBackend.address}\n`);
    const { runtime } = await runRoles(join(PACKAGE_ROOT, 'examples', 'config.devnet.yaml'), ['relayer', 'miner'], cleanup);
    if (process.env.DEVNET_TRAFFIC !== '0') {
      const { startDevnetTraffic } = await import('./devnet-traffic.js');
      const supplier = runtime.context.suppliers[0]!;
      const traffic = startDevnetTraffic({
        grpcAddress: net.grpcAddress,
        height: () => net.chain.height,
        relayUrl: `http://${runtime.addresses.relay}/`,
        relayGrpc: runtime.addresses.grpc!,
        supplier: supplier.address,
        supplierPublicKey: supplier.publicKey,
        redis: runtime.context.redis.next(),
        keys: runtime.context.keys,
        out: (line) => process.stderr.write(`${line}\n`),
      });
      // Stop sending as soon as a signal starts the shutdown.
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void traffic.stop());
      process.stderr.write('devnet: sending signed relays on JSON-RPC, WebSocket and gRPC; a status line every 5 s (DEVNET_TRAFFIC=0 turns it off)\n');
    }
    if (process.env.DEVNET_MINERS !== '1') {
      // A second miner replica in its own process: the supplier's lease moves to it if the first stops.
      const second = spawnBoundToParent(process.execPath, [join(PACKAGE_ROOT, 'dist', 'cli', 'main.js'), 'miner', '-c', join(PACKAGE_ROOT, 'examples', 'config.devnet.yaml')], {
        env: { ...process.env, DEVNET_MINER_ID: 'devnet-b', DEVNET_MINER_METRICS_PORT: process.env.DEVNET_MINER2_METRICS_PORT ?? '9093' },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const exited = new Promise<void>((r) => second.once('exit', () => r()));
      cleanups.push(async () => {
        if (second.exitCode === null && second.signalCode === null) second.kill('SIGTERM');
        await exited;
      });
      process.stderr.write(`devnet: second miner replica (devnet-b) started, pid ${second.pid}\n`);
    }
    process.stderr.write(`devnet: dashboard on http://${runtime.addresses.metrics}/dashboard\n`);
    // A parent that died without passing its signal on (a supervisor killed hard): stop as for SIGTERM.
    watchParent(() => {
      process.stderr.write('devnet: the parent process is gone; stopping\n');
      process.kill(process.pid, 'SIGTERM');
    });
  } catch (err) {
    await cleanup();
    throw devnetListenError(err);
  }
}

/** `relay --data` unless given: a JSON-RPC call (a gRPC relay sends an empty message instead). */
const DEFAULT_RELAY_DATA = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}';

const program = new Command();
program
  .name('relayminer')
  .description('Relay miner for Pocket Network (Shannon): stateless relayers and highly available miners.')
  .version(VERSION, '-V, --version', 'print the version')
  .showHelpAfterError();

program
  .command('relayer')
  .description('run the relayer role: accept, validate, forward, sign and publish relays')
  .requiredOption('-c, --config <file>', 'configuration file (YAML)')
  .option('-w, --workers <n>', 'relayer processes sharing the listeners (node:cluster), e.g. one per core', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('an integer from 1 to 256');
    return n;
  }, 1)
  .action(async (o: { config: string; workers: number }) => {
    const { runClustered } = await import('./run-role.js');
    await runClustered(o.config, ['relayer'], o.workers);
  });

program
  .command('miner')
  .description('run the miner role: build session trees and submit claims and proofs')
  .requiredOption('-c, --config <file>', 'configuration file (YAML)')
  .action(async (o: { config: string }) => {
    const { runRoles } = await import('./run-role.js');
    await runRoles(o.config, ['miner']);
  });

program
  .command('start')
  .description('run relayer and miner in one process; with --dev (what `npm start` runs), the local devnet')
  .option('-c, --config <file>', 'configuration file (YAML) with relayer and miner sections')
  .option('--dev', 'use the embedded devnet configuration and a private redis-server unless REDIS_URL is set')
  .action(async (o: { config?: string; dev?: boolean }) => {
    if (o.config) await (await import('./run-role.js')).runRoles(o.config, ['relayer', 'miner']);
    else if (o.dev) await startDev();
    else program.error('start needs -c <file>, or --dev for the local devnet', { exitCode: 1 });
  });

program
  .command('validate')
  .description('check a configuration file (and the options of the plugins it enables) without starting anything')
  .requiredOption('-c, --config <file>', 'configuration file (YAML)')
  .option('--check-stake', "also ask the relayer's Pocket node what each supplier key is staked for, and fail if a staked service and transport is not served; warn for a key whose stake covers 3 or fewer missed proofs before the chain unstakes it")
  .option('--keys', 'also list each role\'s supplier addresses and where each key was read (never the key)')
  .action(async (o: { config: string; checkStake?: boolean; keys?: boolean }) => {
    await validate(o.config, o.checkStake, o.keys);
  });

program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`relayminer ${VERSION}\n`);
  });

program
  .command('localnet')
  .description('run a simulated Pocket node (CometBFT RPC, Cosmos gRPC queries and transactions, fault injection) for tests and demos')
  .option('-c, --config <file>', 'genesis file', join(PACKAGE_ROOT, 'examples', 'localnet', 'genesis.yaml'))
  .option('--rpc-address <host:port>', 'CometBFT RPC listener', '127.0.0.1:26657')
  .option('--grpc-address <host:port>', 'Cosmos gRPC listener (9190: the relayer metrics take 9090)', '127.0.0.1:9190')
  .action(async (o: { config: string; rpcAddress: string; grpcAddress: string }) => {
    const { runLocalnet } = await import('./run-localnet.js');
    await runLocalnet(o.config, o.rpcAddress, o.grpcAddress);
  });

const positiveInt = (name: string, min = 1) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name}: an integer ≥ ${min}`);
  return n;
};

program
  .command('relay')
  .description('send signed relays (session and ring from the chain) and verify every supplier signature')
  .argument('<transport>', 'jsonrpc | rest | cometbft | websocket | grpc')
  .option('--relayer <url>', 'the relayer (grpc: host:port of its gRPC listener, default 127.0.0.1:8082)')
  .option('--node-grpc <host:port>', 'Cosmos gRPC of a node', '127.0.0.1:9190')
  .option('--node-rpc <url>', 'CometBFT RPC of the same node', 'http://127.0.0.1:26657')
  .option('--node-tls <mode>', 'TLS to the node: true, false or auto (TLS on port 443, or for an https:// RPC URL)', 'auto')
  .option('--node-ca-file <file>', "PEM file of the CA that signs the node's certificate")
  .option('--key <hex>', 'application or gateway private key (default: $RELAY_KEY)')
  .option('--key-name <name>', "instead of --key: that key of a pocketd keyring (--home, --keyring-backend; the file backend's passphrase from $RELAY_KEYRING_PASSPHRASE)")
  .option('--home <dir>', "the keyring's home directory, as pocketd's --home", join(process.env.HOME ?? '.', '.pocket'))
  .option('--keyring-backend <backend>', 'test or file', 'test')
  .option('--app <address>', 'application address, when --key is a gateway key')
  .requiredOption('--service <id>', 'service id')
  .requiredOption('--supplier <address>', 'supplier operator address')
  .option('--method <method>', 'HTTP method inside the relay', 'POST')
  .option('--path <path>', 'path and query inside the relay', '/')
  .option('--data <body>', `body inside the relay; websocket: the frame sent once; grpc: the request message as hex (default: ${DEFAULT_RELAY_DATA}; grpc: an empty message)`)
  .option('--count <n>', 'relays to send (websocket: signed messages to receive per connection)', positiveInt('count'), 1)
  .option('--concurrency <n>', 'relays in flight (websocket: connections)', positiveInt('concurrency'), 1)
  .option('--stream', 'grpc: call SendStreamingRelay (server-streaming backend methods)')
  .option('--rps <n>', 'rate limit (0: none)', positiveInt('rps', 0), 0)
  .option('--simulate <key-id>', "simulated relays (the relayer's relayer.simulation): signed as this pinned identity, no session read; --key is its gateway key")
  .option('--sim-app-pubkey <hex>', "with --simulate: the pinned identity's application public key")
  .action(async (transport: string, o: Record<string, string | number | undefined>) => {
    if (!['jsonrpc', 'rest', 'cometbft', 'websocket', 'grpc'].includes(transport)) {
      program.error(`relay: unknown transport "${transport}" (jsonrpc, rest, cometbft, websocket, grpc)`, { exitCode: 1 });
    }
    const keyName = o.keyName as string | undefined;
    const key = (o.key as string | undefined) ?? (keyName === undefined ? process.env.RELAY_KEY : undefined) ?? '';
    if (!key && keyName === undefined) program.error('relay: --key, $RELAY_KEY or --key-name is required', { exitCode: 1 });
    const { runRelayClient } = await import('./relay-client.js');
    const report = await runRelayClient({
      transport: transport as ClientTransport,
      relayer: (o.relayer as string | undefined) ?? (transport === 'grpc' ? '127.0.0.1:8082' : 'http://127.0.0.1:8080/'),
      stream: Boolean(o.stream),
      grpcAddress: o.nodeGrpc as string,
      rpcUrl: o.nodeRpc as string,
      nodeTls: parseNodeTls(o.nodeTls as string),
      nodeCaFile: o.nodeCaFile as string | undefined,
      key,
      ...(keyName !== undefined && { keyring: { name: keyName, home: resolvePath(o.home as string), backend: o.keyringBackend as string, passphrase: process.env.RELAY_KEYRING_PASSPHRASE } }),
      app: o.app as string | undefined,
      service: o.service as string,
      supplier: o.supplier as string,
      method: o.method as string,
      path: o.path as string,
      data: (o.data as string | undefined) ?? (transport === 'grpc' ? '' : DEFAULT_RELAY_DATA),
      count: o.count as number,
      concurrency: o.concurrency as number,
      rps: o.rps as number,
      ...(o.simulate !== undefined && { simulate: { keyId: o.simulate as string, appPublicKey: (o.simAppPubkey as string | undefined) ?? '' } }),
      out: (line) => process.stdout.write(`${line}\n`),
    });
    process.exit(report.failed.length === 0 ? 0 : 1);
  });

program
  .command('redis')
  .description('inspect what the relay miner keeps in Redis, read-only (sessions|streams|leases|submissions|meter|cache)')
  .argument('<what>', 'sessions | streams | leases | submissions | meter | cache')
  .requiredOption('-c, --config <file>', 'the miner or relayer configuration (Redis, namespace and suppliers)')
  .option('--supplier <address>', 'only this supplier')
  .option('--json', 'one JSON object per line')
  .action(async (what: string, o: { config: string; supplier?: string; json?: boolean }) => {
    const { INSPECT_WHAT, inspectRedis } = await import('./redis-inspect.js');
    if (!INSPECT_WHAT.includes(what as InspectWhat)) program.error(`redis: unknown view "${what}" (${INSPECT_WHAT.join(', ')})`, { exitCode: 1 });
    await inspectRedis({ config: o.config, what: what as InspectWhat, supplier: o.supplier, json: Boolean(o.json), out: (l) => process.stdout.write(`${l}\n`) });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(await operatorMessage(err));
  // Only starting fails here in a worker (once started, it runs until a signal): its primary stops on this code.
  process.exit(cluster.isWorker ? (await import('./run-role.js')).WORKER_COULD_NOT_START : 1);
}

/** A failure as the operator reads it: one line for what is theirs to fix, the stack for anything else. */
async function operatorMessage(err: unknown): Promise<string> {
  if (err instanceof ConfigError) return `${err.message}\n`;
  if (err instanceof OperatorError) return `relayminer: ${err.message}\n`;
  // Loaded already where they could have been thrown.
  const { PluginError } = await import('../core/plugins/loader.js');
  if (err instanceof PluginError) return `${err.message}\n`;
  const { ChainQueryError, CometRpcError } = await import('../core/chain/index.js');
  if (err instanceof CometRpcError || err instanceof ChainQueryError) {
    // gRPC statuses of a query the node never answered (down, unreachable, too slow); any other is its answer.
    const { status } = await import('@grpc/grpc-js');
    const noAnswer = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED]);
    // The node (or the address given for it, or what was asked of it) is the operator's to fix: one line, no stack.
    const answered = err instanceof ChainQueryError && !noAnswer.has(err.code);
    return `relayminer: ${answered ? 'the Pocket node refused the query' : 'the Pocket node did not answer'}: ${err.message}\n`;
  }
  return `relayminer: ${(err as Error).stack ?? String(err)}\n`;
}
