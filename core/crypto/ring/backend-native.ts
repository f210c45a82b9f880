import type { NativeCurveAddon } from '../native-lincomb.js';
import type { NativeSecp256k1 } from '../native-secp256k1.js';
import { INFINITY_ENCODING, type RingCurveBackend, type RingTableStats } from './backend.js';
import { NobleRingBackend } from './backend-noble.js';
import { bigIntTo32, bytesToBigInt } from '../big-endian.js';
import { bytesKey } from '../bytes-key.js';
import { CURVE_ORDER } from './hash.js';

export interface NativeRingBackendOptions {
  /** Points (ring members, their H_p, key images) converted to uncompressed form and remembered. */
  maxCachedPoints?: number;
  /** A point gets a multiples table once it has been in this many verified signatures. */
  tableAfterVerified?: number;
  /** Tables kept (139,264 bytes each), least recently verified dropped first. */
  maxTables?: number;
  /** A tabled point gets a wide table too (a third fewer additions) once it has been in this many verified signatures. */
  wideAfterVerified?: number;
  /** Wide tables kept (1,441,792 bytes each; G's is not counted), least recently verified dropped first. */
  maxWideTables?: number;
}

interface PointEntry {
  /** The key in the points cache: the point's bytes as signatures carry them, one character per byte. */
  key: string;
  uncompressed: Uint8Array;
  verified: number;
  /** The backend's count of verified points when this one was last among them: how recently it was used. */
  lastVerified: number;
  table?: ArrayBuffer;
  /** Its wide table, for points in most signatures; used instead of `table` while it has one. */
  wide?: ArrayBuffer;
  /** Set while its table is queued or being built. */
  building?: boolean;
  buildingWide?: boolean;
}

/** The table a sum uses: the wide one where there is one. */
const tableOf = (entry: PointEntry | undefined): ArrayBuffer | undefined => entry?.wide ?? entry?.table;

/** Whether a point verified `count` times is due to ask for a table it lacks: at `after`, then every 65,536 verifications. */
const due = (count: number, after: number): boolean => count === after || (count > after && (count - after) % 65_536 === 0);

/** Of a set of tabled entries (at most its cap, and only scanned when one more is built). */
function leastRecentlyVerified(entries: Set<PointEntry>): PointEntry {
  let oldest: PointEntry | undefined;
  for (const e of entries) if (!oldest || e.lastVerified < oldest.lastVerified) oldest = e;
  return oldest!;
}

const GENERATOR_UNCOMPRESSED = Uint8Array.from(
  Buffer.from(
    '0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8',
    'hex',
  ),
);

/**
 * libsecp256k1 backend (several times faster than the pure-JS one). Intermediate points stay uncompressed so no call pays
 * for a square root; repeated points are converted once and cached. libsecp256k1 refuses a zero
 * scalar and a result at infinity — cases only malformed or adversarial signatures reach — and
 * those fall back to the pure-JS backend, so results are identical on every input.
 *
 * With the addon (core/crypto/native/secp256k1-lincomb.c; the name is then `native-strauss`) each
 * a·A + b·B is one variable-time double multiplication, about half the public API's cost; and a point
 * that keeps coming back in signatures that verify (a gateway's key and key image, an app's key) gets
 * a table of its multiples, so a sum of two such points is additions only, with no doublings. Only verified
 * signatures count, so forged ones cannot make the relayer build or churn tables. A table takes
 * milliseconds to build: it is built on libuv's thread pool, one at a time, and sums use the double
 * multiplication until it arrives, so a new gateway or application never stalls the event loop that
 * verifies its relays.
 */
export class NativeRingBackend implements RingCurveBackend {
  readonly name: 'native' | 'native-strauss';
  readonly #lib: NativeSecp256k1;
  readonly #addon: NativeCurveAddon | undefined;
  readonly #fallback = new NobleRingBackend(256);
  readonly #points = new Map<string, PointEntry>();
  readonly #generator: PointEntry = { key: 'G', uncompressed: GENERATOR_UNCOMPRESSED, verified: 0, lastVerified: 0 };
  /**
   * Entries holding a table. Recency is a stamp on the entry, not the Set's order: reordering the Set
   * (delete + add) on every verification would make V8 rebuild its table every few relays, and a
   * discarded table links to its successor, so one that reached the old generation keeps every later
   * one alive through scavenges.
   */
  readonly #tabled = new Set<PointEntry>();
  /** Entries holding a wide table (the generator's is not among them). */
  readonly #wideTabled = new Set<PointEntry>();
  #verifiedPoints = 0;
  readonly #maxCached: number;
  readonly #tableAfter: number;
  readonly #maxTables: number;
  readonly #wideAfter: number;
  readonly #maxWide: number;
  #fixedSums = 0;
  /** Points waiting for a table (wide or not), built one after another. */
  readonly #toBuild: { entry: PointEntry; wide: boolean }[] = [];
  /** Settles when the queue of tables to build is empty. */
  #building: Promise<void> | undefined;

