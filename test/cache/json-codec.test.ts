import t from 'tap';
import { decodeCacheValue, encodeCacheValue } from '../../core/cache/json-codec.js';

t.test('chain values survive the Redis round trip exactly', async (t) => {
  const value = {
    height: 18446744073709551615n,
    hash: Buffer.from('00ff10', 'hex'),
    key: Uint8Array.from([2, 3]),
    undelegations: new Map([[20n, ['pokt1a', 'pokt1b']]]),
    nested: [{ n: -5n }],
  };
  const text = encodeCacheValue(value);
  t.equal(text, '{"height":{"$bigint":"18446744073709551615"},"hash":{"$bytes":"AP8Q"},"key":{"$bytes":"AgM="},"undelegations":{"$map":[[{"$bigint":"20"},["pokt1a","pokt1b"]]]},"nested":[{"n":{"$bigint":"-5"}}]}');
  const back = decodeCacheValue<typeof value>(text);
  t.equal(back.height, 18446744073709551615n);
  t.same([...back.hash], [0, 255, 16]);
  t.ok(back.key instanceof Uint8Array);
  t.same([...back.undelegations], [[20n, ['pokt1a', 'pokt1b']]]);
  t.equal(back.nested[0]!.n, -5n);
  t.equal(decodeCacheValue(encodeCacheValue(undefined)), undefined, 'an account without a public key');
});
