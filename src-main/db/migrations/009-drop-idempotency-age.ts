/**
 * Migration 9: drops `idempotency_age` (created_at). Nothing reads it: records are kept (the contract
 * asks for at least 24 hours, and nothing prunes them), and a pruner would not need it, because records
 * are stored in the order they are written (rowid) since migration 8. It cost an index entry on every
 * purchase: about 3 of the 70 pages a batch of 64 purchases writes to the WAL.
 */
import type { WritableDB } from '../types';

export const version = 9;

export function up(db: WritableDB): void {
  db.exec('DROP INDEX IF EXISTS idempotency_age');
}
