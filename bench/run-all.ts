import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.js';

/**
 * `npm run bench`: every suite in bench/, one after another (each alone on the machine), and
 * BENCHMARKS.md rewritten with the machine, the date, the commands and every table as printed.
 */
const SUITES: { name: string; script: string; args?: string[]; runs?: number; env?: Record<string, string>; bench?: string; about: string }[] = [
  { name: 'crypto', script: 'crypto.js', about: 'Ring signatures and supplier signatures, native and pure JS.' },
  { name: 'smst', script: 'smst.js', args: ['--expose-gc'], about: 'Sparse Merkle sum trie: inserts, root, closest proofs, against a direct computation over sorted leaves.' },
  { name: 'relayer', script: 'relayer.js', runs: 5, about: 'One relayer process against a plain fastify proxy in front of the same backend; the targets\' verdicts over five runs.' },
  { name: 'relayer-pinned', script: 'relayer.js', runs: 3, env: { PIN: '1', RATES: '500,1000,1500' }, bench: 'relayer', about: 'The same with the relayer (and the proxy) alone on one core, everything else on the other (PIN=1): relays/s per core.' },
  { name: 'relayer-workers', script: 'relayer.js', env: { WORKERS: '2', RATES: '1000,2000' }, bench: 'relayer', about: 'The same with `--workers 2` (WORKERS=2): relays/s with both cores.' },
  { name: 'websocket', script: 'websocket.js', runs: 5, about: 'WebSocket through one relayer against the demo backend directly; request/response over five runs.' },
  { name: 'grpc', script: 'grpc.js', runs: 5, about: 'gRPC through one relayer against the demo backend directly, by a grpc-js client and (where installed) by h2load; unary calls over five runs.' },
  { name: 'redis-hang', script: 'redis-hang.js', about: 'One relayer at a steady rate while Redis stops answering for 20 s and then answers again, with the meter failing open and closed; the phase before the hang is the baseline.' },
  { name: 'miner', script: 'miner.js', args: ['--expose-gc'], about: 'Miner ingest (one stream, then 1,000 suppliers\' streams) against a bare consumer; claim root and proof from stored sessions against the in-memory reference trie.' },
  { name: 'miner-scale', script: 'miner-scale.js', about: "1,000 suppliers, two miner processes, one relayer, localnet at 2-second blocks of a minute's chain time each (mainnet's pace) with 10-block windows: when claims and proofs land." },
  { name: 'miner-soak', script: 'miner-soak.js', about: 'Miner RSS over 30 minutes at a steady relay rate.' },
];

// Each section names the machine it ran on: a run of some suites keeps the others' sections, and this
// kind of VM has come with different CPU models from one session to the next.
const cpu = cpus();
const MACHINE = `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform} ${process.arch}, Node ${process.version}`;

const only = process.argv.slice(2);
const sections: string[] = [];
for (const s of SUITES.filter((x) => only.length === 0 || only.includes(x.name))) {
  process.stderr.write(`\n== bench ${s.name}\n`);
  const started = Date.now();
  const env = { ...process.env, ...(s.env ?? {}), ...(s.runs ? { RUNS: process.env.RUNS ?? String(s.runs) } : {}) };
  const r = spawnSync(process.execPath, [...(s.args ?? []), join(PACKAGE_ROOT, 'dist/bench', s.script)], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  process.stdout.write(r.stdout);
  const took = ((Date.now() - started) / 1000).toFixed(0);
  const body = r.status === 0 ? r.stdout.trim() : `**failed** (exit ${r.status}); output:\n\n\`\`\`\n${r.stdout.trim()}\n\`\`\``;
  sections.push(`## ${s.name}\n\n${s.about} \`npm run bench:${s.bench ?? s.name}\`${s.env ? ` with ${Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}${s.runs ? `, RUNS=${env.RUNS}` : ''} (${new Date().toISOString().slice(0, 10)}, ${took} s, ${MACHINE}).\n\n${body}\n`);
}

const header = `# Benchmarks

Written by \`npm run bench\` (every suite, or \`npm run bench -- <suite> …\` for some), last on ${new Date().toISOString().slice(0, 10)}; each section has the date
of its run and the machine it ran on.
Every suite runs alone; each table has its baseline from the same run (the ratio column, or the baseline rows).
`;
const file = join(PACKAGE_ROOT, 'BENCHMARKS.md');
// A run of some suites (\`npm run bench -- miner\`) replaces their sections and keeps the others; the
// hand-written "notes" section (run lists, what moved the numbers) is always kept, last.
const previous = existsSync(file) ? readFileSync(file, 'utf8').split(/\n(?=## )/).slice(1) : [];
const nameOf = (sec: string) => /^## (\S+)/.exec(sec)?.[1] ?? '';
const byName = new Map(previous.filter((sec) => only.length || nameOf(sec) === 'notes').map((sec) => [nameOf(sec), sec.trim() + '\n']));
for (const sec of sections) byName.set(nameOf(sec), sec);
const ordered = [...SUITES.map((s) => s.name), 'notes'].map((name) => byName.get(name)).filter((x): x is string => x !== undefined);
writeFileSync(file, [header, ...ordered].join('\n'));
process.stderr.write(`\nwrote BENCHMARKS.md\n`);
