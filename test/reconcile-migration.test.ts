/**
 * Migration 2 (reconciliation tables): a version-1 shop with orders, keys and ledger entries upgrades to
 * version 2 with every row unchanged, and the new tables refuse bad rows themselves.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion } from '../src-main/db/open';
import { DB_FILE } from '../src-main/engine/engine';
import { tempDir } from './helpers/shop';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function file(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return join(dir, DB_FILE);
}

const dump = (db: ReturnType<typeof openDatabase>) =>
  Object.fromEntries(
    ['products', 'orders', 'keys', 'ledger', 'audit', 'payments'].map((t) => [
      t,
      db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all(),
    ]),
  );

describe('migration 2: reconciliation', () => {
  it('upgrades a version-1 shop keeping every row, and adds the empty reconciliation tables', () => {
    const path = file();
    const v1 = openDatabase(path, { migrateTo: 1 });
    v1.exec(`
      INSERT INTO products (id, name, price_amount, currency, created_at) VALUES ('p1', 'Card', 100, 'CNY', 1);
      INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash, created_at, expires_at, updated_at)
        VALUES ('o1', 'p1', 1, 100, 'CNY', 'a@example.com', 'reserved', x'00', 1, 2, 1);
      INSERT INTO keys (product_id, fingerprint, sealed, status, order_id, updated_at) VALUES ('p1', x'01', x'00', 'available', NULL, 1);
      INSERT INTO ledger (seq, at, kind, product_id, order_id, key_ids, detail, prev_hash, hash) VALUES (1, 1, 'import', 'p1', NULL, '1', '{}', x'00', x'01');
      INSERT INTO audit (at, actor, action, subject, detail) VALUES (1, 'me', 'order.release', 'o1', '{}');
      INSERT INTO payments (event_id, order_id, amount, currency, source, outcome, received_at) VALUES ('e1', 'o1', 100, 'CNY', 'manual', 'ignored', 1);
    `);
    const before = dump(v1);
    v1.close();
    const v2 = openDatabase(path, { migrateTo: 2 });
    try {
      expect(schemaVersion(v2)).toBe(2);
      expect(dump(v2)).toEqual(before);
      for (const table of ['statements', 'statement_rows', 'payment_links', 'finding_resolutions']) {
        expect(v2.prepare(`SELECT count(*) FROM ${table}`).pluck().get()).toBe(0);
      }
      // The dispute lookup's indexes are used.
      const plan = v2.prepare(`EXPLAIN QUERY PLAN SELECT * FROM ledger WHERE order_id = 'o1'`).all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' ')).toContain('ledger_order');
    } finally {
      v2.close();
    }
  });

  it('refuses statement rows with negative amounts, unknown kinds, lower-case currencies or no statement', () => {
    const db = openDatabase(file());
    try {
      db.prepare(
        `INSERT INTO statements (id, format, source, rows, imported_at, actor) VALUES (1, 'generic', 'a.csv', 1, 0, 'me')`,
      ).run();
      const row = db.prepare(
        `INSERT INTO statement_rows (statement_id, line, payment_id, kind, amount, currency, at) VALUES (?, 2, 'pi_1', ?, ?, ?, 0)`,
      );
      expect(() => row.run(1, 'payment', -1, 'CNY')).toThrow(/CHECK constraint failed/);
      expect(() => row.run(1, 'chargeback', 1, 'CNY')).toThrow(/CHECK constraint failed/);
      expect(() => row.run(1, 'payment', 1, 'cny')).toThrow(/CHECK constraint failed/);
      expect(() => row.run(9, 'payment', 1, 'CNY')).toThrow(/FOREIGN KEY constraint failed/);
      expect(() =>
        db.prepare(`INSERT INTO statements (format, source, rows, imported_at, actor) VALUES ('excel', 'a', 0, 0, 'me')`).run(),
      ).toThrow(/CHECK constraint failed/);
      expect(() =>
        db
          .prepare(`INSERT INTO payment_links (payment_id, order_id, actor, note, linked_at) VALUES ('pi', 'nope', 'me', 'n', 0)`)
          .run(),
      ).toThrow(/FOREIGN KEY constraint failed/);
      row.run(1, 'refund', 0, 'CNY');
      expect(db.prepare('SELECT count(*) FROM statement_rows').pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });
});
