import t from 'tap';
import { loadVector } from '../helpers/vectors.js';
import { BoundedLabels, deniedCalls, isHttpAnswer, jsonAnswer, jsonRpcCalls, jsonRpcError, jsonRpcRefusal, namePatterns, notificationsAnswer, onlyNotifications, requestPath, requestRoute, withHeaderDefault } from '../../core/relay/http-protocol.js';

const calls = (s: string) => jsonRpcCalls(Buffer.from(s));

t.test('jsonRpcCalls reads one call or a batch, and nothing from a body that is not JSON-RPC', async (t) => {
  t.same(calls(' \n{"jsonrpc":"2.0","id":3,"method":"eth_call","params":[]}'), { batch: false, calls: [{ id: 3, method: 'eth_call' }] });
  t.same(calls('[{"id":"a","method":"m1"},{"method":"m2"},{"id":null}]'), { batch: true, calls: [{ id: 'a', method: 'm1' }, { id: undefined, method: 'm2' }, { id: null, method: undefined }] });
  t.same(calls('[]'), { batch: true, calls: [] }, 'an empty batch is a batch (the backend answers it)');
  t.same(calls('[{"id":1,"method":"admin_addPeer"},7]'), { batch: true, calls: [{ id: 1, method: 'admin_addPeer' }, { id: null, method: undefined }] }, 'an element that is not an object does not hide the batch\'s other calls');
  for (const body of ['', 'GET /status', '"eth_call"', '{"id":1}', '{"method":7}', '7', '{"method":"x"', '{"method":"x"]', '{"method":"x} y']) t.equal(calls(body), undefined, JSON.stringify(body));
  t.same(calls('{"id":1,"method":"admin_peers"} {"id":2,"method":"eth_call"}'), { batch: false, calls: [{ id: 1, method: 'admin_peers' }] }, 'the first value of a body, as geth reads it; what follows is never read');
  t.same(calls('[{"id":1,"method":"m\\"]}"}]]'), { batch: true, calls: [{ id: 1, method: 'm"]}' }] }, 'brackets and escaped quotes in strings do not end the value');
  t.equal(jsonRpcCalls(undefined), undefined);
});

t.test("every method Go's encoding/json reads from a body, as geth and CometBFT read it, is one of the call's names", async (t) => {
  const { vectors } = loadVector<{ vectors: { body: string; geth: string[]; cometbft: string[] | null }[] }>('jsonrpc/go-methods.json');
  t.equal(vectors.length, 34);
  let checked = 0;
  for (const v of vectors) {
    const read = calls(v.body)?.calls ?? [];
    for (const goMethods of [v.geth, v.cometbft ?? []]) {
      goMethods.forEach((m, i) => {
        if (m === '') return; // not a call of any method to Go either
        t.ok(read[i]?.method === m || read[i]?.aliases?.includes(m), `${v.body}: call ${i} names ${m}`);
        checked++;
      });
    }
  }
  t.equal(checked, 61, 'the methods Go reads, in both servers, across the vectors');
  t.same(calls('{"id":1,"method":"eth_call","Method":"admin_addPeer","METHOD":"admin_addPeer"}'), { batch: false, calls: [{ id: 1, method: 'eth_call', aliases: ['admin_addPeer'] }] }, 'each other name once');
  t.equal(calls('{"id":1,"méthod":"admin_addPeer","methods":"admin_addPeer"}'), undefined, 'keys Go does not take for method are not read as one');
});

t.test('a call is a notification where geth takes it for one: no id under any spelling of the key, and a method', async (t) => {
  const { vectors } = loadVector<{ vectors: { body: string; geth_ids: string[]; geth_notifications: boolean[] }[] }>('jsonrpc/go-methods.json');
  let notifications = 0;
  let calls_ = 0;
  let ids = 0;
  for (const v of vectors) {
    const read = calls(v.body)?.calls ?? [];
    v.geth_notifications.forEach((isNotification, i) => {
      const c = read[i];
      t.equal(c !== undefined && c.id === undefined && !!c.method, isNotification, `${v.body}: call ${i} ${isNotification ? 'is' : 'is not'} a notification`);
      if (isNotification) notifications++;
      else calls_++;
      const gethId = v.geth_ids[i]!;
      if (gethId === '' || c === undefined || c.method === undefined) return; // no id, or a message read as no call here
      t.equal(JSON.stringify(c.id), gethId, `${v.body}: call ${i} has geth's id ${gethId}`);
      ids++;
    });
  }
  t.same([notifications, calls_, ids], [6, 34, 28], 'the notifications, other messages and ids geth reads across the vectors');
  const only = (s: string) => onlyNotifications(calls(s)!);
  t.equal(only('{"method":"debug_traceBlockByNumber"}'), true, 'one');
  t.equal(only('[{"method":"eth_getLogs"},{"method":"eth_call"}]'), true, 'a batch of them');
  t.equal(only('[{"method":"eth_getLogs"},{"id":1,"method":"eth_call"}]'), false, 'a batch with a call: the node answers it');
  t.equal(only('[{"method":"eth_getLogs"},7]'), false, 'a batch with an invalid element: the node answers it');
  t.equal(only('[]'), false, 'an empty batch: the node answers it');
  t.equal(only('{"ID":1,"method":"eth_call"}'), false, 'an id spelled another way');
  t.same(calls('{"ID":1,"method":"eth_call"}'), { batch: false, calls: [{ id: 1, method: 'eth_call' }] }, 'read as the id');
  t.same(JSON.parse(Buffer.from(notificationsAnswer().body).toString()), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'notifications are not served: a call without an id gets no answer, and a relay is paid for by its answer' } });
});

