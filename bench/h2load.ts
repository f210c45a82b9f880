import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * nghttp2's `h2load` (Debian: nghttp2-client) as a load generator for unary gRPC: a client in C that
 * costs the shared cores a small fraction of what a grpc-js client does, and that nobody on this project
 * wrote. It sends one body to one path with CONCURRENCY streams in flight on one connection and counts
 * HTTP statuses only: a gRPC error travels in the trailers of a 200, so callers check the outcome on the
 * server's side.
 */

const run = promisify(execFile);
const H2LOAD = process.env.H2LOAD ?? 'h2load';

export async function h2loadVersion(): Promise<string | undefined> {
  try {
    return (await run(H2LOAD, ['--version'])).stdout.trim();
  } catch {
    return undefined;
  }
}

export interface H2LoadResult {
  /** Requests answered whole, with a 2xx, within the measured time. */
  succeeded: number;
  /** Requests that failed, errored or timed out, or were answered with another status. */
  failed: number;
  elapsedMs: number;
  /** Each answered request's time, ascending, in ms. */
  latencies: number[];
}

export async function h2load(url: string, bodyFile: string, o: { seconds: number; inFlight: number; headers: Record<string, string> }): Promise<H2LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'relayminer-h2load-'));
  const log = join(dir, 'requests.tsv');
  try {
    const headers = Object.entries(o.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    const { stdout } = await run(H2LOAD, ['-D', String(o.seconds), '-t', '1', '-c', '1', '-m', String(o.inFlight), '-d', bodyFile, `--log-file=${log}`, ...headers, url], { maxBuffer: 1 << 20 });
    return parseH2load(stdout, readFileSync(log, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** h2load's summary (stdout) and its `--log-file` (per request: start in µs since the epoch, HTTP status, µs until the end of the answer). */
export function parseH2load(stdout: string, requestLog: string): H2LoadResult {
  const finished = /finished in ([0-9.]+)(us|ms|s),/.exec(stdout);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (!finished || !requests || !codes) throw new Error(`h2load printed no summary:\n${stdout}`);
  // h2load's `succeeded` includes 3xx answers; its `failed` includes errored and timed-out requests and
  // non-2xx/3xx answers.
  const [succeeded, failed] = [Number(requests[4]), Number(requests[5])];
  const redirected = Math.min(succeeded, Number(codes[2]));
  const latencies = requestLog
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(line.split('\t')[2]) / 1000)
    .sort((a, b) => a - b);
  return { succeeded: succeeded - redirected, failed: failed + redirected, elapsedMs: finished[2] === 'us' ? Number(finished[1]) / 1000 : Number(finished[1]) * (finished[2] === 's' ? 1000 : 1), latencies };
}
