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
