import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RelayRequest, RelayRequestCodec } from 'relayminer';

/** What the upgrade request says about the bridge (docs/spec/wire.md §4.1). */
export interface Handshake {
  serviceId: string | undefined;
  supplierAddress: string | undefined;
  /** Present only on real bridges; PATH's health probes are unsigned. */
  signedRequest: Uint8Array | undefined;
  /** Why the signed header set is unusable, when a signature is present. */
  problem: string | undefined;
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s ? s : undefined;
};

export function readHandshake(req: IncomingMessage): Handshake {
  const serviceId = header(req, 'target-service-id') ?? header(req, 'pocket-service-id');
  const supplierAddress = header(req, 'pocket-supplier-address');
  const signature = header(req, 'pocket-signature');
  if (!signature) return { serviceId, supplierAddress, signedRequest: undefined, problem: undefined };
  const app = header(req, 'app-address') ?? header(req, 'pocket-app-address');
  const sessionId = header(req, 'pocket-session-id');
  const start = header(req, 'pocket-session-start-height');
  const end = header(req, 'pocket-session-end-height');
  const missing = Object.entries({ 'App-Address': app, 'Pocket-Session-Id': sessionId, 'Pocket-Session-Start-Height': start, 'Pocket-Session-End-Height': end, 'Pocket-Supplier-Address': supplierAddress })
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  if (missing.length) return { serviceId, supplierAddress, signedRequest: undefined, problem: `Pocket-Signature without ${missing.join(', ')}` };
  if (!/^\d{1,19}$/.test(start!) || !/^\d{1,19}$/.test(end!)) return { serviceId, supplierAddress, signedRequest: undefined, problem: 'session heights must be decimal' };
  // PATH signs RelayRequest{meta{session_header, supplier}, payload: nil} (docs/spec/wire.md §4.1).
  const request: RelayRequest = {
    meta: {
      session_header: {
        application_address: app!,
        service_id: serviceId ?? '',
        session_id: sessionId!,
        session_start_block_height: BigInt(start!),
        session_end_block_height: BigInt(end!),
      },
      signature: Buffer.from(signature, 'base64'),
      supplier_operator_address: supplierAddress!,
    },
    payload: new Uint8Array(0),
  };
  return { serviceId, supplierAddress, signedRequest: RelayRequestCodec.encode(request), problem: undefined };
}

/** Refuses an upgrade with a plain HTTP answer and a JSON error, as the Go HA miner does. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  const reason = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' }[status] ?? 'Error';
  if (!socket.writable) return void socket.destroy();
  const head = `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  socket.end(head + body, () => socket.destroy());
}
