/**
 * Migration 7: drops `keys_available` (product_id, id WHERE status = 'available'). Since migration 3,
 * `keys_product_status` (product_id, status, id, import_id) answers the purchase's "first free keys of
 * this product" as a covering range (SQLite already picked it once the file was analysed), so the
 * partial index only cost a delete on every sale and a write on every imported code: about 1 us of the
 * 15 us a claim spends in SQL (measured on a batch of 64 claims).
 */
import type { WritableDB } from '../types';

export const version = 7;

export function up(db: WritableDB): void {
  db.exec('DROP INDEX IF EXISTS keys_available');
}
