import { concatBytes } from '@noble/hashes/utils.js';
import { sha3_256 } from '@noble/hashes/sha3.js';

const DOT = new Uint8Array([0x2e]);
const utf8 = new TextEncoder();

/**
 * The preimage of a session id: blockHash(start) ‖ "." ‖ service ‖ "." ‖ app ‖ "." ‖ u64_le(start)
 * (poktroll x/session/keeper/session_hydrator.go). Supplier selection hashes it too.
 */
export function sessionIdPreimage(blockHash: Uint8Array, serviceId: string, appAddress: string, sessionStartHeight: bigint): Uint8Array {
  const height = new Uint8Array(8);
  new DataView(height.buffer).setBigUint64(0, BigInt.asUintN(64, sessionStartHeight), true);
  return concatBytes(blockHash, DOT, utf8.encode(serviceId), DOT, utf8.encode(appAddress), DOT, height);
}

/** Lower-case hex SHA3-256 (FIPS, not Keccak) of the preimage: the 64-character session id. */
export function sessionId(blockHash: Uint8Array, serviceId: string, appAddress: string, sessionStartHeight: bigint): string {
  return Buffer.from(sha3_256(sessionIdPreimage(blockHash, serviceId, appAddress, sessionStartHeight))).toString('hex');
}
