import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { sha256 } from '@noble/hashes/sha2.js';
import { DirectSecp256k1Wallet, makeAuthInfoBytes, makeSignDoc, encodePubkey } from '@cosmjs/proto-signing';
import { encodeSecp256k1Pubkey } from '@cosmjs/amino';
import { TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { SignMode } from 'cosmjs-types/cosmos/tx/signing/v1beta1/signing';
import { credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { publicKeyFromPrivateKey } from '../../core/crypto/address.js';
import { ringSign } from '../../core/crypto/ring/index.js';
import { signSupplierResponse } from '../../core/crypto/supplier-signature.js';
import { PROTO_DIR, PROTO_FILES } from '../../core/protocol/codec.js';
import {
  minedRelayBytes,
  MsgCreateClaimCodec,
  MsgSubmitProofCodec,
  relayRequestSignableHash,
  relayResponseSignableHash,
  type RelayRequest,
  type RelayResponse,
  type SessionHeader,
} from '../../core/protocol/index.js';
import { SparseMerkleSumTrie } from '../../core/smst/index.js';
import { parseGenesis, startLocalnet, type RunningLocalnet } from '../../localnet/index.js';
import { captureLogs } from './logs.js';

/** The default genesis with a fixed time and manual blocks (tests call `net.chain.advance`). */
export const TEST_GENESIS = readFileSync(join(import.meta.dirname, '..', '..', 'examples/localnet/genesis.yaml'), 'utf8')
  .replace('genesis_time: now', 'genesis_time: "2026-01-01T00:00:00Z"')
  .replace('block_interval_ms: 1000', 'block_interval_ms: 0');

/** A localnet on ephemeral ports for one test, stopped when it ends. */
export async function startTestLocalnet(t: Test, genesis = TEST_GENESIS): Promise<RunningLocalnet> {
  const net = await startLocalnet(parseGenesis(genesis), { rpcAddress: '127.0.0.1:0', grpcAddress: '127.0.0.1:0', log: captureLogs().logger });
  t.teardown(() => net.stop());
  return net;
}

/** Keys of examples/localnet/genesis.yaml (public test keys). */
export const KEYS = {
  app1: '2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a',
  gateway1: 'cf09805c952fa999e9a63a9f434147b0a5abfd10f268879694c6b5a70e1ae177',
  app2: 'fb2de526df89e33542fccee838795d492bef5fe8e261b24edf6ff428c01f89f7',
  supplier1: 'f09f3ab6251bdc1e0fc31f804f198df6e6df6152d41518ba73abcbe3987e2515',
  supplier2: 'f18874146bd5caba12aae9b93f562dbdba9bcd5462282fb34ee2597e1e32d2c4',
} as const;
export const ADDR = {
  app1: 'pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4',
  gateway1: 'pokt15vzxjqklzjtlz7lahe8z2dfe9nm5vxwwmscne4',
  app2: 'pokt1pf0rh8tmczm83jeyxjay8mwwkretm5j0jt4wd3',
  supplier1: 'pokt1tt7l5gu99zdpc7qnaty77xspta94dprls4xwz7',
  supplier2: 'pokt1rw3xgea5j4mfuux64ds7en4fhuyc3h3zus5wkv',
} as const;

export const key = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));

/**
 * Relays a gateway sends for an app (ring [app, gateway]) and the supplier answers and signs.
 * `outsiderKey` forges: a valid ring signature over [app, outsider], which the on-chain ring lacks.
 */