  constructor(lib: NativeSecp256k1, addon?: NativeCurveAddon, options: NativeRingBackendOptions = {}) {
    this.#lib = lib;
    this.#addon = addon;
    this.name = addon ? 'native-strauss' : 'native';
    this.#maxCached = options.maxCachedPoints ?? 4096;
    this.#tableAfter = options.tableAfterVerified ?? 16;
    this.#maxTables = options.maxTables ?? 240;
    this.#wideAfter = options.wideAfterVerified ?? 4096;
    this.#maxWide = options.maxWideTables ?? 8;
  }

  /** Tables held (G's is wide), and sums computed from tables so far (for metrics, tests and diagnostics). */
  stats(): RingTableStats {
    return { tables: this.#tabled.size, wideTables: this.#wideTabled.size + (this.#generator.wide ? 1 : 0), fixedSums: this.#fixedSums };
  }

  /** Resolves once every table asked for so far is built and in use (for tests and benchmarks). */
  async tablesBuilt(): Promise<void> {
    while (this.#building) await this.#building;
  }

  #entry(point: Uint8Array): PointEntry {
    const key = bytesKey(point);
    let entry = this.#points.get(key);
    if (!entry) {
      entry = { key, uncompressed: this.#lib.publicKeyConvert(point, false), verified: 0, lastVerified: 0 };
      if (this.#points.size >= this.#maxCached) this.#evictOldestUntabled();
      this.#points.set(key, entry);
    }
    return entry;
  }

  /**
   * Makes room in the points cache. Points holding a table go to the back instead of out, so a flood of
   * one-off points (forged signatures' key images) cannot cost a hot key its table.
   */
  #evictOldestUntabled(): void {
    let budget = this.#points.size; // a cache holding only tabled points still gives one up
    for (const [key, entry] of this.#points) {
      this.#points.delete(key);
      if (!entry.table || --budget <= 0) return this.#dropTable(entry);
      this.#points.set(key, entry);
    }
  }

  #dropTable(entry: PointEntry): void {
    entry.table = undefined;
    this.#tabled.delete(entry);
    this.#dropWide(entry);
  }

  #dropWide(entry: PointEntry): void {
    entry.wide = undefined;
    this.#wideTabled.delete(entry);
  }

