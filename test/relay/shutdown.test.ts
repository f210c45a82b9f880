import t from 'tap';
import { ADDR } from '../helpers/localnet-client.js';
import { gatewayRelay, postRelay, startRelayer } from '../helpers/relayer.js';
import { until } from '../helpers/until.js';

t.test('a relay still at its backend when the drain bound passes is aborted there: refunded, not mined, and the stop ends at the bound', async (t) => {
  // startRelayer sets drain_timeout_ms 2000; the backend would be waited for 30 s.
  const r = await startRelayer(t, { plugins: ['transport-jsonrpc'], services: (url) => `  anvil:\n    backends:\n      jsonrpc: { url: "${url}", timeout_ms: 30000 }` });
  const header = await r.header();
  const meter = r.keys.meter(ADDR.supplier1, header.session_id);
  r.backend.state.mode = 'slow';
  const inFlight = postRelay(r.url, gatewayRelay(header, { method: 'POST', url: '/', body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' })).then(
    (res) => res.status,
    () => 'connection cut',
  );
  await until('the relay at the backend', () => r.backend.calls.length === 1);
  t.not(await r.redis.get(meter), '0', 'charged when forwarded');
  const began = Date.now();
  await r.runtime.shutdown();
  const took = Date.now() - began;
  t.equal(await inFlight, 'connection cut', 'its client was cut at the bound');
  t.equal(await r.redis.get(meter), '0', 'the charge was refunded before Redis closed');
  t.equal((await r.stream()).length, 0, 'nothing mined');
  t.same(
    r.logs.lines.filter((l) => (l.level as number) >= 40 && String(l.msg).startsWith('shutdown:')).map((l) => l.msg),
    [],
    'the backend call did not hold the relayer’s cleanup, so nothing was cut under it',
  );
  t.ok(took < 2000 + 1900, `stopped ${took} ms after it began: at the 2 s bound, not after the backend's 30 s nor the graces past it`);
});
