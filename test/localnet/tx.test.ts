import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Comet38Client, HttpClient } from '@cosmjs/tendermint-rpc';
import { status, type ServiceError } from '@grpc/grpc-js';
import { proofPath } from '../../core/session/index.js';
import { compactClosestProof, encodeCompactClosestProof } from '../../core/smst/index.js';
import { parseGenesis, startLocalnet, type RunningLocalnet } from '../../localnet/index.js';
import { captureLogs } from '../helpers/logs.js';
import { ADDR, KEYS, claimAny, grpcCall, grpcClient, makeRelays, proofAny, signTx, trieOf, type Res } from '../helpers/localnet-client.js';
import { hex, loadVector } from '../helpers/vectors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BASE = readFileSync(join(ROOT, 'examples/localnet/genesis.yaml'), 'utf8')
  .replace('genesis_time: now', 'genesis_time: "2026-01-01T00:00:00Z"')
  .replace('block_interval_ms: 1000', 'block_interval_ms: 0');
// Account numbers follow the genesis account order.
const ACC = { supplier1: 3, supplier2: 4 };

async function start(t: Test, genesis = BASE): Promise<RunningLocalnet & { tx: ReturnType<typeof grpcClient> }> {
  const net = await startLocalnet(parseGenesis(genesis), { rpcAddress: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', log: captureLogs().logger });
  const tx = grpcClient(net.grpcAddress, 'cosmos.tx.v1beta1.Service');
  t.teardown(async () => {
    tx.close();
    await net.stop();
  });
  return { ...net, tx };
}

const broadcast = async (net: { tx: ReturnType<typeof grpcClient> }, bytes: Uint8Array) => (await grpcCall(net.tx, 'BroadcastTx', { tx_bytes: bytes, mode: 2 })).tx_response as Res;
const getTx = async (net: { tx: ReturnType<typeof grpcClient> }, hash: string) => (await grpcCall(net.tx, 'GetTx', { hash })).tx_response as Res;

/** Broadcast, include in the next block, and return the delivered result. */
async function deliver(net: RunningLocalnet & { tx: ReturnType<typeof grpcClient> }, bytes: Uint8Array): Promise<Res> {
  const checked = await broadcast(net, bytes);
  if (checked.code !== 0) return checked;
  net.chain.advance(1);
  return getTx(net, checked.txhash);
}

// Session [1, 10]: claim window [12, 16], proof window [16, 20], seed block 15, settlement at 20.
const session1 = (net: RunningLocalnet) => net.chain.getSession(ADDR.app1, 'anvil', 1).header;

t.test('a full session: claim, required proof validated, settlement pays exactly the claimed uPOKT', async (t) => {
  const net = await start(t, BASE.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1'));
  const header = session1(net);
  const relays = makeRelays(header, 5);
  const trie = trieOf(relays);
  net.chain.advance(10); // height 11; the next block (12) opens the claim window
  const claimRes = await deliver(net, await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, trie.root())], { accountNumber: ACC.supplier1, sequence: 0 }));
  t.equal(claimRes.code, 0, `claim delivered: ${claimRes.raw_log}`);
  t.equal(claimRes.height, '12');
  const proofQ = grpcClient(net.grpcAddress, 'pocket.proof.Query');
  t.teardown(() => proofQ.close());
  const stored = (await grpcCall(proofQ, 'Claim', { session_id: header.session_id, supplier_operator_address: ADDR.supplier1 })).claim;
  t.equal(Buffer.from(stored.root_hash).toString('hex'), Buffer.from(trie.root()).toString('hex'));
  t.equal(trie.count(), 5n);
  t.equal(trie.sum(), 5n, 'sum = count × CUPR (1)');

  net.chain.advance(3); // height 15: the seed block; the next block opens the proof window
  const path = proofPath(net.chain.blockHash(15), header.session_id);
  const proofBytes = encodeCompactClosestProof(compactClosestProof(trie.proveClosest(path)));
  const proofRes = await deliver(net, await signTx(KEYS.supplier1, [proofAny(ADDR.supplier1, header, proofBytes)], { accountNumber: ACC.supplier1, sequence: 1 }));
  t.equal(proofRes.code, 0, `proof delivered: ${proofRes.raw_log}`);
  t.equal(proofRes.height, '16');
  const validated = (await grpcCall(proofQ, 'Claim', { session_id: header.session_id, supplier_operator_address: ADDR.supplier1 })).claim;
  t.equal(validated.proof_validation_status, 1, 'VALIDATED by the EndBlocker');

  const bank = grpcClient(net.grpcAddress, 'cosmos.bank.v1beta1.Query');
  t.teardown(() => bank.close());
  net.chain.advance(3); // height 19
  const before = BigInt((await grpcCall(bank, 'Balance', { address: ADDR.supplier1, denom: 'upokt' })).balance.amount);
  net.chain.advance(1); // height 20: proof window closes, the claim settles
  const after = BigInt((await grpcCall(bank, 'Balance', { address: ADDR.supplier1, denom: 'upokt' })).balance.amount);
  // 5 compute units at base difficulty × 42 000 000 / 1 000 000 uPOKT per compute unit.
  t.equal(after - before, 210n, 'the owner (here the operator) received exactly the claimed uPOKT');
  const rpc = Comet38Client.create(new HttpClient(`http://${net.rpcAddress}`));
  t.teardown(() => rpc.disconnect());
  const results = await rpc.blockResults(20);
  const settled = results.finalizeBlockEvents.find((e) => e.type === 'pocket.tokenomics.EventClaimSettled');
  t.ok(settled, 'EventClaimSettled in block_results');
  t.same(
    Object.fromEntries(settled!.attributes.map((a) => [a.key, a.value])),
    {
      supplier_operator_address: `"${ADDR.supplier1}"`,
      service_id: '"anvil"',
      session_end_block_height: '"10"',
      num_relays: '"5"',
      num_claimed_compute_units: '"5"',
      claimed_upokt: '"210upokt"',
      claim_proof_status_int: '1',
      proof_requirement_int: '1',
    },
  );
  t.same((await grpcCall(proofQ, 'AllClaims', { supplier_operator_address: ADDR.supplier1 })).claims, [], 'settled claims leave state');
  const state = (await (await fetch(`http://${net.rpcAddress}/localnet/state`)).json()) as { settlements: { outcome: { kind: string; upokt: string } }[] };
  t.same(state.settlements.map((s) => s.outcome), [{ kind: 'settled', height: 20, upokt: '210' }]);
});

