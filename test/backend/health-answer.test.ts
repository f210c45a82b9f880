import t from 'tap';
import { describeBackendError } from '../../core/backend/errors.js';
import { JsonRpcProbe, grpcHealthAnswerFailure, healthAnswerFailure, syncingAnswerFailure } from '../../core/backend/health-answer.js';

t.test('which bodies are JSON-RPC probes', async (t) => {
  t.ok(JsonRpcProbe.of('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'));
  t.ok(JsonRpcProbe.of('[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"net_version"}]'));
  t.equal(JsonRpcProbe.of(undefined), undefined, 'no body');
  t.equal(JsonRpcProbe.of('{"ping":1}'), undefined, 'an object without a method');
  t.equal(JsonRpcProbe.of('[]'), undefined, 'an empty batch');
  t.equal(JsonRpcProbe.of('[{"method":"a"},{"id":2}]'), undefined, 'a batch with something that is not a call');
  t.equal(JsonRpcProbe.of('ping'), undefined, 'not JSON');
});

t.test("which message on a connection answers the probe: the call's id, or an array for a batch", async (t) => {
  const single = JsonRpcProbe.of('{"jsonrpc":"2.0","id":"probe-7","method":"eth_blockNumber"}')!;
  t.same(
    ['{"jsonrpc":"2.0","id":"probe-7","result":"0x1"}', '{"jsonrpc":"2.0","id":7,"result":"0x1"}', '{"jsonrpc":"2.0","method":"eth_subscription","params":{}}', '[{"id":"probe-7"}]', 'hello', '{"id":"probe-7","error":{"code":-1}}'].map((m) => single.answers(m)),
    [true, false, false, false, false, true],
  );
  const noId = JsonRpcProbe.of('{"jsonrpc":"2.0","method":"eth_blockNumber"}')!;
  t.same(['{"result":1}', '[{"result":1}]', 'hello'].map((m) => noId.answers(m)), [true, false, false], 'a call without an id: any object');
  const batch = JsonRpcProbe.of('[{"id":1,"method":"a"},{"id":2,"method":"b"}]')!;
  t.same(['[{"id":1,"result":1},{"id":2,"result":2}]', '{"id":1,"result":1}'].map((m) => batch.answers(m)), [true, false]);
});

t.test('what fails it: an error anywhere in the answer (its code said, not its text), or an answer that is not JSON', async (t) => {
  const probe = JsonRpcProbe.of('[{"id":1,"method":"a"},{"id":2,"method":"b"}]')!;
  t.equal(probe.failure('{"id":1,"result":"0x1"}'), undefined);
  t.equal(probe.failure('[{"id":1,"result":"0x1"},{"id":2,"result":null,"error":null}]'), undefined, 'error: null is no error');
  const error = probe.failure('[{"id":1,"result":"0x1"},{"id":2,"error":{"code":-32601,"message":"method b at 10.0.0.7 not found"}}]')!;
  t.same([error.code, error.message], ['HEALTH_CHECK_ERROR', 'the health check was answered with a JSON-RPC error -32601']);
  t.equal(describeBackendError(error), 'health check answered with an error (HEALTH_CHECK_ERROR)');
  t.equal(probe.failure('{"id":1,"error":"bad"}')!.message, 'the health check was answered with a JSON-RPC error', 'an error without a numeric code');
  t.equal(probe.failure('<html>502</html>')!.message, 'the health check was answered with something other than JSON');
});

// Messages laid out by hand from the field numbers (grpc-proto's health.proto, cosmos-sdk's query.proto): field 1
// varint, each in a gRPC frame (flag 0, 4-byte length).
const frame = (message: number[], flag = 0) => new Uint8Array([flag, 0, 0, 0, message.length, ...message]);
t.test("a gRPC health check's answer: Health/Check passes only on SERVING, GetSyncing only when not syncing, other methods on their status", async (t) => {
  const check = (bytes: number[]) => grpcHealthAnswerFailure('/grpc.health.v1.Health/Check', frame(bytes));
  t.equal(check([0x08, 0x01]), undefined, 'SERVING');
  t.same([[], [0x08, 0x02], [0x08, 0x03], [0x08, 0x09]].map((m) => [check(m)?.code, check(m)?.message]), [
    ['HEALTH_CHECK_NOT_SERVING', 'the health service answered UNKNOWN'],
    ['HEALTH_CHECK_NOT_SERVING', 'the health service answered NOT_SERVING'],
    ['HEALTH_CHECK_NOT_SERVING', 'the health service answered SERVICE_UNKNOWN'],
    ['HEALTH_CHECK_NOT_SERVING', 'the health service answered 9'],
  ]);
  t.same([check([0x08])?.code, check([0x08])?.message], ['HEALTH_CHECK_ERROR', "the health check's answer to /grpc.health.v1.Health/Check does not decode"], 'a truncated varint');
  t.equal(describeBackendError(check([0x08, 0x02])), 'health check answered not serving (HEALTH_CHECK_NOT_SERVING)');
  const whole = (body: Uint8Array) => grpcHealthAnswerFailure('/grpc.health.v1.Health/Check', body)?.code;
  t.same([whole(new Uint8Array(0)), whole(frame([0x08, 0x01], 1)), whole(frame([0x08, 0x01]).subarray(0, 6))], ['HEALTH_CHECK_NOT_SERVING', 'HEALTH_CHECK_ERROR', 'HEALTH_CHECK_ERROR'], 'no message (UNKNOWN); a compressed one; a body ending inside its message');

  const syncing = (bytes: number[]) => grpcHealthAnswerFailure('/cosmos.base.tendermint.v1beta1.Service/GetSyncing', frame(bytes));
  t.equal(syncing([]), undefined, 'syncing: false (the field omitted)');
  t.equal(syncing([0x08, 0x00]), undefined, 'syncing: false (written)');
  t.same([syncing([0x08, 0x01])?.code, syncing([0x08, 0x01])?.message], ['HEALTH_CHECK_SYNCING', 'the node answered that it is still syncing']);
  t.equal(describeBackendError(syncing([0x08, 0x01])), 'health check answered still syncing (HEALTH_CHECK_SYNCING)');

  t.equal(grpcHealthAnswerFailure('/demo.v1.Demo/Echo', frame([0x08, 0x02])), undefined, 'any other method: its grpc-status alone');
});

