import t from 'tap';
import { signedAhead } from '../../cli/relay-client.js';

t.test('relay --count: relays are signed ahead of sending, at most 1,000 held, each one once and in order', async (t) => {
  let signed = 0;
  const bodies = signedAhead(2500, () => ++signed);
  t.equal(bodies.ahead, 1000, 'the first 1,000 signed before the first send');
  t.equal(bodies.said, '1000 relay(s) signed, the other 1500 as they go');
  t.equal(signed, 1000);
  const taken: number[] = [];
  const signedAfter: number[] = [];
  for (let i = 0; i < 2500; i++) {
    taken.push(bodies.take(i));
    signedAfter.push(signed);
  }
  t.same(signedAfter, Array.from({ length: 2500 }, (_, i) => Math.min(2500, 1001 + i)), 'each one taken, one more signed while any are left');
  t.same(taken, Array.from({ length: 2500 }, (_, i) => i + 1), 'each relay sent is a signature of its own, in order');
  t.equal(signed, 2500, 'never more signed than sent');

  let few = 0;
  const small = signedAhead(3, () => ++few);
  t.equal(small.ahead, 3);
  t.equal(small.said, '3 relay(s) signed');
  t.same([small.take(0), small.take(1), small.take(2)], [1, 2, 3]);
  t.equal(few, 3);
});
