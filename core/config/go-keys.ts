/**
 * The Go relay miners' configuration keys (poktroll's `pocketd relayminer` and the HA relay miner), and what stands
 * for them here, so `relayminer validate` on an operator's old file says where each setting went.
 */

/** Keys of the Go relay miners' configurations that have another name here, wherever they appear. */
export const RENAMED_GO_KEYS: Record<string, string> = {
  listen_addr: 'listen_address',
  query_node_rpc_url: 'rpc_url',
  query_node_grpc_url: 'grpc_address',
  tx_node_rpc_url: 'rpc_url',
  grpc_insecure: 'tls (inverted)',
  default_validation_mode: 'services.<id>.validation_mode',
  max_body_size_bytes: 'backends.<rpc type>.max_body_bytes',
  base_prefix: 'namespace',
  hot_reload_enabled: 'watch',
  timeout_profile: 'backends.<rpc type>.timeout_ms',
  pool_profile: 'backends.<rpc type>.connections',
  fail_behavior: 'fail_mode',
  cache_ttl: 'ttl_seconds',
  min_size_bytes: 'min_bytes',
  authentication: 'auth',
  endpoint: 'path',
  request_body: 'body',
  interval_seconds: 'interval_ms',
  timeout_seconds: 'timeout_ms',
  recovery_timeout_seconds: 'circuit_breaker.cooldown_ms',
  query_timeout_seconds: 'query_timeout_ms',
};

/**
 * Top-level keys of the Go relay miners' configurations (poktroll's, and the HA relay miner's relayer and miner files),
 * and what stands for each here: their files are flat where this one has role sections.
 */
const TOP_LEVEL: Record<string, string> = {
  listen_addr: 'relayer.listen_address',
  suppliers:
    'services.<service_id>.backends.jsonrpc.url for service_config.backend_url (rpc_type_service_configs: the other backends, rest, cometbft, websocket, grpc), relayer.listen_address for listen_url, one listener for every service',
  default_signing_key_names: 'keys.keyring: { backend: <its --keyring-backend>, dir: <its --home>, key_names: [<these names>] }',
  smt_store_path: 'session trees are kept in Redis (redis), nothing to set',
  metrics: 'relayer.metrics_address and miner.metrics_address, always served',
  pprof: 'no profiling endpoint is served; node --cpu-prof profiles a process',
  ping: 'relayer.health_address serves /ready and /ready/<service>, which check the backends',
  health_check: 'relayer.health_address (/health, /ready, /ready/<service>)',
  enable_eager_relay_request_validation: 'services.<service_id>.validation_mode (eager unless set)',
  default_validation_mode: 'services.<service_id>.validation_mode (eager unless set)',
  enable_over_servicing: 'relayer.meter.enabled: false serves past the stake meter (enabled unless set)',
  relay_meter: 'relayer.meter (enabled; fail_mode for fail_behavior; ttl_seconds for cache_ttl)',
  response_compression: 'relayer.response_compression (enabled; min_bytes for min_size_bytes)',
  default_request_timeout_seconds: 'services.<service_id>.backends.<rpc type>.timeout_ms',
  timeout_profiles: 'services.<service_id>.backends.<rpc type>.timeout_ms',
  default_max_body_size_bytes: 'services.<service_id>.backends.<rpc type>.max_body_bytes',
  http_transport: 'services.<service_id>.backends.<rpc type>.connections and keep_alive_ms',
  pool_profiles: 'services.<service_id>.backends.<rpc type>.connections and keep_alive_ms',
  hot_reload_enabled: 'keys.watch',
  block_time_seconds: "nothing to set: claims and proofs are timed by the chain's blocks and their header times",
  block_health_monitor: 'pocket_node.stale_after_blocks (a node without a new block for that long fails /ready and is alerted on)',
  balance_monitor: "the miner plugin's alerts (balance_transactions, missed_proofs)",
  session_lifecycle: "the miner plugin's scale.concurrency",
  worker_pools: "the miner plugin's scale.concurrency",
  leader_election: 'nothing to set: the leader lock is taken and renewed with the supplier leases',
  supplier_claiming: "the miner plugin's lease_ttl_ms (renewed every third of it)",
  batch_size: "the miner plugin's consume.batch",
  deduplication_ttl_blocks: "nothing to set: a session's tree keeps one leaf per relay for the session's whole life",
  smst_live_root_checkpoint_interval: 'nothing to set: every relay read from a stream is in its session tree before it is acknowledged',
  submission_tracking_ttl: 'nothing to set: submissions are kept a week (relayminer redis submissions)',
  cache_ttl: 'nothing to set: a session is kept until it is final (its leaves a day more, its record a week)',
  default_service_factor: 'relayer.meter.service_factors, per service id (the relayers apply them; without one, the baseline split)',
  service_factors: 'relayer.meter.service_factors',
};

/** Keys of a service in the HA relay miner's configuration that have no counterpart of the same shape here. */
const SERVICE: Record<string, string> = {
  default_backend: "a relay without an Rpc-Type header goes to the service's jsonrpc backend: give the URL of the backend it named there too",
};

/** What stands here for a Go relay miner's key at `segments`+`key` that has no key of the same name, if it is one. */
export function goKeyCounterpart(segments: readonly (string | number)[], key: string): string | undefined {
  if (segments.length === 0) return TOP_LEVEL[key];
  return segments[0] === 'services' && segments.length === 2 ? SERVICE[key] : undefined;
}

/** What to write here for a value in a Go relay miner's shape that this schema types differently, if it is one. */
export function goValueCounterpart(segments: readonly (string | number)[], value: unknown): string | undefined {
  const inUrls = segments.length >= 2 && segments.at(-2) === 'urls' && typeof segments.at(-1) === 'number';
  if (inUrls && typeof value === 'object' && value !== null && 'url' in value) return "the HA relay miner's { name, url } entry: write its url alone";
  return undefined;
}
