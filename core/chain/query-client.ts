import type { SharedParams } from '../session/grid.js';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { grpcUsesTls, type NodeTls } from './node-endpoints.js';
import { QuerySlots, type QueryLane } from './query-slots.js';
import { Client, credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import type { PocketNodeConfig } from '../config/schema.js';
import { messageCodec } from '../protocol/codec.js';
import { grpcServiceDefinition } from '../protocol/grpc.js';
import type { SessionHeader } from '../protocol/messages.js';

/**
 * The Cosmos gRPC queries the relayer and miner need (docs/spec/protocol.md §3.1), over the repo's .proto
 * services and the canonical codec. Every call has a deadline; failures keep the node's code and
 * message (docs/spec/errors.md §3) in a ChainQueryError.
 */

type Msg = Record<string, unknown>;

export class ChainQueryError extends Error {
  constructor(
    readonly method: string,
    readonly code: status,
    readonly details: string,
  ) {
    super(`${method}: ${status[code] ?? code}: ${details}`);
    this.name = 'ChainQueryError';
  }

  get notFound(): boolean {
    return this.code === status.NOT_FOUND;
  }
}

/** grpc-js ends a connection failure's details with a resolution note, empty for an address without DNS: ". Resolution note: ". */
function withoutEmptyNote(details: string): string {
  return details.replace(/\. Resolution note: $/, '');
}

/** The one test for "the chain has no such thing" (a claim, a supplier, a service): a NOT_FOUND answer. */
export function chainNotFound(err: unknown): boolean {
  return err instanceof ChainQueryError && err.notFound;
}

export interface SessionInfo {
  header: SessionHeader;
  sessionId: string;
  sessionNumber: bigint;
  numBlocksPerSession: bigint;
  applicationAddress: string;
  supplierOperatorAddresses: string[];
}

export interface ApplicationInfo {
  address: string;
  stakeUpokt: bigint;
  serviceIds: string[];
  delegateeGatewayAddresses: string[];
  /** Session end height → gateways being undelegated then. */
  pendingUndelegations: Map<bigint, string[]>;
}

/** A supplier as the chain has it now (`pocket.supplier.Query/Supplier`): what the miner and the stake check read. */
export interface SupplierInfo {
  stakeUpokt: bigint;
  /** 0 unless it is unstaking. */
  unstakeSessionEndHeight: bigint;
  /** Active services, each endpoint's RPC type as pocket.shared.RPCType's number. */
  services: { serviceId: string; endpoints: { url: string; rpcType: number }[] }[];
}

/** The chain's shared params: the session grid (core/session) plus the token conversion. */
export interface SharedParamsInfo extends SharedParams {
  compute_units_to_tokens_multiplier: bigint;
  compute_unit_cost_granularity: bigint;
  session_grid_anchor_height: bigint;
  session_number_at_anchor: bigint;
}

const PubKeyCodec = messageCodec<{ key: Uint8Array }>('cosmos.crypto.secp256k1.PubKey');
const BaseAccountCodec = messageCodec<{ address: string; pub_key?: { type_url: string; value: Uint8Array }; account_number: bigint; sequence: bigint }>(
  'cosmos.auth.v1beta1.BaseAccount',
);

const SERVICES = [
  'pocket.shared.Query',
  'pocket.session.Query',
  'pocket.application.Query',
  'pocket.supplier.Query',
  'pocket.service.Query',
  'pocket.proof.Query',
  'cosmos.auth.v1beta1.Query',
  'cosmos.bank.v1beta1.Query',
  'cosmos.tx.v1beta1.Service',
] as const;

export class ChainQueryClient {
  readonly #client: Client;
  readonly #timeoutMs: number;
  readonly #definitions = new Map<string, ReturnType<typeof grpcServiceDefinition>>();
  readonly #address: string;
  #answeredAt: number | undefined;
  #unreachable: { at: number; details: string } | undefined;
  readonly #slots: QuerySlots;

  /**
   * `maxInFlight`: calls sent at once, at most half of them `open` ones (QuerySlots); more wait, up to four
   * times as many, and past that fail at once (RESOURCE_EXHAUSTED, never sent). Unset: no bound.
   */
  constructor(cfg: Pick<PocketNodeConfig, 'grpc_address' | 'query_timeout_ms'> & { tls: NodeTls; ca_file?: string | undefined; maxInFlight?: number }) {
    const grpcTls = grpcUsesTls(cfg.tls, cfg.grpc_address);
    // The system's roots plus NODE_EXTRA_CA_CERTS (grpc-js alone would take only its bundled roots), plus ca_file.
    const roots = cfg.ca_file ? Buffer.concat([Buffer.from(tls.rootCertificates.join('\n')), Buffer.from('\n'), readFileSync(cfg.ca_file), ...extraCa()]) : undefined;
    const creds: ChannelCredentials = grpcTls ? credentials.createSsl(roots ?? systemRoots()) : credentials.createInsecure();
    this.#client = new Client(cfg.grpc_address, creds, { 'grpc.keepalive_time_ms': 30_000 });
    this.#timeoutMs = cfg.query_timeout_ms;
    this.#address = cfg.grpc_address;
    this.#slots = new QuerySlots(cfg.maxInFlight ?? Infinity);
    for (const s of SERVICES) this.#definitions.set(s, grpcServiceDefinition(s));
  }

  /**
   * Throws, for a readiness check, while the node's gRPC has not answered for `graceMs` and the last
   * call found it unreachable (UNAVAILABLE, DEADLINE_EXCEEDED). No call yet: no verdict.
   */
  assertReachable(graceMs: number): void {
    const down = this.#unreachable;
    if (!down || (this.#answeredAt !== undefined && this.#answeredAt > down.at)) return;
    const since = this.#answeredAt ?? down.at;
    if (Date.now() - since < graceMs) return;
    throw new Error(`gRPC queries to ${this.#address} fail: ${down.details}`);
  }

  /** One unary call: `service` like 'pocket.session.Query', `method` like 'GetSession'; `lane` as QuerySlots takes it. */
  call(service: (typeof SERVICES)[number], method: string, request: Msg, lane: QueryLane = 'expected'): Promise<Msg> {
    const def = this.#definitions.get(service)?.[method];
    if (!def) return Promise.reject(new Error(`unknown gRPC method ${service}/${method}`));
    const slot = this.#slots.acquire(lane);
    if (slot === true) return this.#send(service, method, def, request, lane);
    if (slot === false) return Promise.reject(new ChainQueryError(`${service}/${method}`, status.RESOURCE_EXHAUSTED, `not sent: ${this.#slots.describe(lane)}`));
    return slot.then(() => this.#send(service, method, def, request, lane));
  }

  /** Sends a call holding a slot of `lane`, and gives the slot back when it ends. */
  #send(service: string, method: string, def: ReturnType<typeof grpcServiceDefinition>[string], request: Msg, lane: QueryLane): Promise<Msg> {
    const sent = this.#unary(service, method, def, request);
    const release = () => this.#slots.release(lane);
    void sent.then(release, release);
    return sent;
  }

  #unary(service: string, method: string, def: ReturnType<typeof grpcServiceDefinition>[string], request: Msg): Promise<Msg> {
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        def.path,
        def.requestSerialize as (v: Msg) => Buffer,
        def.responseDeserialize as (b: Buffer) => Msg,
        request,
        new Metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (err: ServiceError | null, res?: Msg) => {
          // Any answer, an error status included, shows the node is reachable; only these say it is not.
          if (!err) {
            this.#answeredAt = Date.now();
            return resolve(res!);
          }
          const details = withoutEmptyNote(err.details);
          if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) this.#unreachable = { at: Date.now(), details };
          else this.#answeredAt = Date.now();
          reject(new ChainQueryError(`${service}/${method}`, err.code, details));
        },
      );
    });
  }

  async session(applicationAddress: string, serviceId: string, height: bigint, lane?: QueryLane): Promise<SessionInfo> {
    const res = await this.call('pocket.session.Query', 'GetSession', { application_address: applicationAddress, service_id: serviceId, block_height: height }, lane);
    const s = res.session as Msg;
    return {
      header: s.header as SessionHeader,
      sessionId: s.session_id as string,
      sessionNumber: s.session_number as bigint,
      numBlocksPerSession: s.num_blocks_per_session as bigint,
      applicationAddress,
      supplierOperatorAddresses: (s.suppliers as Msg[]).map((x) => x.operator_address as string),
    };
  }

  async application(address: string): Promise<ApplicationInfo> {
    const a = (await this.call('pocket.application.Query', 'Application', { address })).application as Msg;
    return {
      address: a.address as string,
      stakeUpokt: BigInt(((a.stake as Msg | undefined)?.amount as string | undefined) ?? '0'),
      serviceIds: (a.service_configs as Msg[]).map((c) => c.service_id as string),
      delegateeGatewayAddresses: a.delegatee_gateway_addresses as string[],
      pendingUndelegations: new Map(
        [...(a.pending_undelegations as Map<bigint, Msg>)].map(([h, list]) => [h, list.gateway_addresses as string[]]),
      ),
    };
  }

  /** The account's secp256k1 public key, or undefined for an account that never signed. */
  async accountPublicKey(address: string): Promise<Uint8Array | undefined> {
    const any = (await this.call('cosmos.auth.v1beta1.Query', 'Account', { address })).account as { type_url: string; value: Uint8Array };
    const base = BaseAccountCodec.decode(any.value);
    if (!base.pub_key || base.pub_key.type_url !== '/cosmos.crypto.secp256k1.PubKey') return undefined;
    return PubKeyCodec.decode(base.pub_key.value).key;
  }

  async sharedParams(height?: bigint, lane?: QueryLane): Promise<SharedParamsInfo> {
    const res = height === undefined ? await this.call('pocket.shared.Query', 'Params', {}, lane) : await this.call('pocket.shared.Query', 'ParamsAtHeight', { height }, lane);
    return res.params as unknown as SharedParamsInfo;
  }

  /** The supplier with this operator address; a ChainQueryError (NOT_FOUND when it is not staked) otherwise. */
  async supplier(operatorAddress: string): Promise<SupplierInfo> {
    const s = (await this.call('pocket.supplier.Query', 'Supplier', { operator_address: operatorAddress })).supplier as {
      stake?: { amount: string };
      unstake_session_end_height?: bigint;
      services?: { service_id: string; endpoints?: { url: string; rpc_type: number }[] }[];
    };
    return {
      stakeUpokt: BigInt(s.stake?.amount ?? '0'),
      unstakeSessionEndHeight: BigInt(s.unstake_session_end_height ?? 0n),
      services: (s.services ?? []).map((svc) => ({ serviceId: svc.service_id, endpoints: (svc.endpoints ?? []).map((e) => ({ url: e.url, rpcType: Number(e.rpc_type) })) })),
    };
  }

  /** The supplier module's min_stake (uPOKT, live): a slash that leaves a supplier's stake under it unstakes the supplier. */
  async supplierMinStake(): Promise<bigint> {
    const params = (await this.call('pocket.supplier.Query', 'Params', {})).params as { min_stake?: { amount: string } };
    return BigInt(params.min_stake?.amount ?? '0');
  }

  /** The proof module's missing-proof penalty (uPOKT, live): what each missed or invalid required proof slashes. */
  async proofMissingPenalty(): Promise<bigint> {
    const params = (await this.call('pocket.proof.Query', 'Params', {})).params as { proof_missing_penalty?: { amount: string } };
    return BigInt(params.proof_missing_penalty?.amount ?? '0');
  }

  /** Session module params (live): the meter divides an app's stake by the suppliers per session. */
  async numSuppliersPerSession(): Promise<bigint> {
    const res = await this.call('pocket.session.Query', 'Params', {});
    return (res.params as Msg).num_suppliers_per_session as bigint;
  }

  async serviceComputeUnitsPerRelay(serviceId: string, height: bigint): Promise<bigint> {
    return (await this.call('pocket.service.Query', 'ComputeUnitsPerRelayAtHeight', { serviceId, blockHeight: height })).computeUnitsPerRelay as bigint;
  }

  async difficultyTarget(serviceId: string, height: bigint): Promise<Uint8Array> {
    const d = (await this.call('pocket.service.Query', 'RelayMiningDifficultyAtHeight', { serviceId, blockHeight: height })).relayMiningDifficulty as Msg;
    return d.target_hash as Uint8Array;
  }

  close(): void {
    this.#client.close();
  }
}

/** NODE_EXTRA_CA_CERTS, which node's own TLS honours and grpc-js's bundled roots do not. */
function extraCa(): Buffer[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [Buffer.from('\n'), readFileSync(file)];
  } catch {
    return [];
  }
}

function systemRoots(): Buffer {
  return Buffer.concat([Buffer.from(tls.rootCertificates.join('\n')), ...extraCa()]);
}
