/**
 * The path and query a relay asks its backend for, from POKTHTTPRequest.url: an absolute URL gives its
 * path and query; anything else is a path (a leading `//` included: it never names another host, as it
 * would for a browser). Dot segments are resolved, so `/../` cannot climb above the backend's own path, and
 * runs of slashes are one: gateways joining a staked URL that ends in `/` with a path send `//`, which Go's
 * HTTP muxes (Cosmos REST's among them) answer with a redirect (the Go HA relay miner cleans the path for the
 * same reason), and what nginx merges a transport's path checks must see merged too.
 * Undefined when it does not parse.
 */
export function relayPath(relayUrl: string): { pathname: string; search: string } | undefined {
  if (!relayUrl) return { pathname: '/', search: '' };
  let u: URL;
  try {
    u = /^[a-z][a-z0-9+.-]*:/i.test(relayUrl) ? new URL(relayUrl) : new URL(`http://relay.invalid${relayUrl.startsWith('/') ? '' : '/'}${relayUrl}`);
  } catch {
    return undefined;
  }
  return { pathname: u.pathname.replace(/\/{2,}/g, '/'), search: u.search };
}

/**
 * Whether the path climbs above the backend's own path once a server decodes it: `/..%2Fother` is one segment
 * to us (WHATWG resolves `%2e%2e` segments but never splits at `%2F`) and `/../other` to nginx, which decodes a
 * path before it resolves it, so behind `location /eth/ { proxy_pass …; }` a relay would reach the proxy's other
 * locations (`/eth/..%2Finternal/` is `/internal/`). Decoded again while it changes (each proxy of a chain
 * decodes once); a segment's `;` parameters are dropped, as Tomcat drops them (`..;`).
 */
export function climbsWhenDecoded(pathname: string): boolean {
  let path = pathname;
  for (let round = 0; round < 4; round++) {
    if (climbs(path)) return true;
    const decoded = path.replace(/%(2e|2f|5c|25)/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (decoded === path) return false;
    path = decoded;
  }
  return true; // still changing after four rounds: nothing a client means
}

/** Whether `..` segments (`/` or `\` between them) take the path above where it starts. */
function climbs(path: string): boolean {
  if (!path.includes('..')) return false;
  let depth = 0;
  for (const part of path.split(/[/\\]/)) {
    const segment = part.split(';', 1)[0];
    if (segment === '..') {
      if (--depth < 0) return true;
    } else if (segment !== '' && segment !== '.') depth++;
  }
  return false;
}
