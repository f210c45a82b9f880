import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { Redis } from 'ioredis';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { MinedRelayCodec } from '../core/protocol/messages.js';
import { freePort, LocalRedisServer } from '../core/redis/local-server.js';
import { KeyBuilder } from '../core/redis/key-builder.js';
import { compactClosestProof, encodeCompactClosestProof, Frontier, frontierBits, proveClosest, SparseMerkleSumTrie, type SortedLeaf } from '../core/smst/index.js';
import { SessionStore } from '../plugins/miner/session-store.js';
import { cpuMs, KEYS, redisCpuMs, rssMb, runBench, stopChild, SUPPLIER1, waitFor } from './harness.js';
import { scaleSupplierKeys } from './scale-scenario.js';
import { table } from './table.js';

/**
 * The miner: (1) ingest — one miner process moving RELAYS pre-filled stream entries into session storage
 * (store + acknowledge per relay, atomically), against a bare consumer in the same run that only reads and
 * acknowledges (the Redis ceiling); (2) claim root and closest proof from the stored leaves for sessions of
 * SIZES relays (time, peak heap, Redis calls), against the in-memory reference trie in the same run.
 * Run: npm run bench:miner  (RELAYS=100000 SIZES=10000,100000,1000000 to change the plan)
 */

const RELAYS = Number(process.env.RELAYS ?? 100_000);
const SIZES = (process.env.SIZES ?? '10000,100000,1000000').split(',').map(Number);
const VALUE_BYTES = 256;
const SUPPLIERS = Number(process.env.SUPPLIERS ?? 1000);
/** The in-memory reference trie is built for sessions up to this size (its time and memory grow with it: see BENCHMARKS.md). */
const BASELINE_MAX = Number(process.env.BASELINE_MAX ?? 1_000_000);

/** Peak heap above the level at start(), sampled after every page and every 20 ms. */
function sampler() {
  let base = 0;
  let peak = 0;
  let timer: NodeJS.Timeout | undefined;
  const sample = () => void (peak = Math.max(peak, process.memoryUsage().heapUsed));
  return {
    start() {
      base = process.memoryUsage().heapUsed;
      peak = base;
      timer = setInterval(sample, 20);
    },
    async *pages<T>(it: AsyncIterable<T>): AsyncGenerator<T> {
      for await (const page of it) {
        sample();
        yield page;
      }
    },
    stop(): number {
      sample();
      clearInterval(timer);
      return (peak - base) / 1024 / 1024;
    },
  };
}
const keys = new KeyBuilder('bench');

function entry(n: number, session: string, supplier = SUPPLIER1): Buffer {
  const relay = Buffer.alloc(VALUE_BYTES, n % 251);
  relay.writeUInt32BE(n, 0);
  relay.write(session, 4);
  relay.write(supplier, 40);
  return Buffer.from(
    MinedRelayCodec.encode({
      relay_hash: sha256(relay),
      relay,
      compute_units: 1n,
      session_id: session,
      session_start_block_height: 11n,
      session_end_block_height: 20n,
      supplier_operator_address: supplier,
      service_id: 'anvil',
      application_address: 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4',
      arrival_block_height: 12n,
      published_at_ms: 1n,
    }),
  );
}

async function fill(redis: Redis, stream: string, n: number, session: string, supplier = SUPPLIER1): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const p = redis.pipeline();
    for (let k = i; k < Math.min(n, i + 1000); k++) p.xadd(stream, '*', 'data', entry(k, session, supplier));
    await p.exec();
  }
}

/** The baseline: read and acknowledge+delete in batches, nothing stored. */
async function bareConsumer(redis: Redis, stream: string, n: number): Promise<number> {
  const group = 'bare';
  await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  const began = performance.now();
  let done = 0;
  while (done < n) {
    const res = (await redis.xreadgroupBuffer('GROUP', group, 'c', 'COUNT', 500, 'STREAMS', stream, '>')) as [Buffer, [Buffer, Buffer[]][]][] | null;
    if (!res) continue;
    const ids = res[0]![1].map(([id]) => id.toString());
    const p = redis.pipeline();
    p.xack(stream, group, ...ids);
    p.xdel(stream, ...ids);
    await p.exec();
    done += ids.length;
  }
  return (n / (performance.now() - began)) * 1000;
}

