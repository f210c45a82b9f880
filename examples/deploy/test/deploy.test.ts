import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ADDR, KEYS } from '../../../test/helpers/localnet-client.js';
import { RELAYER_NODE_FLAGS } from '../../../cli/node-flags.js';
import { tempDir } from '../../../test/helpers/temp-dir.js';
import { withoutTapHook } from '../../../test/helpers/child-env.js';

const DIR = join(import.meta.dirname, '..');
const ROOT = join(DIR, '..', '..');
const ENV = { ...process.env, POD_NAME: 'relayminer-miner-7d9f-abcde' };

/** `relayminer validate -c file` with the deployment's environment. */
function validate(file: string, env: Record<string, string> = {}) {
  const r = spawnSync(...withoutTapHook(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'validate', '-c', file]), { env: { ...ENV, ...env }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };

/** A keys_dir holding supplier1's key file, as the deployments mount it. */
function keysDir(): string {
  const dir = tempDir(t, 'deploy-keys');
  writeFileSync(join(dir, 'supplier-1.yaml'), `operator_address: ${ADDR.supplier1}\nprivate_key_hex: "${KEYS.supplier1}"\n`, { mode: 0o600 });
  return dir;
}

t.test('the shared configs validate with the environment the deployments give them: key files in KEYS_DIR, watched', async (t) => {
  const keys = keysDir();
  for (const name of ['relayer.yaml', 'miner.yaml']) {
    const file = join(DIR, 'config', name);
    t.same((parse(readFileSync(file, 'utf8')) as { keys: unknown }).keys, { keys_dir: '${KEYS_DIR:-/keys}', watch: true }, `${name}: the key files, watched`);
    const r = validate(file, { KEYS_DIR: keys });
    t.equal(r.code, 0, r.out);
    t.match(r.out, /^ok: /m, name);
    t.match(r.out, '1 supplier', `${name}: the key file's supplier`);
    // Without key files a relayer cannot start; a miner starts and waits for them, and says so.
    const empty = validate(file, { KEYS_DIR: tempDir(t, 'deploy-no-keys') });
    t.same([empty.code, /no supplier keys/.test(empty.out)], [name === 'relayer.yaml' ? 1 : 0, true], `${name}: an empty keys directory`);
  }
});

t.test('Kubernetes: probes on the configured ports, HPA on the relayer, two miners, Redis with AOF, configs that validate', async (t) => {
  const docs = parseAllDocuments(readFileSync(join(DIR, 'kubernetes/relayminer.yaml'), 'utf8')).map((d) => d.toJS() as Manifest);
  t.same(docs.filter((d) => !d.apiVersion || !d.kind || !d.metadata?.name), [], 'every manifest has apiVersion, kind and a name');
  const byName = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;
  const config = byName('ConfigMap', 'relayminer-config').data!;
  const dir = tempDir(t, 'k8s-config');
  // The Secret's key files, with real keys in place of its placeholders, where the pods mount them.
  const secret = byName('Secret', 'relayminer-keys') as Manifest & { stringData: Record<string, string> };
  t.same(Object.keys(secret.stringData), ['supplier-1.yaml'], 'one key file per supplier');
  t.same(Object.keys(parse(secret.stringData['supplier-1.yaml']!) as object), ['operator_address', 'private_key_hex'], 'the keys_dir file format');
  const keys = keysDir();
  for (const [file, text] of Object.entries(config)) {
    writeFileSync(join(dir, file), text);
    const r = validate(join(dir, file), { KEYS_DIR: keys });
    t.equal(r.code, 0, `${file}: ${r.out}`);
    t.match(r.out, file === 'relayer.yaml' ? 'relayer (1 supplier key(s))' : 'miner (1 supplier key(s))');
    t.same((parse(text) as { keys: unknown }).keys, { keys_dir: '${KEYS_DIR:-/keys}', watch: true }, `${file}: the mounted key files, watched`);
  }
  const relayerCfg = parse(config['relayer.yaml']!) as { relayer: { health_address: string; listen_address: string } };
  const relayer = byName('Deployment', 'relayminer-relayer').spec.template.spec.containers[0];
  const port = (name: string) => relayer.ports.find((p: { name: string }) => p.name === name).containerPort;
  t.equal(`:${port('health')}`, relayerCfg.relayer.health_address, 'the probe port is the health listener');
  t.equal(`:${port('relay')}`, relayerCfg.relayer.listen_address);
  t.same([relayer.readinessProbe.httpGet.path, relayer.livenessProbe.httpGet.path], ['/ready', '/health']);
  t.same(byName('HorizontalPodAutoscaler', 'relayminer-relayer').spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'relayminer-relayer' });
  const miner = byName('Deployment', 'relayminer-miner');
  t.equal(miner.spec.replicas, 2, 'two miner replicas share the suppliers');
  const minerCfg = parse(config['miner.yaml']!) as { miner: { metrics_address: string }; plugins: { name: string; options: { instance_id: string } }[] };
  t.equal(`:${miner.spec.template.spec.containers[0].ports[0].containerPort}`, minerCfg.miner.metrics_address, 'miner probes on its metrics listener');
  t.equal(minerCfg.plugins.find((p) => p.name === 'miner')?.options.instance_id, '${POD_NAME}', 'each miner pod is its own consumer');
  const redis = byName('StatefulSet', 'redis').spec.template.spec.containers[0];
  t.match(redis.args.join(' '), '--appendonly yes');
  for (const d of docs.filter((x) => x.kind === 'Deployment')) {
    const pod = d.spec.template.spec;
    t.same(pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'keys'), { name: 'keys', mountPath: '/keys', readOnly: true }, `${d.metadata.name}: keys from the Secret at /keys`);
    t.same(pod.volumes.find((v: { name: string }) => v.name === 'keys'), { name: 'keys', secret: { secretName: 'relayminer-keys', defaultMode: 0o440 } }, `${d.metadata.name}: group-readable`);
    t.same(pod.securityContext, { fsGroup: 1000 }, `${d.metadata.name}: the image's group reads them`);
  }
});

