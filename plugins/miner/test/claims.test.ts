/** Claims: built from the stored relays, worth sending, sent, sent again when lost or refused, on chain in their window; and the lifecycle end to end. */
import t from 'tap';
import { messageCodec, MinedRelayCodec, relayHash, SparseMerkleSumTrie } from 'relayminer';
import { ADDR, claimAny, grpcCall, grpcClient, KEYS, makeRelays, type Res, signTx, TEST_GENESIS, trieOf } from '../../../test/helpers/localnet-client.js';
import { until } from '../../../test/helpers/until.js';
import { inspectRedis } from '../../../cli/redis-inspect.js';
import { keys, PROOF_ALWAYS, setup, inspector } from './lifecycle-chain.js';

t.test('relays → claim (root, count, sum) → required proof VALIDATED → settled, balance up by the claimed uPOKT', async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 7);
  await s.advanceTo(22); // claim window open
  await until('claim broadcast', async () => (await s.session())?.state === 'claiming');
  await s.advanceTo(23);
  await until('claim on chain', async () => (await s.session())?.state === 'claimed');
  const onChain = (await s.q.call('pocket.proof.Query', 'Claim', { session_id: s.header.session_id, supplier_operator_address: ADDR.supplier1 })).claim as { root_hash: Uint8Array };
  const expected = new SparseMerkleSumTrie();
  for (const bytes of (await s.store.leaves(ADDR.supplier1, s.header.session_id)).values()) expected.update(relayHash(bytes), bytes, 1n);
  t.equal(Buffer.from(onChain.root_hash).toString('hex'), Buffer.from(expected.root()).toString('hex'), 'the claimed root is the trie of the stored relays');
  t.same([expected.count(), expected.sum()], [7n, 7n], 'count 7, sum 7 (1 compute unit per relay)');
  await s.advanceTo(25); // the seed block: the proof is decided and sent
  await until('proof broadcast', async () => (await s.session())?.state === 'proving');
  t.equal((await s.session())?.proof, 'threshold');
  await s.advanceTo(26);
  await until('proof validated', async () => (await s.session())?.state === 'proved');
  await s.advanceTo(29);
  const before = await s.balance();
  await s.advanceTo(30); // settlement
  await until('settled', async () => (await s.session())?.state === 'settled');
  t.equal((await s.balance()) - before, 7n * 42n, 'exactly the claimed uPOKT: 7 relays × 42');
  const m = await s.metrics();
  t.match(m, new RegExp(`relayminer_miner_submissions_total\\{supplier="${ADDR.supplier1}",phase="claim",result="included"\\} 1`));
  t.match(m, new RegExp(`relayminer_miner_submissions_total\\{supplier="${ADDR.supplier1}",phase="proof",result="included"\\} 1`));
  t.match(m, new RegExp(`relayminer_miner_upokt_total\\{supplier="${ADDR.supplier1}",kind="earned"\\} 294`), 'earned, from EventClaimSettled');
  t.match(m, new RegExp(`relayminer_miner_settlements_total\\{supplier="${ADDR.supplier1}",outcome="settled"\\} 1`));
  t.match(m, new RegExp(`relayminer_miner_supplier_balance_upokt\\{supplier="${ADDR.supplier1}"\\} \\d+`));
  t.equal(await s.r.redis.hget(keys.minerSession(ADDR.supplier1, s.header.session_id), 'settled_upokt'), '294');
  t.same(
    s.logs.lines.filter((l) => /^(claims broadcast|proofs broadcast|claim settled)/.test(String(l.msg))).map((l) => [l.level, l.msg, l.supplier, l.height, l.sessions]),
    [
      [30, 'claims broadcast', ADDR.supplier1, 22, 1],
      [30, 'proofs broadcast', ADDR.supplier1, 25, 1],
      [30, 'claim settled', ADDR.supplier1, 30, undefined],
    ],
    'what an operator reads: a line per step, each with its block',
  );
  const leavesTtl = await s.r.redis.ttl(keys.minerSessionLeaves(ADDR.supplier1, s.header.session_id));
  const sessionTtl = await s.r.redis.ttl(keys.minerSession(ADDR.supplier1, s.header.session_id));
  t.ok(leavesTtl > 86_000 && leavesTtl <= 86_400, `a settled session's leaves expire in a day (${leavesTtl} s)`);
  t.ok(sessionTtl > 604_000 && sessionTtl <= 604_800, `its record in a week (${sessionTtl} s)`);
  for (const phase of ['claim', 'proof'] as const) {
    const ttl = await s.r.redis.ttl(keys.submission(ADDR.supplier1, phase, 20n));
    t.ok(ttl > 604_000 && ttl <= 604_800, `the ${phase} submission record expires in a week too (${ttl} s)`);
  }

  // Every key the relayer and the miner wrote has a lifetime: a TTL, or one of the few per-supplier keys
  // that live as long as the supplier is served (their contents are pruned as they are used).
  const S = ADDR.supplier1;
  const sid = s.header.session_id;
  const persistent = new Map([
    [keys.relayStream(S), 'the relay stream: entries are deleted as the miner stores them'],
    [keys.minerSessionIndex(S), 'the session index: pruned of sessions that ended long ago'],
    [keys.supplierLeaseFence(S), 'the fencing counter: must only grow'],
    [keys.activeMiners(), 'replica heartbeats: pruned by age'],
  ]);
  const week = 7 * 86_400;
  const bounded: [string | RegExp, number, number][] = [
    [keys.minerSession(S, sid), week - 900, week],
    [keys.minerSessionLeaves(S, sid), 86_400 - 900, 86_400],
    [keys.submission(S, 'claim', 20n), week - 900, week],
    [keys.submission(S, 'proof', 20n), week - 900, week],
    [keys.meter(S, sid), 1, 86_400],
    // Renewed every third of their TTL; TTL rounds to whole seconds.
    [keys.supplierLease(S), 0, 2],
    [keys.globalLeader(), 0, 30],
    [new RegExp(`^${keys.cachePattern('application').replace(/application:\*$/, '')}`), 1, week],
  ];
  const all = (await s.r.redis.keys('ha:*')).sort();
  t.ok(all.length >= 10, `${all.length} keys`);
  for (const k of all) {
    const ttl = await s.r.redis.ttl(k);
    t.not(ttl, -2, `${k} still exists`);
    if (persistent.has(k)) {
      t.equal(ttl, -1, `${k}: ${persistent.get(k)}`);
      continue;
    }
    const rule = bounded.find(([pattern]) => (typeof pattern === 'string' ? pattern === k : pattern.test(k)));
    t.ok(rule && ttl >= rule[1] && ttl <= rule[2], `${k}: expires in ${ttl} s${rule ? ` (${rule[1]}–${rule[2]})` : ': no known lifetime'}`);
  }

  // What an operator sees with `relayminer redis … -c miner.yaml`.
  const view = inspector(t, s.r.redisUrl);
  const file = view.file;
  t.match(await view('sessions'), [{ supplier: ADDR.supplier1, session: s.header.session_id, state: 'settled', relays: 7, compute_units: '7', claimed_upokt: '294', proof: 'threshold' }]);
  t.match(await view('submissions'), [
    { phase: 'claim', session_end: '20', sent_at: '22', attempts: 1, sessions: 1 },
    { phase: 'proof', session_end: '20', sent_at: '25', attempts: 1, sessions: 1 },
  ]);
  t.match(await view('leases'), [{ supplier: ADDR.supplier1, owner: 'm1', token: '1' }, { supplier: '(global)', owner: 'm1', token: 'leader' }]);
  t.match(await view('streams'), [{ supplier: ADDR.supplier1, configured: 'yes', length: 0, pending: 0 }]);
  // A stream whose supplier the config no longer has (a key let go, relays still in it) is listed after them.
  await s.r.redis.xadd(keys.relayStream(ADDR.supplier2), '*', 'data', 'x');
  t.match(await view('streams'), [
    { supplier: ADDR.supplier1, configured: 'yes', length: 0 },
    { supplier: ADDR.supplier2, configured: 'no', stream: keys.relayStream(ADDR.supplier2), length: 1, pending: 0 },
  ]);
  const one: string[] = [];
  await inspectRedis({ config: file, what: 'streams', supplier: ADDR.supplier1, json: true, out: (l) => one.push(l) });
  t.equal(one.length, 1, '--supplier: that one only');
  await s.r.redis.del(keys.relayStream(ADDR.supplier2));
  const meters = await view('meter');
  t.match(meters, [{ supplier: ADDR.supplier1, session: s.header.session_id, used_units: '294' }], "the relayer's meter: 7 relays × 42 uPOKT");
  t.ok(Number(meters[0]!.expires_in_s) > 0, 'the meter has a lifetime');
  const cached = await view('cache');
  t.ok(cached.some((c) => c.entity === 'application' && c.id === ADDR.app1 && Number(c.expires_in_s) > 0), 'the cached application, with its lifetime');
});






