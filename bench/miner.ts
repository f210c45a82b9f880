import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { Redis } from 'ioredis';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { MinedRelayCodec } from '../core/protocol/messages.js';
import { freePort, LocalRedisServer } from '../core/redis/local-server.js';
import { KeyBuilder } from '../core/redis/key-builder.js';
import { compactClosestProof, encodeCompactClosestProof, SparseMerkleSumTrie } from '../core/smst/index.js';
import { SessionStore } from '../plugins/miner/session-store.js';
import { cpuMs, KEYS, rssMb, runBench, stopChild, SUPPLIER1, waitFor } from './harness.js';
import { table } from './table.js';

/**
 * The miner: (1) ingest — one miner process moving RELAYS pre-filled stream entries into session storage
 * (store + acknowledge per relay, atomically), against a bare consumer in the same run that only reads and
 * acknowledges (the Redis ceiling); (2) claim build — trie from the stored leaves for sessions of SIZES relays,
 * time and memory; (3) proof build for the same tries.
 * Run: npm run bench:miner  (RELAYS=100000 SIZES=10000,100000,1000000 to change the plan)
 */

const RELAYS = Number(process.env.RELAYS ?? 100_000);
const SIZES = (process.env.SIZES ?? '10000,100000,1000000').split(',').map(Number);
const VALUE_BYTES = 256;
const keys = new KeyBuilder('bench');

function entry(n: number, session: string): Buffer {
  const relay = Buffer.alloc(VALUE_BYTES, n % 251);
  relay.writeUInt32BE(n, 0);
  relay.write(session, 4);
  return Buffer.from(
    MinedRelayCodec.encode({
      relay_hash: sha256(relay),
      relay,
      compute_units: 1n,
      session_id: session,
      session_start_block_height: 11n,
      session_end_block_height: 20n,
      supplier_operator_address: SUPPLIER1,
      service_id: 'anvil',
      application_address: 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4',
      arrival_block_height: 12n,
      published_at_ms: 1n,
    }),
  );
}

async function fill(redis: Redis, stream: string, n: number, session: string): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const p = redis.pipeline();
    for (let k = i; k < Math.min(n, i + 1000); k++) p.xadd(stream, '*', 'data', entry(k, session));
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

async function main(): Promise<void> {
  const server = await LocalRedisServer.start();
  const redis = new Redis(server.url);
  try {
    const rows: (string | number)[][] = [];
    // --- ingest: bare consumer (baseline), then one miner process ---
    const bareStream = 'bench:bare:{x}';
    await fill(redis, bareStream, RELAYS, 's0');
    const bare = await bareConsumer(redis, bareStream, RELAYS);
    rows.push(['bare XREADGROUP + XACK/XDEL (baseline)', RELAYS, bare.toFixed(0), '', '', '1.00']);
    process.stderr.write(`baseline: ${bare.toFixed(0)} entries/s\n`);

    const stream = keys.relayStream(SUPPLIER1);
    await fill(redis, stream, RELAYS, 'ingest');
    const dir = mkdtempSync(join(tmpdir(), 'relayminer-bench-miner-'));
    writeFileSync(
      join(dir, 'miner.yaml'),
      `miner:
  metrics_address: "127.0.0.1:${await freePort()}"
  redis: { url: "${server.url}", namespace: bench }
  pocket_node: { rpc_url: "http://127.0.0.1:1", grpc_address: "127.0.0.1:1" }
  supplier_keys: [{ private_key_hex: "${KEYS.supplier1}" }]
  instance_id: bench
plugins: [miner]
logging: { level: warn, format: json }
`,
    );
    const store = new SessionStore(keys, () => redis);
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist/cli/main.js'), 'miner', '-c', join(dir, 'miner.yaml')], { stdio: ['ignore', openSync(join(dir, 'miner.log'), 'w'), 'inherit'] });
    try {
      await waitFor('the miner to take the lease', async () => (await redis.get(keys.supplierLease(SUPPLIER1))) !== null);
      const cpu0 = cpuMs(child.pid!);
      const began = performance.now();
      await waitFor('ingest', async () => (await store.session(SUPPLIER1, 'ingest'))?.count === RELAYS, 600_000);
      const elapsed = performance.now() - began;
      const cpu = cpuMs(child.pid!) - cpu0;
      const rate = (RELAYS / elapsed) * 1000;
      rows.push(['miner process: store + ack, fenced (one script per batch)', RELAYS, rate.toFixed(0), ((cpu / RELAYS) * 1000).toFixed(1), rssMb(child.pid!).toFixed(0), (rate / bare).toFixed(2)]);
      process.stderr.write(`miner: ${rate.toFixed(0)} relays/s\n`);
    } finally {
      await stopChild(child);
    }
    process.stdout.write(table(`Miner ingest (node ${process.version}, ${VALUE_BYTES}-byte relays)`, ['consumer', 'relays', 'relays/s', 'CPU µs/relay', 'RSS MB', 'ratio'], rows) + '\n');

    // --- claim and proof build from stored leaves ---
    const build: (string | number)[][] = [];
    for (const n of SIZES) {
      const sid = `size${n}`;
      const leaves = keys.minerSessionLeaves(SUPPLIER1, sid);
      for (let i = 0; i < n; i += 2000) {
        const p = redis.pipeline();
        for (let k = i; k < Math.min(n, i + 2000); k++) {
          const relay = Buffer.alloc(VALUE_BYTES, k % 251);
          relay.writeUInt32BE(k, 0);
          p.hset(leaves, Buffer.from(sha256(relay)).toString('hex'), relay);
        }
        await p.exec();
      }
      global.gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      // As the miner builds it: leaves streamed from Redis (HSCAN pages) straight into the trie.
      const t0 = performance.now();
      const trie = new SparseMerkleSumTrie();
      let readMs = 0;
      let mark = performance.now();
      for await (const [hash, bytes] of store.scanLeaves(SUPPLIER1, sid)) {
        readMs += performance.now() - mark;
        trie.update(hash, bytes, 1n);
        mark = performance.now();
      }
      const root = trie.root();
      const t2 = performance.now();
      const t1 = t0 + readMs;
      const heap = (process.memoryUsage().heapUsed - heap0) / 1024 / 1024;
      const p0 = performance.now();
      const proof = encodeCompactClosestProof(compactClosestProof(trie.proveClosest(sha256(root))));
      const p1 = performance.now();
      build.push([n, ((t1 - t0) / 1000).toFixed(2), ((t2 - t1) / 1000).toFixed(2), heap.toFixed(0), (p1 - p0).toFixed(2), proof.length]);
      process.stderr.write(`claim build ${n}: ${((t2 - t0) / 1000).toFixed(1)} s\n`);
      await redis.del(leaves);
    }
    process.stdout.write(table('Claim and proof build from the session store', ['relays in session', 'reading leaves s', 'trie inserts + root s', 'heap MB', 'closest proof ms', 'proof bytes'], build) + '\n');
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

runBench(main);
