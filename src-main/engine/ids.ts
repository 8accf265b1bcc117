/** Identifiers and secrets: random, URL-safe, prefixed by what they name. */
import { createHash, randomBytes } from 'node:crypto';

export function newId(prefix: 'prd' | 'ord', bytes = 12): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}

/** A per-order access token: 256 random bits. Only its hash is stored. */
export function newAccessToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sha256(data: string | Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}
