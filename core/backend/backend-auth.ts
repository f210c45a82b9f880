import type { BackendConfig } from '../config/schema.js';
import { basicAuthorization, urlBasicAuthorization } from '../config/url-secrets.js';

/**
 * The Authorization header a backend URL is called with: the backend's `auth` (bearer or basic), else the URL's
 * own user and password as basic auth (a node provider's URL often carries them). `validate` refuses a URL
 * with a user beside `auth` or an `authorization` header: one of them would be ignored.
 */
export function backendAuthorization(auth: BackendConfig['auth'], url?: string | URL): string | undefined {
  if (auth?.bearer_token) return `Bearer ${auth.bearer_token}`;
  if (auth?.username !== undefined) return basicAuthorization(auth.username, auth.password ?? '');
  if (url === undefined) return undefined;
  return urlBasicAuthorization(typeof url === 'string' ? new URL(url) : url);
}
