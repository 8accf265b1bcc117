/**
 * Migration 5: an idempotency record keeps the first request's answer as JSON in `response` and seals
 * only the order's access token in `sealed_response` (nothing, for a refused request). The token is
 * sealed before the write transaction starts, so the purchase holds the write lock for no crypto at all.
 * Records written before keep `response` NULL and their whole answer sealed; they replay as before.
 */
import type { WritableDB } from '../types';

export const version = 5;

export function up(db: WritableDB): void {
  db.exec('ALTER TABLE idempotency ADD COLUMN response TEXT');
}
