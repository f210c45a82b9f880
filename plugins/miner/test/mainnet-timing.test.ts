import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { claimedUpokt, KeyBuilder, parseConfig, RelayResponseCodec, Runtime } from 'relayminer';
import { BUILTIN_PLUGINS } from '../../index.js';
import { supplierOffset } from '../block-clock.js';
import { SessionStore } from '../session-store.js';
import { ADDR, grpcCall, grpcClient, type Res } from '../../../test/helpers/localnet-client.js';
import { captureLogs } from '../../../test/helpers/logs.js';
import { minerYaml } from '../../../test/helpers/miner.js';
import { gatewayRelay, postRelay, startRelayer } from '../../../test/helpers/relayer.js';
import { until } from '../../../test/helpers/until.js';

/**
 * The miner and relayer against genesis.mainnet.yaml: a block every second of wall time, 60 s of chain
 * time per block, mainnet's windows. Session [1, 20]: grace ends at 30, the claim window is [32, 42),
 * the proof seed block is 42 and the proof window [43, 53), settlement at 53.
 */
const MAINNET = readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples/localnet/genesis.mainnet.yaml'), 'utf8');
const keys = new KeyBuilder('ha');
const CLAIM_WINDOW_OPEN = 32;
const PROOF_SEED = 42;
const PROOF_WINDOW_CLOSE = 53;

/** Why a relay was refused (an HTTP 200 too, in the default poktroll error model), or undefined once served. */
const refusal = (res: { status: number; body: Uint8Array }) => (res.status === 200 ? RelayResponseCodec.decode(res.body).relay_miner_error?.message : `HTTP ${res.status}`);

