import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { HttpClient, Comet38Client } from '@cosmjs/tendermint-rpc';
import { parseGenesis, type RunningLocalnet } from '../../localnet/index.js';
import { ADDR, KEYS, claimAny, makeRelays, trieOf, grpcCall, grpcClient, signTx, startTestLocalnet, type Res } from '../helpers/localnet-client.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MAINNET = readFileSync(join(ROOT, 'examples/localnet/genesis.mainnet.yaml'), 'utf8');
const MANUAL = MAINNET.replace('genesis_time: now', 'genesis_time: "2026-01-01T00:00:00Z"').replace('block_interval_ms: 1000', 'block_interval_ms: 0');
const ACC_SUPPLIER1 = 3;

async function start(t: Test, genesis = MANUAL): Promise<RunningLocalnet & { tx: ReturnType<typeof grpcClient> }> {
  const net = await startTestLocalnet(t, genesis);
  const tx = grpcClient(net.grpcAddress, 'cosmos.tx.v1beta1.Service');
  t.teardown(() => tx.close());
  return { ...net, tx };
}

const faults = async (net: RunningLocalnet, body: unknown) => {
  const res = await fetch(`http://${net.rpcAddress}/localnet/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/**
 * A transaction CheckTx accepts (signature, fee, timeout): a claim. Whether its message succeeds when the
 * block runs it does not matter here: included is included.
 */
async function anyTx(net: RunningLocalnet, n: number): Promise<Uint8Array> {
  // Unordered: no sequence to track; distinct timeouts make distinct transactions.
  const timeoutMs = net.chain.latest.timeMs + 300_000 + n;
  const header = { application_address: ADDR.app1, service_id: 'anvil', session_id: 'ab'.repeat(32), session_start_block_height: 1n, session_end_block_height: 20n };
  return signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, header, trieOf(makeRelays(header, 1)).root())], { accountNumber: ACC_SUPPLIER1, unordered: { timeoutMs } });
}

t.test('block_time_ms: chain time runs at 60 s a block whatever the production pace', async (t) => {
  const net = await start(t);
  net.chain.advance(3);
  const comet = await Comet38Client.create(new HttpClient(`http://${net.rpcAddress}`));
  t.teardown(() => comet.disconnect());
  const times = await Promise.all([1, 2, 3].map(async (h) => (await comet.block(h)).block.header.time.getTime()));
  t.same([times[1]! - times[0]!, times[2]! - times[1]!], [60_000, 60_000], 'header times 60 s apart (cosmjs reads them)');
  t.equal(times[0], Date.parse('2026-01-01T00:01:00Z'), 'block 1 at genesis_time + 60 s');
  const produced = parseGenesis(MAINNET);
  t.equal(produced.block_interval_ms, 1000, 'produced every second');
  t.equal(produced.blockTimeMs, 60_000);
  t.equal(parseGenesis(MAINNET.replace(/\nblock_time_ms: 60000\n/, '\n')).blockTimeMs, 1000, 'default: the production interval');
});

