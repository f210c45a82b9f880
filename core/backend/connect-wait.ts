/**
 * How long a connection to one of a backend's URLs may take to open before that URL counts as failed: at most 5 s,
 * and half the backend's `timeout_ms`, so a URL that takes no connections (a host gone, packets dropped) leaves the
 * other URLs the rest of the call's deadline.
 */
export function connectWaitMs(timeoutMs: number): number {
  return Math.min(5000, Math.max(1, Math.ceil(timeoutMs / 2)));
}