t.test('a claim on chain that another relay miner with the same key replaced: no proof of this tree is sent, the session is reported', async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 4);
  await s.claimed();
  // A second deployment holding supplier1's key claims the same session with its own relays: the chain upserts.
  const theirs = trieOf(makeRelays(s.header, 2)).root();
  const txs = grpcClient(s.r.net.grpcAddress, 'cosmos.tx.v1beta1.Service');
  t.teardown(() => txs.close());
  const tx = await signTx(KEYS.supplier1, [claimAny(ADDR.supplier1, s.header, theirs)], { accountNumber: 3, unordered: { timeoutMs: s.r.net.chain.latest.timeMs + 300_000 } });
  t.equal(((await grpcCall(txs, 'BroadcastTx', { tx_bytes: tx, mode: 2 })).tx_response as Res).code, 0, 'the other claim is accepted');
  await s.advanceTo(24);
  const standing = (await s.q.call('pocket.proof.Query', 'Claim', { session_id: s.header.session_id, supplier_operator_address: ADDR.supplier1 })).claim as { root_hash: Uint8Array };
  t.equal(Buffer.from(standing.root_hash).toString('hex'), Buffer.from(theirs).toString('hex'), 'theirs replaced ours');
  await s.advanceTo(26); // past the seed block: the proof would have been decided and sent
  await until('reported', async () => (await s.session())?.state === 'claim_not_ours');
  t.match((await s.session())?.reason, new RegExp(`^the claim on chain has root ${Buffer.from(theirs).toString('hex')}, this miner claimed [0-9a-f]+: another relay miner`));
  t.notMatch(await s.metrics(), /phase="proof",result="broadcast"/, 'no proof sent');
  t.match(await s.metrics(), /relayminer_miner_sessions_failed_total\{[^}]*state="claim_not_ours"[^}]*\} 1/);
  t.same(
    s.logs.lines.filter((l) => (l.level as number) >= 50).map((l) => [l.msg, l.state, l.relays]),
    [['session not paid', 'claim_not_ours', 4]],
    'said once, as an error',
  );
});

