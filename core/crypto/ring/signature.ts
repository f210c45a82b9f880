import { secp256k1 } from '@noble/curves/secp256k1.js';
import { INFINITY_ENCODING, type RingCurveBackend } from './backend.js';
import { NobleRingBackend } from './backend-noble.js';
import { NativeRingBackend } from './backend-native.js';
import { nativeSecp256k1 } from '../native-secp256k1.js';
import { nativeCurveAddon } from '../native-lincomb.js';
import { bigIntTo32, bytesToBigInt } from '../big-endian.js';
import { bytesKey } from '../bytes-key.js';
import { CURVE_ORDER, hashToCurve, hashToScalar } from './hash.js';

/**
 * Linkable ring signatures exactly as pokt-network/ring-go (782cc69) over go-dleq's secp256k1 backend
 * (docs/spec/protocol.md §4.1). Wire form: u32_be(n) ‖ c (32) ‖ key image (33) ‖ n × (s_i (32) ‖ P_i (33)).
 */

export interface RingSignature {
  c: bigint;
  keyImage: Uint8Array;
  s: bigint[];
  /** Compressed ring members in signature order. */
  ring: Uint8Array[];
}

const SCALAR = 32;
const POINT = 33;

/**
 * Members a ring signature may have here. ring-go parses any count its bytes hold, and a relay's body may
 * hold a hundred thousand: each member is a point to check and to verify, so one request could keep a
 * thread busy for seconds. An application's ring on chain is the application, its delegated gateways (7 at
 * the chain's default `max_delegated_gateways`) and gateways being undelegated: far fewer.
 */
export const MAX_RING_MEMBERS = 256;

/** Bytes of a ring signature with `members` members on the wire. */
export function ringSignatureSize(members: number): number {
  return 4 + SCALAR + POINT + members * (SCALAR + POINT);
}

/**
 * Parses like ring-go's Deserialize; null wherever ring-go returns an error or panics, and for a ring of more
 * than MAX_RING_MEMBERS. Never throws.
 * The key image and members are views on `sig`'s bytes (a copy of 33 bytes is made on V8's heap and
 * moved off it the moment a cache key reads its buffer): whatever keeps one must copy it. The scalars
 * are read from `sig` when first asked for (a relay's signature verified in one native call, or on a
 * crypto thread from its bytes, never needs them as bigints here), so `sig` must not change while the
 * parsed signature is in use.
 */
export function deserializeRingSignature(sig: Uint8Array): RingSignature | null {
  if (sig.length < 4) return null; // ring-go panics on the size header
  const size = new DataView(sig.buffer, sig.byteOffset, sig.byteLength).getUint32(0, false);
  if (size === 0) return null; // ring-go panics on c[0] of an empty ring
  if (size > MAX_RING_MEMBERS) return null;
  if (sig.length < ringSignatureSize(size)) return null;
  let o = 4 + SCALAR;
  const keyImage = sig.subarray(o, o + POINT);
  if (!isValidCompressedPoint(keyImage)) return null;
  o += POINT + SCALAR;
  const ring: Uint8Array[] = [];
  for (let i = 0; i < size; i++) {
    const p = sig.subarray(o, o + POINT);
    if (!isValidCompressedPoint(p)) return null;
    ring.push(p);
    o += POINT + SCALAR;
  }
  return new ParsedRingSignature(sig, keyImage, ring); // trailing bytes are ignored, as ring-go does
}

/** A parsed wire form whose scalars become bigints (reduced mod N, as DecodeToScalar does) on first read. */
class ParsedRingSignature implements RingSignature {
  readonly keyImage: Uint8Array;
  readonly ring: Uint8Array[];
  readonly #wire: Uint8Array;
  #c: bigint | undefined;
  #s: bigint[] | undefined;

  constructor(wire: Uint8Array, keyImage: Uint8Array, ring: Uint8Array[]) {
    this.#wire = wire;
    this.keyImage = keyImage;
    this.ring = ring;
  }