/** A miner process (dist/cli/main.js) with these supplier keys; MINER_NODE_ARGS (e.g. --cpu-prof) apply. */
async function startMiner(dir: string, instance: string, redisUrl: string, supplierKeys: string[]): Promise<ChildProcess> {
  writeFileSync(
    join(dir, `${instance}.yaml`),
    `miner:
  metrics_address: "127.0.0.1:${await freePort()}"
  redis: { url: "${redisUrl}", namespace: bench }
  pocket_node: { rpc_url: "http://127.0.0.1:1", grpc_address: "127.0.0.1:1" }
  supplier_keys: [${supplierKeys.map((k) => `{ private_key_hex: "${k}" }`).join(', ')}]
plugins: [{ name: miner, options: { instance_id: ${instance} } }]
logging: { level: warn, format: json }
`,
  );
  const nodeArgs = (process.env.MINER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return spawn(process.execPath, [...nodeArgs, join(PACKAGE_ROOT, 'dist/cli/main.js'), 'miner', '-c', join(dir, `${instance}.yaml`)], { stdio: ['ignore', openSync(join(dir, `${instance}.log`), 'w'), 'inherit'] });
}

async function main(): Promise<void> {
  const server = await LocalRedisServer.start();
  const redis = new Redis(server.url);
  try {
    const rows: (string | number)[][] = [];
    // --- ingest: bare consumer (baseline), then one miner process ---
    const bareStream = 'bench:bare:{x}';
    await fill(redis, bareStream, RELAYS, 's0');
    const bare = await bareConsumer(redis, bareStream, RELAYS);
    rows.push(['bare XREADGROUP + XACK/XDEL (baseline)', RELAYS, bare.toFixed(0), '', '', '', '1.00']);
    process.stderr.write(`baseline: ${bare.toFixed(0)} entries/s\n`);

    const stream = keys.relayStream(SUPPLIER1);
    await fill(redis, stream, RELAYS, 'ingest');
    const dir = mkdtempSync(join(tmpdir(), 'relayminer-bench-miner-'));
    const store = new SessionStore(keys, () => redis);
    const child = await startMiner(dir, 'bench', server.url, [KEYS.supplier1]);
    try {
      await waitFor('the miner to take the lease', async () => (await redis.get(keys.supplierLease(SUPPLIER1))) !== null);
      const cpu0 = cpuMs(child.pid!);
      const redisCpu0 = await redisCpuMs(redis);
      const began = performance.now();
      await waitFor('ingest', async () => (await store.session(SUPPLIER1, 'ingest'))?.count === RELAYS, 600_000);
      const elapsed = performance.now() - began;
      const cpu = cpuMs(child.pid!) - cpu0;
      const redisCpu = (await redisCpuMs(redis)) - redisCpu0;
      const rate = (RELAYS / elapsed) * 1000;
      rows.push(['miner process: store + ack, fenced (one script per batch)', RELAYS, rate.toFixed(0), ((cpu / RELAYS) * 1000).toFixed(1), ((redisCpu / RELAYS) * 1000).toFixed(1), rssMb(child.pid!).toFixed(0), (rate / bare).toFixed(2)]);
      process.stderr.write(`miner: ${rate.toFixed(0)} relays/s\n`);
    } finally {
      await stopChild(child);
    }
    // The same relays spread over 1,000 suppliers' streams, read many streams per connection.
    const many = scaleSupplierKeys(SUPPLIERS);
    for (const [i, s] of many.entries()) await fill(redis, keys.relayStream(s.address), Math.floor(RELAYS / SUPPLIERS) + (i < RELAYS % SUPPLIERS ? 1 : 0), 'ingest', s.address);
    const manyChild = await startMiner(dir, 'bench-many', server.url, many.map((s) => s.key));
    try {
      // One call for the total: a thousand reads every 100 ms would load the machine under test.
      const sessionKeys = many.map((s) => keys.minerSession(s.address, 'ingest'));
      const SUM = `local n = 0 for _, k in ipairs(KEYS) do n = n + tonumber(redis.call('HGET', k, 'count') or 0) end return n`;
      const stored = async () => Number(await redis.eval(SUM, sessionKeys.length, ...sessionKeys));
      // Timed from the moment every lease is held (start-up, key loading and lease taking are not ingest).
      await waitFor('every lease taken', async () => (await Promise.all(many.map((s) => redis.exists(keys.supplierLease(s.address))))).every((e) => e === 1), 120_000);
      const cpu0 = cpuMs(manyChild.pid!);
      const redisCpu0 = await redisCpuMs(redis);
      const began = performance.now();
      await waitFor('ingest of 1,000 streams', async () => (await stored()) === RELAYS, 600_000);
      const elapsed = performance.now() - began;
      const cpu = cpuMs(manyChild.pid!) - cpu0;
      const redisCpu = (await redisCpuMs(redis)) - redisCpu0;
      const rate = (RELAYS / elapsed) * 1000;
      rows.push([`miner process, ${SUPPLIERS} suppliers' streams from the last lease taken`, RELAYS, rate.toFixed(0), ((cpu / RELAYS) * 1000).toFixed(1), ((redisCpu / RELAYS) * 1000).toFixed(1), rssMb(manyChild.pid!).toFixed(0), (rate / bare).toFixed(2)]);
      process.stderr.write(`miner, ${SUPPLIERS} suppliers: ${rate.toFixed(0)} relays/s\n`);
    } finally {
      await stopChild(manyChild);
    }
    process.stdout.write(table(`Miner ingest (node ${process.version}, ${VALUE_BYTES}-byte relays)`, ['consumer', 'relays', 'relays/s', 'miner CPU µs/relay', 'Redis CPU µs/relay', 'RSS MB', 'ratio'], rows) + '\n');

    // --- claim root and proof from stored leaves ---
    const build: (string | number)[][] = [];
    let commands = 0;
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((cmd: never) => {
      commands++;
      return send(cmd);
    }) as typeof redis.sendCommand;
    await redis.set(keys.supplierLeaseFence(SUPPLIER1), '1');
    for (const n of SIZES) {
      const sid = `size${n}`;
      // Stored through the miner's own ingest script (the entry ids acknowledge nothing here).
      for (let i = 0; i < n; i += 2000) {
        const batch = [];
        for (let k = i; k < Math.min(n, i + 2000); k++) batch.push({ entryId: `0-${k + 1}`, relay: MinedRelayCodec.decode(entry(k, sid)) });
        await store.ingest(SUPPLIER1, '1', batch);
      }
      const heapPeak = sampler();
      // The miner's path: leaves in path order from Redis, one bucket at a time, bucket digests kept in Redis.
      global.gc?.();
      commands = 0;
      let t0 = performance.now();
      heapPeak.start();
      const frontier = await Frontier.build(heapPeak.pages(store.leafPages(SUPPLIER1, sid)), frontierBits(n));
      await store.saveFrontier(SUPPLIER1, sid, frontier);
      const root = frontier.root();
      const claimS = (performance.now() - t0) / 1000;
      const claimHeap = heapPeak.stop();
      const claimCommands = commands;
      global.gc?.();
      commands = 0;
      t0 = performance.now();
      heapPeak.start();
      const saved = (await store.frontier(SUPPLIER1, sid))!;
      const proof = encodeCompactClosestProof(compactClosestProof(await proveClosest(saved, sha256(root), store.leafSource(SUPPLIER1, sid))));
      const proofMs = performance.now() - t0;
      const proofHeap = heapPeak.stop();
      const proofCommands = commands;
      build.push(['path-ordered leaves + frontier', n, claimS.toFixed(2), claimHeap.toFixed(0), claimCommands, proofMs.toFixed(0), proofHeap.toFixed(0), proofCommands, proof.length]);
      process.stderr.write(`claim ${n}: ${claimS.toFixed(1)} s, proof ${proofMs.toFixed(0)} ms\n`);
      if (n <= BASELINE_MAX) {
        // The baseline in the same run: the reference trie (every node in memory), built from the same leaves.
        global.gc?.();
        commands = 0;
        t0 = performance.now();
        heapPeak.start();
        const trie = new SparseMerkleSumTrie();
        // In the order the relays were stored, as a Go relay miner's trie receives them: an extension node keeps
        // the path of the second leaf inserted under it, so a proof's sibling data depends on that order.
        const values = await store.leaves(SUPPLIER1, sid);
        const inserted: SortedLeaf[] = [];
        for await (const page of store.leafPages(SUPPLIER1, sid)) inserted.push(...page);
        inserted.sort((a, b) => a.seq - b.seq);
        for (const leaf of inserted) {
          const bytes = values.get(Buffer.from(leaf.path).toString('hex'))!;
          trie.update(sha256(bytes), bytes, 1n);
        }
        const same = Buffer.compare(trie.root(), root) === 0;
        const trieS = (performance.now() - t0) / 1000;
        const trieHeap = heapPeak.stop();
        t0 = performance.now();
        const trieProof = encodeCompactClosestProof(compactClosestProof(trie.proveClosest(sha256(root))));
        const trieProofMs = performance.now() - t0;
        if (!same || Buffer.compare(trieProof, proof) !== 0) throw new Error(`the reference trie disagrees at ${n} relays`);
        build.push(['in-memory trie (reference)', n, trieS.toFixed(2), trieHeap.toFixed(0), commands, trieProofMs.toFixed(0), '(held)', 0, trieProof.length]);
      }
      await redis.del(keys.minerSessionLeaves(SUPPLIER1, sid), keys.minerSessionPaths(SUPPLIER1, sid), keys.minerSessionFrontier(SUPPLIER1, sid), keys.minerSession(SUPPLIER1, sid));
    }
    process.stdout.write(
      table('Claim root and closest proof from the session store', ['method', 'relays', 'claim root s', 'claim peak heap MB', 'claim Redis calls', 'proof ms', 'proof peak heap MB', 'proof Redis calls', 'proof bytes'], build) + '\n',
    );
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

runBench(main);
