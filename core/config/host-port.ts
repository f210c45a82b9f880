export interface HostPort {
  host: string;
  port: number;
}

/**
 * `":8080"` → all interfaces (0.0.0.0), `"127.0.0.1:8080"`, `"[::1]:8080"`.
 * Port 0 asks the OS for a free port (tests use it).
 */
export function parseHostPort(address: string): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):([0-9]{1,5})$/.exec(address);
  if (!m) throw new Error(`must be host:port, got ${JSON.stringify(address)}`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`port ${port} is out of range (0-65535)`);
  const host = m[1] === '' ? '0.0.0.0' : m[1]!.replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}