t.test('handover_height: a session that starts below it is left to the relay miner taken over from, never claimed, not a failure', async (t) => {
  const s = await setup(t, TEST_GENESIS, 3, { handoverHeight: 21 }); // session [11, 20]; the next starts at 21
  const said = () => s.logs.lines.filter((l) => /handover|handing over/.test(String(l.msg)));
  await until('the handover said', () => said().length > 0);
  t.same(
    s.logs.lines.filter((l) => /handover|handing over/.test(String(l.msg))).map((l) => [l.level, l.msg]),
    [[30, 'handing over: sessions that start below 21 are left to the relay miner taken over from']],
  );
  await s.advanceTo(23); // claim window open since 22
  await until('handed over', async () => (await s.session())?.state === 'handed_over');
  t.equal((await s.session())?.reason, 'starts at 11, below handover_height 21: the relay miner taken over from claims it');
  await t.rejects(s.q.call('pocket.proof.Query', 'Claim', { session_id: s.header.session_id, supplier_operator_address: ADDR.supplier1 }), /not found/i, 'no claim on chain');
  t.notMatch(await s.metrics(), /phase="claim",result="broadcast"/);
  t.notMatch(await s.metrics(), /relayminer_miner_sessions_failed_total\{/, 'not a failure');
  t.same(s.logs.lines.filter((l) => (l.level as number) >= 50).map((l) => l.msg), [], 'no error');
  t.same(
    s.logs.lines.filter((l) => String(l.msg).startsWith('session handed over')).map((l) => [l.level, l.msg, l.session_start, l.relays]),
    [[30, 'session handed over: below handover_height 21, the relay miner taken over from claims it', '11', 3]],
    'one info line, its message the same for every session so that many are said as one',
  );
});

t.test('handover_height inside a session: a warning naming the session and where sessions start', async (t) => {
  const s = await setup(t, TEST_GENESIS, 1, { handoverHeight: 15 });
  await until('the handover said', () => s.logs.lines.some((l) => /handover|handing over/.test(String(l.msg))));
  t.same(
    s.logs.lines.filter((l) => /handover|handing over/.test(String(l.msg))).map((l) => [l.level, l.msg, l.session_start, l.session_end]),
    [[40, 'submission.handover_height 15 is inside session [11, 20]: that session is left to the other relay miner whole, and relays served here for it go unpaid; sessions start at 11 and 21', '11', '20']],
  );
});

t.test('a claim that would cost more than it earns is not sent, and nothing else is (no empty transaction)', async (t) => {
  // 3 relays earn 126 uPOKT; at 1 uPOKT per unit of gas the claim's fee alone is far above that.
  const s = await setup(t, TEST_GENESIS, 3, { transaction: '{ gas_price: "1upokt" }' });
  await s.advanceTo(23);
  await until('skipped', async () => (await s.session())?.state === 'skipped_unprofitable');
  const errors = s.logs.lines.filter((l) => (l.level as number) >= 50);
  t.same(errors.map((l) => [l.msg, l.state]), [['session not paid', 'skipped_unprofitable']], 'the skip, said once; no failed pass');
  t.match(String(errors[0]!.why), /^reward 126 uPOKT ≤ cost \d+ /);
  t.match(await s.metrics(), /relayminer_miner_sessions_failed_total\{[^}]*state="skipped_unprofitable"[^}]*\} 1/);
  t.notMatch(await s.metrics(), /phase="claim",result="broadcast"/);
  await t.rejects(s.q.call('pocket.proof.Query', 'Claim', { session_id: s.header.session_id, supplier_operator_address: ADDR.supplier1 }), /not found/i, 'no claim on chain');
});

