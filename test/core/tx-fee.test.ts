import t from 'tap';
import { feeFor } from '../../core/chain/tx-client.js';

t.test('fees are gas × price in exact decimals, rounded up, at least 1', async (t) => {
  t.same(await feeFor('0.07upokt', 100), { denom: 'upokt', amount: 7n }, '0.07 × 100 is 7 (floating point gives 7.000000000000001 → 8)');
  t.same(await feeFor('0.000001upokt', 1_700_000), { denom: 'upokt', amount: 2n }, '1.7 rounds up to 2');
  t.same(await feeFor('0.0000015upokt', 1_000_000), { denom: 'upokt', amount: 2n }, '1.5 rounds up to 2');
  t.same(await feeFor('0.000001upokt', 3_000_000), { denom: 'upokt', amount: 3n }, 'a whole amount is not rounded');
  t.same(await feeFor('0upokt', 500_000), { denom: 'upokt', amount: 1n }, 'a free gas price still pays 1');
  t.same(await feeFor('25upokt', 2 ** 40), { denom: 'upokt', amount: 25n * 2n ** 40n }, 'amounts past 2^53 stay exact');
});

t.test('a gas price cosmjs cannot read is an error naming it', async (t) => {
  await t.rejects(feeFor('upokt', 1), /upokt/);
});
