/**
 * Migration 10: an import's staged codes move out of the shop's file. Until now each chunk was appended
 * to `import_rows` and committed through the WAL, so a million codes wrote about 110 MB there (and the
 * file kept that much free space afterwards) for rows that a crash throws away anyway. They now go to a
 * temporary table of the importing connection (vault/import-store.ts), which SQLite never syncs and
 * drops with the connection. `imports.staged` counts them, so other processes (and windows) can follow
 * an import's progress. `import_rows` goes: an import that a version before this one left staging is
 * discarded at the next start, as before, and its rows were worthless.
 */
import type { WritableDB } from '../types';

export const version = 10;

export function up(db: WritableDB): void {
  db.exec(`
    ALTER TABLE imports ADD COLUMN staged INTEGER NOT NULL DEFAULT 0 CHECK (staged >= 0);
    DROP TABLE import_rows;
  `);
}