t.test('a required proof that never comes: the claim expires and the supplier is slashed', async (t) => {
  const net = await start(t, BASE.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1'));
  const header = session1(net);
  const trie = trieOf(makeRelays(header, 3));
  net.chain.advance(10);
  t.equal((await deliver(net, await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, trie.root())], { accountNumber: ACC.supplier1 }))).code, 0);
  const balanceBefore = net.chain.accounts.get(ADDR.supplier1)!.balance;
  net.chain.advance(8); // height 20
  t.equal(net.chain.accounts.get(ADDR.supplier1)!.balance, balanceBefore, 'nothing paid');
  const events = net.chain.block(20)!.events.map((e) => e.type);
  t.same(events, ['pocket.tokenomics.EventClaimExpired', 'pocket.tokenomics.EventSupplierSlashed']);
  t.equal(net.chain.genesis.suppliers.find((s) => s.operator_address === ADDR.supplier1)!.stake_upokt, 1_000_000_000 - 320_000_000, 'missing-proof penalty applied to the stake');
});

t.test('ante rejections carry the SDK codes and logs', async (t) => {
  const net = await start(t);
  const header = session1(net);
  const root = trieOf(makeRelays(header, 2)).root();
  const msg = [claimAny(ADDR.supplier1, header, root)];
  const expect = async (label: string, bytes: Uint8Array, code: number, codespace: string, log: string | RegExp) => {
    const r = await broadcast(net, bytes);
    t.equal(r.code, code, `${label}: code`);
    t.equal(r.codespace, codespace, `${label}: codespace`);
    if (typeof log === 'string') t.equal(r.raw_log, log, `${label}: log`);
    else t.match(r.raw_log, log, `${label}: log`);
  };
  const sigFail = 'signature verification failed; please verify account number (3) and chain-id (pocket): (unable to verify single signer signature): unauthorized';
  await expect('bad signature', await signTx(KEYS.supplier1, msg, { accountNumber: ACC.supplier1, signWith: KEYS.supplier2 }), 4, 'sdk', sigFail);
  await expect('wrong chain id', await signTx(KEYS.supplier1, msg, { accountNumber: ACC.supplier1, chainId: 'pocket-beta' }), 4, 'sdk', sigFail);
  await expect('wrong account number', await signTx(KEYS.supplier1, msg, { accountNumber: 7 }), 4, 'sdk', sigFail);
  await expect('insufficient fee', await signTx(KEYS.supplier1, msg, { accountNumber: ACC.supplier1, feeUpokt: 0, gasLimit: 2_000_000 }), 13, 'sdk', 'insufficient fees; got: 0upokt required: 2upokt: insufficient fee');
  await expect('wrong sequence', await signTx(KEYS.supplier1, msg, { accountNumber: ACC.supplier1, sequence: 5 }), 32, 'sdk', 'account sequence mismatch, expected 0, got 5: incorrect account sequence');
  const blockTime = net.chain.latest.timeMs;
  await expect('expired unordered tx', await signTx(KEYS.supplier1, msg, { accountNumber: ACC.supplier1, unordered: { timeoutMs: blockTime - 1000 } }), 42, 'sdk', /^block time: 2026-01-01 00:00:01 \+0000 UTC, timeout timestamp: 2026-01-01 00:00:00 \+0000 UTC: tx timeout$/);
  await expect('unordered tx too far ahead', await signTx(KEYS.supplier1, msg, { accountNumber: ACC.supplier1, unordered: { timeoutMs: blockTime + 11 * 60_000 } }), 18, 'sdk', 'unordered tx ttl exceeds 10m0s: invalid request');
  const once = await signTx(KEYS.supplier1, msg, { accountNumber: ACC.supplier1, unordered: { timeoutMs: blockTime + 60_000 } });
  t.equal((await broadcast(net, once)).code, 0, 'first unordered tx accepted');
  const twice = await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, root)], { accountNumber: ACC.supplier1, unordered: { timeoutMs: blockTime + 60_000 }, feeUpokt: 2000 });
  await expect('duplicate unordered tx (same signer, same timeout)', twice, 18, 'sdk', /^failed to add unordered nonce: already used timeout/);
  await expect('same bytes again', once, 19, 'sdk', '');
  await expect('root of the wrong size', await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, root.subarray(0, 47))], { accountNumber: ACC.supplier1 }), 1104, 'proof', 'expecting root hash to be 48 bytes, got 47 bytes: invalid root hash');
  // A transaction over the mempool's max_tx_bytes: the code alone, as the SDK turns CometBFT's refusal into it.
  const big = await signTx(KEYS.supplier1, msg, { accountNumber: ACC.supplier1, unordered: { timeoutMs: blockTime + 30_000 } });
  net.chain.genesis.max_tx_bytes = big.length - 1;
  await expect(`${big.length} bytes over max_tx_bytes ${big.length - 1}`, big, 21, 'sdk', '');
  net.chain.genesis.max_tx_bytes = big.length;
  t.equal((await broadcast(net, big)).code, 0, 'the same bytes at max_tx_bytes exactly: accepted');
  const empty = await grpcCall(net.tx, 'BroadcastTx', { tx_bytes: new Uint8Array(0), mode: 2 }).catch((e: ServiceError) => e);
  t.match(empty, { code: status.INVALID_ARGUMENT, details: 'invalid empty tx' });
});

