import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

/**
 * The operator dashboard on the metrics listener: `/dashboard` (one self-contained HTML page, no external
 * scripts, works offline) polling `/dashboard/state` (JSON). Parts of the state come from sources that
 * plugins register (`context.dashboard.add('miner', …)`); counters come from this process's registry.
 */
export type DashboardSource = () => Promise<unknown>;

export class Dashboard {
  readonly #sources = new Map<string, DashboardSource>();

  add(name: string, source: DashboardSource): void {
    this.#sources.set(name, source);
  }

  async state(metrics: Metrics): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = { time: Date.now(), counters: await counters(metrics) };
    for (const [name, source] of this.#sources) {
      out[name] = await source().catch((err: Error) => ({ error: err.message }));
    }
    return out;
  }
}

/** Latency histograms the page reads, by the state field their buckets go to. */
const BUCKETED: Record<string, string> = {
  relayminer_relay_duration_seconds: 'relay_duration_buckets',
  relayminer_relay_overhead_seconds: 'relay_overhead_buckets',
};

/** Relay, rejection and miner counters summed by their interesting label, for the page's charts and tables. */
async function counters(metrics: Metrics): Promise<Record<string, Record<string, number>>> {
  const wanted: Record<string, string> = {
    relayminer_relays_total: 'rpc_type',
    relayminer_relay_rejections_total: 'reason',
    relayminer_backend_urls_healthy: 'service',
    relayminer_miner_submissions_total: 'result',
    relayminer_miner_upokt_total: 'kind',
  };
  const out: Record<string, Record<string, number>> = {};
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const bucketed = BUCKETED[m.name];
    if (bucketed) {
      // Cumulative bucket counts by upper bound; the page turns deltas between polls into quantiles.
      const buckets: Record<string, number> = {};
      for (const v of m.values as { labels: Record<string, string | number>; value: number; metricName?: string }[]) {
        if (v.metricName !== `${m.name}_bucket`) continue;
        buckets[String(v.labels.le)] = (buckets[String(v.labels.le)] ?? 0) + v.value;
      }
      out[bucketed] = buckets;
      continue;
    }
    const by = wanted[m.name];
    if (!by) continue;
    const sums: Record<string, number> = {};
    for (const v of m.values as { labels: Record<string, string | number>; value: number }[]) {
      if (m.name === 'relayminer_relays_total' && v.labels.outcome !== 'served') continue;
      const key = m.name === 'relayminer_backend_urls_healthy' ? `${v.labels.service} ${v.labels.rpc_type}` : m.name === 'relayminer_miner_submissions_total' ? `${v.labels.phase} ${v.labels.result}` : String(v.labels[by]);
      sums[key] = (sums[key] ?? 0) + v.value;
    }
    out[m.name.replace(/^relayminer_/, '')] = sums;
  }
  return out;
}