t.test('deniedCalls names what it refuses: the method, else the first alias a pattern matches', async (t) => {
  const denied = namePatterns(['admin_*']);
  const [plain, aliased, allowed] = calls('[{"id":1,"method":"admin_peers"},{"id":2,"method":"eth_call","aliases_":0,"Method":"admin_addPeer"},{"id":3,"method":"eth_call","METHOD":"eth_chainId"}]')!.calls;
  t.same([...deniedCalls([plain!, aliased!, allowed!], denied)], [[plain, 'admin_peers'], [aliased, 'admin_addPeer']]);
});

t.test('jsonRpcError keeps the id as sent and writes data only when given', async (t) => {
  t.same(jsonRpcError('x', -32601, 'Method not found'), { jsonrpc: '2.0', id: 'x', error: { code: -32601, message: 'Method not found' } });
  t.same(jsonRpcError(undefined, -32600, 'bad', { why: 1 }), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'bad', data: { why: 1 } } });
});

t.test('namePatterns: exact names and prefixes ending in *, case-sensitive', async (t) => {
  const denied = namePatterns(['admin_*', 'dial_seeds', '/admin/*']);
  t.same(['admin_addPeer', 'admin_', 'dial_seeds', '/admin/x'].map(denied), [true, true, true, true]);
  t.same(['Admin_addPeer', 'dial_seeds2', 'eth_call', 'xadmin_', '/admin'].map(denied), [false, false, false, false, false]);
  t.equal(namePatterns([])('anything'), false);
  t.equal(namePatterns(['*'])('anything'), true, 'a lone * matches every name');
});

t.test('BoundedLabels keeps the first names, then counts the rest as other', async (t) => {
  const labels = new BoundedLabels(2);
  t.same(['a', 'b', 'c', 'a', 'b', 'c', 'x'.repeat(65)].map((v) => labels.label(v)), ['a', 'b', 'other', 'a', 'b', 'other', 'other']);
  const roomy = new BoundedLabels(5);
  t.equal(roomy.label('y'.repeat(65)), 'other', 'a name past 64 characters is never a label');
  t.equal(roomy.label('z'), 'z');
});

t.test('isHttpAnswer tells an answer from a request', async (t) => {
  t.equal(isHttpAnswer({ status: 403, headers: {}, body: new Uint8Array() }), true);
  t.equal(isHttpAnswer({ method: 'GET', url: '/', headers: {} }), false);
});

t.test('jsonAnswer and withHeaderDefault', async (t) => {
  const a = jsonAnswer({ error: 'x' }, 403);
  t.same([a.status, a.headers, Buffer.from(a.body).toString()], [403, { 'content-type': 'application/json' }, '{"error":"x"}']);
  t.equal(jsonAnswer([]).status, 200);
  const bare = { method: 'POST', url: '/', headers: { accept: ['*/*'] } };
  t.same(withHeaderDefault(bare, 'Content-Type', 'application/json').headers, { accept: ['*/*'], 'content-type': 'application/json' });
  t.same(bare.headers, { accept: ['*/*'] }, 'the request it was given is unchanged');
  const typed = { method: 'POST', url: '/', headers: { 'Content-Type': ['text/plain'] } };
  t.equal(withHeaderDefault(typed, 'content-type', 'application/json'), typed, 'a header present in any case is kept');
});

t.test('jsonRpcRefusal answers every call with an id, an array for a batch', async (t) => {
  const body = (a: { body: Uint8Array }) => JSON.parse(Buffer.from(a.body).toString()) as unknown;
  const error = (c: { id: unknown; method: string | undefined }, denied: boolean) => jsonRpcError(c.id, denied ? -32601 : -32600, denied ? `no ${c.method}` : 'held back');
  const batch = calls('[{"id":1,"method":"ok"},{"id":2,"method":"bad"},{"method":"bad"}]')!;
  t.same(body(jsonRpcRefusal(batch, new Set([batch.calls[1]!, batch.calls[2]!]), error)), [
    { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'held back' } },
    { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'no bad' } },
  ], 'the notification gets no answer');
  const one = calls('{"method":"bad"}')!;
  t.same(body(jsonRpcRefusal(one, new Set(one.calls), error)), { jsonrpc: '2.0', id: null, error: { code: -32601, message: 'no bad' } }, 'a lone notification still gets its error, id null');
});

t.test('requestRoute is a one-segment path, decoded; nothing for / or several segments', async (t) => {
  const route = (url: string) => requestRoute({ method: 'GET', url, headers: {} });
  t.same(['/dial_seeds?seeds=x', '/status/', '/dial%5Fpeers', '//unsafe_flush_mempool', '/a/..%2Fdial_seeds', '', '/', '/cosmos/bank', '/?x=1'].map(route), ['dial_seeds', 'status', 'dial_peers', 'unsafe_flush_mempool', 'dial_seeds', undefined, undefined, undefined, undefined]);
});

t.test('requestPath is the path as a backend router decodes it', async (t) => {
  const path = (url: string) => requestPath({ method: 'GET', url, headers: {} });
  t.same(['/dial%5Fseeds?x=1', 'http://h.example/a/%2E%2E/b', '/v1/../admin', '', '/bad%zz'].map(path), ['/dial_seeds', '/b', '/admin', '/', '/bad%zz']);
  t.same(['/a/..%2Fadmin', '/a/%2e%2e%2Fdial_seeds', '/x/.%2Fy/..%2F', '/..%2F..%2Fadmin', '/a..b/c.'].map(path), ['/admin', '/dial_seeds', '/x/', '/admin', '/a..b/c.'], 'dot segments an encoded slash makes are resolved, as nginx resolves them, never above /');
});
