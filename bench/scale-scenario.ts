import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ChainQueryClient } from '../core/chain/query-client.js';
import { CometClient } from '../core/chain/comet-client.js';
import { addressFromPrivateKey, publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { freePort, LocalRedisServer } from '../core/redis/local-server.js';
import { buildRelayRequest, encodeHttpPayload, encodeRelayRequest } from '../core/relay/relay-client.js';
import { sessionWindows, type SessionWindows } from '../core/session/index.js';
import { scrapeSum } from './metrics-text.js';
import type { SessionHeader } from '../core/protocol/index.js';

/**
 * An operator's deployment at scale, all real processes: `relayminer localnet` (blocks every
 * `blockMs` of wall time), redis-server, one relayer and `miners` miner processes serving `suppliers`
 * suppliers staked for one service, every one of them in app1's session. Each supplier gets
 * `relaysPerSupplier` relays early in one session; every claim needs a proof (threshold 1 uPOKT).
 * The chain is watched block by block: when each claim and proof lands, relative to its window.
 */

export interface ScaleOptions extends DeploymentOptions {
  relaysPerSupplier: number;
  /**
   * Claim transactions the node's blocks refuse (the localnet's `refuse_in_block`, armed once the relays
   * are served): the first this many suppliers' claims are included and refused, and must be sent again.
   */
  refuseClaims?: number;
  /**
   * Claim, then proof, transactions the node accepts into its mempool and never includes (the localnet's
   * `drop_accepted_txs`): armed once the relays are served, and in the block before the proof window opens.
   */
  dropClaims?: number;
  dropProofs?: number;
  /**
   * Claim transactions the node refuses at CheckTx (the localnet's `reject_next`, an insufficient fee, armed once
   * the relays are served): nothing is spent, and each is sent again the next block.
   */
  rejectClaims?: number;
  /** SIGKILL the first miner in the block before the claim (or proof) window opens: the others take its suppliers over. */
  killMiner?: 'claims' | 'proofs';
  progress?: (line: string) => void;
  /** Keep the processes' logs (their folder is printed first) even when the run went through. */
  keepLogs?: boolean;
}

export interface ScaleResult {
  suppliers: number;
  relays: number;
  /** Session, windows (heights; the chain takes a claim or proof at any height of a window, both ends included). */
  sessionEnd: number;
  claimWindow: [open: number, close: number];
  proofWindow: [open: number, close: number];
  claims: number;
  /** Height and seconds after the claim window opened at which the last claim was on chain. */
  lastClaimHeight: number;
  lastClaimSeconds: number;
  proofs: number;
  lastProofHeight: number;
  lastProofSeconds: number;
  settled: number;
  /** Claim and proof transactions the miners found refused by their block, and sends they made again. */
  refusedInBlock: number;
  resubmitted: number;
  /** Of those sent again, proofs. */
  resubmittedProofs: number;
  /** Sends the node refused at CheckTx, and the error lines the miners said about them. */
  rejectedAtNode: number;
  rejectionLines: number;
  /** Miner CPU (both processes) and Redis commands per block, from the session's end to settlement. */
  minerCpuMsPerBlock: number;
  redisCommandsPerBlock: number;
  minerRssMb: number[];
  /** The processes' logs (removed once the run returns, unless `keepLogs`). */
  logDir: string;
}

const CLK_TCK = 100;
const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
};
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const APP1_KEY = '2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a';
const GATEWAY1_KEY = 'cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177';
const hexKey = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

/** Deterministic test keys: sha256("relayminer-scale-supplier-<i>"). */
export function scaleSupplierKeys(n: number): { key: string; address: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const key = createHash('sha256').update(`relayminer-scale-supplier-${i}`).digest('hex');
    return { key, address: addressFromPrivateKey(hexKey(key)) };
  });
}

