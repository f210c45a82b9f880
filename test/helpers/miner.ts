import { KEYS } from './localnet-client.js';

/** A miner config for tests: supplier1 (and more keys), fast leases and reads, against the given Redis and node. */
export function minerYaml(o: {
  redisUrl: string;
  rpcAddress?: string;
  grpcAddress?: string;
  instance: string;
  keys?: string[];
  consume?: string;
  format?: 'json';
  transaction?: string;
  /** More of the miner plugin's options (YAML flow map), beside the instance, fast leases and reads. */
  minerOptions?: string;
}): string {
  const keys = (o.keys ?? [KEYS.supplier1]).map((k) => `{ private_key_hex: "${k}" }`).join(', ');
  const extra = o.minerOptions?.trim().replace(/^\{|\}$/g, '').trim();
  const options = [`instance_id: ${o.instance}`, 'lease_ttl_ms: 1500', `consume: ${o.consume ?? '{ block_ms: 100 }'}`, ...(o.transaction ? [`transaction: ${o.transaction}`] : []), ...(extra ? [extra] : [])];
  return `
miner:
  metrics_address: "127.0.0.1:0"
  redis: { url: "${o.redisUrl}", namespace: ha }
  pocket_node: { rpc_url: "http://${o.rpcAddress ?? '127.0.0.1:1'}", grpc_address: "${o.grpcAddress ?? '127.0.0.1:1'}" }
  supplier_keys: [${keys}]
plugins: [{ name: miner, options: { ${options.join(', ')} } }]
logging: { level: info${o.format ? `, format: ${o.format}` : ''} }
shutdown: { readiness_delay_ms: 0, drain_timeout_ms: 2000 }
`;
}
