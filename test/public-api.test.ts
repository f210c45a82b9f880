import t from 'tap';
// The package entry as an external user imports it (resolved through package.json "exports" to dist/).
import * as relayminer from 'relayminer';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('the names external checks call exist on the package entry and behave', async (t) => {
  for (const name of ['ringSign', 'ringVerify', 'SparseMerkleSumTrie', 'compactClosestProof', 'encodeCompactClosestProof', 'decodeCompactClosestProof', 'verifyClosestProofBytes', 'sessionId', 'addressFromPrivateKey', 'seededFloat64', 'definePlugin', 'KeyBuilder', 'loadConfigFile']) {
    t.type((relayminer as Record<string, unknown>)[name], 'function', name);
  }
  const key = hex('2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a');
  t.equal(relayminer.addressFromPrivateKey(key), 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4');
  t.equal(
    relayminer.sessionId(hex('251665c7cf286a30fbd98acd983c63e9a34efc16496511373405e24eb02a8fb9'), 'svc1', 'pokt1mdccn4u38eyjdxkk4h0jaddw4n3c72u82m5m9e', 9n),
    'fea5d6f7544ff6d8af5c22529b2ccf01ed7930b3d454d42dda5ccc0b65b6ebfd',
  );
  const msg = new Uint8Array(32).fill(7);
  const gw = hex('cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177');
  const ring = [key, gw].map((k) => relayminer.publicKeyFromPrivateKey(k));
  const sig = relayminer.ringSign(msg, ring, gw);
  t.ok(relayminer.ringVerify(msg, sig));
  t.notOk(relayminer.ringVerify(msg, sig.subarray(0, 10)));
  const trie = new relayminer.SparseMerkleSumTrie();
  trie.update(new TextEncoder().encode('k'), new TextEncoder().encode('v'), 3n);
  const root = trie.root();
  t.equal(root.length, 48);
  const bytes = relayminer.encodeCompactClosestProof(relayminer.compactClosestProof(trie.proveClosest(new Uint8Array(32))));
  t.ok(relayminer.verifyClosestProofBytes(bytes, root));
  t.equal(toHex(relayminer.encodeCompactClosestProof(relayminer.decodeCompactClosestProof(bytes))), toHex(bytes));
  t.notOk(relayminer.verifyClosestProofBytes(Uint8Array.of(1, 2, 3), root));
  t.equal(typeof relayminer.seededFloat64(new Uint8Array(8)), 'number');
});

t.test("every value docs/plugins.md names in its public API table is exported by the package entry", async (t) => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'plugins.md'), 'utf8');
  const table = doc.slice(doc.indexOf('### The public API'), doc.indexOf('## How loading fails'));
  const rows = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| group') && !l.startsWith('|---'));
  t.ok(rows.length >= 15, `${rows.length} groups`);
  // The names column (second): identifiers in backticks; a capitalised name with no value of that name is a type.
  const names = rows.flatMap((r) => [...(r.split(' | ')[1] ?? '').matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1]!));
  const TYPES = new Set(['RelayMinerContext', 'ResolvedConfig', 'ResolvedRelayer', 'ResolvedMiner', 'ResolvedService', 'ResolvedBackend', 'Forward', 'ForwardResult', 'RelayReply', 'AdmittedFrame', 'RefusedFrame', 'DecodedRelay', 'ValidatedRelay', 'RejectReason', 'RelayInfo', 'AnyMessage', 'TxOutcome', 'BlockInfo', 'SharedParamsInfo', 'SupplierInfo', 'QueryLane', 'RedisClient', 'SessionState', 'SubmissionPhase', 'HttpRelayProtocol', 'HttpAnswer', 'BackendRequest', 'BodyBudget', 'H2cHandoff', 'UpgradeHandoff', 'UpgradeTaker', 'RedisCircuits']);
  const missing = names.filter((n) => !TYPES.has(n) && !(n in relayminer));
  t.same(missing, [], `${names.length} names, every value among them exported`);
});
