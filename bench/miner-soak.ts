import { readFileSync } from 'node:fs';
import { runBench } from './harness.js';
import { scrapeSum } from './metrics-text.js';
import { startDeployment } from './scale-scenario.js';
import { table } from './table.js';

/**
 * The miner over a long run at a steady relay rate: MINUTES (30) of RATE (100) relays/s spread over
 * SUPPLIERS (50) suppliers, one miner and one relayer against `relayminer localnet` at 1-second
 * blocks (a session every 10 s, each claimed, proved where required and settled). The miner's RSS is
 * sampled every minute; the baseline is its own RSS after the first five minutes (warm).
 * Run: npm run bench:miner-soak
 */
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

runBench(async () => {
  const minutes = Number(process.env.MINUTES ?? 30);
  const rate = Number(process.env.RATE ?? 100);
  const d = await startDeployment({ suppliers: Number(process.env.SUPPLIERS ?? 50), blockMs: 1000, windowBlocks: 4, miners: 1 }, (l) => process.stderr.write(`${l}\n`));
  try {
    const miner = d.miners[0]!;
    let served = 0;
    let refused = 0;
    let running = true;
    let header = await d.session(BigInt((await d.comet.block()).height));
    const refresh = setInterval(() => void d.comet.block().then(async (b) => (header = await d.session(BigInt(b.height)))).catch(() => {}), 1000);
    // Open loop: one relay every 1/rate s, to the suppliers in turn.
    const pump = (async () => {
      const started = Date.now();
      let i = 0;
      while (running) {
        const due = started + (i * 1000) / rate;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        const n = i++;
        void d.relay(header, d.suppliers[n % d.suppliers.length]!.address, n).then(
          (status) => (status === 200 ? served++ : refused++),
          () => refused++,
        );
      }
    })();
    const settled = () => scrapeSum(d.minerMetrics[0]!, 'relayminer_miner_settlements_total', { outcome: 'settled' });
    const rows: (string | number)[][] = [];
    const samples: number[] = [];
    for (let m = 1; m <= minutes; m++) {
      await new Promise((r) => setTimeout(r, 60_000));
      const rss = rssMb(miner.pid!);
      samples.push(rss);
      rows.push([m, served, refused, await settled(), rss.toFixed(0)]);
      process.stderr.write(`minute ${m}: ${served} relays, miner RSS ${rss.toFixed(0)} MB\n`);
    }
    running = false;
    clearInterval(refresh);
    await pump;
    const warm = samples[Math.min(4, samples.length - 1)]!;
    const last = samples[samples.length - 1]!;
    const peak = Math.max(...samples.slice(Math.min(4, samples.length - 1)));
    process.stdout.write(
      table(`Miner RSS over ${minutes} minutes at ${rate} relays/s (${d.suppliers.length} suppliers, 1 s blocks; node ${process.version})`, ['minute', 'relays served', 'refused', 'sessions settled', 'miner RSS MB'], rows) +
        `\nBaseline (minute ${Math.min(5, samples.length)}): ${warm.toFixed(0)} MB; last: ${last.toFixed(0)} MB (${(last - warm >= 0 ? '+' : '') + (last - warm).toFixed(0)} MB); peak after warm-up: ${peak.toFixed(0)} MB.\n`,
    );
  } finally {
    await d.stop();
  }
});
