/** Tiny helpers shared by the benchmark scripts: timing loops and a plain-text table. */

export interface Measured {
  perOpMs: number;
  opsPerSec: number;
  iterations: number;
}

/** Runs `fn` for at least `minMs` (after a warm-up) and reports the mean cost per call. */
export function measure(fn: (i: number) => unknown, minMs = 1500, warmup = 20): Measured {
  for (let i = 0; i < warmup; i++) fn(i);
  let iterations = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let k = 0; k < 10; k++) fn(iterations++);
    elapsed = performance.now() - start;
  }
  const perOpMs = elapsed / iterations;
  return { perOpMs, opsPerSec: 1000 / perOpMs, iterations };
}

export function table(title: string, header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`;
  return [`\n${title}\n`, line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

export const fmtMs = (ms: number) => (ms < 0.1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(3)} ms`);
export const fmtRate = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)}k/s` : `${n.toFixed(0)}/s`);

/** A measure taken in several runs, with the target it is held to. */
export interface SpreadRow {
  name: string;
  values: number[];
  digits?: number;
  /** `<=` or `>=` the value; none: reported without a verdict. */
  target?: { op: '<=' | '>='; value: number };
}

/** One line per measure: every run's value, min / median / max, the target and in how many runs it held. */
export function spreadTable(title: string, rows: SpreadRow[]): string {
  const runs = Math.max(...rows.map((r) => r.values.length));
  return table(
    title,
    ['measure', 'runs', 'min', 'median', 'max', 'target', 'verdict'],
    rows.map((r) => {
      const d = r.digits ?? 2;
      const sorted = [...r.values].sort((a, b) => a - b);
      const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
      const held = r.target ? r.values.filter((v) => (r.target!.op === '<=' ? v <= r.target!.value : v >= r.target!.value)).length : 0;
      const verdict = !r.target ? '' : held === r.values.length ? `met in all ${held}` : held === 0 ? `not met (0 of ${r.values.length})` : `met in ${held} of ${r.values.length}`;
      return [r.name, r.values.map((v) => v.toFixed(d)).join(' · '), sorted[0]!.toFixed(d), median.toFixed(d), sorted.at(-1)!.toFixed(d), r.target ? `${r.target.op} ${r.target.value}` : '', verdict];
    }),
  ).replace(/^\n(.*)\n/, `\n$1 (${runs} runs)\n`);
}

/** `RUNS` (environment): how many times a suite with targets repeats its measurement. */
export const RUNS = Math.max(1, Number(process.env.RUNS ?? 1));