t.test('a session whose claim window was missed is reported, not silently lost', async (t) => {
  const s = await setup(t, TEST_GENESIS, 2);
  // Every miner is down for the whole claim window; one comes back after it closed.
  await s.stopMiner();
  s.r.net.chain.advance(26 - s.r.net.chain.height);
  const back = await s.startMiner('m2');
  await until('reported', async () => (await s.session())?.state === 'claim_window_missed');
  t.match((await s.session())?.reason, /claim window closed at 26/);
  t.ok(back.logs.lines.some((l) => l.msg === 'session not paid' && l.state === 'claim_window_missed' && l.relays === 2));
  t.match(await back.metrics(), /relayminer_miner_sessions_failed_total\{supplier="[^"]+",state="claim_window_missed"\} 1/);
});

t.test('a claim accepted by the node but never included is signed again and lands', async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 4);
  s.r.net.node.txs.dropNextAccepted(1); // the node says "accepted" and loses it
  await s.advanceTo(22);
  await until('claim broadcast', async () => (await s.session())?.state === 'claiming');
  const first = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  // Two blocks later and past the first send's timeout (2 × the 1 s blocks): signed again.
  await s.advanceTo(25);
  await until('resubmitted', async () => /phase="claim",result="resubmitted"\} 1/.test(await s.metrics()));
  const second = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  t.not(second.txhash, first.txhash, 'a new transaction (fresh timeout), not the same bytes');
  t.same([first.attempts, second.attempts, second.height], ['1', '2', '25']);
  t.ok(Number(first.timeout_ms) <= s.r.net.chain.block(22)!.timeMs + 2000 + 999, 'the first send was valid for two blocks');
  await s.advanceTo(26);
  await until('claimed', async () => (await s.session())?.state === 'claimed');
  const m = await s.metrics();
  t.match(m, /phase="claim",result="broadcast"\} 1/, 'one broadcast');
  t.match(m, /phase="claim",result="resubmitted"\} 1/, 'one resend');
  t.match(m, /phase="claim",result="included"\} 1/);
  t.ok(s.logs.lines.some((l) => l.msg === 'claim not included 3 blocks after it was sent: signed again and resent' && l.attempt === 2), 'the resend is logged');
});