t.test('docker compose: Redis with AOF, a relayer on the shared config, two miners', async (t) => {
  const compose = parse(readFileSync(join(DIR, 'compose/docker-compose.yml'), 'utf8')) as { services: Record<string, any> };
  t.same(Object.keys(compose.services), ['redis', 'relayer', 'miner']);
  t.match(compose.services.redis.command.join(' '), '--appendonly yes');
  t.same(compose.services.relayer.command, ['relayer', '-c', '/config/relayer.yaml']);
  t.same(compose.services.miner.command, ['miner', '-c', '/config/miner.yaml']);
  t.equal(compose.services.miner.deploy.replicas, 2);
  for (const role of ['relayer', 'miner']) {
    t.same(compose.services[role].volumes, ['../config:/config:ro', './keys:/keys:ro'], `${role}: the configs validated above, the key files at /keys`);
    t.same(Object.keys(compose.services[role].environment), ['REDIS_URL', 'POCKET_NODE_RPC_URL', 'POCKET_NODE_GRPC_ADDRESS'], `${role}: no keys in the environment`);
  }
});

t.test('systemd units: validate before start, drain on SIGTERM, reload keys on `systemctl reload`, restart always', async (t) => {
  for (const [unit, role] of [['relayminer-relayer.service', 'relayer'], ['relayminer-miner.service', 'miner']] as const) {
    const text = readFileSync(join(DIR, 'systemd', unit), 'utf8');
    const kv = Object.fromEntries(text.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    t.equal(kv.ExecStartPre, `/usr/bin/relayminer validate -c /etc/relayminer/${role}.yaml`);
    t.match(kv.ExecStart, `/usr/bin/relayminer ${role} -c /etc/relayminer/${role}.yaml`);
    t.same([kv.KillSignal, kv.Restart, kv.EnvironmentFile, kv.ExecReload], ['SIGTERM', 'always', '/etc/relayminer/env', '/bin/kill -HUP $MAINPID']);
  }
});

t.test("the image starts node with the relayer's V8 flags, and so does the devnet", async (t) => {
  const entrypoint = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(DIR, 'Dockerfile'), 'utf8'))?.[1];
  t.same(JSON.parse(entrypoint ?? 'null'), ['node', ...RELAYER_NODE_FLAGS, '/app/dist/cli/main.js']);
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  for (const name of ['start', 'devnet']) t.match(scripts[name], `exec node ${RELAYER_NODE_FLAGS.join(' ')} dist/cli/main.js start --dev`, `npm run ${name}`);
});
