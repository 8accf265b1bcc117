/**
 * Migration 3: indexes for the admin app's big lists. The key table pages through a product's keys
 * newest first, optionally by status, and shows the total: without these, a product with a million keys
 * made SQLite sort all of them per page (measured 10-60 s per page on our 2-core machine); with them a
 * page is read straight from an index (about 0.2-0.5 s for a page deep inside a million keys, counts included). The dashboard's
 * sales chart reads paid orders by payment time.
 */
import type { WritableDB } from '../types';

export const version = 3;

export function up(db: WritableDB): void {
  db.exec(`
    -- "All keys of a product, newest first": the order, the status filter and the import join all come
    -- from the index, so rows skipped by OFFSET never touch the table.
    CREATE INDEX keys_product_order ON keys (product_id, id, status, import_id);
    -- "Keys of a product with this status, newest first", and its count.
    CREATE INDEX keys_product_status ON keys (product_id, status, id, import_id);
    CREATE INDEX orders_paid ON orders (paid_at) WHERE paid_at IS NOT NULL;
  `);
}
