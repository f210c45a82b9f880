import { parseConfig, type ResolvedConfig } from '../../core/config/load.js';

/** Public TEST keys from poktroll fixtures (docs/spec/protocol.md §11.1-D) and their addresses. */
export const TEST_KEYS = {
  app1: { hex: '2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a', address: 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4' },
  gateway1: { hex: 'cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177', address: 'pokt15vzxjqklzjtlz7lahe8z2dfe9nm5vxwwmscne4' },
} as const;

/** A relayer config on ephemeral ports against `redisUrl` (and a localnet's addresses), with extra YAML appended. */
export function relayerConfig(
  redisUrl: string,
  extra = '',
  opts: { dir?: string; env?: NodeJS.ProcessEnv; node?: { rpcAddress: string; grpcAddress: string } } = {},
): ResolvedConfig {
  const node = opts.node ? `\n  pocket_node: { rpc_url: "http://${opts.node.rpcAddress}", grpc_address: "${opts.node.grpcAddress}" }` : '';
  const text = `
relayer:
  listen_address: "127.0.0.1:0"
  health_address: "127.0.0.1:0"
  metrics_address: "127.0.0.1:0"
  redis: { url: "${redisUrl}" }${node}
  supplier_keys:
    - private_key_hex: "\${KEY}"
logging: { level: info }
${extra}`;
  return parseConfig(text, { env: { KEY: TEST_KEYS.app1.hex, ...opts.env }, ...(opts.dir ? { dir: opts.dir } : {}) });
}
