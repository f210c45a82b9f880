import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigError, unreadableReason, type ConfigProblem } from '../core/config/problems.js';
import { validateAgainst } from '../core/config/validator.js';
import { withYamlLocations } from '../core/config/load.js';
import { addressFromPrivateKey, isPoktAddress, publicKeyFromPrivateKey } from '../core/crypto/address.js';
import { parsePrivateKeyHex } from '../core/crypto/private-key.js';
import { RPC_TYPES } from '../core/config/schema.js';

/**
 * The localnet genesis: chain parameters and the staked actors. Validated as strictly as the relay
 * miner's own config (unknown keys named with a suggestion). Defaults are small so that a session, its
 * claim window and its proof window pass in about 20 seconds at 1-second blocks.
 */

const U64 = (def: number, description: string) => Type.Integer({ default: def, minimum: 0, description });
const Address = Type.String({ pattern: '^pokt1[02-9ac-hj-np-z]{38}$', expected: 'a pokt1… address' });
const ServiceId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,42}$', expected: 'a service id (≤ 42 of A-Z a-z 0-9 _ -)' });

export const GenesisSchema = Type.Object(
  {
    chain_id: Type.String({ default: 'pocket', minLength: 1 }),
    genesis_time: Type.String({
      default: 'now',
      pattern: '^(now|\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z)$',
      expected: '"now" or an RFC 3339 UTC time',
      description: 'Time of block 0; block h is at genesis_time + h × block_time_ms, so hashes are deterministic for a fixed genesis_time.',
    }),
    block_interval_ms: Type.Integer({ default: 1000, minimum: 0, maximum: 600_000, description: 'How often a block is produced (wall time); 0 = manual: blocks only when asked.' }),
    block_time_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3_600_000,
        description:
          'Chain time between two block headers (default: block_interval_ms, or 1000 in manual mode). Set it apart from block_interval_ms to run mainnet\'s 60-second block clock at one block per second.',
      }),
    ),
    minimum_gas_price_upokt: Type.Number({ default: 0.000001, minimum: 0 }),
    max_tx_bytes: Type.Integer({
      default: 1_048_576,
      minimum: 1,
      maximum: 104_857_600,
      description: "Largest transaction the mempool takes (CometBFT's `mempool.max_tx_bytes`, 1 MiB by default); BroadcastTx answers a larger one code 21, `sdk`, with an empty log.",
    }),
    tx_index: Type.Boolean({
      default: true,
      description:
        'Whether the node indexes transactions (CometBFT\'s `tx_index.indexer`: `kv`, or `null` when false). Without an index, GetTx answers "transaction indexing is disabled", as such a node does.',
    }),
    params: Type.Object(
      {
        shared: Type.Object(
          {
            num_blocks_per_session: U64(10, ''),
            grace_period_end_offset_blocks: U64(1, ''),
            claim_window_open_offset_blocks: U64(1, ''),
            claim_window_close_offset_blocks: U64(4, ''),
            proof_window_open_offset_blocks: U64(0, ''),
            proof_window_close_offset_blocks: U64(4, ''),
            supplier_unbonding_period_sessions: U64(1, ''),
            application_unbonding_period_sessions: U64(1, ''),
            gateway_unbonding_period_sessions: U64(1, ''),
            compute_units_to_tokens_multiplier: U64(42_000_000, ''),
            compute_unit_cost_granularity: U64(1_000_000, ''),
          },
          { additionalProperties: false, default: {} },
        ),
        session: Type.Object({ num_suppliers_per_session: U64(50, '') }, { additionalProperties: false, default: {} }),
        proof: Type.Object(
          {
            proof_request_probability: Type.Number({ default: 0.25, minimum: 0, maximum: 1 }),
            proof_requirement_threshold_upokt: U64(20_000_000, ''),
            proof_missing_penalty_upokt: U64(320_000_000, ''),
            proof_submission_fee_upokt: U64(0, ''),
          },
          { additionalProperties: false, default: {} },
        ),
        application: Type.Object({ max_delegated_gateways: U64(7, ''), min_stake_upokt: U64(1, '') }, { additionalProperties: false, default: {} }),
        supplier: Type.Object(
          {
            min_stake_upokt: U64(1, 'The supplier module\'s min_stake: the chain unstakes a supplier a slash leaves below it.'),
            staking_fee_upokt: U64(1, ''),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    services: Type.Array(
      Type.Object(
        {
          id: ServiceId,
          name: Type.String({ default: '' }),
          compute_units_per_relay: Type.Integer({ default: 1, minimum: 1, maximum: 1_048_576 }),
          owner_address: Type.Optional(Address),
          relay_difficulty_target_hex: Type.String({
            default: 'ff'.repeat(32),
            pattern: '^[0-9a-f]{64}$',
            expected: '64 lower-case hex characters',
            description: 'Relays whose hash is below this are mined (ff…ff: all of them).',
          }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    accounts: Type.Array(
      Type.Object(
        {
          key_hex: Type.Optional(Type.String({ minLength: 64, description: 'A key makes the account able to sign (its pubkey is on chain).' })),
          address: Type.Optional(Address),
          balance_upokt: Type.Integer({ default: 0, minimum: 0 }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    applications: Type.Array(
      Type.Object(
        {
          address: Address,
          stake_upokt: Type.Integer({ minimum: 1 }),
          service_id: ServiceId,
          delegatee_gateway_addresses: Type.Array(Address, { default: [] }),
          pending_undelegations: Type.Record(Type.String({ pattern: '^[0-9]+$' }), Type.Array(Address), {
            default: {},
            additionalProperties: false,
            description: 'Session end height → gateways being undelegated.',
          }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    gateways: Type.Array(Type.Object({ address: Address, stake_upokt: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }), { default: [] }),
    suppliers: Type.Array(
      Type.Object(
        {
          operator_address: Address,
          owner_address: Type.Optional(Address),
          stake_upokt: Type.Integer({ minimum: 1 }),
          unstake_session_end_height: Type.Optional(
            Type.Integer({ minimum: 1, description: 'An unstaking supplier: the end of its last session. Set by the chain when a slash leaves the stake under min_stake.' }),
          ),
          services: Type.Array(
            Type.Object(
              {
                service_id: ServiceId,
                endpoints: Type.Array(
                  Type.Object(
                    {
                      url: Type.String({ minLength: 1 }),
                      rpc_type: Type.Unsafe<(typeof RPC_TYPES)[number]>({ type: 'string', enum: [...RPC_TYPES] }),
                    },
                    { additionalProperties: false },
                  ),
                  { default: [] },
                ),
              },
              { additionalProperties: false },
            ),
            { minItems: 1 },
          ),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
  },
  { additionalProperties: false },
);

export type Genesis = Static<typeof GenesisSchema>;

export interface LoadedGenesis extends Genesis {
  /** Every account with its derived address and, for keyed accounts, the public key on chain. */
  resolvedAccounts: { address: string; publicKey?: Uint8Array; balance: bigint }[];
  genesisTimeMs: number;
  /** Chain time between block headers: `block_time_ms`, else the production interval (1 s when manual). */
  blockTimeMs: number;
}

export function parseGenesis(text: string, file?: string, nowMs = Date.now()): LoadedGenesis {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError([{ path: '', message: `YAML: ${(err as Error).message.split('\n')[0]}` }], file);
  }
  const problems = validateAgainst(GenesisSchema, raw);
  if (problems.length > 0) throw new ConfigError(withYamlLocations(text, problems), file);
  const g = raw as Genesis;
  const more: ConfigProblem[] = [];
  const serviceIds = new Set(g.services.map((s) => s.id));
  const resolvedAccounts: LoadedGenesis['resolvedAccounts'] = [];
  g.accounts.forEach((a, i) => {
    if (a.key_hex) {
      try {
        const key = parsePrivateKeyHex(a.key_hex);
        const address = addressFromPrivateKey(key);
        if (a.address && a.address !== address) more.push({ path: `accounts[${i}].address`, message: `does not match the key (${address})` });
        resolvedAccounts.push({ address, publicKey: publicKeyFromPrivateKey(key), balance: BigInt(a.balance_upokt) });
      } catch (err) {
        more.push({ path: `accounts[${i}].key_hex`, message: (err as Error).message });
      }
    } else if (a.address && isPoktAddress(a.address)) {
      resolvedAccounts.push({ address: a.address, balance: BigInt(a.balance_upokt) });
    } else {
      more.push({ path: `accounts[${i}]`, message: 'needs key_hex or address' });
    }
  });
  g.applications.forEach((app, i) => {
    if (!serviceIds.has(app.service_id)) more.push({ path: `applications[${i}].service_id`, message: `unknown service "${app.service_id}"` });
    for (const gw of app.delegatee_gateway_addresses) {
      if (!g.gateways.some((x) => x.address === gw)) more.push({ path: `applications[${i}].delegatee_gateway_addresses`, message: `${gw} is not a staked gateway` });
    }
  });
  g.suppliers.forEach((s, i) =>
    s.services.forEach((svc, j) => {
      if (!serviceIds.has(svc.service_id)) more.push({ path: `suppliers[${i}].services[${j}].service_id`, message: `unknown service "${svc.service_id}"` });
    }),
  );
  if (more.length > 0) throw new ConfigError(withYamlLocations(text, more), file);
  const genesisTimeMs = g.genesis_time === 'now' ? Math.floor(nowMs / 1000) * 1000 : Date.parse(g.genesis_time);
  const blockTimeMs = g.block_time_ms ?? Math.max(g.block_interval_ms, 1000);
  return { ...g, resolvedAccounts, genesisTimeMs, blockTimeMs };
}

export function loadGenesisFile(file: string, nowMs = Date.now()): LoadedGenesis {
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: unreadableReason(err) }], absolute);
  }
  return parseGenesis(text, absolute, nowMs);
}