t.test('message rejections: outside the window, wrong sum, supplier not in session, proof not required, corrupted proof', async (t) => {
  const net = await start(t, BASE.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1000000000').replace('proof_request_probability: 0.25', 'proof_request_probability: 0'));
  const header = session1(net);
  const trie = trieOf(makeRelays(header, 4));
  let seq = 0;
  const send = async (messages: { typeUrl: string; value: Uint8Array }[]) => deliver(net, await signTx(KEYS.supplier1, messages, { accountNumber: ACC.supplier1, sequence: seq++ }));
  const early = await send([claimAny(ADDR.supplier1, header, trie.root())]);
  t.equal(early.code, 1);
  t.equal(early.codespace, 'undefined');
  t.equal(early.raw_log, "failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = current block height (2) is less than the session's earliest claim commit height (12): claim attempted outside of the session's claim window");
  net.chain.advance(9); // height 11 → next block 12
  const heavier = trieOf(makeRelays(header, 4), 3n); // weight 3 but anvil's CUPR is 1
  const sum = await send([claimAny(ADDR.supplier1, header, heavier.root())]);
  t.equal(sum.raw_log, 'failed to execute message; message index: 0: rpc error: code = InvalidArgument desc = claim compute units: 12 is not equal to number of relays 4 * compute units per relay 1 for service anvil: mismatch: claim compute units != number of relays * service compute units per relay');
  const rest = net.chain.getSession(ADDR.app2, 'rest', 1).header;
  const notInSession = await deliver(net, await signTx(KEYS.supplier2, [claimAny(ADDR.supplier2, rest, trie.root())], { accountNumber: ACC.supplier2 }));
  t.equal(notInSession.raw_log, `failed to execute message; message index: 0: rpc error: code = InvalidArgument desc = supplier operator address "${ADDR.supplier2}" not found in session ID "${rest.session_id}": supplier not found`);
  t.equal((await send([claimAny(ADDR.supplier1, header, trie.root())])).code, 0, 'the right claim lands');
  net.chain.advance(2); // height 16 is next? (15 now) → proof window open next block
  const proof = encodeCompactClosestProof(compactClosestProof(trie.proveClosest(proofPath(net.chain.blockHash(15), header.session_id))));
  const notRequired = await send([proofAny(ADDR.supplier1, header, proof)]);
  t.equal(notRequired.raw_log, 'failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = proof not required');
  const { corrupted } = loadVector<{ corrupted: { id: string; level: string; compact_proof_gob: string | null; expected: { chain_pipeline_on_compact_proof_gob: { failed_stage: string | null } | null } }[] }>('smst/corrupted_proofs.json');
  const garbage = corrupted.find((c) => c.level === 'bytes' && c.expected.chain_pipeline_on_compact_proof_gob?.failed_stage === 'unmarshal')!;
  const bad = await send([proofAny(ADDR.supplier1, header, hex(garbage.compact_proof_gob!))]);
  t.match(bad.raw_log, /^failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = failed to unmarshal sparse compact merkle closest proof: .*: invalid proof$/, `corrupted proof ${garbage.id}`);
});

t.test('proofs the EndBlocker refuses: wrong path, bad ring signature, bad supplier signature', async (t) => {
  for (const [label, opts, pathFor] of [
    ['wrong path', {}, 'other'],
    ['ring signature by a key outside the ring', { outsiderKey: KEYS.supplier2 }, 'seed'],
    ['supplier signature by another key', { supplierKey: KEYS.supplier2 }, 'seed'],
  ] as const) {
    const net = await start(t, BASE.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1'));
    const header = session1(net);
    const trie = trieOf(makeRelays(header, 3, opts));
    net.chain.advance(10);
    t.equal((await deliver(net, await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, trie.root())], { accountNumber: ACC.supplier1, sequence: 0 }))).code, 0);
    net.chain.advance(3);
    const seed = pathFor === 'seed' ? net.chain.blockHash(15) : net.chain.blockHash(14);
    const proof = encodeCompactClosestProof(compactClosestProof(trie.proveClosest(proofPath(seed, header.session_id))));
    const res = await deliver(net, await signTx(KEYS.supplier1, [proofAny(ADDR.supplier1, header, proof)], { accountNumber: ACC.supplier1, sequence: 1 }));
    t.equal(res.code, 0, `${label}: the tx itself succeeds (signatures and path are EndBlocker checks)`);
    const claim = [...net.node.proofs.claims.values()][0]!;
    t.equal(claim.status, 'INVALID', `${label}: the proof is INVALID`);
  }
});