  #u(point: Uint8Array): Uint8Array {
    return this.#entry(point).uncompressed;
  }

  /**
   * Credits the points of a signature that verified. A point's table is asked for when its count reaches
   * the threshold, and its wide table when it reaches the wide threshold with a table (either, if dropped
   * since, again every 65,536 verifications), so a building storm cannot happen. G gets a wide table at the
   * first. Each is stamped as the most recently verified: tables go least recently verified first.
   */
  noteVerified(points: readonly Uint8Array[]): void {
    if (!this.#addon || this.#maxTables === 0) return;
    const g = this.#generator;
    if (!g.wide && !g.buildingWide) this.#queueTable(g, true);
    for (const point of points) {
      const entry = this.#entry(point);
      entry.verified++;
      entry.lastVerified = ++this.#verifiedPoints;
      if (!entry.table) {
        if (!entry.building && due(entry.verified, this.#tableAfter)) this.#queueTable(entry, false);
      } else if (!entry.wide && !entry.buildingWide && this.#maxWide > 0 && due(entry.verified, this.#wideAfter)) {
        this.#queueTable(entry, true);
      }
    }
  }

  #queueTable(entry: PointEntry, wide: boolean): void {
    if (wide) entry.buildingWide = true;
    else entry.building = true;
    this.#toBuild.push({ entry, wide });
    this.#building ??= this.#buildQueued();
  }

  /** Builds the queued tables one after another; clears `#building` in the turn the queue runs empty. */
  async #buildQueued(): Promise<void> {
    try {
      for (let job = this.#toBuild.shift(); job; job = this.#toBuild.shift()) await this.#build(job.entry, job.wide);
    } finally {
      this.#building = undefined;
    }
  }

  async #build(entry: PointEntry, wide: boolean): Promise<void> {
    let table: ArrayBuffer | null | undefined;
    try {
      table = await this.#addon!.tableAsync(entry.uncompressed, wide);
    } catch {
      table = null; // never a reason to stop verifying: the double multiplication stays in use
    }
    if (wide) entry.buildingWide = false;
    else entry.building = false;
    if (!table) return;
    if (entry === this.#generator) {
      entry.wide = table;
      return;
    }
    // A point pushed out of the cache while its table was built gets none: nothing would find it; nor does
    // one whose table was dropped while its wide one was built.
    if (this.#points.get(entry.key) !== entry || (wide && !entry.table)) return;
    const [held, max] = wide ? [this.#wideTabled, this.#maxWide] : [this.#tabled, this.#maxTables];
    if (held.size >= max) {
      const oldest = leastRecentlyVerified(held);
      if (wide) this.#dropWide(oldest);
      else this.#dropTable(oldest);
    }
    if (wide) entry.wide = table;
    else entry.table = table;
    held.add(entry);
  }

  #mul(x: bigint, A: Uint8Array | null): Uint8Array {
    const k = bigIntTo32(x);
    return A === null ? this.#lib.publicKeyCreate(k, false) : this.#lib.publicKeyTweakMul(this.#u(A), k, false);
  }

  /** With all four points tabled: both sums in one call and one field inversion (of the four a verification needs per member, two). */
  memberSums(s: bigint, c: bigint, P: Uint8Array, H: Uint8Array, I: Uint8Array): [Uint8Array, Uint8Array] {
    const addon = this.#addon;
    if (addon && s !== 0n && c !== 0n) {
      const g = tableOf(this.#generator);
      const p = tableOf(this.#entry(P));
      const h = tableOf(this.#entry(H));
      const i = tableOf(this.#entry(I));
      if (g && p && h && i) {
        const s32 = bigIntTo32(s);
        const c32 = bigIntTo32(c);
        const pair = addon.lincombFixedPair(s32, g, c32, p, s32, h, c32, i);
        if (pair) {
          this.#fixedSums += 2;
          return [pair[0] ?? this.#fallback.linearCombination(s, null, c, P), pair[1] ?? this.#fallback.linearCombination(s, H, c, I)];
        }
      }
    }
    return [this.linearCombination(s, null, c, P), this.linearCombination(s, H, c, I)];
  }

  /**
   * With every point of the signature tabled, the whole chain in one native call: the sums, ring-go's
   * challenge hashes and the final comparison, no scalar or point crossing into JavaScript. Points are looked
   * up, never added to the cache: a forged signature's key image has no table and goes member by member.
   */
  verifyRing(msg: Uint8Array, serialized: Uint8Array, ring: readonly Uint8Array[], hashes: readonly Uint8Array[], keyImage: Uint8Array): boolean | undefined {
    const chain = this.#addon?.ringChainFixed;
    const g = tableOf(this.#generator);
    const i = tableOf(this.#points.get(bytesKey(keyImage)));
    if (!chain || !g || !i) return undefined;
    const tables = [g, i];
    for (let k = 0; k < ring.length; k++) {
      const p = tableOf(this.#points.get(bytesKey(ring[k]!)));
      const h = tableOf(this.#points.get(bytesKey(hashes[k]!)));
      if (!p || !h) return undefined;
      tables.push(p, h);
    }
    const verdict = chain(msg, serialized, tables);
    if (verdict === null) return undefined;
    this.#fixedSums += 2 * ring.length;
    return verdict;
  }

  linearCombination(a: bigint, A: Uint8Array | null, b: bigint, B: Uint8Array): Uint8Array {
    if (a === 0n || b === 0n) return this.#fallback.linearCombination(a, A, b, B);
    const addon = this.#addon;
    if (addon) {
      const entryA = A === null ? this.#generator : this.#entry(A);
      const entryB = this.#entry(B);
      const [tableA, tableB] = [tableOf(entryA), tableOf(entryB)];
      let sum: Uint8Array | null;
      if (tableA && tableB) {
        this.#fixedSums++;
        sum = addon.lincombFixed(bigIntTo32(a), tableA, bigIntTo32(b), tableB);
      } else {
        sum = addon.lincomb(bigIntTo32(a), A === null ? null : entryA.uncompressed, bigIntTo32(b), entryB.uncompressed);
      }
      return sum ?? this.#fallback.linearCombination(a, A, b, B);
    }
    if (A === null) {
      const q = this.#generatorPlus(a, b, B);
      if (q) return q;
    }
    try {
      return this.#lib.publicKeyCombine([this.#mul(a, A), this.#mul(b, B)], true);
    } catch {
      return this.#fallback.linearCombination(a, A, b, B);
    }
  }

  /**
   * a·G + b·B in one libsecp256k1 double multiplication, through ECDSA public-key recovery:
   * recover(r, s, z) = r⁻¹(s·R − z·G) with R the point of x-coordinate r. Taking R = B, s = b·r and
   * z = −a·r gives exactly a·G + b·B (one call instead of two multiplications and an addition).
   * Null when B's x-coordinate is not below the group order or the sum is at infinity: the caller
   * computes those the general way.
   */
  #generatorPlus(a: bigint, b: bigint, B: Uint8Array): Uint8Array | null {
    const r = bytesToBigInt(B.subarray(1, 33));
    if (r === 0n || r >= CURVE_ORDER) return null;
    const signature = new Uint8Array(64);
    signature.set(bigIntTo32(r), 0);
    signature.set(bigIntTo32((b * r) % CURVE_ORDER), 32);
    const z = ((CURVE_ORDER - a) * r) % CURVE_ORDER;
    try {
      return Uint8Array.from(this.#lib.ecdsaRecover(signature, B[0] === 0x03 ? 1 : 0, bigIntTo32(z), true));
    } catch {
      return null;
    }
  }

  multiply(x: bigint, A: Uint8Array | null): Uint8Array {
    if (x === 0n) return INFINITY_ENCODING;
    try {
      return A === null ? this.#lib.publicKeyCreate(bigIntTo32(x), true) : this.#lib.publicKeyTweakMul(this.#u(A), bigIntTo32(x), true);
    } catch {
      return this.#fallback.multiply(x, A);
    }
  }
}
