import { readFileSync } from 'node:fs';
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

interface Sample {
  tid: string;
  /** Leaf first. */
  frames: string[];
}

function parse(text: string): Sample[] {
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

/** The module a JS frame's code belongs to: a package, a node built-in, or a directory of this project. */
function moduleOf(frame: string): string | undefined {
  const m = /JS:[*~^]?\S*\s+(?:file:\/\/)?(\S+?):\d+:\d+/.exec(frame);
  if (!m) return undefined;
  const path = m[1]!;
  const npm = path.split('node_modules/')[1];
  if (npm) {
    const parts = npm.split('/');
    return `npm ${parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (path.startsWith('node:')) return path.startsWith('node:internal/') ? `node:internal/${path.split('/')[1]}` : path;
  const own = /(?:dist\/)?((?:core|plugins|cli|localnet)\/[^/]+)/.exec(path);
  return own ? own[1] : path;
}

/** What a sample was doing: native crypto, GC, or the JS module nearest the leaf (its builtins and syscalls included). */
function categoryOf(s: Sample): string {
  const leaf = s.frames[0] ?? '';
  const near = s.frames.slice(0, 8).join(' ');
  if (leaf.includes('secp256k1_lincomb.node')) return 'ring table sums (native addon)';
  if (leaf.includes('secp256k1') || near.includes('Secp256k1Addon')) return 'ECDSA (libsecp256k1)';
  if (s.frames.some((f) => GC.test(f))) return 'garbage collector';
  for (const f of s.frames) {
    const mod = moduleOf(f);
    if (mod) return mod;
  }
  const dso = /\(([^()]*)\)\s*$/.exec(leaf)?.[1]?.split('/').pop() ?? 'unknown';
  return `no JS on the stack (${dso})`;
}

const [file, relaysArg, hzArg, shownArg] = process.argv.slice(2);
if (!file || !relaysArg || !hzArg) {
  process.stderr.write('usage: node dist/bench/perf-breakdown.js <perf-script.txt> <relays> <hz> [threads shown]\n');
  process.exit(2);
}
const relays = Number(relaysArg);
const hz = Number(hzArg);
const usPerRelay = (n: number) => ((n / hz) * 1e6) / relays;
const samples = parse(readFileSync(file, 'utf8'));
const byThread = new Map<string, Sample[]>();
for (const s of samples) byThread.set(s.tid, [...(byThread.get(s.tid) ?? []), s]);
const threads = [...byThread].sort((a, b) => b[1].length - a[1].length);
process.stdout.write(`${table('On-CPU time per relay, by thread', ['thread', 'µs per relay', 'share of samples'], threads.map(([tid, s]) => [tid, usPerRelay(s.length).toFixed(1), `${((100 * s.length) / samples.length).toFixed(1)} %`]))}\n`);
for (const [tid, list] of threads.slice(0, Number(shownArg ?? 2))) {
  const counts = new Map<string, number>();
  for (const s of list) counts.set(categoryOf(s), (counts.get(categoryOf(s)) ?? 0) + 1);
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 20);
  process.stdout.write(`${table(`Thread ${tid}: what it ran`, ['µs per relay', 'share', 'what'], rows.map(([k, n]) => [usPerRelay(n).toFixed(1), `${((100 * n) / list.length).toFixed(1)} %`, k]))}\n`);
}
