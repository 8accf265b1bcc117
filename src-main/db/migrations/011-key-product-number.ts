/**
 * Migration 11: a key names its product by a small integer instead of the product's 29-character id.
 * Every key repeated that id in its row and in three indexes (the UNIQUE (product, fingerprint) one and
 * the two list indexes), about 110 of a key's 315 bytes. Products get a number (`no`, assigned on
 * insert by a trigger), and `keys.product_id` becomes `keys.product_no`, which references it.
 *
 * Measured on a scratch copy of the schema (a million keys, our 2-core machine): the import's final copy
 * into `keys` took 1.9-2.1 s instead of 2.4-2.6, its commit 0.75 s instead of 1.3-1.4, and it wrote
 * 214 MB of WAL instead of 335.
 *
 * `keys` is rebuilt, which needs foreign keys off (other tables reference it): the runner turns them
 * off for this migration and checks every reference before it commits. The rows keep their ids and
 * are copied in id order: 3.8 s for a million keys here. The pages the old table held stay in the file
 * as free pages, which new keys reuse.
 */
import type { WritableDB } from '../types';

export const version = 11;

/** The runner turns foreign keys off around this migration and runs `foreign_key_check` before commit. */
export const foreignKeysOff = true;

export function up(db: WritableDB): void {
  db.exec(`
    ALTER TABLE products ADD COLUMN no INTEGER;
    UPDATE products SET no = rowid;
    CREATE UNIQUE INDEX products_no ON products (no);
    -- Every product gets the next number, however it is inserted.
    CREATE TRIGGER products_number AFTER INSERT ON products WHEN NEW.no IS NULL
    BEGIN
      UPDATE products SET no = (SELECT coalesce(max(no), 0) + 1 FROM products) WHERE id = NEW.id;
    END;

    CREATE TABLE keys_by_number (
      id INTEGER PRIMARY KEY,
      product_no INTEGER NOT NULL REFERENCES products (no),
      import_id INTEGER REFERENCES imports (id),
      fingerprint BLOB NOT NULL,
      sealed BLOB NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('staged', 'available', 'reserved', 'sold', 'burned')),
      order_id TEXT REFERENCES orders (id),
      updated_at INTEGER NOT NULL,
      UNIQUE (product_no, fingerprint),
      CHECK (
        (status IN ('staged', 'available') AND order_id IS NULL) OR
        (status IN ('reserved', 'sold') AND order_id IS NOT NULL) OR
        status = 'burned'
      )
    ) STRICT;
    INSERT INTO keys_by_number (id, product_no, import_id, fingerprint, sealed, status, order_id, updated_at)
      SELECT k.id, p.no, k.import_id, k.fingerprint, k.sealed, k.status, k.order_id, k.updated_at
      FROM keys k JOIN products p ON p.id = k.product_id ORDER BY k.id;
    -- A trigger on orders reads keys: it goes while there is no keys table, and comes back as it was.
    DROP TRIGGER orders_release_holds_first;
    DROP TABLE keys;
    ALTER TABLE keys_by_number RENAME TO keys;

    CREATE INDEX keys_order ON keys (order_id) WHERE order_id IS NOT NULL;
    CREATE INDEX keys_import ON keys (import_id) WHERE status = 'staged';
    CREATE INDEX keys_product_order ON keys (product_no, id, status, import_id);
    CREATE INDEX keys_product_status ON keys (product_no, status, id, import_id);
    CREATE TRIGGER keys_hold_needs_live_order
    BEFORE UPDATE OF status, order_id ON keys
    WHEN NEW.status = 'reserved'
      AND (SELECT status FROM orders WHERE id = NEW.order_id) NOT IN ('reserved', 'needs_review')
    BEGIN
      SELECT RAISE(ABORT, 'a held key must reference a reserved order');
    END;
    CREATE TRIGGER orders_release_holds_first
    BEFORE UPDATE OF status ON orders
    WHEN NEW.status NOT IN ('reserved', 'needs_review')
      AND EXISTS (SELECT 1 FROM keys WHERE order_id = NEW.id AND status = 'reserved')
    BEGIN
      SELECT RAISE(ABORT, 'an order must release or sell its held keys before it leaves reserved');
    END;
  `);
}
