import t from 'tap';
import { BACKEND_ERROR_CODES, BackendError, rejectionOf, RelayRejection } from 'relayminer';

t.test('every backend failure maps to the rejection and status a gateway understands', async (t) => {
  const want = {
    BACKEND_UNAVAILABLE: ['no_healthy_backend', 503],
    BACKEND_REQUEST_INVALID: ['malformed_payload', 400],
    BACKEND_TIMEOUT: ['backend_timeout', 504],
    BACKEND_FAILED: ['backend_error', 502],
    BACKEND_RESPONSE_TOO_LARGE: ['backend_error', 502],
    BACKEND_RESPONSE_UNDECODABLE: ['backend_error', 502],
  } as const;
  t.same(Object.keys(want).sort(), Object.keys(BACKEND_ERROR_CODES).sort(), 'every code is covered');
  for (const [code, [reason, status]] of Object.entries(want) as [keyof typeof want, (typeof want)[keyof typeof want]][]) {
    const r = rejectionOf(new BackendError(code, 'the detail'))!;
    t.same([r.reason, r.httpStatus, r.message.endsWith(': the detail')], [reason, status, true], code);
  }
  const own = new RelayRejection('client_gone');
  t.equal(rejectionOf(own), own, 'a relay rejection is itself');
  t.equal(rejectionOf(new Error('boom')), undefined, 'anything else is no rejection (an internal error)');
  t.equal(rejectionOf(new BackendError('BACKEND_TIMEOUT'))!.message.endsWith(BACKEND_ERROR_CODES.BACKEND_TIMEOUT), true, 'no detail: the code says it');
});
