import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../../core/config/load.js';
import { Runtime } from '../../../core/runtime/runtime.js';
import { BUILTIN_PLUGINS } from '../../../plugins/index.js';
import { captureLogs } from '../../../test/helpers/logs.js';
import { minerYaml } from '../../../test/helpers/miner.js';
import { startRelayer } from '../../../test/helpers/relayer.js';

const DIR = join(import.meta.dirname, '..');

/** Every metric name a process exposes (histograms with their _bucket, _sum and _count series). */
function metricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1]! + s);
  }
  return names;
}

const referenced = (exprs: string[]) => [...new Set(exprs.flatMap((e) => e.match(/relayminer_[a-z0-9_]+/g) ?? []))].sort();

t.test('every metric the Grafana dashboard and the alert rules query is one the relayer or the miner exports', async (t) => {
  const r = await startRelayer(t, {
    plugins: ['transport-jsonrpc', 'transport-rest-sse', 'transport-cometbft', 'transport-websocket', 'name: transport-grpc\n    options: { listen_address: "127.0.0.1:0" }'],
    services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`,
  });
  const miner = await Runtime.start({
    config: parseConfig(minerYaml({ redisUrl: r.redisUrl, rpcAddress: r.net.rpcAddress, grpcAddress: r.net.grpcAddress, instance: 'm1' })),
    roles: ['miner'],
    builtins: BUILTIN_PLUGINS,
    version: 'test',
    logger: captureLogs().logger,
  });
  t.teardown(() => miner.shutdown());
  const exported = new Set([...metricNames(await r.metrics()), ...metricNames(await (await fetch(`http://${miner.addresses.metrics}/metrics`)).text())]);

  const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as { panels: { id: number; targets: { expr: string }[] }[] };
  const dashboardMetrics = referenced(dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)));
  t.same(dashboardMetrics.filter((m) => !exported.has(m)), [], `all ${dashboardMetrics.length} dashboard metrics exist`);
  t.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique');

  const alerts = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  const rules = alerts.groups.flatMap((g) => g.rules);
  const alertMetrics = referenced(rules.map((r) => r.expr));
  t.same(alertMetrics.filter((m) => !exported.has(m)), [], `all ${alertMetrics.length} alert metrics exist`);
  t.ok(rules.length >= 8, `${rules.length} alert rules`);

  const scrape = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { job_name: string }[] };
  t.same(scrape.rule_files, ['alerts.yml']);
  t.same(scrape.scrape_configs.map((s) => s.job_name), ['relayminer-relayer', 'relayminer-miner']);
});
