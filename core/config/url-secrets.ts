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
 * A percent-encoded part of a URL (its user, password or path), decoded. The error names the part (`what`),
 * never its text: it is a password, or beside one.
 */
export function decodeUrlPart(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new Error(`bad percent-encoding in ${what} (a % must start %XX, hexadecimal; write % itself as %25)`);
  }
}

/** An HTTP basic `Authorization` value. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * A URL's own user and password as an HTTP basic `Authorization` value, percent-decoded (as curl, Go's
 * http.Client and the ws library send them), or undefined when it has none. `validate` refuses a part that
 * cannot be decoded in a configured URL; one given elsewhere (a command's argument) is sent as written.
 */
export function urlBasicAuthorization(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  const lenient = (part: string) => {
    try {
      return decodeUrlPart(part, 'a URL');
    } catch {
      return part;
    }
  };
  return basicAuthorization(lenient(url.username), lenient(url.password));
}
