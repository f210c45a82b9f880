/**
 * JSON-RPC methods of EVM nodes that act on the node itself rather than read the chain: its peers (`admin_*`),
 * accounts (`personal_*`), block production (`miner_*`), consensus-client link (`engine_*`) and proof-of-authority
 * votes, and the `debug_*` methods that rewind its head or rewrite its data (geth and reth `debug_setHead`,
 * Nethermind `debug_resetHead`, `debug_deleteChainSlice`, `debug_insertReceipts`), write files on its host (geth's
 * profiles go to any path the call names: `debug_writeMemProfile("…/nodekey")`), stall it (`debug_chaindbCompact`,
 * `debug_cpuProfile` for as long as asked) or change its runtime (`debug_setGCPercent(-1)` turns its garbage
 * collector off). An operator who enables the `debug` namespace to serve traces keeps `debug_trace*` and the reads.
 */
export const EVM_OPERATOR_METHODS: readonly string[] = [
  'admin_*',
  'personal_*',
  'miner_*',
  'engine_*',
  'clique_propose',
  'clique_discard',
  // geth (internal/debug, internal/ethapi, eth, eth/tracers) and reth
  'debug_setHead',
  'debug_chaindbCompact',
  'debug_setTrieFlushInterval',
  'debug_verbosity',
  'debug_vmodule',
  'debug_backtraceAt',
  'debug_setGCPercent',
  'debug_setMemoryLimit',
  'debug_freeOSMemory',
  'debug_setBlockProfileRate',
  'debug_setMutexProfileFraction',
  'debug_cpuProfile',
  'debug_startCPUProfile',
  'debug_stopCPUProfile',
  'debug_goTrace',
  'debug_startGoTrace',
  'debug_stopGoTrace',
  'debug_blockProfile',
  'debug_mutexProfile',
  'debug_writeBlockProfile',
  'debug_writeMemProfile',
  'debug_writeMutexProfile',
  'debug_stacks',
  'debug_standardTraceBlockToFile',
  'debug_standardTraceBadBlockToFile',
  // Nethermind
  'debug_resetHead',
  'debug_deleteChainSlice',
  'debug_insertReceipts',
  'debug_migrateReceipts',
  'debug_getConfigValue',
  // Besu
  'debug_resyncWorldstate',
];

/** CometBFT routes that change the node's peers or mempool (it serves `unsafe_*` only with `rpc.unsafe`). */
export const COMETBFT_OPERATOR_ROUTES: readonly string[] = ['dial_seeds', 'dial_peers', 'unsafe_*'];
