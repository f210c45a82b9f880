import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The devnet's stand-in for an operator's node: a tiny Ethereum-style JSON-RPC server (answers
 * eth_blockNumber and eth_chainId; anything else gets a JSON-RPC "method not found") that also
 * answers REST `GET /v1/height`. It exists so
 * `npm start` has something real behind the relayer; it is not a blockchain.
 */
export interface DemoBackend {
  url: string;
  close(): Promise<void>;
}

export async function startDemoBackend(address: { host: string; port: number }, height: () => number): Promise<DemoBackend> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1 << 20) chunks.push(c);
    });
    req.on('end', () => {
      // REST: GET /v1/height (the devnet's REST service); any other GET is a 404 in JSON.
      if (req.method === 'GET') {
        const found = req.url?.split('?')[0] === '/v1/height';
        res.writeHead(found ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(found ? { height: height() } : { error: `no route ${req.url}` }));
        return;
      }
      let id: unknown = null;
      let result: unknown;
      let error: { code: number; message: string } | undefined;
      try {
        const call = JSON.parse(Buffer.concat(chunks).toString()) as { id?: unknown; method?: string };
        id = call.id ?? null;
        if (call.method === 'eth_blockNumber') result = `0x${height().toString(16)}`;
        else if (call.method === 'eth_chainId') result = '0x7a69';
        else error = { code: -32601, message: `method ${String(call.method)} not found` };
      } catch {
        error = { code: -32700, message: 'parse error' };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(error ? { jsonrpc: '2.0', id, error } : { jsonrpc: '2.0', id, result }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${address.host}:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
