import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Test } from 'tap';
import { tempDir } from './temp-dir.js';
import { join } from 'node:path';
import { withoutTapHook } from './child-env.js';

// The CLI as operators run it: the compiled bin from dist/ (npm test builds first).
export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'dist', 'cli', 'main.js');
export const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(...withoutTapHook(process.execPath, [BIN, ...args]), { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `cli` without blocking the event loop: for tests whose servers (a localnet, a proxy) run in this process. */
export function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(...withoutTapHook(process.execPath, [BIN, ...args]), { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A relayer config (listeners on port 0, the key from $KEY, JSON logs) with `rest` (top-level YAML) after it. */
export function relayerFile(t: Test, redisUrl: string, net: { rpcAddress: string; grpcAddress: string }, rest: string): string {
  const file = join(tempDir(t, 'relayminer-cli'), 'relayer.yaml');
  writeFileSync(
    file,
    `relayer:\n  listen_address: "127.0.0.1:0"\n  health_address: "127.0.0.1:0"\n  metrics_address: "127.0.0.1:0"\n  redis: { url: "${redisUrl}" }\n  pocket_node: { rpc_url: "http://${net.rpcAddress}", grpc_address: "${net.grpcAddress}" }\n  supplier_keys: [{ private_key_hex: "\${KEY}" }]\n${rest}logging: { format: json }\n`,
  );
  return file;
}
