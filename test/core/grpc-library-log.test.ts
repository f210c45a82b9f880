import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { routeGrpcLibraryLog } from '../../core/observability/grpc-library-log.js';
import { StateSignals } from '../../core/observability/state-signals.js';
import { captureLogs } from '../helpers/logs.js';

t.test("grpc-js's messages reach the process's logger: a peer's header values never, other errors once a minute, nothing on stderr", async (t) => {
  const logs = captureLogs('debug');
  let now = 0;
  routeGrpcLibraryLog(logs.logger, new StateSignals(60_000, () => now));
  const stderr = t.capture(console, 'error');

  const md = grpc.Metadata.fromHttp2Headers({ 'x!y': 'token-abc123', v: 'caf\u00e9-token-def456', ok: 'kept' });
  t.same(md.get('ok'), ['kept'], 'the acceptable entries are kept');
  t.same(md.get('v'), [], 'the one grpc-js refuses is dropped, as before');
  t.notMatch(logs.text(), /token-abc123|token-def456/, 'no header value is logged');
  const dropped = logs.lines.filter((l) => l.component === 'grpc-js' && l.level === 20);
  t.same(dropped.map((l) => l.header), ['x!y', 'v'], 'each dropped entry named by its header, at debug');

  grpc.experimental.log(grpc.logVerbosity.ERROR, 'something failed');
  grpc.experimental.log(grpc.logVerbosity.ERROR, 'something failed again');
  now = 60_001;
  grpc.experimental.log(grpc.logVerbosity.ERROR, 'something failed a minute later');
  const warned = logs.lines.filter((l) => l.component === 'grpc-js' && l.level === 40).map((l) => l.msg);
  t.same(warned, ['something failed (grpc-js errors are logged at most once a minute)', 'something failed a minute later (grpc-js errors are logged at most once a minute)']);

  grpc.experimental.log(grpc.logVerbosity.ERROR, 'No address added out of total 1 resolved');
  t.equal(logs.lines.at(-1)!.level, 20, "a failed bind is at debug: the listener's own error says it");
  t.same(stderr(), [], 'nothing written to stderr');
});
