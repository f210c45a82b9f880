/**
 * `text` with the secrets a URL may carry masked wherever one appears in it: a user's password
 * (`scheme://user:***@`) and a password in the query (`sentinel_password=***`). For log lines and for
 * configuration problems, which operators paste into tickets.
 */
export function maskUrlSecrets(text: string): string {
  return text.replace(USERINFO_PASSWORD, '$1***@').replace(QUERY_PASSWORD, '$1***');
}

// `scheme://user:password@`: the password part (a user without `:`, so a password holding one is masked whole).
const USERINFO_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:)[^@/\s]*@/gi;
// `?sentinel_password=…`, `&password=…`: the value.
const QUERY_PASSWORD = /([?&][^=&#\s]*password=)[^&#\s]*/gi;

/**
 * A URL's own user and password as an HTTP basic `Authorization` value, percent-decoded (as curl, Go's
 * http.Client and the ws library send them), or undefined when it has none. A part that cannot be decoded is
 * sent as written (`validate` refuses such backend URLs first).
 */
export function urlBasicAuthorization(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  return `Basic ${Buffer.from(`${decoded(url.username)}:${decoded(url.password)}`).toString('base64')}`;
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
