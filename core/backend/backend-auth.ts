import type { BackendConfig } from '../config/schema.js';

/**
 * The Authorization header a backend URL is called with: the backend's `auth` (bearer or basic), else the URL's
 * own user and password as basic auth, decoded, as curl, Go's http.Client and the ws library send them (a
 * node provider's URL often carries them). `validate` refuses a URL with a user beside `auth` or an
 * `authorization` header: one of them would be ignored.
 */
export function backendAuthorization(auth: BackendConfig['auth'], url?: string | URL): string | undefined {
  if (auth?.bearer_token) return `Bearer ${auth.bearer_token}`;
  if (auth?.username !== undefined) return basic(auth.username, auth.password ?? '');
  if (url === undefined) return undefined;
  const u = typeof url === 'string' ? new URL(url) : url;
  if (!u.username && !u.password) return undefined;
  return basic(decoded(u.username), decoded(u.password));
}

/** `validate` refuses a bad percent-encoding; a plugin's own URL is sent as written. */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
