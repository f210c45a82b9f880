import { readFileSync } from 'node:fs';

/** `pocket_node.tls`: always, never, or `auto` (TLS where the port says so: 443). */
export type NodeTls = boolean | 'auto';

export interface NodeEndpointConfig {
  rpc_url: string;
  grpc_address: string;
  tls: NodeTls;
  /** PEM bundle of the CA(s) to trust for the node, beyond the system's (and NODE_EXTRA_CA_CERTS). */
  ca_file?: string | undefined;
}

export interface NodeEndpoints {
  /** CometBFT RPC over HTTP(S). */
  rpcUrl: string;
  grpcAddress: string;
  grpcTls: boolean;
  ca?: Buffer;
}

const portOf = (hostPort: string): string => hostPort.slice(hostPort.lastIndexOf(':') + 1);

/** Whether gRPC to `grpcAddress` uses TLS: `tls` true, or `auto` and port 443. */
export function grpcUsesTls(tls: NodeTls, grpcAddress: string): boolean {
  return tls === true || (tls === 'auto' && portOf(grpcAddress) === '443');
}

/**
 * Where and how to reach the node. gRPC: TLS when `tls` is true, or `auto` and the port is 443. The RPC
 * URL: an https/wss URL is TLS whatever `tls` says; an http/ws one is upgraded to https when `tls` is
 * true, or `auto` and the port is 443 (nodes behind a load balancer serve both on 443).
 */
export function nodeEndpoints(cfg: NodeEndpointConfig): NodeEndpoints {
  const grpcTls = grpcUsesTls(cfg.tls, cfg.grpc_address);
  const u = new URL(cfg.rpc_url.replace(/^ws/, 'http'));
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  if (u.protocol === 'http:' && (cfg.tls === true || (cfg.tls === 'auto' && port === '443'))) u.protocol = 'https:';
  const endpoints: NodeEndpoints = { rpcUrl: u.toString().replace(/\/$/, ''), grpcAddress: cfg.grpc_address, grpcTls };
  if (cfg.ca_file) endpoints.ca = readFileSync(cfg.ca_file);
  return endpoints;
}
