import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { RPC_TYPE_CODES } from '../core/protocol/rpc-type.js';
import { grpcServiceDefinition } from '../core/protocol/grpc.js';
import { messageCodec, PROTO_DIR, PROTO_FILES } from '../core/protocol/codec.js';
import { isPoktAddress } from '../core/crypto/address.js';
import { ChainError, type LocalChain } from './chain.js';
import type { LocalnetNode } from './node.js';
import { AuthInfoCodec, SimulateError, TxBodyCodec, TxCodec, TxRawCodec } from './tx-engine.js';

/**
 * The Cosmos gRPC queries a relay miner uses (docs/spec/protocol.md §3.1), answered from the chain state,
 * with the status codes and messages a real node returns (docs/spec/errors.md §3).
 */

type Msg = Record<string, unknown>;
const coin = (amount: number | bigint) => ({ denom: 'upokt', amount: String(amount) });
const SERVICE_ID = /^[A-Za-z0-9_-]+$/;

function fail(code: status, message: string): never {
  throw new ChainError(code, message);
}

function checkServiceId(id: string, suffix = 'invalid service ID'): void {
  if (!id) fail(status.INVALID_ARGUMENT, `empty service ID: ${suffix}`);
  if (id.length > 42) fail(status.INVALID_ARGUMENT, `service ID '${id}' exceeds maximum length: 42: ${suffix}`);
  if (!SERVICE_ID.test(id)) fail(status.INVALID_ARGUMENT, `service ID '${id}' contains invalid characters: ${suffix}`);
}

export class LocalnetQueries {
  constructor(readonly chain: LocalChain) {}

  sharedParams(): Msg {
    const s = this.chain.genesis.params.shared;
    return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, BigInt(v)]));
  }

  application(address: string): Msg {
    const a = this.chain.genesis.applications.find((x) => x.address === address);
    if (!a) fail(status.NOT_FOUND, `app address: ${address}: application not found`);
    return {
      address: a.address,
      stake: coin(a.stake_upokt),
      service_configs: [{ service_id: a.service_id }],
      delegatee_gateway_addresses: a.delegatee_gateway_addresses,
      pending_undelegations: new Map(Object.entries(a.pending_undelegations).map(([h, gws]) => [BigInt(h), { gateway_addresses: gws }])),
      unstake_session_end_height: 0n,
      service_config_history: [],
    };
  }

  /** `onlyService` dehydrates the supplier to one service's config, as sessions return it. */
  supplier(operator: string, onlyService?: string): Msg {
    const s = this.chain.genesis.suppliers.find((x) => x.operator_address === operator);
    if (!s) fail(status.NOT_FOUND, `supplier with operator address: "${operator}": supplier not found`);
    return {
      owner_address: s.owner_address ?? s.operator_address,
      operator_address: s.operator_address,
      stake: coin(s.stake_upokt),
      services: s.services
        .filter((svc) => !onlyService || svc.service_id === onlyService)
        .map((svc) => ({
          service_id: svc.service_id,
          endpoints: svc.endpoints.map((e) => ({ url: e.url, rpc_type: RPC_TYPE_CODES[e.rpc_type], configs: [] })),
          rev_share: [{ address: s.owner_address ?? s.operator_address, rev_share_percentage: 100n }],
        })),
      unstake_session_end_height: BigInt(s.unstake_session_end_height ?? 0),
      service_config_history: [],
    };
  }

  service(id: string): Msg {
    const s = this.chain.genesis.services.find((x) => x.id === id);
    if (!s) fail(status.NOT_FOUND, `service ID not found: "${id}"`);
    return { id: s.id, name: s.name, compute_units_per_relay: BigInt(s.compute_units_per_relay), owner_address: s.owner_address ?? '' };
  }

  difficulty(serviceId: string, height: number): Msg {
    const s = this.chain.genesis.services.find((x) => x.id === serviceId);
    if (!s) fail(status.NOT_FOUND, `serviceID: ${serviceId}: service not found`);
    return { service_id: serviceId, block_height: BigInt(height), num_relays_ema: 0n, target_hash: Uint8Array.from(Buffer.from(s.relay_difficulty_target_hex, 'hex')) };
  }

  session(app: string, service: string, height: bigint): Msg {
    if (!isPoktAddress(app)) {
      fail(status.INVALID_ARGUMENT, `${app === '' ? 'empty address string is not allowed' : 'decoding bech32 failed'}: invalid application address for session`);
    }
    checkServiceId(service);
    if (height < 0n) fail(status.INVALID_ARGUMENT, `invalid block height for session being retrieved ${height};: invalid block height for session`);
    if (height > BigInt(this.chain.height)) {
      fail(status.INTERNAL, `block height ${height} is ahead of the last committed block height ${this.chain.height}: error during session hydration`);
    }
    const view = this.chain.getSession(app, service, Number(height));
    if (view.supplierOperatorAddresses.length === 0) {
      fail(status.INTERNAL, `could not find suppliers for service ${service} at height ${view.header.session_start_block_height}: no suppliers not found for session`);
    }
    return {
      header: view.header,
      session_id: view.sessionId,
      session_number: view.sessionNumber,
      num_blocks_per_session: view.numBlocksPerSession,
      application: this.application(app),
      suppliers: view.supplierOperatorAddresses.map((op) => this.supplier(op, service)),
    };
  }

  account(address: string): Msg {
    if (!address) fail(status.INVALID_ARGUMENT, 'Address cannot be empty');
    const a = this.chain.accounts.get(address);
    if (!a) fail(status.NOT_FOUND, `account ${address} not found`);
    const base = messageCodec<Msg>('cosmos.auth.v1beta1.BaseAccount').encode({
      address,
      pub_key: a.publicKey
        ? { type_url: '/cosmos.crypto.secp256k1.PubKey', value: messageCodec<Msg>('cosmos.crypto.secp256k1.PubKey').encode({ key: a.publicKey }) }
        : undefined,
      account_number: a.accountNumber,
      sequence: a.sequence,
    });
    return { account: { type_url: '/cosmos.auth.v1beta1.BaseAccount', value: base } };
  }
}

