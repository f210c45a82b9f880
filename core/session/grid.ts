/**
 * Session boundaries and windows (poktroll x/shared/types/session.go; docs/spec/protocol.md §6.2, §6.4).
 * Heights are int64 on chain; bigint here keeps every step exact.
 */

/** The shared params the grid and windows depend on (pocket.shared.Params, fields as on chain). */
export interface SharedParams {
  num_blocks_per_session: bigint;
  grace_period_end_offset_blocks: bigint;
  claim_window_open_offset_blocks: bigint;
  claim_window_close_offset_blocks: bigint;
  proof_window_open_offset_blocks: bigint;
  proof_window_close_offset_blocks: bigint;
  /** 0 on chains before v0.1.34: the legacy grid (anchor 1, number 1). */
  session_grid_anchor_height?: bigint;
  session_number_at_anchor?: bigint;
}

/** Go's truncating integer division. */
const quo = (a: bigint, b: bigint) => a / b; // BigInt division truncates toward zero, as Go's does

function anchor(p: SharedParams, h: bigint): { a: bigint; k: bigint } {
  let a = p.session_grid_anchor_height ?? 0n;
  let k = p.session_number_at_anchor ?? 0n;
  if (a <= 0n || a > h) {
    a = 1n;
    k = 1n;
  }
  if (k <= 0n) k = 1n;
  return { a, k };
}

export function sessionStartHeight(p: SharedParams, h: bigint): bigint {
  if (h <= 0n) return 0n;
  const { a } = anchor(p, h);
  return a + quo(h - a, p.num_blocks_per_session) * p.num_blocks_per_session;
}

export function sessionEndHeight(p: SharedParams, h: bigint): bigint {
  if (h <= 0n) return 0n;
  return sessionStartHeight(p, h) + p.num_blocks_per_session - 1n;
}

export function sessionNumber(p: SharedParams, h: bigint): bigint {
  if (h <= 0n) return 0n;
  const { a, k } = anchor(p, h);
  return k + quo(h - a, p.num_blocks_per_session);
}

/** The windows of the session containing `h`, with the params effective at its end height. */
export interface SessionWindows {
  sessionStart: bigint;
  sessionEnd: bigint;
  gracePeriodEnd: bigint;
  claimWindowOpen: bigint;
  claimWindowClose: bigint;
  proofWindowOpen: bigint;
  proofWindowClose: bigint;
  /** The block whose hash seeds the proof path and requirement: proofWindowOpen − 1. */
  proofSeedHeight: bigint;
  /** Where the claim settles (tokenomics EndBlocker): equals proofWindowClose. */
  settlementHeight: bigint;
}

export function sessionWindows(p: SharedParams, h: bigint): SessionWindows {
  const sessionEnd = sessionEndHeight(p, h);
  const claimWindowOpen = sessionEnd + p.claim_window_open_offset_blocks + 1n;
  const claimWindowClose = claimWindowOpen + p.claim_window_close_offset_blocks;
  const proofWindowOpen = claimWindowClose + p.proof_window_open_offset_blocks;
  const proofWindowClose = proofWindowOpen + p.proof_window_close_offset_blocks;
  return {
    sessionStart: sessionStartHeight(p, h),
    sessionEnd,
    gracePeriodEnd: sessionEnd + p.grace_period_end_offset_blocks,
    claimWindowOpen,
    claimWindowClose,
    proofWindowOpen,
    proofWindowClose,
    proofSeedHeight: proofWindowOpen - 1n,
    settlementHeight:
      sessionEnd +
      p.claim_window_open_offset_blocks +
      p.claim_window_close_offset_blocks +
      p.proof_window_open_offset_blocks +
      p.proof_window_close_offset_blocks +
      1n,
  };
}

/** True once `current` is past the session's grace period (relays for it are no longer accepted). */
export function isGracePeriodElapsed(p: SharedParams, sessionEnd: bigint, current: bigint): boolean {
  return current > sessionEnd + p.grace_period_end_offset_blocks;
}
