/** A check throws (or rejects) to say "not ready", with a message an operator can act on. */
export type ReadinessCheck = () => Promise<void> | void;

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface ReadinessReport {
  status: 'ready' | 'not_ready' | 'draining';
  checks: Record<string, CheckResult>;
}

/**
 * Readiness evaluated on every request: each check runs now, with a deadline, so `/ready` reflects
 * the present (Redis reachable now), not the last time someone looked.
 */
/** Readiness of one service (`/ready/<service>`): undefined for a service this process does not serve. */
export type ServiceReadiness = (service: string) => { ready: boolean; [detail: string]: unknown } | undefined;

export class Readiness {
  readonly #checks = new Map<string, { check: ReadinessCheck; timeoutMs: number }>();
  #draining = false;
  #service: ServiceReadiness | undefined;

  /** The relayer reports per service (its backends); other roles have no per-service view. */
  setServiceReadiness(fn: ServiceReadiness): void {
    this.#service = fn;
  }

  service(id: string): ReturnType<ServiceReadiness> {
    return this.#service?.(id);
  }

  add(name: string, check: ReadinessCheck, timeoutMs = 1000): void {
    if (this.#checks.has(name)) throw new Error(`readiness check "${name}" is already registered`);
    this.#checks.set(name, { check, timeoutMs });
  }

  /** From now on /ready answers 503 `draining`, whatever the checks say. */
  markDraining(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  async evaluate(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.#checks].map(async ([name, { check, timeoutMs }]) => [name, await runCheck(check, timeoutMs)] as const),
    );
    const checks = Object.fromEntries(entries);
    const ok = entries.every(([, r]) => r.ok);
    return { status: this.#draining ? 'draining' : ok ? 'ready' : 'not_ready', checks };
  }
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(check),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - start) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - start), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
