import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The known-answer vectors produced by the real Go code (test/vectors; its README says where each came from). */
export const VECTORS = join(import.meta.dirname, '..', 'vectors');

export function loadVector<T = unknown>(relative: string): T {
  return JSON.parse(readVectorText(relative)) as T;
}

/** The raw text, for int64 values that JSON numbers cannot hold exactly. */
export function readVectorText(relative: string): string {
  return readFileSync(join(VECTORS, relative), 'utf8');
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
