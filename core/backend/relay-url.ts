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
