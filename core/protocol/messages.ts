import { messageCodec } from './codec.js';

/**
 * TypeScript shapes of the messages core works with, matching the .proto files field for field
 * (snake_case names as on the wire). Optional message fields are `undefined` when absent.
 */

export interface SessionHeader {
  application_address: string;
  service_id: string;
  session_id: string;
  session_start_block_height: bigint;
  session_end_block_height: bigint;
}

export interface RelayRequestMetadata {
  session_header?: SessionHeader | undefined;
  signature: Uint8Array;
  supplier_operator_address: string;
}

export interface RelayRequest {
  meta: RelayRequestMetadata;
  payload: Uint8Array;
}

export interface RelayResponseMetadata {
  session_header?: SessionHeader | undefined;
  supplier_operator_signature: Uint8Array;
}

export interface RelayMinerError {
  codespace: string;
  code: number;
  description: string;
  message: string;
}

export interface RelayResponse {
  meta: RelayResponseMetadata;
  payload: Uint8Array;
  relay_miner_error?: RelayMinerError | undefined;
  payload_hash: Uint8Array;
}

export interface Relay {
  req?: RelayRequest | undefined;
  res?: RelayResponse | undefined;
}

export enum ClaimProofStatus {
  PENDING_VALIDATION = 0,
  VALIDATED = 1,
  INVALID = 2,
}

export interface Claim {
  supplier_operator_address: string;
  session_header?: SessionHeader | undefined;
  root_hash: Uint8Array;
  proof_validation_status: ClaimProofStatus;
}

export interface MsgCreateClaim {
  supplier_operator_address: string;
  session_header?: SessionHeader | undefined;
  root_hash: Uint8Array;
}

export interface MsgSubmitProof {
  supplier_operator_address: string;
  session_header?: SessionHeader | undefined;
  proof: Uint8Array;
}

export interface HttpHeader {
  key: string;
  values: string[];
}

export interface POKTHTTPRequest {
  method: string;
  header: Map<string, HttpHeader>;
  url: string;
  body_bz: Uint8Array;
}

export interface POKTHTTPResponse {
  status_code: number;
  header: Map<string, HttpHeader>;
  body_bz: Uint8Array;
}

export const SessionHeaderCodec = messageCodec<SessionHeader>('pocket.session.SessionHeader');
export const RelayRequestMetadataCodec = messageCodec<RelayRequestMetadata>('pocket.service.RelayRequestMetadata');
export const RelayRequestCodec = messageCodec<RelayRequest>('pocket.service.RelayRequest');
export const RelayResponseCodec = messageCodec<RelayResponse>('pocket.service.RelayResponse');
export const RelayCodec = messageCodec<Relay>('pocket.service.Relay');
export const ClaimCodec = messageCodec<Claim>('pocket.proof.Claim');
export const MsgCreateClaimCodec = messageCodec<MsgCreateClaim>('pocket.proof.MsgCreateClaim');
export const MsgSubmitProofCodec = messageCodec<MsgSubmitProof>('pocket.proof.MsgSubmitProof');
export const POKTHTTPRequestCodec = messageCodec<POKTHTTPRequest>('sdk.types.POKTHTTPRequest');
export const POKTHTTPResponseCodec = messageCodec<POKTHTTPResponse>('sdk.types.POKTHTTPResponse');

/** relayminer.v1.MinedRelay: one entry of a supplier's relay stream (relayer → miner). */
export interface MinedRelay {
  relay_hash: Uint8Array;
  relay: Uint8Array;
  compute_units: bigint;
  session_id: string;
  session_start_block_height: bigint;
  session_end_block_height: bigint;
  supplier_operator_address: string;
  service_id: string;
  application_address: string;
  arrival_block_height: bigint;
  published_at_ms: bigint;
}
export const MinedRelayCodec = messageCodec<MinedRelay>('relayminer.v1.MinedRelay');
