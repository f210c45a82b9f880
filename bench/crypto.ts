import { sha256 } from '@noble/hashes/sha2.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { NativeRingBackend, NobleRingBackend, ringSign, ringVerify, type RingCurveBackend } from '../core/crypto/ring/index.js';
import { nativeSecp256k1 } from '../core/crypto/native-secp256k1.js';
import { nativeCurveAddon } from '../core/crypto/native-lincomb.js';
import { signSupplierResponse, verifySupplierResponse, type SignatureBackend } from '../core/crypto/supplier-signature.js';
import { fmtMs, fmtRate, measure, table } from './table.js';

/**
 * Ring signatures and supplier signatures, one core. Each ring backend is measured warm (the relayer
 * case: the same app and gateway keys relay after relay), against plain ECDSA verify as the baseline
 * cost of "one signature check". Run: npm run bench:crypto
 */

const app = Uint8Array.from(Buffer.from('2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a', 'hex'));
const gw = Uint8Array.from(Buffer.from('cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177', 'hex'));
const ring = [app, gw].map((k) => publicKeyFromPrivateKey(k));
const messages = Array.from({ length: 64 }, (_, i) => sha256(new TextEncoder().encode(`relay ${i}`)));

// native-strauss as the relayer runs it (tables for points that recur), and with no tables: a ring
// whose keys are not (yet) hot.
const backends: [string, RingCurveBackend][] = [
  ['noble', new NobleRingBackend()],
  ...(nativeSecp256k1 ? ([['native', new NativeRingBackend(nativeSecp256k1)]] as [string, RingCurveBackend][]) : []),
  ...(nativeSecp256k1 && nativeCurveAddon
    ? ([
        ['native-strauss, no tables', new NativeRingBackend(nativeSecp256k1, nativeCurveAddon, { maxTables: 0 })],
        ['native-strauss', new NativeRingBackend(nativeSecp256k1, nativeCurveAddon)],
      ] as [string, RingCurveBackend][])
    : []),
];
const rows: (string | number)[][] = [];

const ecdsaHash = sha256(new Uint8Array([1, 2, 3]));
const ecdsaSig = signSupplierResponse(ecdsaHash, app);
const ecdsaPub = publicKeyFromPrivateKey(app);
const baseline = measure(() => secp256k1.verify(ecdsaSig, sha256(ecdsaHash), ecdsaPub, { prehash: false }));

for (const [name, b] of backends) {
  const sigs = messages.map((m) => ringSign(m, ring, gw, b));
  if (b instanceof NativeRingBackend) {
    // Tables are built off the event loop once a point has been in enough verified signatures (wide ones
    // after 4,096): the relayer has them once a ring is hot.
    for (let round = 0; round < 66; round++) {
      for (const [i, m] of messages.entries()) ringVerify(m, sigs[i]!, b);
      await b.tablesBuilt();
    }
  }
  const verify = measure((i) => ringVerify(messages[i % 64]!, sigs[i % 64]!, b), 3000, 200);
  const sign = measure((i) => ringSign(messages[i % 64]!, ring, gw, b), 2000);
  rows.push([`ring verify, 2 members (${name})`, fmtMs(verify.perOpMs), fmtRate(verify.opsPerSec), `${(verify.perOpMs / baseline.perOpMs).toFixed(2)}×`, '≤ 0.5 ms']);
  rows.push([`ring sign, 2 members (${name})`, fmtMs(sign.perOpMs), fmtRate(sign.opsPerSec), `${(sign.perOpMs / baseline.perOpMs).toFixed(2)}×`, '']);
}
// A supplier's sessions bring many applications, mostly signed for by one gateway: each application's key and
// its H_p recur in a share of the relays. 100 of them, round robin, once each has verified enough to be tabled
// (and the gateway's points, in every signature, enough for wide tables).
if (nativeSecp256k1 && nativeCurveAddon) {
  const APPS = 100;
  const b = new NativeRingBackend(nativeSecp256k1, nativeCurveAddon);
  const signed = Array.from({ length: APPS }, (_, i) => {
    const appRing = [publicKeyFromPrivateKey(sha256(new TextEncoder().encode(`app ${i}`))), ring[1]!];
    const m = messages[i % messages.length]!;
    return [m, ringSign(m, appRing, gw, b)] as const;
  });
  for (let round = 0; round < 42; round++) {
    for (const [m, sig] of signed) ringVerify(m, sig, b);
    await b.tablesBuilt();
  }
  const verify = measure((i) => ringVerify(signed[i % APPS]![0], signed[i % APPS]![1], b), 3000, 200);
  rows.push([`ring verify, 2 members, ${APPS} applications (native-strauss, ${b.stats().tables} tables, ${b.stats().wideTables} wide)`, fmtMs(verify.perOpMs), fmtRate(verify.opsPerSec), `${(verify.perOpMs / baseline.perOpMs).toFixed(2)}×`, '≤ 0.5 ms']);
}
const hashes = messages;
for (const b of (nativeSecp256k1 ? ['noble', 'native'] : ['noble']) as SignatureBackend[]) {
  const supplierSign = measure((i) => signSupplierResponse(hashes[i % 64]!, app, b));
  const supplierSigs = hashes.map((h) => signSupplierResponse(h, app, b));
  const supplierVerify = measure((i) => verifySupplierResponse(hashes[i % 64]!, supplierSigs[i % 64]!, ecdsaPub, b));
  rows.push([`supplier sign, ECDSA RFC 6979 (${b})`, fmtMs(supplierSign.perOpMs), fmtRate(supplierSign.opsPerSec), `${(supplierSign.perOpMs / baseline.perOpMs).toFixed(2)}×`, '≤ 0.1 ms']);
  rows.push([`supplier verify, ECDSA low-S (${b})`, fmtMs(supplierVerify.perOpMs), fmtRate(supplierVerify.opsPerSec), `${(supplierVerify.perOpMs / baseline.perOpMs).toFixed(2)}×`, '']);
}
rows.push(['baseline: noble ECDSA verify', fmtMs(baseline.perOpMs), fmtRate(baseline.opsPerSec), '1.0×', '']);

process.stdout.write(`${table(`bench/crypto — one core, Node ${process.version}`, ['operation', 'per op', 'rate', 'vs baseline', 'target'], rows)}\n`);