function genesis(o: DeploymentOptions, suppliers: { key: string; address: string }[]): object {
  return {
    chain_id: 'pocket',
    genesis_time: 'now',
    block_interval_ms: o.blockMs,
    ...(o.blockTimeMs ? { block_time_ms: o.blockTimeMs } : {}),
    minimum_gas_price_upokt: 0.000001,
    params: {
      shared: {
        num_blocks_per_session: 10,
        grace_period_end_offset_blocks: 1,
        claim_window_open_offset_blocks: 1,
        claim_window_close_offset_blocks: o.windowBlocks,
        proof_window_open_offset_blocks: 0,
        proof_window_close_offset_blocks: o.windowBlocks,
        compute_units_to_tokens_multiplier: 42_000_000,
        compute_unit_cost_granularity: 1_000_000,
      },
      session: { num_suppliers_per_session: o.suppliers },
      proof: { proof_request_probability: 0.25, proof_requirement_threshold_upokt: 1, proof_missing_penalty_upokt: 1_000_000, proof_submission_fee_upokt: 0 },
    },
    services: [{ id: 'anvil', name: 'anvil', compute_units_per_relay: 1 }],
    accounts: [
      { key_hex: APP1_KEY, balance_upokt: 1_000_000_000_000 },
      { key_hex: GATEWAY1_KEY, balance_upokt: 1_000_000_000_000 },
      ...suppliers.map((s) => ({ key_hex: s.key, balance_upokt: 1_000_000_000 })),
    ],
    applications: [{ address: addressFromPrivateKey(hexKey(APP1_KEY)), stake_upokt: 100_000_000_000_000, service_id: 'anvil', delegatee_gateway_addresses: [addressFromPrivateKey(hexKey(GATEWAY1_KEY))] }],
    gateways: [{ address: addressFromPrivateKey(hexKey(GATEWAY1_KEY)), stake_upokt: 1_000_000_000 }],
    suppliers: suppliers.map((s) => ({ operator_address: s.address, stake_upokt: 1_000_000_000, services: [{ service_id: 'anvil', endpoints: [{ url: 'http://127.0.0.1:8080', rpc_type: 'jsonrpc' }] }] })),
  };
}

