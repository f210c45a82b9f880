/**
 * A counter or gauge in a Prometheus text scrape, summed over its label sets; with `labels`, only the
 * sets carrying each of those label values.
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? ([0-9.e+-]+)$`, 'gm'))) {
    const set = (m[1] ?? '').split(',');
    if (wanted.every((w) => set.includes(w))) sum += Number(m[2]);
  }
  return sum;
}

/** `metricSum` of what `http://<address>/metrics` answers now. */
export async function scrapeSum(address: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricSum(await (await fetch(`http://${address}/metrics`)).text(), name, labels);
}