export function makeRelays(header: SessionHeader, n: number, opts: { supplierKey?: string; outsiderKey?: string } = {}) {
  const signerKey = opts.outsiderKey ?? KEYS.gateway1;
  const ring = [KEYS.app1, signerKey].map((k) => publicKeyFromPrivateKey(key(k)));
  const relays: { req: RelayRequest; res: RelayResponse; mined: Uint8Array; hash: Uint8Array }[] = [];
  for (let i = 0; i < n; i++) {
    const req: RelayRequest = {
      meta: { session_header: header, signature: new Uint8Array(0), supplier_operator_address: ADDR.supplier1 },
      payload: new TextEncoder().encode(`{"jsonrpc":"2.0","id":${i},"method":"eth_blockNumber"}`),
    };
    req.meta.signature = ringSign(relayRequestSignableHash(req), ring, key(signerKey));
    const payload = new TextEncoder().encode(`{"jsonrpc":"2.0","id":${i},"result":"0x${i.toString(16)}"}`);
    const res: RelayResponse = { meta: { session_header: header, supplier_operator_signature: new Uint8Array(0) }, payload, payload_hash: sha256(payload) };
    res.meta.supplier_operator_signature = signSupplierResponse(relayResponseSignableHash(res), key(opts.supplierKey ?? KEYS.supplier1));
    const mined = minedRelayBytes(req, res);
    relays.push({ req, res, mined, hash: sha256(mined) });
  }
  return relays;
}

export function trieOf(relays: { mined: Uint8Array; hash: Uint8Array }[], weight = 1n): SparseMerkleSumTrie {
  const trie = new SparseMerkleSumTrie();
  for (const r of relays) trie.update(r.hash, r.mined, weight);
  return trie;
}

export const claimAny = (supplier: string, header: SessionHeader, root: Uint8Array) => ({
  typeUrl: '/pocket.proof.MsgCreateClaim',
  value: MsgCreateClaimCodec.encode({ supplier_operator_address: supplier, session_header: header, root_hash: root }),
});

export const proofAny = (supplier: string, header: SessionHeader, proof: Uint8Array) => ({
  typeUrl: '/pocket.proof.MsgSubmitProof',
  value: MsgSubmitProofCodec.encode({ supplier_operator_address: supplier, session_header: header, proof }),
});

export interface SignOptions {
  chainId?: string;
  accountNumber: number;
  sequence?: number;
  feeUpokt?: number;
  gasLimit?: number;
  unordered?: { timeoutMs: number };
  signWith?: string;
}

/** A tx built and signed with cosmjs (proto-signing, cosmjs-types): SIGN_MODE_DIRECT like any Cosmos wallet. */
export async function signTx(signerKey: string, messages: { typeUrl: string; value: Uint8Array }[], o: SignOptions): Promise<Uint8Array> {
  const wallet = await DirectSecp256k1Wallet.fromKey(key(o.signWith ?? signerKey), 'pokt');
  const [account] = await wallet.getAccounts();
  const bodyBytes = TxBody.encode(
    TxBody.fromPartial({
      messages,
      memo: 'relayminer test',
      unordered: o.unordered !== undefined,
      timeoutTimestamp: o.unordered ? { seconds: BigInt(Math.floor(o.unordered.timeoutMs / 1000)), nanos: (o.unordered.timeoutMs % 1000) * 1e6 } : undefined,
    }),
  ).finish();
  const pubkey = encodePubkey(encodeSecp256k1Pubkey(publicKeyFromPrivateKey(key(signerKey))));
  const authInfoBytes = makeAuthInfoBytes(
    [{ pubkey, sequence: o.unordered ? 0 : (o.sequence ?? 0) }],
    [{ denom: 'upokt', amount: String(o.feeUpokt ?? 1000) }],
    o.gasLimit ?? 1_000_000,
    undefined,
    undefined,
    SignMode.SIGN_MODE_DIRECT,
  );
  const signDoc = makeSignDoc(bodyBytes, authInfoBytes, o.chainId ?? 'pocket', o.accountNumber);
  const { signature } = await wallet.signDirect(account!.address, signDoc);
  return TxRaw.encode({ bodyBytes, authInfoBytes, signatures: [Buffer.from(signature.signature, 'base64')] }).finish();
}

const definition = protoLoader.loadSync(PROTO_FILES, { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
const pkg = loadPackageDefinition(definition) as unknown as Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Res = Record<string, any>;
type Client = Record<string, Function> & { close(): void };

export function grpcClient(address: string, service: string): Client {
  const Ctor = service.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], pkg) as new (addr: string, creds: unknown) => Client;
  return new Ctor(address, credentials.createInsecure());
}

export function grpcCall(c: Client, method: string, req: object): Promise<Res> {
  return new Promise((resolve, reject) => c[method]!.call(c, req, (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))));
}
