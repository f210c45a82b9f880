import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The known-answer vectors produced by the real Go code: ../shared beside the repository (the layout of
 * development machines and CI), or wherever RELAYMINER_SHARED_DIR points.
 */
export const SHARED = process.env.RELAYMINER_SHARED_DIR ?? join(import.meta.dirname, '..', '..', '..', 'shared');

export function loadShared<T = unknown>(relative: string): T {
  const file = join(SHARED, relative);
  if (!existsSync(file)) throw new Error(`known-answer file missing: ${file} (the shared/ folder must sit beside the repository, or set RELAYMINER_SHARED_DIR)`);
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** The raw text, for int64 values that JSON numbers cannot hold exactly. */
export function readSharedText(relative: string): string {
  return readFileSync(join(SHARED, relative), 'utf8');
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
