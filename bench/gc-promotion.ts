import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { RelayResponseCodec } from '../core/protocol/messages.js';
import { runBench, startBaselineProxy, startBenchChain, startBenchRelayer } from './harness.js';
import { drive, presignedRelays, startJsonRpcBackend } from './http-load.js';
import { table } from './table.js';

/**
 * What outlives the young generation, per relay: the relayer (or the plain proxy, TARGET=proxy) runs under
 * `--trace-gc-nvp` at RATE relays/s for MS after a warm-up, and the scavenges of its main thread in that
 * window are summed. Bytes promoted to the old generation become old-space garbage that only a mark-compact
 * frees, and the mark-compacts are where the relayer's tail latency bunches up (bench/README.md).
 * Run: npm run build && node dist/bench/gc-promotion.js   (TARGET=relayer|proxy RATE=500 MS=10000 CONNECTIONS=64;
 * RELAYER_NODE_ARGS adds V8 flags to the relayer, e.g. "--no-page-promotion")
 */

export interface GcWindow {
  scavenges: number;
  markCompacts: number;
  /** Sums over the window's scavenges, in bytes. */
  promoted: number;
  survived: number;
  allocated: number;
  /** Pause time of the window's scavenges and mark-compacts, ms. */
  scavengeMs: number;
  markCompactMs: number;
}

const NVP_LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+\d+ ms: (.*)$/;

/**
 * The isolate of the first GC line of a whole `--trace-gc-nvp` log: the main thread's, which collects
 * while the process starts, before any worker thread exists.
 */
export function firstIsolate(log: string): string | undefined {
  for (const line of log.split('\n')) {
    const m = NVP_LINE.exec(line);
    if (m && /\bgc=/.test(m[2]!)) return m[1];
  }
  return undefined;
}

/**
 * Sums `--trace-gc-nvp` lines of one isolate: `isolate`, or else the first one that prints in `text`.
 * Worker threads' isolates print their own lines; in a window cut from the middle of a log one of them
 * may print first, so a caller cutting windows names the main thread's (firstIsolate of the whole log).
 */
export function summarizeNvp(text: string, isolate?: string): GcWindow {
  const w: GcWindow = { scavenges: 0, markCompacts: 0, promoted: 0, survived: 0, allocated: 0, scavengeMs: 0, markCompactMs: 0 };
  for (const line of text.split('\n')) {
    const m = NVP_LINE.exec(line);
    if (!m || !/\bgc=/.test(m[2]!)) continue;
    isolate ??= m[1];
    if (m[1] !== isolate) continue;
    const field = (name: string) => Number(new RegExp(`(?:^| )${name}=([\\d.]+)`).exec(m[2]!)?.[1] ?? 0);
    const gc = /\bgc=(\w+)/.exec(m[2]!)![1];
    if (gc === 's') {
      w.scavenges++;
      w.promoted += field('promoted');
      w.survived += field('new_space_survived');
      w.allocated += field('allocated');
      w.scavengeMs += field('pause');
    } else if (gc === 'mc' || gc === 'mmc') {
      w.markCompacts++;
      w.markCompactMs += field('pause');
    }
  }
  return w;
}

async function main(): Promise<void> {
  const TARGET = process.env.TARGET ?? 'relayer';
  const RATE = Number(process.env.RATE ?? 500);
  const MS = Number(process.env.MS ?? 10_000);
  const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
  if (TARGET !== 'relayer' && TARGET !== 'proxy') throw new Error(`TARGET is relayer or proxy, not ${TARGET}`);
  const chain = await startBenchChain();
  const backend = await startJsonRpcBackend();
  const stops: (() => Promise<void>)[] = [];
  try {
    const ownArgs = (process.env.RELAYER_NODE_ARGS ?? '').trim();
    let port: number;
    let log: string;
    if (TARGET === 'relayer') {
      process.env.RELAYER_NODE_ARGS = `${ownArgs} --trace-gc-nvp`;
      const relayer = await startBenchRelayer(chain, { services: `  anvil:\n    backends:\n      jsonrpc: { url: "${backend.url}" }`, plugins: '  - transport-jsonrpc' });
      stops.push(relayer.stop);
      port = relayer.relayPort;
      log = relayer.log;
    } else {
      log = join(tmpdir(), `relayminer-proxy-gc-${process.pid}.log`);
      const fd = openSync(log, 'w');
      const proxy = await startBaselineProxy(backend.url, { nodeArgs: ['--trace-gc-nvp'], stdout: fd }).finally(() => closeSync(fd));
      stops.push(proxy.stop);
      port = proxy.port;
    }
    const bodies = presignedRelays(chain.header, 4000);
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS });
    const served = TARGET === 'proxy' ? () => true : (b: Uint8Array) => !RelayResponseCodec.decode(b).relay_miner_error;
    await drive(pool, bodies, 500, 8000, served); // warm-up: JIT, caches, connections
    const before = readFileSync(log, 'utf8').length;
    const r = await drive(pool, bodies, RATE, MS, served);
    const whole = readFileSync(log, 'utf8');
    const w = summarizeNvp(whole.slice(before), firstIsolate(whole));
    await pool.close();
    if (r.errors > 0) throw new Error(`${r.errors} relays failed`);
    const per = (bytes: number) => (bytes / r.completed).toFixed(0);
    process.stdout.write(
      `${table(`${TARGET} at ${RATE}/s for ${MS / 1000} s (${r.completed} relays${TARGET === 'relayer' && ownArgs ? `; node args ${ownArgs}` : ''})`, ['allocated B/relay', 'survived B/relay', 'promoted B/relay', 'scavenges', 'scavenge ms', 'mark-compacts', 'mark-compact ms'], [
        [per(w.allocated), per(w.survived), per(w.promoted), String(w.scavenges), w.scavengeMs.toFixed(1), String(w.markCompacts), w.markCompactMs.toFixed(1)],
      ])}\n`,
    );
  } finally {
    for (const stop of stops) await stop();
    backend.close();
    await chain.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runBench(main);
