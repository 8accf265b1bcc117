/**
 * Migration 6: an import stages its codes in `import_rows`, not as `staged` key rows. A staged key row
 * went into the random-order UNIQUE (product_id, fingerprint) index at once, and every chunk's commit
 * rewrote most of that index's pages: about 3.5 GB written and 20 us a code for a million codes. Staged
 * rows are now appended in arrival order with no index at all; the import's last transaction copies
 * them into `keys` sorted by fingerprint (so the index is filled in order) and deletes them.
 *
 * `line` is the code's line in the source, for the report. `keys.status = 'staged'` stays allowed for
 * rows an older OnceKey left behind; they are discarded like any abandoned import.
 */
import type { WritableDB } from '../types';

export const version = 6;

export function up(db: WritableDB): void {
  db.exec(`
    CREATE TABLE import_rows (
      import_id INTEGER NOT NULL REFERENCES imports (id),
      line INTEGER NOT NULL,
      fingerprint BLOB NOT NULL,
      sealed BLOB NOT NULL
    ) STRICT;
  `);
}