type Handler = (req: Msg) => Msg;

function abciEvent(e: { type: string; attributes: { key: string; value: string }[] }): Msg {
  return { type: e.type, attributes: e.attributes.map((a) => ({ key: a.key, value: a.value, index: true })) };
}

/** cosmos TxResponse as BroadcastTx (SYNC) and GetTx return it (docs/spec/errors.md §5.1, §5.4). */
function txResponse(r: {
  height: bigint;
  hash: string;
  code: number;
  codespace: string;
  log: string;
  gasWanted?: bigint;
  gasUsed?: bigint;
  tx?: { type_url: string; value: Uint8Array };
  timestamp?: string;
  events?: { type: string; attributes: { key: string; value: string }[] }[];
}): Msg {
  return {
    height: r.height,
    txhash: r.hash,
    codespace: r.codespace,
    code: r.code,
    data: '',
    raw_log: r.log,
    logs: [],
    info: '',
    gas_wanted: r.gasWanted ?? 0n,
    gas_used: r.gasUsed ?? 0n,
    tx: r.tx,
    timestamp: r.timestamp ?? '',
    events: (r.events ?? []).map(abciEvent),
  };
}

function unary(handler: Handler) {
  return (call: ServerUnaryCall<Msg, Msg>, callback: sendUnaryData<Msg>) => {
    try {
      callback(null, handler(call.request));
    } catch (err) {
      if (err instanceof ChainError) callback({ code: err.grpcCode, details: err.message } as never, null);
      else callback({ code: status.INTERNAL, details: (err as Error).message } as never, null);
    }
  };
}

