import { sha256 } from './sha256.js';
import { accountIdFromPublicKey, publicKeyFromPrivateKey } from './address.js';
import { bigIntTo32, bytesToBigInt } from './big-endian.js';
import { CURVE_ORDER } from './ring/hash.js';

/**
 * The ring key of an application without delegated gateways (poktroll PR #1792):
 * secp256k1.GenPrivKeyFromSecret("placeholder_ring_key_for_apps_without_gateways"), where
 * GenPrivKeyFromSecret(s) = (sha256(s) mod (n − 1)) + 1 (cosmos-sdk).
 */
export const PLACEHOLDER_RING_SECRET = 'placeholder_ring_key_for_apps_without_gateways';

export function genPrivKeyFromSecret(secret: Uint8Array): Uint8Array {
  return bigIntTo32((bytesToBigInt(sha256(secret)) % (CURVE_ORDER - 1n)) + 1n);
}

export const PLACEHOLDER_RING_PRIVATE_KEY: Uint8Array = genPrivKeyFromSecret(new TextEncoder().encode(PLACEHOLDER_RING_SECRET));
export const PLACEHOLDER_RING_PUBLIC_KEY: Uint8Array = publicKeyFromPrivateKey(PLACEHOLDER_RING_PRIVATE_KEY);
/** Upper-case hex of the account id, as CometBFT HexBytes prints it: this is what the ring code uses, not bech32. */
export const PLACEHOLDER_RING_ADDRESS: string = Buffer.from(accountIdFromPublicKey(PLACEHOLDER_RING_PUBLIC_KEY)).toString('hex').toUpperCase();
