/**
 * JSON for cache values that hold bigints, byte arrays and maps (chain values do): tagged so the
 * round trip is exact and a value read back from Redis equals the one the chain returned.
 */

function replace(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // Buffer.toJSON runs before the replacer; the holder still has the original bytes.
  const raw = this[key];
  if (raw instanceof Uint8Array) return { $bytes: Buffer.from(raw).toString('base64') };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  if (value instanceof Map) return { $map: [...(value as Map<unknown, unknown>)] };
  if (value === undefined) return { $undefined: true };
  return value;
}

function revive(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const o = value as Record<string, unknown>;
  if (typeof o.$bigint === 'string') return BigInt(o.$bigint);
  if (typeof o.$bytes === 'string') return Uint8Array.from(Buffer.from(o.$bytes, 'base64'));
  if (Array.isArray(o.$map)) return new Map(o.$map as [unknown, unknown][]);
  if (o.$undefined === true) return undefined;
  return value;
}

export function encodeCacheValue(value: unknown): string {
  // A top-level undefined (e.g. "account has no public key") must survive too.
  return JSON.stringify(value === undefined ? { $undefined: true } : value, replace);
}

export function decodeCacheValue<T>(text: string): T {
  return JSON.parse(text, revive) as T;
}
