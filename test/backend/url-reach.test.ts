import t from 'tap';
import { HealthCheckFailure, UrlReach, type HealthChange } from 'relayminer';
import { until } from '../helpers/until.js';

const [A, B] = ['ws://node-a:8546/key', 'ws://node-b:8546/key'];

/** A probe that answers from a script: each URL's rounds in order (true: the connection opened), then its last. */
function scripted(script: Record<string, boolean[]>) {
  const rounds = new Map<string, number>();
  const probe = async (url: string) => {
    const n = rounds.get(url) ?? 0;
    rounds.set(url, n + 1);
    const s = script[url]!;
    if (!s[Math.min(n, s.length - 1)]) throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.2:8546'), { code: 'ECONNREFUSED' });
  };
  return { probe, rounds: (url: string) => rounds.get(url) ?? 0 };
}

t.test('active probes: every URL on a timer, out after unhealthy_threshold failures in a row and back after healthy_threshold successes', async (t) => {
  // B: up, one failure (not enough), up, then three failures (out at the second), then up again (back at the second).
  const s = scripted({ [A]: [true], [B]: [true, false, true, false, false, false, true, true, true] });
  const changes: HealthChange[] = [];
  const healthAtRound: number[] = [];
  const reach = new UrlReach([A, B], {
    probe: async (url) => {
      if (url === B) healthAtRound.push(reach.health.healthy);
      return s.probe(url);
    },
    active: { intervalMs: 10, unhealthyThreshold: 2, healthyThreshold: 2 },
    onChange: (c) => changes.push(c),
  });
  t.teardown(() => reach.close());
  t.same(reach.health, { healthy: 2, total: 2 }, 'URLs start in rotation');
  reach.start();
  await until('nine rounds of B', () => s.rounds(B) >= 9 && healthAtRound.length >= 9, 5000);
  // healthAtRound[i] is the count before round i's result: B out after round 5 (failures 4 and 5), back after round 8 (successes 7 and 8).
  t.same(healthAtRound.slice(0, 9), [2, 2, 2, 2, 2, 1, 1, 1, 2], 'one failure between successes leaves B in; two in a row take it out; one success does not bring it back, two do');
  await until('B back', () => reach.health.healthy === 2, 5000);
  t.same(
    changes.map((c) => [c.url, c.up, c.reason]),
    [
      ['ws://node-b:8546/…', false, 'connection refused (ECONNREFUSED)'],
      ['ws://node-b:8546/…', true, 'answers again'],
    ],
    'said once each way, the URL without its path, the reason without the address',
  );
  t.ok(s.rounds(A) >= 9, 'a URL that never failed is probed all the same');
});

t.test('with active probes a connection that fails takes its URL out at once, and one that opens brings it back at once', async (t) => {
  const s = scripted({ [A]: [true], [B]: [true] });
  const reach = new UrlReach([A, B], { probe: s.probe, active: { intervalMs: 60_000, unhealthyThreshold: 3, healthyThreshold: 3 } });
  t.teardown(() => reach.close());
  reach.start();
  reach.failed(A, new Error('connect ECONNREFUSED'));
  t.same([reach.health, reach.ordered], [{ healthy: 1, total: 2 }, [B, A]], 'out without waiting for three probes, and tried last');
  reach.answered(A);
  t.same([reach.health, reach.ordered], [{ healthy: 2, total: 2 }, [A, B]], "a relay's connection that opened is proof enough");
});

t.test('close stops the probes; without active probes only URLs that failed are probed', async (t) => {
  const s = scripted({ [A]: [false, false, true], [B]: [true] });
  const reach = new UrlReach([A, B], { probe: s.probe, intervalMs: 10 });
  reach.start();
  await new Promise((r) => setTimeout(r, 50));
  t.same([s.rounds(A), s.rounds(B)], [0, 0], 'nothing probed while nothing failed');
  reach.failed(A, new Error('connect ECONNREFUSED'));
  await until('A back', () => reach.health.healthy === 2, 5000);
  t.same([s.rounds(A), s.rounds(B)], [3, 0], 'A probed until it answered, B never');

  const active = scripted({ [A]: [true], [B]: [true] });
  const probing = new UrlReach([A, B], { probe: active.probe, active: { intervalMs: 10, unhealthyThreshold: 1, healthyThreshold: 1 } });
  probing.start();
  await until('a round', () => active.rounds(A) >= 1, 5000);
  probing.close();
  const after = active.rounds(A);
  await new Promise((r) => setTimeout(r, 80));
  t.ok(active.rounds(A) <= after + 1, `no rounds after close (${after} then ${active.rounds(A)}; one may have been in flight)`);
});

t.test('probedOut: every URL out by its active probes, not by a failed connection; an answer ends it', async (t) => {
  const s = scripted({ [A]: [false], [B]: [false] });
  const reach = new UrlReach([A, B], { probe: s.probe, active: { intervalMs: 10, unhealthyThreshold: 2, healthyThreshold: 2 } });
  t.teardown(() => reach.close());
  reach.failed(A, new Error('connect ECONNREFUSED'));
  reach.failed(B, new Error('connect ECONNREFUSED'));
  t.same([reach.health.healthy, reach.probedOut], [0, false], 'both out by a failed connection each: calls still try them');
  reach.start();
  await until('both out by their probes', () => reach.probedOut, 5000);
  t.ok(s.rounds(A) >= 2 && s.rounds(B) >= 2, `two failed probes each at least (${s.rounds(A)}, ${s.rounds(B)})`);
  reach.answered(B);
  t.same([reach.health.healthy, reach.probedOut], [1, false], "a relay's connection that opened ends it");
});

t.test("a backend's health_check as the active option, and how long one probe may take", async (t) => {
  const hc = { path: '/', method: 'GET' as const, expected_status: [], interval_ms: 750, timeout_ms: 300, unhealthy_threshold: 4, healthy_threshold: 2 };
  t.same(UrlReach.activeProbes({ health_check: hc }), { intervalMs: 750, unhealthyThreshold: 4, healthyThreshold: 2 });
  t.equal(UrlReach.activeProbes({ health_check: undefined }), undefined, 'none without a health check');
  t.equal(UrlReach.probeWaitMs({ health_check: hc, timeout_ms: 30_000 }), 300, "the health check's timeout_ms");
  t.equal(UrlReach.probeWaitMs({ health_check: undefined, timeout_ms: 30_000 }), 5000, 'else the connect wait: half of timeout_ms, at most 5 s');
  t.equal(UrlReach.probeWaitMs({ health_check: undefined, timeout_ms: 4000 }), 2000);
});

t.test("a probe that connected and failed its check is said as a health check's failure, one that could not connect is not", async (t) => {
  const changes: HealthChange[] = [];
  const reach = new UrlReach([A, B], {
    probe: async (url) => {
      if (url === A) throw new HealthCheckFailure('HEALTH_CHECK_SYNCING', 'the node answered that it is still syncing');
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.3:8546'), { code: 'ECONNREFUSED' });
    },
    active: { intervalMs: 10, unhealthyThreshold: 1, healthyThreshold: 1 },
    onChange: (c) => changes.push(c),
  });
  t.teardown(() => reach.close());
  reach.start();
  await until('both out', () => changes.length === 2, 5000);
  t.same(
    changes.map((c) => [c.url, c.reason, c.healthCheck]).sort(),
    [
      ['ws://node-a:8546/…', 'health check answered still syncing (HEALTH_CHECK_SYNCING)', true],
      ['ws://node-b:8546/…', 'connection refused (ECONNREFUSED)', undefined],
    ],
  );
});
