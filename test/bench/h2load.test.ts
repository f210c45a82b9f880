import t from 'tap';
import { parseH2load } from '../../bench/h2load.js';

// h2load (nghttp2 1.52.0) against the gRPC demo backend: -n 5 -c 1 -m 2 --log-file, as printed.
const SUMMARY = `starting benchmark...
spawning thread #0: 1 total client(s). 5 total requests
Application protocol: h2c
progress: 20% done
progress: 100% done

finished in 21.50ms, 232.58 req/s, 17.35KB/s
requests: 5 total, 5 started, 5 done, 5 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 5 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 382B (382) total, 115B (115) headers (space savings 83.45%), 80B (80) data
                     min         max         mean         sd        +/- sd
time for request:     1.11ms     15.82ms      7.49ms      7.58ms    60.00%
`;
const LOG = `1796389771809857\t200\t15731
1796389771809859\t200\t15817
1796389771825701\t200\t2369
1796389771825705\t200\t2415
1796389771828137\t200\t1106
`;

t.test('h2load: answered calls, failures, elapsed time and each call\'s latency', async (t) => {
  t.same(parseH2load(SUMMARY, LOG), { succeeded: 5, failed: 0, elapsedMs: 21.5, latencies: [1.106, 2.369, 2.415, 15.731, 15.817] });
});

t.test('h2load: a timed run in seconds; 3xx answers are not successes, failed already counts errors and 4xx/5xx', async (t) => {
  const timed = SUMMARY.replace('finished in 21.50ms', 'finished in 8.00s')
    .replace('5 total, 5 started, 5 done, 5 succeeded, 0 failed, 0 errored, 0 timeout', '40 total, 72 started, 40 done, 31 succeeded, 9 failed, 4 errored, 1 timeout')
    .replace('5 2xx, 0 3xx, 0 4xx, 0 5xx', '30 2xx, 1 3xx, 3 4xx, 2 5xx');
  const r = parseH2load(timed, '');
  t.same([r.succeeded, r.failed, r.elapsedMs, r.latencies], [30, 10, 8000, []]);
});

t.test('h2load: a refused connection is every request failed, not an empty run', async (t) => {
  const refused = `starting benchmark...
spawning thread #0: 1 total client(s). 5 total requests

finished in 822us, 0.00 req/s, 0B/s
requests: 5 total, 0 started, 0 done, 0 succeeded, 5 failed, 5 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
`;
  t.same(parseH2load(refused, ''), { succeeded: 0, failed: 5, elapsedMs: 0.822, latencies: [] });
});

t.test('h2load: output cut before its summary is an error', async (t) => {
  t.throws(() => parseH2load(SUMMARY.slice(0, SUMMARY.indexOf('requests:')), ''), /h2load printed no summary/);
});