/** A fixed gas limit under what a block spends on a one-claim transaction (the localnet's: ~56,000): CheckTx takes it, the block refuses it. */
const GAS_SHORT = '{ gas_limit: 40000 }';

t.test("a claim that its block includes and refuses (out of gas) is said with the chain's reason and sent again at once, with twice the gas", async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 4, { transaction: GAS_SHORT });
  const txs = grpcClient(s.r.net.grpcAddress, 'cosmos.tx.v1beta1.Service');
  t.teardown(() => txs.close());
  const ran = async (hash: string) => (await grpcCall(txs, 'GetTx', { hash })).tx_response as Res;
  await s.advanceTo(22);
  await until('claim broadcast', async () => (await s.session())?.state === 'claiming');
  const first = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  await s.advanceTo(23); // block 23 includes the first send
  const refusedTx = await ran(first.txhash!);
  t.same([refusedTx.height, refusedTx.code, refusedTx.codespace, refusedTx.gas_wanted], ['23', 11, 'sdk', '40000'], 'block 23 refused it: out of gas');
  const said = s.logs.lines.find((l) => l.msg === 'claim transaction refused in block 23; signing it again now with twice the gas (attempt 2 of 5)');
  t.same([said?.txhash, said?.code, said?.codespace, said?.gas_wanted], [first.txhash, 11, 'sdk', 40000], "the chain's verdict, said once");
  t.match(said?.log, /out of gas/);
  const second = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  t.same([second.attempts, second.height], ['2', '23'], 'sent again in the same block, not after resubmit_after_blocks');
  t.not(second.txhash, first.txhash);
  t.equal(JSON.parse(second.failure!).txhash, first.txhash, 'the refused send kept in the record');
  await s.advanceTo(24);
  await until('claimed', async () => (await s.session())?.state === 'claimed');
  const landed = await ran(second.txhash!);
  t.same([landed.height, landed.code, landed.gas_wanted], ['24', 0, '80000'], 'the resend, with twice the gas, ran in block 24');
  const m = await s.metrics();
  t.match(m, /phase="claim",result="failed"\} 1/);
  t.match(m, /phase="claim",result="resubmitted"\} 1/);
  t.match(m, /phase="claim",result="included"\} 1/);
  t.same(
    s.logs.lines.filter((l) => /refused in block|not included/.test(String(l.msg))).map((l) => [l.msg, l.gas]),
    [
      ['claim transaction refused in block 23; signing it again now with twice the gas (attempt 2 of 5)', undefined],
      ['claim refused in block 23: signed again and resent', 80000],
    ],
    'the refusal said once, and the resend',
  );
  t.match(await inspector(t, s.r.redisUrl)('submissions'), [{ phase: 'claim', txhash: second.txhash, attempts: 2, refused: /^sdk\/11: .*out of gas.*\(gas wanted 40000, used \d+\)$/ }], '`relayminer redis submissions` shows the refusal');
});

