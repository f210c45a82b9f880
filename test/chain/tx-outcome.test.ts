import t from 'tap';
import { ChainQueryClient } from '../../core/chain/query-client.js';
import { TX_OUT_OF_GAS, TxClient } from '../../core/chain/tx-client.js';
import { SupplierKey } from '../../core/crypto/supplier-key.js';
import { ADDR, claimAny, KEYS, makeRelays, startTestLocalnet, trieOf } from '../helpers/localnet-client.js';

const TRANSACTION = { mode: 'unordered', gas_limit: 200_000, gas_adjustment: 1.5, gas_price: '0.000001upokt' } as const;

t.test("TxClient.outcome: what the including block did with a transaction, nothing before a block has, an error for a bad question", async (t) => {
  const net = await startTestLocalnet(t);
  net.chain.advance(1);
  const query = new ChainQueryClient({ grpc_address: net.grpcAddress, tls: false, query_timeout_ms: 3000 });
  t.teardown(() => query.close());
  const tx = new TxClient(query, { ...TRANSACTION }, 'pocket');
  const key = SupplierKey.fromHex(KEYS.supplier1);
  const header = { application_address: ADDR.app1, service_id: 'anvil', session_id: 'ab'.repeat(32), session_start_block_height: 1n, session_end_block_height: 10n };
  const message = claimAny(ADDR.supplier1, header, trieOf(makeRelays(header, 1)).root());

  const log = 'failed to execute message; message index: 0: rpc error: code = FailedPrecondition desc = refused';
  net.node.txs.armFaults({ refuse_in_block: { count: 1, code: 1, codespace: 'undefined', log } });
  const sent = await tx.broadcast(key, [message], net.chain.latest.timeMs);
  t.equal(sent.code, 0, 'CheckTx took it');
  t.equal(await tx.outcome(sent.txhash), undefined, 'in the mempool: no block has it yet');
  net.chain.advance(1);
  const ran = await tx.outcome(sent.txhash);
  t.equal(ran?.height, net.chain.height, 'the including block');
  t.same([ran?.code, ran?.codespace, ran?.rawLog, ran?.gasWanted], [1, 'undefined', log, 200_000]);
  t.ok(ran!.gasUsed > 0, `gas used ${ran?.gasUsed}`);

  const short = new TxClient(query, { ...TRANSACTION, gas_limit: 1_000 }, 'pocket');
  const starved = await short.broadcast(key, [message], net.chain.latest.timeMs);
  net.chain.advance(1);
  const outOfGas = await short.outcome(starved.txhash);
  t.same([outOfGas?.code, outOfGas?.codespace, outOfGas?.gasWanted], [TX_OUT_OF_GAS, 'sdk', 1_000], 'out of gas: sdk/11');

  t.equal(await tx.outcome('00'.repeat(32)), undefined, 'a hash no block included');
  await t.rejects(tx.outcome(''), /tx hash cannot be empty/, 'a bad question is an error, not "not included"');
});
