import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { WebSocket } from 'ws';
import { RelayResponseCodec } from '../core/protocol/messages.js';
import { freePort } from '../core/redis/local-server.js';
import { runBench, startBenchChain, startBenchRelayer } from './harness.js';
import { moduleOfPath } from './code-module.js';
import { drive, presignedRelays, startJsonRpcBackend } from './http-load.js';
import { table } from './table.js';

/**
 * Bytes allocated on a relayer's main thread per relay, by module and by site: the relayer runs under
 * --inspect and V8's sampling heap profiler records, objects collected since included (so it counts what
 * drives the scavenges, not only what survives), while the load runs at RATE relays/s for MS.
 * Run: npm run build && node dist/bench/alloc-profile.js   (RATE=1000 MS=8000 TOP=25)
 * The crypto threads' allocations are not counted (each thread is an isolate of its own).
 */

/** A node of the inspector's SamplingHeapProfile (HeapProfiler.stopSampling). */
export interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

export interface AllocationRow {
  what: string;
  bytesPerRelay: number;
}

export interface AllocationBreakdown {
  bytesPerRelay: number;
  /** By the module of the innermost frame with a script (a package, a node built-in, a directory of this project). */
  modules: AllocationRow[];
  /** By the innermost frame of this project's code (path:line function), else the innermost frame with a script. */
  sites: AllocationRow[];
}

function siteOf(frame: SamplingNode['callFrame']): string {
  const path = frame.url.replace(/^file:\/\//, '').replace(/.*\/dist\//, '');
  return `${path}:${frame.lineNumber + 1} ${frame.functionName || '(anonymous)'}`;
}

export function allocationBreakdown(head: SamplingNode, relays: number): AllocationBreakdown {
  const modules = new Map<string, number>();
  const sites = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode, stack: SamplingNode['callFrame'][]) => {
    const frames = [...stack, node.callFrame];
    if (node.selfSize > 0) {
      total += node.selfSize;
      const scripted = frames.filter((f) => f.url !== '');
      const leaf = scripted.at(-1);
      const own = scripted.filter((f) => f.url.includes('/dist/')).at(-1) ?? leaf;
      const module = leaf ? moduleOfPath(leaf.url.replace(/^file:\/\//, '')) : node.callFrame.functionName || '(V8)';
      const site = own ? siteOf(own) : module;
      modules.set(module, (modules.get(module) ?? 0) + node.selfSize);
      sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, frames);
  };
  walk(head, []);
  const rows = (m: Map<string, number>) =>
    [...m]
      .map(([what, bytes]) => ({ what, bytesPerRelay: bytes / relays }))
      .sort((a, b) => b.bytesPerRelay - a.bytesPerRelay);
  return { bytesPerRelay: total / relays, modules: rows(modules), sites: rows(sites) };
}

/** The relayer's inspector over its WebSocket: one call at a time, answers matched by id. */
async function inspector(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl, { maxPayload: 1 << 30 });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  let id = 0;
  return {
    call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      const mine = ++id;
      return new Promise<T>((resolve, reject) => {
        const onMessage = (data: Buffer) => {
          const m = JSON.parse(data.toString()) as { id?: number; result?: T; error?: { message: string } };
          if (m.id !== mine) return;
          ws.off('message', onMessage);
          if (m.error) reject(new Error(`${method}: ${m.error.message}`));
          else resolve(m.result as T);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id: mine, method, params }));
      });
    },
    close: () => ws.close(),
  };
}

async function main(): Promise<void> {
  const RATE = Number(process.env.RATE ?? 1000);
  const MS = Number(process.env.MS ?? 8000);
  const TOP = Number(process.env.TOP ?? 25);
  const port = await freePort();
  process.env.RELAYER_NODE_ARGS = `${process.env.RELAYER_NODE_ARGS ?? ''} --inspect=127.0.0.1:${port}`;
  const chain = await startBenchChain();
  const backend = await startJsonRpcBackend();
  try {
    const relayer = await startBenchRelayer(chain, { services: `  anvil:\n    backends:\n      jsonrpc: { url: "${backend.url}" }`, plugins: '  - transport-jsonrpc' });
    try {
      const bodies = presignedRelays(chain.header, 4000);
      const pool = new Pool(`http://127.0.0.1:${relayer.relayPort}`, { connections: 64 });
      const served = (b: Uint8Array) => !RelayResponseCodec.decode(b).relay_miner_error;
      await drive(pool, bodies, 500, 8000, served); // warm-up: JIT, caches, tables
      const profiler = await inspector(port);
      await profiler.call('HeapProfiler.enable');
      await profiler.call('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      const r = await drive(pool, bodies, RATE, MS, served);
      const { profile } = await profiler.call<{ profile: { head: SamplingNode } }>('HeapProfiler.stopSampling');
      profiler.close();
      await pool.close();
      if (r.errors > 0) throw new Error(`${r.errors} relays failed while profiling`);
      const b = allocationBreakdown(profile.head, r.completed);
      const kb = (row: AllocationRow) => [(row.bytesPerRelay / 1024).toFixed(2), row.what];
      process.stdout.write(`\n${r.completed} relays at ${RATE}/s: ${(b.bytesPerRelay / 1024).toFixed(1)} KB allocated per relay on the relayer's main thread\n`);
      process.stdout.write(`${table('By module (the innermost frame with a script)', ['KB per relay', 'module'], b.modules.slice(0, TOP).map(kb))}\n`);
      process.stdout.write(`${table("By site (the innermost frame of this project's code)", ['KB per relay', 'site'], b.sites.slice(0, TOP).map(kb))}\n`);
    } finally {
      await relayer.stop();
    }
  } finally {
    backend.close();
    await chain.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runBench(main);