t.test("a claim that its block refuses for a message's own check is said with the chain's reason and sent again resubmit_after_blocks later", async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 3);
  // What a block says when state changed under a message since CheckTx (docs/spec/errors.md §2.2: codespace undefined, code 1).
  const LOG = 'failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = changed since CheckTx';
  s.r.net.node.txs.armFaults({ refuse_in_block: { count: 1, code: 1, codespace: 'undefined', log: LOG } });
  await s.advanceTo(22);
  await until('claim broadcast', async () => (await s.session())?.state === 'claiming');
  const first = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  await s.advanceTo(24);
  const said = s.logs.lines.find((l) => l.msg === 'claim transaction refused in block 23; signing it again in 2 blocks (attempt 2 of 5)');
  t.same([said?.txhash, said?.code, said?.codespace, said?.log], [first.txhash, 1, 'undefined', LOG], "the chain's verdict");
  const waiting = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  t.same([waiting.txhash, waiting.attempts], [first.txhash, '1'], 'not sent again in blocks 23 and 24');
  await s.advanceTo(25);
  const second = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  t.same([second.attempts, second.height], ['2', '25'], 'sent again two blocks after the block that refused it');
  t.ok(s.logs.lines.some((l) => l.msg === 'claim refused in block 23: signed again and resent' && l.txhash === second.txhash && l.gas === undefined), 'with the gas it had');
  await s.advanceTo(26);
  await until('claimed', async () => (await s.session())?.state === 'claimed');
  const m = await s.metrics();
  t.match(m, /phase="claim",result="failed"\} 1/);
  t.match(m, /phase="claim",result="resubmitted"\} 1/);
  t.match(m, /phase="claim",result="included"\} 1/);
  t.equal(s.logs.lines.filter((l) => /transaction refused in block/.test(String(l.msg))).length, 1, 'said once, not every block');
});

t.test('a node without a transaction index: a claim its block refused is sent again as a lost one is, said once; once the node answers again, the next refusal is read', async (t) => {
  const genesis = TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0')
    .replace('claim_window_close_offset_blocks: 4', 'claim_window_close_offset_blocks: 8') // claim window [22, 30]
    .replace('minimum_gas_price_upokt:', 'tx_index: false\nminimum_gas_price_upokt:');
  const s = await setup(t, genesis, 3);
  const LOG = 'failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = changed since CheckTx';
  s.r.net.node.txs.armFaults({ refuse_in_block: { count: 2, code: 1, codespace: 'undefined', log: LOG } });
  await s.advanceTo(22);
  await until('claim broadcast', async () => (await s.session())?.state === 'claiming');
  const first = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  await s.advanceTo(25); // refused in 23, unknown here: asked at 23, 24 and 25
  const second = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  t.same([second.attempts, second.height, second.failure], ['2', '25', ''], "sent again past the first send's timeout, as a lost one is; no refusal known");
  t.not(second.txhash, first.txhash);
  t.ok(s.logs.lines.some((l) => l.msg === 'claim not included 3 blocks after it was sent: signed again and resent' && l.txhash === second.txhash), 'the resend, as of a lost send');
  const unknown = 'the node does not say what became of a transaction (GetTx); one refused in its block is resent when a lost one would be';
  t.same(
    s.logs.lines.filter((l) => /GetTx/.test(String(l.msg))).map((l) => [l.level, l.msg, l.err]),
    [[40, unknown, 'cosmos.tx.v1beta1.Service/GetTx: UNKNOWN: transaction indexing is disabled']],
    'said once over three blocks of asking',
  );
  s.r.net.chain.genesis.tx_index = true; // the operator points the miner at an indexing node (or turns indexing on)
  await s.advanceTo(26); // the second send is refused in 26: read this time
  t.ok(s.logs.lines.some((l) => l.msg === 'the node says again what became of transactions (GetTx)' && l.level === 30), 'its end said');
  t.match(s.logs.lines.find((l) => l.msg === 'claim transaction refused in block 26; signing it again in 2 blocks (attempt 3 of 5)'), { level: 50, txhash: second.txhash, log: LOG });
  await s.advanceTo(29);
  await until('claimed', async () => (await s.session())?.state === 'claimed');
  t.equal((await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n))).height, '28', 'sent the third time two blocks after the refusing block');
  const m = await s.metrics();
  t.match(m, /phase="claim",result="failed"\} 1\n/, 'the refusal that was read');
  t.match(m, /phase="claim",result="resubmitted"\} 2\n/);
  t.match(m, /phase="claim",result="included"\} 1\n/);
  t.equal(s.logs.lines.filter((l) => l.msg === unknown).length, 1);
});