export function createGrpcServer(node: LocalnetNode, log: Logger): Server {
  const chain = node.chain;
  const q = new LocalnetQueries(chain);
  const g = chain.genesis;
  const services: Record<string, Record<string, Handler>> = {
    'pocket.shared.Query': {
      Params: () => ({ params: q.sharedParams() }),
      ParamsAtHeight: (r) => {
        if ((r.height as bigint) < 0n) fail(status.INVALID_ARGUMENT, 'height must be non-negative');
        return { params: q.sharedParams() };
      },
    },
    'pocket.session.Query': {
      Params: () => ({ params: { num_suppliers_per_session: BigInt(g.params.session.num_suppliers_per_session) } }),
      GetSession: (r) => ({ session: q.session(r.application_address as string, r.service_id as string, r.block_height as bigint) }),
    },
    'pocket.application.Query': {
      Params: () => ({ params: { max_delegated_gateways: BigInt(g.params.application.max_delegated_gateways), min_stake: coin(g.params.application.min_stake_upokt) } }),
      Application: (r) => ({ application: q.application(r.address as string) }),
      AllApplications: (r) => {
        const gw = r.delegatee_gateway_address as string;
        const apps = g.applications.filter((a) => !gw || a.delegatee_gateway_addresses.includes(gw)).map((a) => q.application(a.address));
        return { applications: apps, pagination: { next_key: new Uint8Array(0), total: BigInt(apps.length) } };
      },
    },
    'pocket.supplier.Query': {
      Params: () => ({ params: { min_stake: coin(g.params.supplier.min_stake_upokt), staking_fee: coin(g.params.supplier.staking_fee_upokt) } }),
      Supplier: (r) => ({ supplier: q.supplier(r.operator_address as string) }),
    },
    'pocket.service.Query': {
      Params: () => ({ params: { add_service_fee: coin(1), target_num_relays: 100_000n } }),
      Service: (r) => ({ service: q.service(r.id as string) }),
      RelayMiningDifficulty: (r) => ({ relayMiningDifficulty: q.difficulty(r.serviceId as string, chain.height) }),
      RelayMiningDifficultyAtHeight: (r) => {
        if (!r.serviceId) fail(status.INVALID_ARGUMENT, 'service ID is required');
        if ((r.blockHeight as bigint) < 0n) fail(status.INVALID_ARGUMENT, 'block height must be non-negative');
        return { relayMiningDifficulty: q.difficulty(r.serviceId as string, Number(r.blockHeight)) };
      },
      ComputeUnitsPerRelayAtHeight: (r) => {
        if (!r.serviceId) fail(status.INVALID_ARGUMENT, 'service ID is required');
        if ((r.blockHeight as bigint) < 0n) fail(status.INVALID_ARGUMENT, 'block height must be non-negative');
        const s = g.services.find((x) => x.id === r.serviceId);
        if (!s) fail(status.NOT_FOUND, `serviceID: ${String(r.serviceId)}: service not found`);
        return { computeUnitsPerRelay: BigInt(s.compute_units_per_relay) };
      },
    },
    'pocket.proof.Query': {
      Params: () => ({
        params: {
          proof_request_probability: g.params.proof.proof_request_probability,
          proof_requirement_threshold: coin(g.params.proof.proof_requirement_threshold_upokt),
          proof_missing_penalty: coin(g.params.proof.proof_missing_penalty_upokt),
          proof_submission_fee: coin(g.params.proof.proof_submission_fee_upokt),
        },
      }),
      Claim: (r) => {
        if (!isPoktAddress(r.supplier_operator_address as string)) {
          fail(status.INVALID_ARGUMENT, `invalid supplier operator address for claim being retrieved ${String(r.supplier_operator_address)}; (decoding bech32 failed): invalid address`);
        }
        if (!r.session_id) fail(status.INVALID_ARGUMENT, 'invalid empty session ID for claim being retrieved: invalid session ID');
        const claim = node.proofs.claims.get(`${String(r.session_id)}|${String(r.supplier_operator_address)}`);
        if (!claim) fail(status.NOT_FOUND, `session ID "${String(r.session_id)}" and supplier "${String(r.supplier_operator_address)}": claim not found`);
        return { claim: node.proofs.claimMessage(claim) };
      },
      AllClaims: (r) => {
        const claims = [...node.proofs.claims.values()].filter(
          (c) =>
            (r.supplier_operator_address === undefined || c.supplierOperatorAddress === r.supplier_operator_address) &&
            (r.session_id === undefined || c.header.session_id === r.session_id) &&
            (r.session_end_height === undefined || c.header.session_end_block_height === BigInt(r.session_end_height as bigint)),
        );
        return { claims: claims.map((c) => node.proofs.claimMessage(c)), pagination: { next_key: new Uint8Array(0), total: BigInt(claims.length) } };
      },
    },
    'cosmos.auth.v1beta1.Query': {
      Account: (r) => q.account(r.address as string),
    },
    'cosmos.bank.v1beta1.Query': {
      Balance: (r) => ({ balance: coin(chain.accounts.get(r.address as string)?.balance ?? 0n) }),
    },
    'cosmos.tx.v1beta1.Service': {
      Simulate: (r) => {
        if (node.txs.unavailable()) fail(status.UNAVAILABLE, 'node unavailable (localnet fault unavailable_next)');
        const bytes = r.tx_bytes as Uint8Array;
        if (bytes.length === 0) fail(status.INVALID_ARGUMENT, 'empty txBytes is not allowed');
        try {
          const { gasUsed, events } = node.txs.simulate(bytes);
          return {
            gas_info: { gas_wanted: (1n << 64n) - 1n, gas_used: gasUsed },
            result: { data: new Uint8Array(0), log: '', events: events.map(abciEvent), msg_responses: [] },
          };
        } catch (err) {
          if (err instanceof SimulateError) fail(status.UNKNOWN, err.message);
          throw err;
        }
      },
      BroadcastTx: (r) => {
        if (node.txs.unavailable()) fail(status.UNAVAILABLE, 'node unavailable (localnet fault unavailable_next)');
        const bytes = r.tx_bytes as Uint8Array;
        if (bytes.length === 0) fail(status.INVALID_ARGUMENT, 'invalid empty tx');
        if (r.mode !== 2 && r.mode !== 3) fail(status.UNKNOWN, 'unsupported return type unspecified; supported types: sync, async');
        const res = node.txs.checkTx(bytes);
        return { tx_response: txResponse({ height: 0n, hash: res.hash, code: res.code, codespace: res.codespace, log: res.log }) };
      },
      GetTx: (r) => {
        const hash = r.hash as string;
        if (!hash) fail(status.INVALID_ARGUMENT, 'tx hash cannot be empty');
        if (!node.chain.genesis.tx_index) fail(status.UNKNOWN, 'transaction indexing is disabled');
        const tx = node.txs.getTx(hash);
        if (!tx) fail(status.NOT_FOUND, `tx not found: ${hash}`);
        const raw = TxRawCodec.decode(tx.bytes);
        const decoded = { body: TxBodyCodec.decode(raw.body_bytes), auth_info: AuthInfoCodec.decode(raw.auth_info_bytes), signatures: raw.signatures };
        return {
          tx: decoded,
          tx_response: txResponse({
            height: BigInt(tx.height),
            hash: tx.hash,
            code: tx.result.code,
            codespace: tx.result.codespace,
            log: tx.result.log,
            gasWanted: tx.result.gasWanted,
            gasUsed: tx.result.gasUsed,
            tx: { type_url: '/cosmos.tx.v1beta1.Tx', value: TxCodec.encode(decoded) },
            timestamp: new Date(tx.timeMs).toISOString().replace(/\.000Z$/, 'Z'),
            events: tx.result.events,
          }),
        };
      },
    },
  };
  const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  // Server reflection (grpcurl, Postman, grpc_cli), from the same .proto files.
  new ReflectionService(protoLoader.loadSync(PROTO_FILES, { includeDirs: [PROTO_DIR], keepCase: true })).addToServer(server);
  for (const [name, handlers] of Object.entries(services)) {
    const impl: UntypedServiceImplementation = {};
    for (const [method, h] of Object.entries(handlers)) impl[method] = unary(h);
    server.addService(grpcServiceDefinition(name), impl);
  }
  log.debug({ services: Object.keys(services) }, 'localnet gRPC services');
  return server;
}

export async function listenGrpc(server: Server, address: string): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
}
