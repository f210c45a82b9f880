import { type RejectReason } from 'relayminer';

/** Close codes the gateway sees (docs/spec/wire.md §4.3, as the Go HA miner and PATH use them). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  tooBig: 1009,
  internal: 1011,
  tryAgainLater: 1013,
  sessionExpired: 4000,
  validationFailed: 4001,
  stakeLimit: 4002,
  backendConnectFailed: 4003,
} as const;

/** The backend side gets RFC codes for ours (docs/spec/wire.md §4.3). */
export function backendCloseCode(gatewayCode: number): number {
  switch (gatewayCode) {
    case CLOSE.sessionExpired:
      return 1001;
    case CLOSE.validationFailed:
      return 1008;
    case CLOSE.stakeLimit:
      return 1013;
    case CLOSE.backendConnectFailed:
      return CLOSE.internal;
    default:
      return sendable(gatewayCode) ? gatewayCode : CLOSE.normal;
  }
}

/** A code a peer may put in a close frame (1005, 1006 and 1015 are reserved; PATH maps them to 1011). */
export function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Why a request frame was refused → the gateway's close code. */
export function rejectionCloseCode(reason: RejectReason): number {
  if (reason === 'over_servicing' || reason === 'meter_unavailable') return CLOSE.stakeLimit;
  if (reason === 'chain_unavailable' || reason === 'internal') return CLOSE.internal;
  if (reason === 'simulation_rate_limited' || reason === 'simulation_unavailable' || reason === 'chain_busy') return CLOSE.tryAgainLater;
  return CLOSE.validationFailed;
}