t.test('two claims in one transaction, the block refusing it for one of them: the other is sent again at once, the one named alone later', async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 2, { restRelays: 2 });
  await s.advanceTo(22);
  await until('both claims broadcast', async () => (await s.session())?.state === 'claiming' && (await s.restSession())?.state === 'claiming');
  const first = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  const order = JSON.parse(first.sessions!) as string[];
  t.equal(order.length, 2, 'one transaction for both');
  // The block refuses it, naming its second message (the others' checks passed).
  const LOG = 'failed to execute message; message index: 1: rpc error: code = FailedPrecondition desc = changed since CheckTx';
  s.r.net.node.txs.armFaults({ refuse_in_block: { count: 1, code: 1, codespace: 'undefined', log: LOG } });
  await s.advanceTo(23);
  const said = s.logs.lines.find((l) => String(l.msg).startsWith('claim transaction refused in block 23;'));
  t.equal(said?.msg, `claim transaction refused in block 23; message 1 (session ${order[1]}) signed again alone in 2 blocks, the other 1 now (attempt 2 of 5)`);
  const byOrder = (id: string) => (id === s.header.session_id ? s.session() : s.restSession());
  await s.advanceTo(24);
  await until('the other claimed', async () => (await byOrder(order[0]!))?.state === 'claimed');
  t.equal((await byOrder(order[1]!))?.state, 'claiming', 'the one named still waiting');
  await s.advanceTo(26);
  await until('the one named claimed too', async () => (await byOrder(order[1]!))?.state === 'claimed');
  const rows = await inspector(t, s.r.redisUrl)('submissions');
  t.same(
    rows.map((r) => [r.sent_at, r.attempts, r.sessions]),
    [
      ['25', 2, 1],
      ['23', 2, 1],
    ],
    'the one named resent alone at 25, the other at 23',
  );
  const m = await s.metrics();
  t.match(m, /phase="claim",result="failed"\} 1/);
  t.match(m, /phase="claim",result="resubmitted"\} 2/);
  t.match(m, /phase="claim",result="included"\} 2/);
});

t.test("a claim refused by its block with no attempt left: the session fails at its window's close with the chain's reason", async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 2, { transaction: GAS_SHORT, maxAttempts: 1 });
  await s.advanceTo(23);
  await until('the refusal said', async () => s.logs.lines.some((l) => l.msg === 'claim transaction refused in block 23; no attempt left'));
  await s.advanceTo(27);
  await until('the window missed', async () => (await s.session())?.state === 'claim_window_missed');
  const failed = s.logs.lines.find((l) => l.msg === 'session not paid');
  const sub = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  t.equal(failed?.why, `claim not on chain when its window closed at 26; the chain refused its transaction ${sub.txhash} in block 23: ${JSON.parse(sub.failure!).text}`);
  t.match(failed?.why, /: sdk\/11: .*out of gas.* \(gas wanted 40000, used \d+\)$/);
  t.equal(s.logs.lines.filter((l) => /refused in block/.test(String(l.msg))).length, 1, 'said once, not every block');
});