t.test('/localnet/faults: answers 200 with the armed faults, 400 with a reason for anything else', async (t) => {
  const net = await start(t);
  const ok = await faults(net, { drop_accepted_txs: 2, delay_inclusion_blocks: 3 });
  t.equal(ok.status, 200);
  t.same(ok.body, { faults: { drop_accepted_txs: 2, delay_inclusion_blocks: 3, reject_next: { count: 0, code: 0, codespace: '', log: '' }, refuse_in_block: { count: 0, code: 0, codespace: '', log: '' }, unavailable_next: 0 } });
  const reject = await faults(net, { reject_next: { count: 1, code: 13, log: 'insufficient fee' } });
  t.same(reject.body, { faults: { drop_accepted_txs: 2, delay_inclusion_blocks: 3, reject_next: { count: 1, code: 13, codespace: 'sdk', log: 'insufficient fee' }, refuse_in_block: { count: 0, code: 0, codespace: '', log: '' }, unavailable_next: 0 } }, 'the others keep their state');
  const refuse = await faults(net, { refuse_in_block: { count: 2, code: 1, codespace: 'undefined', log: 'failed to execute message; message index: 0: x' } });
  t.same(refuse.body.faults, { drop_accepted_txs: 2, delay_inclusion_blocks: 3, reject_next: { count: 1, code: 13, codespace: 'sdk', log: 'insufficient fee' }, refuse_in_block: { count: 2, code: 1, codespace: 'undefined', log: 'failed to execute message; message index: 0: x' }, unavailable_next: 0 });
  t.equal(((await faults(net, { unavailable_next: 2 })).body.faults as { unavailable_next: number }).unavailable_next, 2);
  const bad: [unknown, string][] = [
    ['not json', 'the body must be a JSON object, e.g. {"drop_accepted_txs": 1}'],
    [[1], 'the body must be a JSON object, e.g. {"drop_accepted_txs": 1}'],
    [{}, 'name at least one fault: drop_accepted_txs, delay_inclusion_blocks, reject_next, refuse_in_block, unavailable_next'],
    [{ drop_accepted_txs: -1 }, 'drop_accepted_txs must be an integer from 0 to 1000000'],
    [{ delay_inclusion_blocks: 1.5 }, 'delay_inclusion_blocks must be an integer from 0 to 1000000'],
    [{ unavailable_next: '1' }, 'unavailable_next must be an integer from 0 to 1000000'],
    [{ drop_txs: 1 }, 'unknown fault "drop_txs" (valid: drop_accepted_txs, delay_inclusion_blocks, reject_next, refuse_in_block, unavailable_next)'],
    [{ refuse_in_block: { count: 1 } }, 'refuse_in_block.code must be a non-zero ABCI code (an integer from 1)'],
    [{ reject_next: { count: 1, code: 0 } }, 'reject_next.code must be a non-zero ABCI code (an integer from 1)'],
    [{ reject_next: { count: 1, code: 5, why: 'x' } }, 'reject_next: unknown key why (valid: count, code, codespace, log)'],
    [{ refuse_in_block: [1, 1] }, 'refuse_in_block must be {"count": N, "code": C, "log": "..."}'],
  ];
  for (const [body, error] of bad) {
    const res = await faults(net, body);
    t.same([res.status, res.body], [400, { error }], JSON.stringify(body));
  }
});

