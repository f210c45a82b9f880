// RFC 9110 §5.6.2 token: what a method and a field name must be.
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.5: a field value never carries CR, LF or NUL.
export const BAD_FIELD_VALUE = /[\r\n\0]/;

/**
 * Header fields that describe one connection or one message's framing (RFC 9110 §7.6.1, §8.6, §6.1; RFC 9113
 * §8.2.2), which the client sets for each request: undici refuses them in a request's headers, HTTP/2 forbids
 * the connection-specific ones, and a fixed Content-Length would misframe every body.
 */
export const PER_REQUEST_FIELDS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'content-length', 'expect']);