  get c(): bigint {
    return (this.#c ??= bytesToBigInt(this.#wire.subarray(4, 4 + SCALAR)) % CURVE_ORDER);
  }

  get s(): bigint[] {
    if (!this.#s) {
      const s: bigint[] = [];
      for (let i = 0, o = 4 + SCALAR + POINT; i < this.ring.length; i++, o += SCALAR + POINT) s.push(bytesToBigInt(this.#wire.subarray(o, o + SCALAR)) % CURVE_ORDER);
      this.#s = s;
    }
    return this.#s;
  }
}

export function serializeRingSignature(sig: RingSignature): Uint8Array {
  const out = new Uint8Array(ringSignatureSize(sig.ring.length));
  new DataView(out.buffer).setUint32(0, sig.ring.length, false);
  out.set(bigIntTo32(sig.c), 4);
  out.set(sig.keyImage, 4 + SCALAR);
  let o = 4 + SCALAR + POINT;
  for (let i = 0; i < sig.ring.length; i++) {
    out.set(bigIntTo32(sig.s[i]!), o);
    out.set(sig.ring[i]!, o + SCALAR);
    o += SCALAR + POINT;
  }
  return out;
}

/** The bytes of `sig` that ring-go reads, its header's members and no further (it ignores what follows); `sig` when malformed. */
export function ringSignaturePrefix(sig: Uint8Array): Uint8Array {
  if (sig.length < 4) return sig;
  const members = ((sig[0]! << 24) | (sig[1]! << 16) | (sig[2]! << 8) | sig[3]!) >>> 0; // u32_be, read without a DataView per relay
  const used = ringSignatureSize(members);
  return used < sig.length ? sig.subarray(0, used) : sig;
}

const validPoints = new Map<string, boolean>();

/** 33-byte SEC1 compressed, x < p, on the curve (decred ParsePubKey). */
export function isValidCompressedPoint(b: Uint8Array): boolean {
  if (b.length !== POINT || (b[0] !== 0x02 && b[0] !== 0x03)) return false;
  const key = bytesKey(b);
  const known = validPoints.get(key);
  if (known !== undefined) return known;
  const ok = nativeSecp256k1 ? nativeSecp256k1.publicKeyVerify(b) : noblePointValid(b);
  if (validPoints.size > 8192) validPoints.clear();
  validPoints.set(key, ok);
  return ok;
}

/** isValidCompressedPoint's check where libsecp256k1 does not load (@noble's SEC1 decoding). */
export function noblePointValid(b: Uint8Array): boolean {
  try {
    secp256k1.Point.fromBytes(b).assertValidity();
    return true;
  } catch {
    return false;
  }
}

const hpCache = new Map<string, Uint8Array | null>();

function cachedHashToCurve(p: Uint8Array): Uint8Array | null {
  const key = bytesKey(p);
  let h = hpCache.get(key);
  if (h === undefined) {
    h = hashToCurve(p);
    if (hpCache.size > 8192) hpCache.clear();
    hpCache.set(key, h);
  }
  return h;
}

function challenge(m: Uint8Array, l: Uint8Array, r: Uint8Array): bigint | null {
  const buf = new Uint8Array(32 + POINT + POINT);
  buf.set(m, 0);
  buf.set(l, 32);
  buf.set(r, 32 + POINT);
  return hashToScalar(buf);
}

/**
 * libsecp256k1 where its binary loads (with the double-multiplication addon when it was built), else
 * pure JS; all give identical results (tests run each).
 */
let defaultBackend: RingCurveBackend = nativeSecp256k1 ? new NativeRingBackend(nativeSecp256k1, nativeCurveAddon) : new NobleRingBackend();

export function setDefaultRingBackend(backend: RingCurveBackend): void {
  defaultBackend = backend;
}

/**
 * The default backend again, keeping at most `maxTables` multiples tables (relayer.ring_tables; 0: none), where
 * the addon is built; tables held so far are dropped. Each thread that verifies has its own backend.
 */
export function configureRingTables(maxTables: number): void {
  if (nativeSecp256k1 && nativeCurveAddon) defaultBackend = new NativeRingBackend(nativeSecp256k1, nativeCurveAddon, { maxTables });
}

export function defaultRingBackend(): RingCurveBackend {
  return defaultBackend;
}

/**
 * ring-go RingSig.Verify on a parsed signature; false where ring-go returns false or panics. `serialized`,
 * when given, is the wire form `sig` was parsed from, unchanged: a backend holding tables for every point
 * then verifies the whole ring in one call. `credit`: a valid signature's points count toward the
 * backend's tables; not for a ring not yet known to be an application's (anyone can sign over their own,
 * and tables for theirs would push an application's out).
 */
export function verifyParsedRingSignature(msg: Uint8Array, sig: RingSignature, backend = defaultBackend, serialized?: Uint8Array, credit = true): boolean {
  if (msg.length !== 32) return false;
  const hps = new Array<Uint8Array>(sig.ring.length);
  for (let i = 0; i < sig.ring.length; i++) {
    const hp = cachedHashToCurve(sig.ring[i]!);
    if (!hp) return false;
    hps[i] = hp;
  }
  const verdict = (serialized && backend.verifyRing?.(msg, serialized, sig.ring, hps, sig.keyImage)) ?? verifyMembers(msg, sig, hps, backend);
  if (!verdict) return false;
  if (credit) backend.noteVerified?.([...sig.ring, ...hps, sig.keyImage]);
  return true;
}

function verifyMembers(msg: Uint8Array, sig: RingSignature, hps: readonly Uint8Array[], backend: RingCurveBackend): boolean {
  let c = sig.c;
  for (let i = 0; i < sig.ring.length; i++) {
    const hp = hps[i]!;
    const [l, r] = backend.memberSums
      ? backend.memberSums(sig.s[i]!, c, sig.ring[i]!, hp, sig.keyImage)
      : [backend.linearCombination(sig.s[i]!, null, c, sig.ring[i]!), backend.linearCombination(sig.s[i]!, hp, c, sig.keyImage)];
    const next = challenge(msg, l, r);
    if (next === null) return false;
    c = next;
  }
  return c === sig.c;
}

/** Deserialize and verify; false for anything malformed. Never throws. `credit` as verifyParsedRingSignature takes it. */
export function ringVerify(msg: Uint8Array, signature: Uint8Array, backend = defaultBackend, credit = true): boolean {
  try {
    const sig = deserializeRingSignature(signature);
    return sig !== null && verifyParsedRingSignature(msg, sig, backend, signature, credit);
  } catch {
    return false;
  }
}

/**
 * The relayer's membership rule (poktroll VerifyRelayRequestSignature): every key in the signature's
 * ring is one of the expected ring's keys, order not compared. Unlike poktroll, a ring with more members
 * than the expected one is refused: a signer builds its ring from the chain's, so only a ring made to
 * be expensive repeats members, and each member costs the verification that follows (256 copies of an
 * application's key, with scalars nobody signed, held a crypto thread ~8 ms per relay).
 */
export function ringMembersAllowed(sig: RingSignature, expectedRing: readonly Uint8Array[]): boolean {
  if (sig.ring.length > expectedRing.length) return false;
  let allowed = allowedKeys.get(expectedRing);
  if (!allowed) allowedKeys.set(expectedRing, (allowed = new Set(expectedRing.map(bytesKey))));
  for (const k of sig.ring) if (!allowed.has(bytesKey(k))) return false;
  return true;
}

// An expected ring is one array for as long as its application entry is cached (core/relay/chain-state.ts):
// its keys' set is built once, not per relay. Rings must not be changed in place after they are checked.
const allowedKeys = new WeakMap<readonly Uint8Array[], Set<string>>();

function randomScalar(): bigint {
  for (;;) {
    const v = bytesToBigInt(crypto.getRandomValues(new Uint8Array(32)));
    if (v > 0n && v < CURVE_ORDER) return v;
  }
}

/**
 * ring-go Sign: a signature any ring-go verifier accepts. Nonces are random; a chain that would make
 * Go's hashToScalar panic is retried with fresh nonces.
 */
export function ringSign(msg: Uint8Array, ringPubKeys: readonly Uint8Array[], privateKey: Uint8Array, backend = defaultBackend): Uint8Array {
  if (msg.length !== 32) throw new RangeError('ring signature message must be 32 bytes');
  if (ringPubKeys.length < 2) throw new RangeError('size of ring less than two');
  const x = bytesToBigInt(privateKey);
  if (x === 0n || x >= CURVE_ORDER) throw new RangeError('private key is not a valid scalar');
  const pub = backend.multiply(x, null);
  const ring = ringPubKeys.map((k) => Uint8Array.from(k));
  const me = ring.findIndex((k) => Buffer.compare(k, pub) === 0);
  if (me < 0) throw new Error('failed to find given key in public key set');
  if (new Set(ring.map(bytesKey)).size !== ring.length) throw new Error('duplicate public keys in ring');
  for (const k of ring) if (!isValidCompressedPoint(k)) throw new Error('ring member is not a valid compressed point');
  const hpMe = cachedHashToCurve(pub);
  if (!hpMe) throw new Error('hash to curve failed for the signer key');
  const keyImage = backend.multiply(x, hpMe);
  const n = ring.length;

  for (;;) {
    const c = new Array<bigint>(n);
    const s = new Array<bigint>(n);
    const u = randomScalar();
    let next = challenge(msg, backend.multiply(u, null), backend.multiply(u, hpMe));
    if (next === null) continue;
    c[(me + 1) % n] = next;
    let failed = false;
    for (let k = 1; k < n; k++) {
      const i = (me + k) % n;
      s[i] = randomScalar();
      const hp = cachedHashToCurve(ring[i]!);
      if (!hp) throw new Error('hash to curve failed for a ring member');
      const l = backend.linearCombination(s[i]!, null, c[i]!, ring[i]!);
      const r = backend.linearCombination(s[i]!, hp, c[i]!, keyImage);
      next = challenge(msg, l, r);
      if (next === null) {
        failed = true;
        break;
      }
      c[(i + 1) % n] = next;
    }
    if (failed) continue;
    s[me] = (((u - c[me]! * x) % CURVE_ORDER) + CURVE_ORDER) % CURVE_ORDER;
    return serializeRingSignature({ c: c[0]!, keyImage, s, ring });
  }
}

/** The key image I = x·H_p(x·G) of a private key: the same for every signature it makes. */
export function keyImage(privateKey: Uint8Array, backend = defaultBackend): Uint8Array {
  const x = bytesToBigInt(privateKey);
  const hp = cachedHashToCurve(backend.multiply(x, null));
  if (!hp) throw new Error('hash to curve failed');
  return backend.multiply(x, hp);
}

export { INFINITY_ENCODING };