function run(args: string[], log: string): ChildProcess {
  const nodeArgs = (process.env.SCALE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return spawn(process.execPath, [...nodeArgs, join(PACKAGE_ROOT, 'dist/cli/main.js'), ...args], { stdio: ['ignore', openSync(log, 'w'), openSync(log, 'a')] });
}

/**
 * The chain's height from `status`: polled every 50 ms, `block` would have the node encode the latest block
 * with its thousand transactions each time, CPU taken from the miners beside it.
 */
const latestHeight = async (comet: CometClient) => (await comet.status()).latest.height;

const stop = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, fn: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export interface DeploymentOptions {
  suppliers: number;
  blockMs: number;
  /** Chain time between blocks (the headers' times; genesis `block_time_ms`): 60,000 for mainnet's pace. Default: `blockMs`, at least 1 s. */
  blockTimeMs?: number;
  windowBlocks: number;
  miners: number;
  minerOptions?: string;
  /** Miner log level (warn unless a run wants to read the miners' info lines). */
  minerLogLevel?: string;
}

/** Everything running: processes, clients, and how to send a relay. Stop it when done. */
export interface Deployment {
  dir: string;
  suppliers: { key: string; address: string }[];
  comet: CometClient;
  q: ChainQueryClient;
  redis: Redis;
  miners: ChildProcess[];
  minerMetrics: string[];
  /** The relayer's metrics listener (host:port). */
  relayerMetrics: string;
  /** Sends one gateway-signed relay for app1's current session to `supplier`; the HTTP status. */
  relay(header: SessionHeader, supplier: string, id: number): Promise<number>;
  /** app1's session at a height. */
  session(height: bigint): Promise<SessionHeader>;
  /** Arms the localnet's transaction faults (`POST /localnet/faults`). */
  faults(body: object): Promise<void>;
  stop(): Promise<void>;
}

/** localnet, redis-server, a backend, one relayer and `miners` miner processes, all ready. */
export async function startDeployment(o: DeploymentOptions, say: (line: string) => void = () => {}): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-scale-'));
  const suppliers = scaleSupplierKeys(o.suppliers);
  const keysYaml = `[${suppliers.map((s) => `{ private_key_hex: "${s.key}" }`).join(', ')}]`;
  const children: ChildProcess[] = [];
  const cleanup: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    await Promise.all(children.map(stop));
    for (const c of cleanup.reverse()) await c().catch(() => {});
  };
  try {
    const redisServer = await LocalRedisServer.start();
    cleanup.push(() => redisServer.stop());
    const redis = new Redis(redisServer.url);
    cleanup.push(async () => redis.disconnect());
    const backend: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":"0x1"}'));
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => backend.close(() => r())));
    const backendUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}`;

    const [rpc, grpc, relayPort, relayHealth] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const relayerMetrics = `127.0.0.1:${await freePort()}`;
    writeFileSync(join(dir, 'genesis.json'), JSON.stringify(genesis(o, suppliers)));
    const localnet = run(['localnet', '-c', join(dir, 'genesis.json'), '--rpc-address', `127.0.0.1:${rpc}`, '--grpc-address', `127.0.0.1:${grpc}`], join(dir, 'localnet.log'));
    children.push(localnet);
    const comet = new CometClient(`http://127.0.0.1:${rpc}`, 5000);
    cleanup.push(() => comet.close());
    const height = () => latestHeight(comet);
    await waitFor('localnet', async () => (await height()) > 0, 30_000);
    const node = `pocket_node: { rpc_url: "http://127.0.0.1:${rpc}", grpc_address: "127.0.0.1:${grpc}" }`;
    writeFileSync(
      join(dir, 'relayer.yaml'),
      `relayer:
  listen_address: "127.0.0.1:${relayPort}"
  health_address: "127.0.0.1:${relayHealth}"
  metrics_address: "${relayerMetrics}"
  redis: { url: "${redisServer.url}", namespace: ha }
  ${node}
  supplier_keys: ${keysYaml}
services:
  anvil:
    backends:
      jsonrpc: { url: "${backendUrl}" }
plugins: [transport-jsonrpc]
logging: { level: warn, format: json }
`,
    );
    children.push(run(['relayer', '-c', join(dir, 'relayer.yaml')], join(dir, 'relayer.log')));
    const miners: ChildProcess[] = [];
    const minerMetrics: string[] = [];
    for (let i = 0; i < o.miners; i++) {
      const metrics = `127.0.0.1:${await freePort()}`;
      minerMetrics.push(metrics);
      writeFileSync(
        join(dir, `miner-${i}.yaml`),
        `miner:
  metrics_address: "${metrics}"
  redis: { url: "${redisServer.url}", namespace: ha }
  ${node}
  supplier_keys: ${keysYaml}
plugins: [{ name: miner, options: { instance_id: miner-${i}${o.minerOptions ? `, ${o.minerOptions.trim().replace(/^\{|\}$/g, '').trim()}` : ''} } }]
logging: { level: ${o.minerLogLevel ?? 'warn'}, format: json }
`,
      );
      const m = run(['miner', '-c', join(dir, `miner-${i}.yaml`)], join(dir, `miner-${i}.log`));
      miners.push(m);
      children.push(m);
    }
    say(`logs in ${dir}`);
    await waitFor('relayer /ready', async () => (await fetch(`http://127.0.0.1:${relayHealth}/ready`)).status === 200, 60_000);
    const q = new ChainQueryClient({ grpc_address: `127.0.0.1:${grpc}`, tls: false, query_timeout_ms: 10_000 });
    cleanup.push(async () => q.close());
    await waitFor('miners /ready', async () => (await Promise.all(minerMetrics.map(async (a) => (await fetch(`http://${a}/ready`)).status === 200))).every(Boolean), 60_000);
    const app = addressFromPrivateKey(hexKey(APP1_KEY));
    const ring = [APP1_KEY, GATEWAY1_KEY].map((k) => publicKeyFromPrivateKey(hexKey(k)));
    return {
      dir,
      suppliers,
      comet,
      q,
      redis,
      miners,
      minerMetrics,
      relayerMetrics,
      session: async (height) => (await q.session(app, 'anvil', height)).header,
      faults: async (body) => {
        const res = await fetch(`http://127.0.0.1:${rpc}/localnet/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (res.status !== 200) throw new Error(`localnet faults: ${res.status} ${await res.text()}`);
      },
      relay: async (header, supplier, id) => {
        const body = encodeRelayRequest(
          buildRelayRequest({ header, supplierAddress: supplier, payload: encodeHttpPayload({ method: 'POST', url: '/', body: `{"jsonrpc":"2.0","id":${id},"method":"eth_blockNumber"}` }), signerKey: hexKey(GATEWAY1_KEY), ring }),
        );
        const res = await fetch(`http://127.0.0.1:${relayPort}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'rpc-type': '3' }, body: Buffer.from(body) });
        await res.arrayBuffer();
        return res.status;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export async function runScaleScenario(o: ScaleOptions): Promise<ScaleResult> {
  const say = o.progress ?? (() => {});
  const d = await startDeployment(o, say);
  const { comet, q, redis, miners, minerMetrics, suppliers } = d;
  const height = () => latestHeight(comet);
  let finished = false;
  try {
    // Start in a session's first blocks (1–2 of 10): every relay is served well before the session ends.
    await waitFor('the start of a session', async () => [1, 2].includes((await height()) % 10), 60_000);
    const header = await d.session(BigInt(await height()));
    const shared = await q.sharedParams(header.session_end_block_height);
    const w: SessionWindows = sessionWindows(shared, header.session_end_block_height);
    let sent = 0;
    let failed = 0;
    const jobs = suppliers.flatMap((s) => Array.from({ length: o.relaysPerSupplier }, (_, k) => ({ s, k })));
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let job = jobs.pop(); job; job = jobs.pop()) {
          if ((await d.relay(header, job.s.address, job.k)) === 200) sent++;
          else failed++;
        }
      }),
    );
    const sentBy = await height();
    const end = Number(header.session_end_block_height);
    say(`${sent} relays served (${failed} refused) in ${((Date.now() - t0) / 1000).toFixed(1)} s, by height ${sentBy}; session ends at ${end}, claim window [${w.claimWindowOpen}, ${w.claimWindowClose}], proof window [${w.proofWindowOpen}, ${w.proofWindowClose}]`);
    if (failed) throw new Error(`${failed} relays were refused`);
    // A relay served once its session is over (in the grace block) is answered but not mined, so its
    // supplier has nothing to claim: a run that sent that late says so instead of reporting a missing claim.
    const late = await scrapeSum(d.relayerMetrics, 'relayminer_relays_not_reward_eligible_total');
    if (late > 0) throw new Error(`${late} relays were served in the session's grace period (the last answered at height ${sentBy}, the session ended at ${end}), so not mined: this run proves nothing`);
    if (o.refuseClaims) {
      // As a poktroll block words a claim's own check that failed (docs/spec/errors.md §2.2).
      const log = 'failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = refused by the scale run';
      await d.faults({ refuse_in_block: { count: o.refuseClaims, code: 1, codespace: 'undefined', log } });
      say(`the node's blocks will refuse the next ${o.refuseClaims} transactions`);
    }
    if (o.rejectClaims) {
      await d.faults({ reject_next: { count: o.rejectClaims, code: 13, codespace: 'sdk', log: 'insufficient fee; refused by the scale run' } });
      say(`the node will refuse the next ${o.rejectClaims} transactions at CheckTx`);
    }
    if (o.dropClaims) {
      await d.faults({ drop_accepted_txs: o.dropClaims });
      say(`the node will drop the next ${o.dropClaims} transactions it accepts`);
    }

    // Watch the chain block by block until settlement.
    const info = async () => Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1] ?? 0);
    await waitFor('the session end', async () => (await height()) >= end, 120_000);
    const cpu0 = miners.reduce((s, m) => s + cpuMs(m.pid!), 0);
    /** A killed miner's CPU when it was killed; its /proc entry goes with it. */
    let killedCpuMs = 0;
    const alive = (i: number) => miners[i]!.exitCode === null && miners[i]!.signalCode === null;
    const cmd0 = await info();
    const h0 = await height();
    let claims = 0;
    let proofs = 0;
    let lastClaimHeight = 0;
    let lastProofHeight = 0;
    let claimOpenedAt = 0;
    let proofOpenedAt = 0;
    let lastClaimSeconds = NaN;
    let lastProofSeconds = NaN;
    let seen = h0;
    let onChain: { supplier_operator_address?: string }[] = [];
    let closeSeenAt = NaN;
    let proofDropArmed = false;
    while (seen < Number(w.settlementHeight)) {
      const h = await height();
      if (h === seen) {
        await sleep(50);
        continue;
      }
      seen = h;
      // Claims settle in the proof window's last block and leave state with it: nothing more to read.
      if (h >= Number(w.settlementHeight)) {
        closeSeenAt = Date.now();
        break;
      }
      if (o.killMiner && h === Number(o.killMiner === 'claims' ? w.claimWindowOpen : w.proofWindowOpen) - 1 && miners[0]!.exitCode === null) {
        killedCpuMs = cpuMs(miners[0]!.pid!);
        miners[0]!.kill('SIGKILL');
        say(`height ${h}: miner-0 killed (SIGKILL)`);
      }
      if (h === Number(w.claimWindowOpen)) claimOpenedAt = Date.now();
      if (h === Number(w.proofWindowOpen)) proofOpenedAt = Date.now();
      const all = ((await q.call('pocket.proof.Query', 'AllClaims', { session_end_height: header.session_end_block_height })).claims ?? []) as { proof_validation_status?: number; supplier_operator_address?: string }[];
      // From the block before the proof window, once every claim is on chain: what the node drops then is proofs.
      if (o.dropProofs && !proofDropArmed && h >= Number(w.proofWindowOpen) - 1 && all.length === suppliers.length) {
        await d.faults({ drop_accepted_txs: o.dropProofs });
        proofDropArmed = true;
        say(`height ${h}: the node will drop the next ${o.dropProofs} transactions it accepts (proofs)`);
      }
      onChain = all;
      if (all.length > claims) {
        claims = all.length;
        lastClaimHeight = h;
        lastClaimSeconds = (Date.now() - claimOpenedAt) / 1000;
      }
      const validated = all.filter((c) => c.proof_validation_status === 1).length;
      if (validated > proofs) {
        proofs = validated;
        lastProofHeight = h;
        lastProofSeconds = (Date.now() - proofOpenedAt) / 1000;
      }
      say(`height ${h}: ${claims} claims, ${proofs} proofs validated`);
    }
    // Which suppliers' claims are missing, so a failed run's logs can be searched for them.
    const claimed = new Set(onChain.map((c) => c.supplier_operator_address));
    const unclaimed = suppliers.map((s) => s.address).filter((a) => !claimed.has(a));
    if (unclaimed.length) say(`${unclaimed.length} suppliers without a claim: ${unclaimed.slice(0, 10).join(', ')}${unclaimed.length > 10 ? ', …' : ''}`);
    const blocks = seen - h0;
    const minerCpuMsPerBlock = (miners.reduce((s, m, i) => s + (alive(i) ? cpuMs(m.pid!) : killedCpuMs), 0) - cpu0) / blocks;
    const redisCommandsPerBlock = ((await info()) - cmd0) / blocks;
    const minerRssMb = miners.filter((_, i) => alive(i)).map((m) => Math.round(rssMb(m.pid!)));
    // Settlement: the tokenomics events the miners saw.
    await waitFor('settlement', async () => (await height()) >= Number(w.settlementHeight) + 2, 60_000);
    let settled = 0;
    let refusedInBlock = 0;
    let resubmitted = 0;
    let resubmittedProofs = 0;
    let rejectedAtNode = 0;
    for (const [i, a] of minerMetrics.entries()) {
      if (!alive(i)) continue;
      rejectedAtNode += await scrapeSum(a, 'relayminer_miner_submissions_total', { result: 'rejected' });
      settled += await scrapeSum(a, 'relayminer_miner_settlements_total', { outcome: 'settled' });
      refusedInBlock += await scrapeSum(a, 'relayminer_miner_submissions_total', { result: 'failed' });
      resubmitted += await scrapeSum(a, 'relayminer_miner_submissions_total', { result: 'resubmitted' });
      resubmittedProofs += await scrapeSum(a, 'relayminer_miner_submissions_total', { result: 'resubmitted', phase: 'proof' });
    }
    // A proof in the window's last block is valid, but its claim settles in that same block, so no read shows it
    // validated. Every claim here needs a proof, so a claim that settled (rather than expired) had its proof
    // validated by then: those beyond the proofs seen landed in the last block.
    if (settled > proofs) {
      proofs = settled;
      lastProofHeight = Number(w.proofWindowClose);
      lastProofSeconds = (closeSeenAt - proofOpenedAt) / 1000;
      say(`height ${lastProofHeight}: ${settled} claims settled, so ${proofs} proofs validated`);
    }
    const rejectionLines = miners
      .map((_, i) => readFileSync(join(d.dir, `miner-${i}.log`), 'utf8').split('\n').filter((l) => l.includes('"msg":"claim transaction refused by the node')).length)
      .reduce((a, b) => a + b, 0);
    finished = true;
    return {
      suppliers: o.suppliers,
      relays: sent,
      sessionEnd: end,
      claimWindow: [Number(w.claimWindowOpen), Number(w.claimWindowClose)],
      proofWindow: [Number(w.proofWindowOpen), Number(w.proofWindowClose)],
      claims,
      lastClaimHeight,
      lastClaimSeconds,
      proofs,
      lastProofHeight,
      lastProofSeconds,
      settled,
      refusedInBlock,
      resubmitted,
      resubmittedProofs,
      rejectedAtNode,
      rejectionLines,
      minerCpuMsPerBlock,
      redisCommandsPerBlock,
      minerRssMb,
      logDir: d.dir,
    };
  } finally {
    await d.stop();
    if (finished && !o.keepLogs) rmSync(d.dir, { recursive: true, force: true });
  }
}