t.test('Simulate: gas for a good tx; a handler failure as gRPC Unknown with the gas suffix', async (t) => {
  const net = await start(t);
  const header = session1(net);
  const root = trieOf(makeRelays(header, 2)).root();
  const early = await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, root)], { accountNumber: ACC.supplier1, signWith: KEYS.supplier2 });
  const err = (await grpcCall(net.tx, 'Simulate', { tx_bytes: early }).catch((e: ServiceError) => e)) as ServiceError;
  t.equal(err.code, status.UNKNOWN, 'signatures are not checked in simulation; the handler fails');
  t.match(err.details, /^failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = current block height \(2\) is less than the session's earliest claim commit height \(12\): claim attempted outside of the session's claim window With gas wanted: '18446744073709551615' and gas used: '\d+' $/);
  net.chain.advance(10);
  const ok = await grpcCall(net.tx, 'Simulate', { tx_bytes: await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, root)], { accountNumber: ACC.supplier1 }) });
  t.ok(Number(ok.gas_info.gas_used) > 50_000, `gas used ${ok.gas_info.gas_used}`);
  t.equal(ok.result.events.find((e: Res) => e.type === 'pocket.proof.EventClaimCreated')?.type, 'pocket.proof.EventClaimCreated');
  t.equal(net.node.proofs.claims.size, 0, 'simulation leaves no state behind');
});