t.test('a claim the node refuses at CheckTx block after block is said once, sent again each block, and said once when accepted', async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 2);
  s.r.net.node.txs.armFaults({ reject_next: { count: 3, code: 13, codespace: 'sdk', log: 'insufficient fee' } });
  await s.advanceTo(26);
  await until('claimed', async () => (await s.session())?.state === 'claimed');
  t.match(await s.metrics(), /phase="claim",result="rejected"\} 3/, 'refused at 22, 23 and 24');
  const refused = s.logs.lines.filter((l) => l.msg === 'claim transaction refused by the node');
  t.same(refused.map((l) => [l.level, l.supplier, l.code, l.codespace, l.log, l.height]), [[50, ADDR.supplier1, 13, 'sdk', 'insufficient fee', 22]], 'said once, not every block');
  const accepted = s.logs.lines.filter((l) => l.msg === 'claim transactions accepted by the node again');
  t.same(accepted.map((l) => [l.level, l.supplier, l.height]), [[30, ADDR.supplier1, 25]], 'and once when it ended');
});

t.test('a claim the chain refuses is left out of the transaction: the session beside it is claimed all the same', async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 3);
  // A session the chain does not know (a corrupted entry, say), ending at the same height: its claim
  // goes in the same transaction as the real one, and the chain refuses that message.
  const bogus = Buffer.from('not a relay the chain knows');
  await s.r.redis.xadd(
    keys.relayStream(ADDR.supplier1),
    '*',
    'data',
    Buffer.from(
      MinedRelayCodec.encode({
        relay_hash: relayHash(bogus),
        relay: bogus,
        compute_units: 1n,
        session_id: 'bogus-session',
        session_start_block_height: 11n,
        session_end_block_height: 20n,
        supplier_operator_address: ADDR.supplier1,
        service_id: 'anvil',
        application_address: ADDR.app1,
        arrival_block_height: 12n,
        published_at_ms: 1n,
      }),
    ),
  );
  await until('both sessions stored', async () => (await s.store.session(ADDR.supplier1, 'bogus-session'))?.count === 1);
  await s.advanceTo(23);
  await until('the real claim on chain', async () => (await s.session())?.state === 'claimed').catch((err) => {
    t.comment(s.logs.lines.filter((l) => (l.level as number) >= 40).map((l) => JSON.stringify(l)).join('\n'));
    throw err;
  });
  const refused = s.logs.lines.find((l) => l.msg === 'claim message refused by the node; the others sent without it');
  t.equal(refused?.session, 'bogus-session', 'the refused message is the bogus session');
  t.match(refused?.why, /message index: \d/);
  t.equal((await s.store.session(ADDR.supplier1, 'bogus-session'))?.state, 'active', 'left for the next block, not given up');
  await s.advanceTo(27);
  await until('the bogus session given up when its window closed', async () => (await s.store.session(ADDR.supplier1, 'bogus-session'))?.state === 'claim_window_missed');
  t.equal((await s.session())?.state, 'claimed', 'the real one unaffected');
});

t.test('the same end to end on a 3-master Redis Cluster (relayer and miner on redis-cluster://)', async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 6, { cluster: true });
  t.match(s.r.redisUrl, /^redis-cluster:\/\//);
  await s.claimed();
  await s.advanceTo(26);
  await until('proved', async () => (await s.session())?.state === 'proved');
  const before = await s.balance();
  await s.advanceTo(30);
  await until('settled', async () => (await s.session())?.state === 'settled');
  t.equal((await s.balance()) - before, 6n * 42n);
});




t.test('ordered transactions (account sequence) with a fixed gas limit: claim and proof land', async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 2, {
    transaction: '{ mode: ordered, gas_limit: 2000000, gas_price: "0.000002upokt" }',
  });
  await s.claimed();
  await s.advanceTo(26);
  await until('proved', async () => (await s.session())?.state === 'proved');
  const acct = (await s.q.call('cosmos.auth.v1beta1.Query', 'Account', { address: ADDR.supplier1 })).account as { value: Uint8Array };
  const base = messageCodec<{ sequence: bigint }>('cosmos.auth.v1beta1.BaseAccount').decode(acct.value);
  t.equal(base.sequence, 2n, 'two ordered transactions used sequences 0 and 1');
  const m = await s.metrics();
  t.match(m, /phase="claim",result="included"\} 1/);
  t.match(m, /phase="proof",result="included"\} 1/);
});
