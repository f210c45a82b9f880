import { sha256 } from '@noble/hashes/sha2.js';
import type { Block, ChainEvent, LocalChain } from './chain.js';

/**
 * CometBFT 0.38 RPC JSON shapes, as a real node answers them (hashes upper-case hex, heights as
 * strings, times RFC 3339). Only what clients read is filled with meaning; the rest is well-formed.
 */

const HEX = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();
const time = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
const ZERO32 = HEX(new Uint8Array(32));
const VALIDATOR = HEX(sha256(new TextEncoder().encode('relayminer-localnet-validator')).subarray(0, 20));
const NODE_ID = HEX(sha256(new TextEncoder().encode('relayminer-localnet-node')).subarray(0, 20)).toLowerCase();
const EMPTY_BLOCK_ID = { hash: '', parts: { total: 0, hash: '' } };

export function blockId(b: Block) {
  return { hash: HEX(b.hash), parts: { total: 1, hash: HEX(sha256(b.hash)) } };
}

export function header(chain: LocalChain, b: Block) {
  const prev = chain.block(b.height - 1);
  return {
    version: { block: '11', app: '0' },
    chain_id: chain.chainId,
    height: String(b.height),
    time: time(b.timeMs),
    last_block_id: prev ? blockId(prev) : EMPTY_BLOCK_ID,
    last_commit_hash: prev ? HEX(sha256(prev.hash)) : '',
    data_hash: HEX(b.dataHash),
    validators_hash: ZERO32,
    next_validators_hash: ZERO32,
    consensus_hash: ZERO32,
    app_hash: HEX(b.appHash),
    last_results_hash: ZERO32,
    evidence_hash: '',
    proposer_address: VALIDATOR,
  };
}

export function block(chain: LocalChain, b: Block) {
  const prev = chain.block(b.height - 1);
  return {
    header: header(chain, b),
    data: { txs: b.txs.map((t) => Buffer.from(t).toString('base64')) },
    evidence: { evidence: [] },
    last_commit: prev
      ? { height: String(prev.height), round: 0, block_id: blockId(prev), signatures: [] }
      : { height: '0', round: 0, block_id: EMPTY_BLOCK_ID, signatures: [] },
  };
}

/** `blockchain`: block metas (id, size, header, number of txs) from maxHeight down to minHeight, without txs. */
export function blockchain(chain: LocalChain, blocks: Block[]) {
  return {
    last_height: String(chain.height),
    block_metas: blocks.map((b) => ({
      block_id: blockId(b),
      block_size: String(b.txs.reduce((n, t) => n + t.length, 0)),
      header: header(chain, b),
      num_txs: String(b.txs.length),
    })),
  };
}

function events(list: ChainEvent[]) {
  return list.map((e) => ({ type: e.type, attributes: e.attributes.map((a) => ({ ...a, index: true })) }));
}

export function blockResults(b: Block) {
  return {
    height: String(b.height),
    // abci ExecTxResult JSON: every field present (jsonpb EmitDefaults), int64 as strings.
    txs_results: b.txResults.map((r) => ({
      code: r.code,
      data: null,
      log: r.log,
      info: '',
      gas_wanted: String(r.gasWanted),
      gas_used: String(r.gasUsed),
      events: events(r.events),
      codespace: r.codespace,
    })),
    finalize_block_events: events(b.events),
    validator_updates: [],
    app_hash: Buffer.from(b.appHash).toString('base64'),
  };
}

export function status(chain: LocalChain, rpcAddress: string) {
  const first = chain.block(1)!;
  const last = chain.latest;
  return {
    node_info: {
      protocol_version: { p2p: '8', block: '11', app: '0' },
      id: NODE_ID,
      listen_addr: 'tcp://127.0.0.1:26656',
      network: chain.chainId,
      version: '0.38.19',
      channels: '40202122233038606100',
      moniker: 'relayminer-localnet',
      other: { tx_index: 'on', rpc_address: `tcp://${rpcAddress}` },
    },
    sync_info: {
      latest_block_hash: HEX(last.hash),
      latest_app_hash: HEX(last.appHash),
      latest_block_height: String(last.height),
      latest_block_time: time(last.timeMs),
      earliest_block_hash: HEX(first.hash),
      earliest_app_hash: HEX(first.appHash),
      earliest_block_height: '1',
      earliest_block_time: time(first.timeMs),
      catching_up: false,
    },
    validator_info: {
      address: VALIDATOR,
      pub_key: { type: 'tendermint/PubKeyEd25519', value: Buffer.from(sha256(new TextEncoder().encode('validator-pubkey'))).toString('base64') },
      voting_power: '10',
    },
  };
}

export function abciInfo(chain: LocalChain) {
  return {
    response: {
      data: 'pocket',
      version: 'relayminer-localnet',
      last_block_height: String(chain.height),
      last_block_app_hash: Buffer.from(chain.latest.appHash).toString('base64'),
    },
  };
}

export function newBlockHeaderEvent(chain: LocalChain, b: Block, query: string) {
  return {
    query,
    data: { type: 'tendermint/event/NewBlockHeader', value: { header: header(chain, b) } },
    events: { 'tm.event': ['NewBlockHeader'], 'block.height': [String(b.height)] },
  };
}

export function newBlockEvent(chain: LocalChain, b: Block, query: string) {
  return {
    query,
    data: {
      type: 'tendermint/event/NewBlock',
      value: { block: block(chain, b), block_id: blockId(b), result_finalize_block: blockResults(b) },
    },
    events: { 'tm.event': ['NewBlock'], 'block.height': [String(b.height)] },
  };
}
