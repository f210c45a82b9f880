/** Proofs: decided as the chain decides (and again when its params change), sent, sent again, refused or no longer required, validated, missed. */
import t from 'tap';
import { ADDR, TEST_GENESIS } from '../../../test/helpers/localnet-client.js';
import { until } from '../../../test/helpers/until.js';
import { keys, PROOF_ALWAYS, setup, inspector } from './lifecycle-chain.js';

t.test('a proof that is not required is not sent; the claim still settles', async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 3);
  await s.claimed();
  await s.advanceTo(27);
  await until('decided', async () => (await s.session())?.proof === 'not_required');
  t.equal((await s.session())?.state, 'claimed', 'no proof transaction');
  t.match(await s.metrics(), /phase="proof",result="not_required"\} 1/);
  t.notMatch(await s.metrics(), /phase="proof",result="broadcast"/);
  const before = await s.balance();
  await s.advanceTo(30);
  await until('settled', async () => (await s.session())?.state === 'settled');
  t.equal((await s.balance()) - before, 3n * 42n);
  // Nothing to prove is not a transaction: an empty one is refused by the node's simulation.
  t.same(s.logs.lines.filter((l) => (l.level as number) >= 50).map((l) => `${l.msg}: ${l.err ?? ''}`), [], 'no error in the whole lifecycle');
});

t.test('a proof whose send fails (the node unavailable at its simulation) is sent on the next block: validated, settled, not slashed', async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 3);
  await s.claimed();
  s.r.net.node.txs.armFaults({ unavailable_next: 1 });
  await s.advanceTo(25); // the seed block: the proof is decided, and its simulation fails
  t.match(s.logs.lines.find((l) => l.msg === 'session lifecycle pass failed'), { height: 25, err: /Simulate: UNAVAILABLE/ }, 'the failed pass said');
  t.same([(await s.session())?.state, (await s.session())?.proof], ['claimed', 'threshold'], 'decided, not sent');
  await s.advanceTo(26);
  await until('proof broadcast', async () => (await s.session())?.state === 'proving');
  t.match(s.logs.lines.find((l) => l.msg === 'proofs broadcast'), { height: 26, sessions: 1 }, 'sent on the next block');
  await s.advanceTo(27);
  await until('proved', async () => (await s.session())?.state === 'proved');
  const before = await s.balance();
  await s.advanceTo(30);
  await until('settled', async () => (await s.session())?.state === 'settled');
  t.equal((await s.balance()) - before, 3n * 42n, 'paid');
  t.notMatch(await s.metrics(), /outcome="slashed"/);
});

t.test('proof params changed by governance after a proof was found not required: decided again in its window, sent, and the claim settles', async (t) => {
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 0'), 3);
  await s.claimed();
  await s.advanceTo(25);
  await until('decided', async () => (await s.session())?.proof === 'not_required');
  t.equal((await s.session())?.proofParams, '20000000|0', 'decided with threshold 20000000 uPOKT and probability 0');
  // Every claim now needs a proof; the chain decides at settlement (block 30) with the params it has then.
  s.r.net.chain.updateProofParams({ proof_request_probability: 1 });
  await s.advanceTo(26);
  await until('proof broadcast', async () => (await s.session())?.state === 'proving');
  t.same([(await s.session())?.proof, (await s.session())?.proofParams], ['probabilistic', '20000000|1']);
  t.match(s.logs.lines.find((l) => l.msg === 'proof decided again: the proof params changed'), { height: 26, supplier: ADDR.supplier1, session: s.header.session_id, decided_with: '20000000|0', now: '20000000|1' });
  await s.advanceTo(27);
  await until('proved', async () => (await s.session())?.state === 'proved');
  const before = await s.balance();
  await s.advanceTo(30);
  await until('settled', async () => (await s.session())?.state === 'settled');
  t.equal((await s.balance()) - before, 3n * 42n, 'paid, not slashed');
  const m = await s.metrics();
  t.match(m, /phase="proof",result="not_required"\} 1\n/, 'counted not required once, when first decided');
  t.match(m, /phase="proof",result="included"\} 1\n/);
  t.notMatch(m, /outcome="slashed"/);
});