export function registerDashboardRoutes(app: FastifyInstance, dashboard: Dashboard, metrics: Metrics): void {
  app.get('/dashboard', async (_req, reply) => reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(PAGE));
  app.get('/dashboard/state', async () => dashboard.state(metrics));
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>relayminer</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#0f1419;color:#e6e6e6}
header{padding:12px 20px;background:#1b2330;display:flex;gap:24px;align-items:baseline}
h1{font-size:18px;margin:0}h2{font-size:14px;margin:0 0 8px;color:#9fb3c8;text-transform:uppercase;letter-spacing:.05em}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;padding:16px 20px}
section{background:#1b2330;border-radius:6px;padding:12px 14px;overflow:auto}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:3px 8px 3px 0;border-bottom:1px solid #2a3442;white-space:nowrap}
th{color:#9fb3c8;font-weight:500}.ok{color:#7ee787}.bad{color:#ff7b72}.muted{color:#8b949e}
svg{width:100%;height:120px;background:#111820}
</style></head><body>
<header><h1>relayminer</h1><span id="height" class="muted"></span><span id="updated" class="muted"></span></header>
<main>
<section><h2>Relays per second</h2><svg id="chart" viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div id="rates" class="muted"></div></section>
<section><h2>Relay latency (p50, p99)</h2><svg id="latency" viewBox="0 0 300 100" preserveAspectRatio="none"></svg><div id="lat" class="muted"></div></section>
<section><h2>Suppliers and leases</h2><table id="leases"></table></section>
<section style="grid-column:1/-1"><h2>Sessions</h2><table id="sessions"></table></section>
<section><h2>Claims, proofs, settlements</h2><table id="submissions"></table></section>
<section><h2>Backends</h2><table id="backends"></table></section>
<section><h2>Rejections by reason</h2><table id="rejections"></table></section>
</main>
<script>
"use strict";
const history = [];
let last;
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const table = (id, head, rows) => {
  document.getElementById(id).innerHTML = "<tr>" + head.map((h) => "<th>" + esc(h) + "</th>").join("") + "</tr>" +
    (rows.length ? rows.map((r) => "<tr>" + r.map((c) => "<td" + (c && c.cls ? ' class="' + c.cls + '"' : "") + ">" + esc(c && c.v !== undefined ? c.v : c) + "</td>").join("") + "</tr>").join("") : '<tr><td class="muted">none yet</td></tr>');
};
const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
function line(key, color, max) {
  return '<polyline fill="none" stroke="' + color + '" stroke-width="2" points="' + history.map((h, i) => (i * 300 / Math.max(1, history.length - 1)).toFixed(1) + "," + (100 - (h[key] || 0) * 95 / max).toFixed(1)).join(" ") + '"/>';
}
function draw() {
  document.getElementById("chart").innerHTML = line("rate", "#58a6ff", Math.max(1, ...history.map((h) => h.rate)));
  const lmax = Math.max(0.001, ...history.map((h) => h.p99 || 0));
  document.getElementById("latency").innerHTML = line("p50", "#7ee787", lmax) + line("p99", "#ffa657", lmax);
}
/** Upper bound (s) of the bucket holding quantile q of what happened between two polls. */
function quantile(now, before, q) {
  const les = Object.keys(now || {}).filter((k) => k !== "+Inf").map(Number).sort((a, b) => a - b);
  const total = ((now || {})["+Inf"] || 0) - ((before || {})["+Inf"] || 0);
  if (total <= 0) return undefined;
  for (const le of les) if ((now[String(le)] || 0) - ((before || {})[String(le)] || 0) >= total * q) return le;
  return les[les.length - 1];
}
async function tick() {
  let s;
  try { s = await (await fetch("/dashboard/state", { cache: "no-store" })).json(); } catch { return; }
  const c = s.counters || {};
  const relays = c.relays_total || {};
  if (last) {
    const dt = (s.time - last.time) / 1000;
    const rate = (sum(relays) - sum((last.counters || {}).relays_total)) / dt;
    const p50 = quantile(c.relay_duration_buckets, (last.counters || {}).relay_duration_buckets, 0.5);
    const p99 = quantile(c.relay_duration_buckets, (last.counters || {}).relay_duration_buckets, 0.99);
    const own = quantile(c.relay_overhead_buckets, (last.counters || {}).relay_overhead_buckets, 0.99);
    history.push({ rate: Math.max(0, rate), p50, p99 });
    document.getElementById("lat").textContent = p50 === undefined ? "no relays in the last interval" : "p50 ≤ " + (p50 * 1000) + " ms · p99 ≤ " + (p99 * 1000) + " ms" + (own === undefined ? "" : " · relayer's own p99 ≤ " + (own * 1000) + " ms");
    if (history.length > 90) history.shift();
    const per = Object.keys(relays).map((k) => k + " " + ((relays[k] - (((last.counters || {}).relays_total || {})[k] || 0)) / dt).toFixed(1) + "/s");
    document.getElementById("rates").textContent = per.join(" · ") || "no relays yet";
    draw();
  }
  last = s;
  const m = s.miner || {};
  document.getElementById("height").textContent = m.height ? "height " + m.height : "";
  document.getElementById("updated").textContent = "updated " + new Date(s.time).toLocaleTimeString();
  table("leases", ["supplier", "owner", "token", "leader"], (m.leases || []).map((l) => [l.supplier, { v: l.owner || "none", cls: l.owner ? "ok" : "bad" }, l.token, l.leader ? "yes" : ""]));
  table("sessions", ["supplier", "session", "service", "end", "relays", "CU", "state", "uPOKT", "proof"], (m.sessions || []).map((x) => [x.supplier.slice(0, 12) + "…", x.session.slice(0, 12) + "…", x.service, x.end, x.relays, x.compute_units,
    { v: x.state, cls: /missed|rejected|expired|unprofitable/.test(x.state) ? "bad" : x.state === "settled" ? "ok" : "" }, x.upokt, x.proof]));
  const subs = c.miner_submissions_total || {};
  const upokt = c.miner_upokt_total || {};
  table("submissions", ["what", "count"], Object.keys(subs).map((k) => [k, subs[k]]).concat(Object.keys(upokt).map((k) => ["uPOKT " + k, upokt[k]])));
  const be = c.backend_urls_healthy || {};
  table("backends", ["service / type", "URLs in rotation"], Object.keys(be).map((k) => [k, { v: be[k], cls: be[k] > 0 ? "ok" : "bad" }]));
  const rej = c.relay_rejections_total || {};
  table("rejections", ["reason", "total"], Object.keys(rej).sort((a, b) => rej[b] - rej[a]).map((k) => [k, rej[k]]));
}
tick(); setInterval(tick, 2000);
</script></body></html>
`;