t.test('Simulate of a proof leaves the stored claim without it (the claim objects are copied, not shared)', async (t) => {
  const net = await start(t, BASE.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1'));
  const header = session1(net);
  const trie = trieOf(makeRelays(header, 3));
  net.chain.advance(10);
  t.equal((await deliver(net, await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, trie.root())], { accountNumber: ACC.supplier1, sequence: 0 }))).code, 0);
  net.chain.advance(3); // seed block 15
  const proof = encodeCompactClosestProof(compactClosestProof(trie.proveClosest(proofPath(net.chain.blockHash(15), header.session_id))));
  const sim = await grpcCall(net.tx, 'Simulate', { tx_bytes: await signTx(KEYS.supplier1, [proofAny(ADDR.supplier1, header, proof)], { accountNumber: ACC.supplier1, sequence: 1 }) });
  t.ok(sim.result.events.some((e: Res) => e.type === 'pocket.proof.EventProofSubmitted'), 'the simulated proof is accepted');
  const [claim] = [...net.node.proofs.claims.values()];
  t.equal(claim!.proof, undefined, 'but not stored');
  t.equal(claim!.status, 'PENDING_VALIDATION');
  net.chain.advance(5); // settlement at 20 with no proof: expired
  const state = (await (await fetch(`http://${net.rpcAddress}/localnet/state`)).json()) as { settlements: { outcome: { kind: string; reason?: string } }[] };
  t.same(state.settlements.map((x) => x.outcome.kind), ['expired']);
});

t.test("a proof's submission fee: kept by delivery, not by Simulate, and given back when a later message of its tx fails", async (t) => {
  const net = await start(t, BASE.replace('proof_requirement_threshold_upokt: 20000000', 'proof_requirement_threshold_upokt: 1').replace('proof_submission_fee_upokt: 0', 'proof_submission_fee_upokt: 5000'));
  const header = session1(net);
  const trie = trieOf(makeRelays(header, 3));
  const balance = () => net.chain.accounts.get(ADDR.supplier1)!.balance;
  net.chain.advance(10);
  t.equal((await deliver(net, await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, trie.root())], { accountNumber: ACC.supplier1, sequence: 0 }))).code, 0);
  net.chain.advance(4); // height 16: the proof window is open, the claim window closed
  const proof = proofAny(ADDR.supplier1, header, encodeCompactClosestProof(compactClosestProof(trie.proveClosest(proofPath(net.chain.blockHash(15), header.session_id)))));
  const start0 = balance();
  await grpcCall(net.tx, 'Simulate', { tx_bytes: await signTx(KEYS.supplier1, [proof], { accountNumber: ACC.supplier1, sequence: 1 }) });
  t.equal(balance(), start0, 'Simulate charges nothing');
  // The proof runs first (and pays its fee), then the late claim fails: the tx's messages are undone, its fee stays.
  const failed = await deliver(net, await signTx(KEYS.supplier1, [proof, claimAny(ADDR.supplier1, header, trie.root())], { accountNumber: ACC.supplier1, sequence: 1 }));
  t.not(failed.code, 0, `refused: ${failed.raw_log}`);
  t.equal(balance(), start0 - 1000n, 'only the transaction fee is kept');
  t.equal([...net.node.proofs.claims.values()][0]!.proof, undefined, 'and no proof stored');
  const ok = await deliver(net, await signTx(KEYS.supplier1, [proof], { accountNumber: ACC.supplier1, sequence: 2 }));
  t.equal(ok.code, 0, `delivered: ${ok.raw_log}`);
  t.equal(balance(), start0 - 1000n - 1000n - 5000n, 'a delivered proof pays the transaction fee and the submission fee');
});