t.test('a proof its block refuses as not required (the params changed after it was sent): not sent again, the claim settles, no failure', async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 3);
  await s.claimed();
  await s.advanceTo(25);
  await until('proof broadcast', async () => (await s.session())?.state === 'proving');
  // Governance raises the threshold and drops the probability before the block that runs the proof.
  s.r.net.chain.updateProofParams({ proof_requirement_threshold_upokt: 1_000_000_000_000, proof_request_probability: 0 });
  await s.advanceTo(26);
  await until('not required', async () => (await s.session())?.proof === 'not_required');
  t.same([(await s.session())?.state, (await s.session())?.proofParams], ['claimed', '1000000000000|0']);
  t.match(s.logs.lines.find((l) => l.msg === 'proof transaction refused in block 26; the chain does not require this proof (attempt 2 of 5)'), { level: 50, code: 1, log: /desc = proof not required$/ });
  t.match(s.logs.lines.find((l) => /^the chain does not require a proof this miner found required/.test(String(l.msg))), { level: 40, session: s.header.session_id, decided: 'threshold', threshold_upokt: '1000000000000', probability: 0 });
  const before = await s.balance();
  await s.advanceTo(30);
  await until('settled', async () => (await s.session())?.state === 'settled');
  t.equal((await s.balance()) - before, 3n * 42n, 'paid without a proof');
  const m = await s.metrics();
  t.match(m, /phase="proof",result="not_required"\} 1\n/);
  t.notMatch(m, /phase="proof",result="resubmitted"/, 'never sent again');
  t.notMatch(m, /relayminer_miner_sessions_failed_total\{/, 'no failure');
});

t.test("the chain's simulation answers that a proof this miner found required is not: not sent, its session settles without it", async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 3);
  await s.claimed();
  // A chain that computes the requirement otherwise than this miner (a disagreement no param change explains).
  s.r.net.node.proofs.requirement = () => 'NOT_REQUIRED';
  await s.advanceTo(25);
  await until('not required', async () => (await s.session())?.proof === 'not_required');
  t.same([(await s.session())?.state, (await s.session())?.proofParams], ['claimed', '1|0.25']);
  t.match(s.logs.lines.find((l) => /^the chain does not require a proof this miner found required/.test(String(l.msg))), { level: 40, decided: 'threshold', why: /Simulate: UNKNOWN: .*proof not required/ });
  await s.advanceTo(27);
  t.notOk(s.logs.lines.some((l) => l.msg === 'proofs broadcast' || l.msg === 'session lifecycle pass failed'), 'nothing sent, no pass failed');
  const before = await s.balance();
  await s.advanceTo(30);
  await until('settled', async () => (await s.session())?.state === 'settled');
  t.equal((await s.balance()) - before, 3n * 42n, 'paid without a proof');
  t.match(await s.metrics(), /phase="proof",result="not_required"\} 1\n/);
});

t.test('two proofs in one transaction, its block refusing it because one is not required any more: that one settles without it, the other is sent again at once', async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 7, { restRelays: 2 });
  await s.claimed();
  t.same([(await s.session())?.claimedUpokt, (await s.restSession())?.claimedUpokt], ['294', '168']);
  await s.advanceTo(25);
  await until('both proofs broadcast', async () => (await s.session())?.state === 'proving' && (await s.restSession())?.state === 'proving');
  // From now on only claims of 200 uPOKT or more need a proof: the rest session's (168) does not.
  s.r.net.chain.updateProofParams({ proof_requirement_threshold_upokt: 200, proof_request_probability: 0 });
  await s.advanceTo(26);
  await until('the rest session not required', async () => (await s.restSession())?.proof === 'not_required');
  t.equal((await s.restSession())?.state, 'claimed');
  const refused = s.logs.lines.find((l) => /^proof transaction refused in block 26; message \d \(session [0-9a-f]+\) not required by the chain, the other 1 signed again now/.test(String(l.msg)));
  t.match(refused, { level: 50, sessions: 2 }, 'said once, naming the message');
  t.match(refused?.msg, new RegExp(`\\(session ${s.restHeader!.session_id}\\)`), 'the rest session named');
  await s.advanceTo(27);
  await until('the anvil proof validated', async () => (await s.session())?.state === 'proved').catch((err) => {
    t.comment(s.logs.lines.filter((l) => l.component === 'miner').map((l) => JSON.stringify(l).slice(0, 500)).join('\n'));
    throw err;
  });
  const before = await s.balance();
  await s.advanceTo(30);
  await until('both settled', async () => (await s.session())?.state === 'settled' && (await s.restSession())?.state === 'settled');
  t.equal((await s.balance()) - before, 294n + 168n, 'both paid');
  const m = await s.metrics();
  t.match(m, /phase="proof",result="failed"\} 1\n/);
  t.match(m, /phase="proof",result="resubmitted"\} 1\n/, 'the anvil proof, once');
  t.match(m, /phase="proof",result="not_required"\} 1\n/);
  t.notMatch(m, /relayminer_miner_sessions_failed_total\{/);
});