t.test('/localnet/params: proof params changed at once, as the Params query and the next proof see them; 400 with a reason for anything else', async (t) => {
  const net = await start(t);
  const post = async (body: unknown) => {
    const res = await fetch(`http://${net.rpcAddress}/localnet/params`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const q = grpcClient(net.grpcAddress, 'pocket.proof.Query');
  t.teardown(() => q.close());
  const queried = async () => ((await grpcCall(q, 'Params', {})).params as { proof_request_probability: number; proof_requirement_threshold: { amount: string } });
  t.same([(await queried()).proof_request_probability, (await queried()).proof_requirement_threshold.amount], [0.01, '100'], 'the genesis ones');
  const ok = await post({ proof: { proof_request_probability: 1, proof_requirement_threshold_upokt: 5000 } });
  t.same(ok, { status: 200, body: { params: { proof: { proof_request_probability: 1, proof_requirement_threshold_upokt: 5000, proof_missing_penalty_upokt: 1, proof_submission_fee_upokt: 1 } } } });
  t.same([(await queried()).proof_request_probability, (await queried()).proof_requirement_threshold.amount], [1, '5000'], 'queried at once');
  const bad: [unknown, string][] = [
    ['x', 'the body must be {"proof": {...}} with some of proof_request_probability, proof_requirement_threshold_upokt, proof_missing_penalty_upokt, proof_submission_fee_upokt'],
    [{ proof: {} }, 'the body must be {"proof": {...}} with some of proof_request_probability, proof_requirement_threshold_upokt, proof_missing_penalty_upokt, proof_submission_fee_upokt'],
    [{ proof: [0.5] }, 'the body must be {"proof": {...}} with some of proof_request_probability, proof_requirement_threshold_upokt, proof_missing_penalty_upokt, proof_submission_fee_upokt'],
    [{ shared: { num_blocks_per_session: 5 } }, 'unknown module "shared": only the proof params can change (shared params stay the genesis ones)'],
    [{ proof: { proof_request_probability: 1.5 } }, 'proof.proof_request_probability must be a number from 0 to 1'],
    [{ proof: { proof_submission_fee_upokt: -1 } }, 'proof.proof_submission_fee_upokt must be a non-negative integer'],
    [{ proof: { probability: 1 } }, 'unknown proof param "probability" (valid: proof_request_probability, proof_requirement_threshold_upokt, proof_missing_penalty_upokt, proof_submission_fee_upokt)'],
  ];
  for (const [body, error] of bad) t.same(await post(body), { status: 400, body: { error } }, JSON.stringify(body));
  t.equal((await queried()).proof_request_probability, 1, 'nothing changed by a refused body');
});

t.test('faults as a client sees them: unavailable, refused at CheckTx, accepted and lost, accepted and included late, included and refused', async (t) => {
  const net = await start(t);
  net.chain.advance(1);
  const broadcast = async (bytes: Uint8Array) => (await grpcCall(net.tx, 'BroadcastTx', { tx_bytes: bytes, mode: 2 })).tx_response as Res;
  const included = async (hash: string) => (await grpcCall(net.tx, 'GetTx', { hash }).then((r) => (r.tx_response as Res).height, () => undefined));

  await faults(net, { unavailable_next: 2 });
  const tx0 = await anyTx(net, 0);
  const unavailable = (err: { code?: number; details?: string }) => [err.code, err.details];
  t.same(await grpcCall(net.tx, 'Simulate', { tx_bytes: tx0 }).then(() => 'answered', unavailable), [14, 'node unavailable (localnet fault unavailable_next)'], 'Simulate: UNAVAILABLE');
  t.same(await grpcCall(net.tx, 'BroadcastTx', { tx_bytes: tx0, mode: 2 }).then(() => 'answered', unavailable), [14, 'node unavailable (localnet fault unavailable_next)'], 'BroadcastTx: UNAVAILABLE');
  t.equal((await broadcast(tx0)).code, 0, 'the fault spent: the third call is answered, and the transaction accepted');

  await faults(net, { reject_next: { count: 1, code: 13, log: 'insufficient fee' } });
  const refused = await broadcast(await anyTx(net, 1));
  t.same([refused.code, refused.codespace, refused.raw_log], [13, 'sdk', 'insufficient fee'], 'the next one is refused with the armed code');

  await faults(net, { drop_accepted_txs: 1 });
  const lost = await broadcast(await anyTx(net, 2));
  t.equal(lost.code, 0, 'accepted');
  net.chain.advance(3);
  t.equal(await included(lost.txhash), undefined, 'and never included');

  await faults(net, { delay_inclusion_blocks: 2 });
  const late = await broadcast(await anyTx(net, 3));
  t.equal(late.code, 0);
  const acceptedAt = net.chain.height;
  net.chain.advance(2);
  t.equal(await included(late.txhash), undefined, 'not in the next two blocks');
  net.chain.advance(1);
  t.equal(await included(late.txhash), String(acceptedAt + 3), 'in the third');
  await faults(net, { delay_inclusion_blocks: 0 });
  const onTime = await broadcast(await anyTx(net, 4));
  net.chain.advance(1);
  t.equal(await included(onTime.txhash), String(net.chain.height), 'cleared: the next block includes it');

  await faults(net, { refuse_in_block: { count: 1, code: 1, codespace: 'undefined', log: 'failed to execute message; message index: 0: refused' } });
  const balance = async () => net.chain.accounts.get(ADDR.supplier1)!.balance;
  const before = await balance();
  const refusedInBlock = await broadcast(await anyTx(net, 5));
  t.equal(refusedInBlock.code, 0, 'accepted by CheckTx');
  net.chain.advance(1);
  const ran = (await grpcCall(net.tx, 'GetTx', { hash: refusedInBlock.txhash })).tx_response as Res;
  t.same([ran.height, ran.code, ran.codespace, ran.raw_log], [String(net.chain.height), 1, 'undefined', 'failed to execute message; message index: 0: refused'], 'included, and refused by its block');
  t.ok((await balance()) < before, 'its fee paid');
  const next = await broadcast(await anyTx(net, 6));
  net.chain.advance(1);
  // Its claim's own check decides it now (a made-up session: refused for that, not by the fault).
  t.notMatch(((await grpcCall(net.tx, 'GetTx', { hash: next.txhash })).tx_response as Res).raw_log, /: refused$/, 'the fault spent: the next one runs its message');
});