t.test('mainnet timing: a dropped claim and a dropped proof land on re-signed sends, and a claim its block refuses on a later one, under continuous traffic; the session settles exactly', async (t) => {
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}" }`, genesis: MAINNET });
  const first = await r.header();
  t.same([first.session_start_block_height, first.session_end_block_height], [1n, 20n], 'session [1, 20]');
  const logs = captureLogs();
  const miner = await Runtime.start({
    config: parseConfig(minerYaml({ redisUrl: r.redisUrl, rpcAddress: r.net.rpcAddress, grpcAddress: r.net.grpcAddress, instance: 'main-1' })),
    roles: ['miner'],
    builtins: BUILTIN_PLUGINS,
    version: 'test',
    logger: logs.logger,
  });
  t.teardown(() => miner.shutdown());
  const metrics = async () => (await fetch(`http://${miner.addresses.metrics}/metrics`)).text();
  const faults = (body: object) => fetch(`http://${r.net.rpcAddress}/localnet/faults`, { method: 'POST', body: JSON.stringify(body) });
  const store = new SessionStore(keys, () => r.redis);
  const state = async () => (await store.session(ADDR.supplier1, first.session_id))?.state;
  const txs = grpcClient(r.net.grpcAddress, 'cosmos.tx.v1beta1.Service');
  t.teardown(() => txs.close());
  const includedAt = async (hash: string) => Number(((await grpcCall(txs, 'GetTx', { hash })).tx_response as Res).height);

  // Relays all along, from session [1, 20] into the next ones: the supplier's stream is never idle.
  let traffic = true;
  let served = 0;
  /** Relays of session [1, 20] served: each one must be in its claim. */
  let servedFirst = 0;
  const pump = (async () => {
    while (traffic) {
      const header = await r.header();
      const res = await postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', body: `{"jsonrpc":"2.0","id":${served},"method":"eth_blockNumber"}` }));
      if (refusal(res) === undefined) {
        served++;
        if (header.session_id === first.session_id) servedFirst++;
      }
      await new Promise((res) => setTimeout(res, 40));
    }
  })();
  // A gateway still on session [1, 20] after it ended: served through the grace period (to 30), then refused.
  // The claim window opens at 32, so the relays of block 30 have block 31 to reach the miner: they are mined.
  const late = { atGraceEnd: 0, stoppedAt: 0, refusal: '' };
  const latePump = (async () => {
    await until('session [1, 20] over', () => r.net.chain.height > 20, 60_000);
    while (traffic) {
      const res = await postRelay(r.url, gatewayRelay(first, { method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":"late","method":"eth_blockNumber"}' }));
      const height = r.net.chain.height;
      const refused = refusal(res);
      if (refused !== undefined) {
        Object.assign(late, { stoppedAt: height, refusal: refused });
        return;
      }
      servedFirst++;
      if (height === 30) late.atGraceEnd++;
      await new Promise((res) => setTimeout(res, 40));
    }
  })().catch(() => undefined);
  t.teardown(async () => {
    traffic = false;
    await Promise.all([pump, latePump]);
  });

  // Readiness: Redis, the chain's pace (60-second headers, produced every second) and the leases.
  await until('miner ready', async () => (await fetch(`http://${miner.addresses.metrics}/ready`)).status === 200, 30_000);
  const ready = (await (await fetch(`http://${miner.addresses.metrics}/ready`)).json()) as { checks: Record<string, { ok: boolean }> };
  t.same(Object.keys(ready.checks).sort(), ['chain', 'leases', 'node_grpc', 'redis']);
  await until('the chain pace known', async () => /^relayminer_chain_block_interval_seconds 60$/m.test(await metrics()), 10_000);

  // The node accepts the first claim and loses it.
  await until('height 30', () => r.net.chain.height >= 30, 60_000);
  await faults({ drop_accepted_txs: 1 });
  await until('claim on chain', async () => (await state()) === 'claimed', 60_000);
  const claim = await r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 20n));
  t.equal(claim.first_height, String(CLAIM_WINDOW_OPEN), 'first sent as the claim window opened, though relays kept arriving');
  t.equal(claim.attempts, '2', 'the lost send was signed again once');
  const claimHeight = await includedAt(claim.txhash!);
  t.ok(claimHeight <= CLAIM_WINDOW_OPEN + 5, `included at ${claimHeight}, in the first half of the window [32, 42)`);
  t.match(await metrics(), /phase="claim",result="resubmitted"\} 1/);
  t.ok(logs.lines.some((l) => l.msg === 'claim not included 3 blocks after it was sent: signed again and resent' && l.attempt === 2));

  // The first proof send is lost too.
  await until('claim is known', () => r.net.chain.height >= PROOF_SEED - 2, 60_000);
  await faults({ drop_accepted_txs: 1 });
  await until('proof validated', async () => (await state()) === 'proved', 60_000);
  const proof = await r.redis.hgetall(keys.submission(ADDR.supplier1, 'proof', 20n));
  t.equal(proof.first_height, String(PROOF_SEED + supplierOffset(ADDR.supplier1, 5)), "first sent at the window's opening plus the supplier's offset");
  t.equal(proof.attempts, '2');
  t.ok((await includedAt(proof.txhash!)) < PROOF_WINDOW_CLOSE, 'the resent proof landed inside its window');
  t.equal((await store.session(ADDR.supplier1, first.session_id))?.proof, 'threshold', 'worth more than the 100 uPOKT threshold');

  // The next session's claim, [21, 40]'s at 52, is refused by the block that includes it (state changed under
  // it since CheckTx): said with the chain's reason, sent again two blocks later, and on chain.
  const second = (await r.runtime.context.relay!.chain.session(ADDR.app1, 'anvil', 30n)).header;
  t.same([second.session_start_block_height, second.session_end_block_height], [21n, 40n]);
  const REFUSED = 'failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = changed since CheckTx';
  await faults({ refuse_in_block: { count: 1, code: 1, codespace: 'undefined', log: REFUSED } });

  await until('settled', async () => (await state()) === 'settled', 60_000);
  const session = (await store.session(ADDR.supplier1, first.session_id))!;
  const [claimed, settled] = await r.redis.hmget(keys.minerSession(ADDR.supplier1, first.session_id), 'claimed_upokt', 'settled_upokt');
  const expected = claimedUpokt(BigInt(session.count) * 100n, Buffer.alloc(32, 0xff), 145_990n, 1_000_000n);
  await latePump;
  t.ok(late.atGraceEnd > 0, `relays of session [1, 20] served at height 30, its grace period's last block (${late.atGraceEnd})`);
  t.match(late.refusal, /: session ended at 20, grace ended at 30, current 3[1-9]$/, `refused once grace was over, at height ${late.stoppedAt}`);
  t.equal(session.count, servedFirst, `every relay of the session served is in the claim, the grace period's included (${session.count})`);
  t.notMatch(await r.metrics(), /relayminer_relays_not_reward_eligible_total\{[^}]*\} [1-9]/, 'no relay served without being mined');
  t.equal(session.computeUnits, BigInt(session.count) * 100n, '100 compute units each');
  t.same([claimed, settled], [String(expected), String(expected)], `the chain settled exactly the claimed ${expected} uPOKT`);

  await until("session [21, 40]'s claim on chain", async () => (await store.session(ADDR.supplier1, second.session_id))?.state === 'claimed', 60_000);
  const said = logs.lines.filter((l) => l.msg === `claim transaction refused in block ${l.height}; signing it again in 2 blocks (attempt 2 of 5)`);
  t.same(said.map((l) => [l.code, l.codespace, l.log]), [[1, 'undefined', REFUSED]], "the chain's reason, said once");
  const refusedAt = Number(said[0]?.height);
  const resent = await r.redis.hgetall(keys.submission(ADDR.supplier1, 'claim', 40n));
  t.same([resent.first_height, resent.height, resent.attempts], [String(refusedAt - 1), String(refusedAt + 2), '2'], `sent at ${refusedAt - 1}, refused in ${refusedAt}, sent again at ${refusedAt + 2}`);
  t.ok((await includedAt(resent.txhash!)) <= 62, 'on chain inside its window [52, 62]');
});
