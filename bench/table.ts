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
