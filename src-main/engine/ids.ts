/**
 * Identifiers and secrets: random, URL-safe, prefixed by what they name.
 *
 * Random bytes come from a pool refilled by one `randomFillSync` per 8 KiB instead of one call per
 * id or token (the purchase path needs two per order). An id starts with its creation time in
 * fixed-width base 36 so that new rows land at the end of the primary-key and foreign-key indexes
 * instead of on random pages: a batch of purchases then dirties a few pages, not one per order,
 * which is what each commit has to write and flush.
 */
import { hash, randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(8192);
let poolOffset = pool.length;

/** `n` cryptographically random bytes (a fresh copy; pool bytes are never handed out twice). */
function randomPart(n: number): Buffer {
  if (n > pool.length) return randomFillSync(Buffer.alloc(n));
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + n));
  pool.fill(0, poolOffset, poolOffset + n);
  poolOffset += n;
  return bytes;
}

/** Milliseconds since the epoch in 9 base-36 digits: sorts by time until the year 5188. */
function timePart(): string {
  return Date.now().toString(36).padStart(9, '0');
}

/** `<prefix>_<time><random>`: `bytes` random bytes (at least 96 bits by default) after the time. */
export function newId(prefix: 'prd' | 'ord', bytes = 12): string {
  return `${prefix}_${timePart()}${randomPart(bytes).toString('base64url')}`;
}

/** A per-order access token: 256 random bits. Only its hash is stored. */
export function newAccessToken(): string {
  return randomPart(32).toString('base64url');
}

/** One-shot SHA-256 (no Hash object per call: the purchase path hashes three times per order). */
export function sha256(data: string | Buffer): Buffer {
  return hash('sha256', data, 'buffer');
}
