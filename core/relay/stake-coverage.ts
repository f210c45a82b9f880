import { forEachLimit } from '../async/for-each-limit.js';
import { chainNotFound, type ChainQueryClient } from '../chain/query-client.js';
import type { ResolvedConfig } from '../config/load.js';
import { few } from '../config/problems.js';
import type { RpcTypeName } from '../config/schema.js';
import { RPC_TYPE_CODES } from '../protocol/rpc-type.js';

/**
 * What gateways will send a supplier (its stake on chain) against what a relayer serves (the configured
 * backends and enabled transports): a service or transport staked but not served earns nothing and gets the
 * supplier sanctioned, and nothing else says so before relays fail (as the Go HA relay miner's
 * `validate --check-stake`).
 */

/** A supplier key's stake as the chain has it now; `services` undefined when the chain has no such supplier. */
export interface SupplierStake {
  address: string;
  /** uPOKT; absent when the key is not staked. */
  stakeUpokt?: bigint;
  services?: { serviceId: string; endpoints: { url: string; rpcType: RpcTypeName }[] }[];
}

/** What a relayer serves: each configured service's backends, and the transports its plugins enable. */
export interface ServedRelays {
  backends: Record<string, readonly RpcTypeName[]>;
  transports: readonly RpcTypeName[];
}

/** A service and transport some supplier keys are staked for that this relayer refuses: relays that earn nothing. */
export interface UnservedStake {
  service: string;
  rpcType: RpcTypeName;
  /** The keys staked for it, and the URLs they staked (in the order met). */
  suppliers: string[];
  urls: string[];
  /** One line saying it all (the first few keys and URLs when there are many). */
  message: string;
}

/** What a configuration serves, given the RPC types its enabled plugins carry. */
export function servedRelays(services: ResolvedConfig['services'], transports: readonly RpcTypeName[]): ServedRelays {
  return { backends: Object.fromEntries(Object.entries(services).map(([id, svc]) => [id, Object.keys(svc.backends) as RpcTypeName[]])), transports };
}

export interface StakeCoverage {
  refused: UnservedStake[];
  /** Worth knowing, losing nothing: keys not staked yet, backends no key here is staked for. */
  notes: string[];
}

const BY_CODE = new Map(Object.entries(RPC_TYPE_CODES).map(([name, code]) => [code, name as RpcTypeName]));

/**
 * An endpoint's RPC type by name. UNKNOWN_RPC (0): PATH sends such relays without `Rpc-Type`, which the
 * relay listener takes as JSON-RPC.
 */
function rpcTypeName(code: number): RpcTypeName | undefined {
  return code === 0 ? 'jsonrpc' : BY_CODE.get(code);
}

export function stakeCoverage(stakes: readonly SupplierStake[], served: ServedRelays): StakeCoverage {
  const unserved = new Map<string, { service: string; rpcType: RpcTypeName; why: string; suppliers: string[]; urls: string[] }>();
  const unstaked: string[] = [];
  const staked = new Set<string>();
  for (const s of stakes) {
    if (!s.services) {
      unstaked.push(s.address);
      continue;
    }
    for (const { serviceId, endpoints } of s.services) {
      for (const { url, rpcType } of endpoints) {
        const pair = `${serviceId}|${rpcType}`;
        staked.add(pair);
        const backends = served.backends[serviceId];
        const why = !backends
          ? `this configuration has no service "${serviceId}"`
          : !backends.includes(rpcType)
            ? `service "${serviceId}" has no ${rpcType} backend`
            : !served.transports.includes(rpcType)
              ? `no ${rpcType} transport is enabled`
              : undefined;
        if (!why) continue;
        let u = unserved.get(pair);
        if (!u) unserved.set(pair, (u = { service: serviceId, rpcType, why, suppliers: [], urls: [] }));
        if (!u.suppliers.includes(s.address)) u.suppliers.push(s.address);
        if (!u.urls.includes(url)) u.urls.push(url);
      }
    }
  }
  const refused = [...unserved.values()].map(({ why, ...u }) => ({
    ...u,
    message: `"${u.service}" over ${u.rpcType}: ${u.suppliers.length} supplier key(s) staked for it (${few(u.suppliers)}; at ${few(u.urls, 2)}), but ${why}: gateways' relays there fail and earn nothing`,
  }));
  const notes: string[] = [];
  if (unstaked.length) notes.push(`${unstaked.length} supplier key(s) not staked on chain (${few(unstaked)}): gateways send them nothing yet`);
  for (const [serviceId, types] of Object.entries(served.backends)) {
    for (const rpcType of types) {
      if (!staked.has(`${serviceId}|${rpcType}`)) notes.push(`service "${serviceId}" ${rpcType} backend: no supplier key here is staked for "${serviceId}" over ${rpcType}`);
    }
  }
  return { refused, notes };
}

/** Each supplier's current stake, `concurrency` queries at a time; a node error throws. */
export async function readSupplierStakes(query: ChainQueryClient, addresses: readonly string[], concurrency = 8): Promise<SupplierStake[]> {
  const out: SupplierStake[] = new Array(addresses.length);
  await forEachLimit([...addresses.entries()], concurrency, async ([i, address]) => {
    try {
      const { services, stakeUpokt } = await query.supplier(address);
      out[i] = {
        address,
        stakeUpokt,
        services: services.map((svc) => ({
          serviceId: svc.serviceId,
          endpoints: svc.endpoints.flatMap((e) => {
            const rpcType = rpcTypeName(e.rpcType);
            return rpcType ? [{ url: e.url, rpcType }] : [];
          }),
        })),
      };
    } catch (err) {
      if (!chainNotFound(err)) throw err;
      out[i] = { address };
    }
  });
  return out;
}
