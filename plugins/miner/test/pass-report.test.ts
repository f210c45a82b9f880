import t from 'tap';
import { captureLogs } from '../../../test/helpers/logs.js';
import { PassReport } from '../pass-report.js';

const supplier = (i: number) => `pokt1supplier${i}`;

t.test('a pass where many suppliers fail alike is one line per error, the recoveries one more', async (t) => {
  const logs = captureLogs();
  const report = new PassReport();
  for (let i = 0; i < 7; i++) report.failed(supplier(i), 'Command timed out');
  report.failed(supplier(7), 'insufficient funds');
  for (let i = 8; i < 10; i++) report.recovered(supplier(i));
  report.log(logs.logger, 42);
  t.same(
    logs.lines.map(({ level, msg, height, err, suppliers, first, supplier }) => ({ level, msg, height, err, suppliers, first, supplier })),
    [
      { level: 50, msg: 'session lifecycle pass failed', height: 42, err: 'Command timed out', suppliers: 7, first: [0, 1, 2, 3, 4].map(supplier), supplier: undefined },
      { level: 50, msg: 'session lifecycle pass failed', height: 42, err: 'insufficient funds', suppliers: undefined, first: undefined, supplier: supplier(7) },
      { level: 30, msg: 'session lifecycle pass works again', height: 42, err: undefined, suppliers: 2, first: [supplier(8), supplier(9)], supplier: undefined },
    ],
  );
});

t.test('a pass where nothing changed says nothing', async (t) => {
  const logs = captureLogs();
  new PassReport().log(logs.logger, 43);
  t.same(logs.lines, []);
});

t.test("what the passes did is said with the block's others: a line each for a few, one line for many, each at debug", async (t) => {
  const logs = captureLogs('debug');
  const report = new PassReport();
  for (let i = 0; i < 7; i++) report.said('claims broadcast', { supplier: supplier(i), end: '20', sessions: 1, txhash: `TX${i}` });
  for (let i = 0; i < 2; i++) report.said('proofs broadcast', { supplier: supplier(i), end: '20', sessions: 1, txhash: `PX${i}` });
  report.failed(supplier(9), 'insufficient funds');
  report.log(logs.logger, 44);
  t.same(
    logs.lines.filter((l) => Number(l.level) >= 30).map(({ level, msg, height, suppliers, first, supplier, txhash }) => ({ level, msg, height, suppliers, first, supplier, txhash })),
    [
      { level: 30, msg: 'claims broadcast: 7 suppliers', height: 44, suppliers: 7, first: [0, 1, 2, 3, 4].map(supplier), supplier: undefined, txhash: undefined },
      { level: 30, msg: 'proofs broadcast', height: 44, suppliers: undefined, first: undefined, supplier: supplier(0), txhash: 'PX0' },
      { level: 30, msg: 'proofs broadcast', height: 44, suppliers: undefined, first: undefined, supplier: supplier(1), txhash: 'PX1' },
      { level: 50, msg: 'session lifecycle pass failed', height: 44, suppliers: undefined, first: undefined, supplier: supplier(9), txhash: undefined },
    ],
  );
  t.same(
    logs.lines.filter((l) => l.level === 20).map((l) => [l.msg, l.supplier, l.txhash, l.height]),
    [0, 1, 2, 3, 4, 5, 6].map((i) => ['claims broadcast', supplier(i), `TX${i}`, 44]),
    "each supplier's claim at debug, with its transaction",
  );
});

t.test("sends the node refused: one error line per reason for many suppliers, with the reason; a line each for a few", async (t) => {
  const logs = captureLogs();
  const report = new PassReport();
  const fee = { code: 13, codespace: 'sdk', log: 'insufficient fee; got: 10upokt required: 20upokt' };
  for (let i = 0; i < 6; i++) report.refused('claim transaction refused by the node', fee, { supplier: supplier(i), end: '20' });
  report.refused('claim transaction refused by the node', { code: 20, codespace: 'sdk', log: 'mempool is full' }, { supplier: supplier(6), end: '20' });
  report.refused('proof transaction refused by the node', fee, { supplier: supplier(7), end: '10' });
  report.log(logs.logger, 45);
  t.same(
    logs.lines.map(({ level, msg, height, suppliers, first, supplier, code, log }) => ({ level, msg, height, suppliers, first, supplier, code, log })),
    [
      { level: 50, msg: 'claim transaction refused by the node: 6 suppliers', height: 45, suppliers: 6, first: [0, 1, 2, 3, 4].map(supplier), supplier: undefined, code: 13, log: fee.log },
      { level: 50, msg: 'claim transaction refused by the node', height: 45, suppliers: undefined, first: undefined, supplier: supplier(6), code: 20, log: 'mempool is full' },
      { level: 50, msg: 'proof transaction refused by the node', height: 45, suppliers: undefined, first: undefined, supplier: supplier(7), code: 13, log: fee.log },
    ],
  );
});

t.test('per-session lines are counted as sessions: a supplier may have several of a height', async (t) => {
  const logs = captureLogs();
  const report = new PassReport();
  for (let i = 0; i < 8; i++) report.said('session settled', { supplier: supplier(i % 6), session: `S${i}`, upokt: '42' }, 'sessions');
  report.log(logs.logger, 46);
  t.same(
    logs.lines.map(({ level, msg, height, suppliers, first }) => ({ level, msg, height, suppliers, first })),
    [{ level: 30, msg: 'session settled: 8 sessions', height: 46, suppliers: 6, first: [0, 1, 2, 3, 4].map(supplier) }],
    'eight sessions of six suppliers',
  );
});