t.test('a required proof that never lands: the claim expires, the supplier is slashed, both reported', async (t) => {
  const s = await setup(t, PROOF_ALWAYS, 3);
  await s.claimed();
  s.r.net.node.txs.dropNextAccepted(5); // the proof and every resend are lost by the node
  await s.advanceTo(30);
  await until('expired', async () => (await s.session())?.state === 'expired');
  t.equal((await s.session())?.reason, 'PROOF_MISSING');
  const m = await s.metrics();
  t.match(m, /relayminer_miner_settlements_total\{supplier="[^"]+",outcome="expired"\} 1/);
  t.match(m, /relayminer_miner_settlements_total\{supplier="[^"]+",outcome="slashed"\} 1/);
  t.match(m, /relayminer_miner_upokt_total\{supplier="[^"]+",kind="lost"\} 126/, '3 relays × 42 uPOKT lost');
  t.match(m, /phase="proof",result="resubmitted"\} 1/, 'sent again once: the window (4 blocks) closed before a third send');
  t.ok(s.logs.lines.some((l) => l.msg === 'claim expired' && l.reason === 'PROOF_MISSING'));
  // Stake health: 1e9 uPOKT staked, 3.2e8 slashed → 6.8e8 left, two more missed proofs.
  await until('stake gauges', async () => /relayminer_miner_supplier_stake_upokt\{supplier="[^"]+"\} 680000000/.test(await s.metrics()));
  t.match(await s.metrics(), /relayminer_miner_missed_proofs_until_unstaked\{supplier="[^"]+"\} 2/, 'over the minimum stake of 1 uPOKT');
  // Every block checks the stake: a warning when it starts (3 left) and when it worsens (2), not one per block.
  await s.advanceTo(33);
  const warnings = s.logs.lines.filter((l) => l.msg === 'supplier stake covers 3 or fewer missed-proof penalties before the chain unstakes it');
  t.same(warnings.map((w) => w.missed_proofs_left), [3, 2], 'warned when the condition started and when it worsened, over 30 blocks');
  t.match(await s.metrics(), /relayminer_miner_stream_backlog\{supplier="[^"]+"\} 0/);
});

t.test("stake health counts missed proofs down to the supplier module's min_stake; the slash past it unstakes the supplier, and that is said", async (t) => {
  // 1e9 uPOKT staked, 3.2e8 per missed proof, the chain's min_stake 7e8: no missed proof left (an empty stake would
  // allow three), and the one that is missed leaves 6.8e8: the chain begins the supplier's unbonding.
  const s = await setup(t, PROOF_ALWAYS.replace('  proof:\n', '  supplier:\n    min_stake_upokt: 700000000\n  proof:\n'), 3);
  await s.claimed();
  await until('stake gauges', async () => /relayminer_miner_missed_proofs_until_unstaked\{supplier="[^"]+"\} 0\n/.test(await s.metrics()));
  const warning = s.logs.lines.find((l) => l.msg === 'supplier stake covers 3 or fewer missed-proof penalties before the chain unstakes it');
  t.match(warning, { stake_upokt: '1000000000', min_stake_upokt: '700000000', penalty_upokt: '320000000', missed_proofs_left: 0 }, 'warned with the minimum it counts to');
  t.notOk(s.logs.lines.some((l) => String(l.msg).startsWith('supplier params query failed')), 'the params read');
  t.notOk(s.logs.lines.some((l) => l.msg === 'supplier is unstaking'), 'not unstaking yet');

  s.r.net.node.txs.dropNextAccepted(5); // the proof and every resend are lost by the node
  await s.advanceTo(30);
  await until('expired', async () => (await s.session())?.state === 'expired');
  await s.advanceTo(31);
  await until('the unstaking said', async () => s.logs.lines.some((l) => l.msg === 'supplier is unstaking'));
  t.match(s.logs.lines.find((l) => l.msg === 'supplier is unstaking'), { supplier: ADDR.supplier1, unstake_session_end_height: '30' }, 'the slash at 30 left 6.8e8 under the minimum');
  t.match(await s.metrics(), /relayminer_miner_supplier_stake_upokt\{supplier="[^"]+"\} 680000000/);
});

t.test("proofs too large for one of the node's transactions: half now, half next block, and each send resent on its own when lost", async (t) => {
  // Two sessions of the supplier end at 20, one relay each: the proofs' transaction is 5,687 bytes, the larger proof's
  // alone 4,476 (it carries a relay with a 3 KB request); the node takes transactions of 5,100 bytes.
  const genesis = PROOF_ALWAYS
    .replace('proof_window_close_offset_blocks: 4', 'proof_window_close_offset_blocks: 8')
    .replace('minimum_gas_price_upokt:', 'max_tx_bytes: 5100\nminimum_gas_price_upokt:');
  const s = await setup(t, genesis, 1, { pad: 3000, restRelays: 1 });
  await s.claimed();
  s.r.net.node.txs.dropNextAccepted(1); // the first proof transaction is accepted and lost
  await s.advanceTo(25); // the seed block
  // On a timeout, what the miner said.
  const said = (err: Error) => {
    t.comment(s.logs.lines.filter((l) => l.component === 'miner').map((l) => JSON.stringify(l).slice(0, 400)).join('\n'));
    throw err;
  };
  await until('the first proof sent', async () => [(await s.session())?.state, (await s.restSession())?.state].includes('proving')).catch(said);
  // A pass's lines are logged when it ends.
  await until('the carry said', () => s.logs.lines.some((l) => l.msg === 'proofs carried to the next block')).catch(said);
  const carried = s.logs.lines.find((l) => l.msg === 'proofs carried to the next block');
  t.match(carried, { sessions: 1, why: 'the node refused 2 messages (5687 bytes) as too large a transaction' }, 'refused whole (code 21), then half sent and half carried');
  await s.advanceTo(33);
  await until('both proved', async () => (await s.session())?.state === 'proved' && (await s.restSession())?.state === 'proved').catch(said);
  const record = await s.r.redis.hgetall(keys.submission(ADDR.supplier1, 'proof', 20n));
  const earlier = JSON.parse(record.earlier!) as Record<string, string>[];
  t.equal(earlier.length, 1, 'two sends recorded for the supplier and end height');
  t.same([...earlier, record].map((x) => (JSON.parse(x.sessions!) as string[]).length), [1, 1], 'one session each');
  const lost = earlier[0]!;
  t.equal(lost.attempts, '2', 'the lost send was signed again and resent, with its own message');
  t.equal(record.attempts, '1', 'the later send landed the first time');
  const m = await s.metrics();
  t.match(m, /phase="proof",result="resubmitted"\} 1/);
  t.match(m, /phase="proof",result="included"\} 2/);
  t.match(
    (await inspector(t, s.r.redisUrl)('submissions')).filter((r) => r.phase === 'proof'),
    [{ session_end: '20', txhash: lost.txhash, attempts: 2, sessions: 1 }, { session_end: '20', txhash: record.txhash, sent_at: '26', attempts: 1, sessions: 1 }],
    '`relayminer redis submissions` lists both sends',
  );
});

t.test("a proof alone too large for the node's transactions is reported at once, not resent to its window's end", async (t) => {
  // The proof's transaction is 4,476 bytes (its relay has a 3 KB request); the node takes 3,000.
  const genesis = PROOF_ALWAYS.replace('minimum_gas_price_upokt:', 'max_tx_bytes: 3000\nminimum_gas_price_upokt:');
  const s = await setup(t, genesis, 1, { pad: 3000 });
  await s.claimed();
  await s.advanceTo(25);
  await until('reported', async () => (await s.session())?.state === 'proof_rejected');
  t.equal((await s.session())?.reason, 'the node refuses its proof transaction (4476 bytes) as too large for its mempool (max_tx_bytes): the proof cannot land');
  await s.advanceTo(27);
  t.match(await s.metrics(), /phase="proof",result="rejected"\} 1\n/, 'sent once');
  t.ok(s.logs.lines.some((l) => l.msg === 'session not paid' && l.state === 'proof_rejected'));
});

t.test('a probabilistic proof requirement is read as the chain reads it: the proof is sent and validated', async (t) => {
  // Under the threshold, so only the sampled requirement decides; probability 1: always required.
  const s = await setup(t, TEST_GENESIS.replace('proof_request_probability: 0.25', 'proof_request_probability: 1'), 3);
  await s.claimed();
  await s.advanceTo(26);
  await until('proved', async () => (await s.session())?.state === 'proved');
  t.equal((await s.session())?.proof, 'probabilistic');
  await s.advanceTo(30);
  await until('settled', async () => (await s.session())?.state === 'settled');
});
