import t from 'tap';
import { Redis } from 'ioredis';
import { KeyBuilder } from 'relayminer';
import { startRedis } from '../../../test/helpers/redis.js';
import { ADDR } from '../../../test/helpers/localnet-client.js';
import { SessionStore } from '../session-store.js';

const keys = new KeyBuilder('ha');
const S = ADDR.supplier1;
/** One send of one claim message. */
const send = (txhash: string) => ({ txhash, height: 22, firstHeight: 22, attempts: 1, sessions: ['s1'], messages: [{ typeUrl: '/pocket.proof.MsgCreateClaim', value: Uint8Array.of(1, 2, 3) }] });

t.test('a fenced-out owner writes neither claim nor proof fields, nor a submission record; the current owner does', async (t) => {
  const server = await startRedis(t);
  const redis = new Redis(server.port);
  t.teardown(() => redis.disconnect());
  const store = new SessionStore(keys, () => redis);
  const session = keys.minerSession(S, 's1');
  await redis.hset(session, 'state', 'active', 'count', 3);
  // The lease moved on: token 4 is current, 3 is the former owner's.
  await redis.set(keys.supplierLeaseFence(S), '4');

  t.equal(await store.transition(S, 's1', '3', 'active', 'claiming', { claimed_upokt: '999', root: 'aa' }), 'fenced');
  t.equal(await store.annotate(S, 's1', '3', { proof: 'required' }), 'fenced');
  t.equal(await store.recordSubmission(S, 'claim', 20n, '3', [send('OLD')]), 'fenced');
  t.same(await redis.hgetall(session), { state: 'active', count: '3' }, 'nothing of the former owner landed');
  t.equal(await redis.exists(keys.submission(S, 'claim', 20n)), 0);

  t.equal(await store.transition(S, 's1', '4', 'active', 'claiming', { claimed_upokt: '120', root: 'bb' }), 'moved');
  t.same(await redis.hgetall(session), { state: 'claiming', count: '3', claimed_upokt: '120', root: 'bb' }, 'state and claim fields in one step');
  t.equal(await store.annotate(S, 's1', '4', { proof: 'probabilistic' }), 'written');
  t.equal(await redis.hget(session, 'proof'), 'probabilistic');
  t.equal(await store.annotate(S, 's1', '4', {}, ['proof']), 'written', 'a decision undone');
  t.equal(await redis.hget(session, 'proof'), null);
  t.equal(await store.annotate(S, 'gone', '4', { proof: 'required' }), 'missing', 'no record is created by an annotation');
  t.equal(await redis.exists(keys.minerSession(S, 'gone')), 0);

  t.equal(await store.recordSubmission(S, 'claim', 20n, '4', [send('NEW')]), 'written');
  // The hash as every replica, and `relayminer redis submissions`, reads it.
  t.same(await redis.hgetall(keys.submission(S, 'claim', 20n)), {
    txhash: 'NEW',
    height: '22',
    first_height: '22',
    attempts: '1',
    timeout_ms: '',
    sessions: '["s1"]',
    messages: '[["/pocket.proof.MsgCreateClaim","AQID"]]',
    failure: '',
    earlier: '[]',
  });
  const ttl = await redis.ttl(keys.submission(S, 'claim', 20n));
  t.ok(ttl > 600_000 && ttl <= 7 * 24 * 3600, `a submission record lives as long as a session record (${ttl} s)`);

  t.equal(await store.transition(S, 's1', '4', 'claiming', 'claim_window_missed', { reason: 'window closed' }), 'moved');
  t.match(await redis.hgetall(session), { state: 'claim_window_missed', reason: 'window closed' }, 'a failure and its reason together');
});