t.test("eth_syncing and CometBFT's status: a node still syncing fails, one synced passes, matched by id in a batch", async (t) => {
  const eth = JsonRpcProbe.of('{"jsonrpc":"2.0","id":1,"method":"eth_syncing"}')!;
  t.equal(eth.failure('{"jsonrpc":"2.0","id":1,"result":false}'), undefined, 'false: synced');
  const syncing = eth.failure('{"jsonrpc":"2.0","id":1,"result":{"startingBlock":"0x0","currentBlock":"0x10","highestBlock":"0x99"}}')!;
  t.same([syncing.code, syncing.message], ['HEALTH_CHECK_SYNCING', 'the node answered eth_syncing: still syncing']);
  t.equal(describeBackendError(syncing), 'health check answered still syncing (HEALTH_CHECK_SYNCING)');

  const comet = JsonRpcProbe.of('{"jsonrpc":"2.0","id":-1,"method":"status"}')!;
  t.equal(comet.failure('{"jsonrpc":"2.0","id":-1,"result":{"sync_info":{"latest_block_height":"9","catching_up":false}}}'), undefined);
  t.equal(comet.failure('{"jsonrpc":"2.0","id":-1,"result":{"sync_info":{"latest_block_height":"9","catching_up":true}}}')?.message, 'the node answered status: still syncing');

  const batch = JsonRpcProbe.of('[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_syncing"}]')!;
  t.equal(batch.failure('[{"id":2,"result":false},{"id":1,"result":"0x10"}]'), undefined, 'answers in another order');
  t.equal(batch.failure('[{"id":2,"result":{"currentBlock":"0x1"}},{"id":1,"result":"0x10"}]')?.code, 'HEALTH_CHECK_SYNCING');
  t.equal(batch.failure('[{"id":1,"result":{"currentBlock":"0x1"}},{"id":2,"result":false}]'), undefined, "eth_blockNumber's result is not read as a sync status");
  t.equal(JsonRpcProbe.of('{"id":1,"method":"eth_blockNumber"}')!.failure('{"id":1,"result":{"catching_up":true}}'), undefined, 'other methods: only errors');
});

t.test("an answer that is not JSON-RPC's: CometBFT's /status and the Cosmos REST syncing route say when the node is still syncing", async (t) => {
  t.equal(syncingAnswerFailure('{"jsonrpc":"2.0","id":-1,"result":{"sync_info":{"catching_up":false}}}'), undefined);
  t.equal(syncingAnswerFailure('{"jsonrpc":"2.0","id":-1,"result":{"sync_info":{"catching_up":true}}}')?.code, 'HEALTH_CHECK_SYNCING');
  t.equal(syncingAnswerFailure('{"syncing":false}'), undefined);
  t.equal(syncingAnswerFailure('{"syncing":true}')?.message, 'the node answered that it is still syncing');
  t.same(['OK', '', '{"status":"ok"}', '{"syncing":"true"}', '[{"syncing":true}]'].map((a) => syncingAnswerFailure(a)), [undefined, undefined, undefined, undefined, undefined], 'anything else passes');
});

t.test('healthAnswerFailure: a JSON-RPC body judged as a call, any other by what its answer says of syncing', async (t) => {
  const call = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}';
  t.equal(healthAnswerFailure(call, '{"id":1,"error":{"code":-32000}}')?.code, 'HEALTH_CHECK_ERROR');
  t.equal(healthAnswerFailure(call, 'OK')?.code, 'HEALTH_CHECK_ERROR', 'a call answered with something other than JSON');
  t.equal(healthAnswerFailure(call, '{"id":1,"result":"0x1"}'), undefined);
  t.equal(healthAnswerFailure(undefined, 'OK'), undefined, 'no body: any answer but one saying syncing');
  t.equal(healthAnswerFailure(undefined, '{"syncing":true}')?.code, 'HEALTH_CHECK_SYNCING');
  t.equal(healthAnswerFailure('{"subscribe":"sync"}', '{"error":{"code":1}}'), undefined, 'a body that is no call: an error field is not read');
});
