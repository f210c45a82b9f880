import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { moduleOfPath } from './code-module.js';
import { table } from './table.js';

/**
 * On-CPU time per relay, by thread and by what the thread was running, from Linux `perf` samples of a
 * relayer started with `--perf-basic-prof` (bench/README.md has the commands). V8's own profiler
 * samples wall time on the main thread, so a thread that lost its core (to the ring-verification
 * thread, the load generator, Redis) shows the wait as the last call it made; perf's cpu-clock samples
 * only count time on a core.
 *
 * Usage: node dist/bench/perf-breakdown.js <perf-script.txt> <relays> <hz> [threads shown, 2]
 * where perf-script.txt is `perf script -i perf.data` (with -g call chains) and relays is how many the
 * relayer served while perf recorded at <hz> samples per second.
 */

export interface Sample {
  tid: string;
  /** Leaf first. */
  frames: string[];
}

export function parsePerfScript(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.trim().split('\n');
    const tid = /^\S+\s+(\d+)/.exec(lines[0] ?? '')?.[1];
    if (!tid || lines.length < 2) continue;
    samples.push({ tid, frames: lines.slice(1).map((l) => l.trim()) });
  }
  return samples;
}

const GC = /Scavenger|MinorGC|MarkCompact|Heap::CollectGarbage|ConcurrentMarking|IncrementalMarking|Sweeper/;

/** The module a JS frame's code belongs to (see moduleOfPath). */
function moduleOf(frame: string): string | undefined {
  const m = /JS:[*~^]?\S*\s+(?:file:\/\/)?(\S+?):\d+:\d+/.exec(frame);
  return m ? moduleOfPath(m[1]!) : undefined;
}

/** What a sample was doing: native crypto, GC, or the JS module nearest the leaf (its builtins and syscalls included). */
export function categoryOf(s: Sample): string {
  const leaf = s.frames[0] ?? '';
  if (leaf.includes('secp256k1_lincomb.node')) return 'ring table sums (native addon)';
  if (/secp256k1[^/ ]*\.node/.test(leaf)) return 'libsecp256k1 (secp256k1 package: ECDSA)';
  if (s.frames.some((f) => GC.test(f))) return 'garbage collector';
  for (const f of s.frames) {
    const mod = moduleOf(f);
    if (mod) return mod;
  }
  const dso = /\(([^()]*)\)\s*$/.exec(leaf)?.[1]?.split('/').pop() ?? 'unknown';
  return `no JS on the stack (${dso})`;
}

export interface ThreadBreakdown {
  tid: string;
  samples: number;
  usPerRelay: number;
  /** Most samples first. */
  parts: { what: string; samples: number; usPerRelay: number }[];
}

/** Threads, busiest first, each with what it ran; µs per relay from the sample count at `hz`. */
export function perfBreakdown(text: string, relays: number, hz: number): ThreadBreakdown[] {
  const usPerRelay = (n: number) => ((n / hz) * 1e6) / relays;
  const byThread = new Map<string, Map<string, number>>();
  for (const s of parsePerfScript(text)) {
    const parts = byThread.get(s.tid) ?? new Map<string, number>();
    byThread.set(s.tid, parts);
    const what = categoryOf(s);
    parts.set(what, (parts.get(what) ?? 0) + 1);
  }
  return [...byThread]
    .map(([tid, parts]) => {
      const samples = [...parts.values()].reduce((a, b) => a + b, 0);
      const list = [...parts].map(([what, n]) => ({ what, samples: n, usPerRelay: usPerRelay(n) })).sort((a, b) => b.samples - a.samples);
      return { tid, samples, usPerRelay: usPerRelay(samples), parts: list };
    })
    .sort((a, b) => b.samples - a.samples);
}

function main(args: string[]): void {
  const [file, relaysArg, hzArg, shownArg] = args;
  const relays = Number(relaysArg);
  const hz = Number(hzArg);
  if (!file || !(relays > 0) || !(hz > 0)) {
    process.stderr.write('usage: node dist/bench/perf-breakdown.js <perf-script.txt> <relays> <hz> [threads shown, 2]\n');
    process.exitCode = 2;
    return;
  }
  const threads = perfBreakdown(readFileSync(file, 'utf8'), relays, hz);
  const total = threads.reduce((a, t) => a + t.samples, 0);
  const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1)} %`;
  process.stdout.write(`${table('On-CPU time per relay, by thread', ['thread', 'µs per relay', 'share of samples'], threads.map((t) => [t.tid, t.usPerRelay.toFixed(1), pct(t.samples, total)]))}\n`);
  for (const t of threads.slice(0, Number(shownArg ?? 2))) {
    const rows = t.parts.slice(0, 20).map((p) => [p.usPerRelay.toFixed(1), pct(p.samples, t.samples), p.what]);
    process.stdout.write(`${table(`Thread ${t.tid}: what it ran`, ['µs per relay', 'share', 'what'], rows)}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Piped into `head`: the reader leaving early is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  main(process.argv.slice(2));
}
