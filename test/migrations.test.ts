/**
 * The schema and its migrations: every migration is applied to an empty file on its own (openDatabase's
 * `migrateTo`), records `user_version`, creates what it promises, and the constraints the sale depends on
 * (STRICT types, CHECKs, UNIQUE fingerprints, one live delivery per key, holds tied to live orders) are
 * enforced by SQLite itself. Re-opening changes nothing; a file from a newer OnceKey is refused.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, MIGRATIONS } from '../src-main/db/migrations';
import { DEFAULT_BUSY_TIMEOUT_MS, migrate, openDatabase, schemaVersion } from '../src-main/db/open';
import type { WritableDB } from '../src-main/db/types';
import { DB_FILE, Engine } from '../src-main/engine/engine';
import { discardStaleImports } from '../src-main/vault/import-store';
import { killAllBuyers, spawnBuyer, spawnBuyers } from './helpers/buyer-process';
import { seedKeys, tempDir } from './helpers/shop';

const cleanups: (() => void)[] = [];
afterEach(async () => {
  await killAllBuyers();
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});
afterAll(killAllBuyers);

/** A fresh file path in its own temporary folder; every handle opened through `open` is closed after the test. */
function freshFile(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return join(dir, DB_FILE);
}

function open(file: string, options: Parameters<typeof openDatabase>[1] = {}): WritableDB {
  const db = openDatabase(file, options);
  cleanups.push(() => {
    if (db.open) db.close();
  });
  return db;
}

/** What each migration adds to the schema. A new migration must add its line here (see the first test). */
const ADDS: Record<
  number,
  { tables: string[]; indices: string[]; triggers: string[]; dropsIndices?: string[]; dropsTables?: string[] }
> = {
  1: {
    tables: [
      'meta',
      'vault_wraps',
      'products',
      'imports',
      'orders',
      'keys',
      'deliveries',
      'payments',
      'idempotency',
      'ledger',
      'audit',
    ],
    indices: [
      'orders_expiry',
      'orders_email',
      'orders_review',
      'keys_available',
      'keys_order',
      'keys_import',
      'deliveries_one_live_per_key',
      'deliveries_order',
      'payments_order',
      'idempotency_age',
    ],
    triggers: ['keys_hold_needs_live_order', 'orders_release_holds_first'],
  },
  2: {
    tables: ['statements', 'statement_rows', 'payment_links', 'finding_resolutions'],
    indices: [
      'statement_rows_statement',
      'statement_rows_order',
      'statement_rows_payment',
      'payment_links_order',
      'ledger_order',
      'audit_subject',
    ],
    triggers: [],
  },
  3: { tables: [], indices: ['keys_product_order', 'keys_product_status', 'orders_paid'], triggers: [] },
  // Same names, now covering (checked below).
  4: { tables: [], indices: [], triggers: [] },
  // A column (idempotency.response), checked below.
  5: { tables: [], indices: [], triggers: [] },
  6: { tables: ['import_rows'], indices: [], triggers: [] },
  // keys_product_status serves the free-key lookup (checked below).
  7: { tables: [], indices: [], triggers: [], dropsIndices: ['keys_available'] },
  // idempotency rebuilt as a rowid table (checked below).
  8: { tables: [], indices: ['idempotency_key'], triggers: [] },
  // Nothing read idempotency_age (checked below).
  9: { tables: [], indices: [], triggers: [], dropsIndices: ['idempotency_age'] },
  // Staged codes move to a temporary table; imports.staged counts them (checked below).
  10: { tables: [], indices: [], triggers: [], dropsTables: ['import_rows'] },
  // Products get a number; keys are rebuilt to name it (checked below).
  11: { tables: [], indices: ['products_no'], triggers: ['products_number'] },
  // Payment channels and checkouts; payments rebuilt to name channel payments (checked below).
  12: { tables: ['payment_channels', 'checkouts'], indices: ['checkouts_due', 'payments_trade'], triggers: [] },
  // A column (statements.period_rule).
  13: { tables: [], indices: [], triggers: [] },
  // PostgreSQL only (its claim index); nothing on SQLite.
  14: { tables: [], indices: [], triggers: [] },
};

function expectedAt(version: number) {
  const all = { tables: [] as string[], indices: [] as string[], triggers: [] as string[] };
  for (let v = 1; v <= version; v++) {
    all.tables.push(...ADDS[v]!.tables);
    all.indices.push(...ADDS[v]!.indices);
    all.triggers.push(...ADDS[v]!.triggers);
    all.indices = all.indices.filter((name) => !ADDS[v]!.dropsIndices?.includes(name));
    all.tables = all.tables.filter((name) => !ADDS[v]!.dropsTables?.includes(name));
  }
  return { tables: all.tables.sort(), indices: all.indices.sort(), triggers: all.triggers.sort() };
}

function schemaObjects(db: Database.Database) {
  const names = (type: string) =>
    (
      db
        .prepare(`SELECT name FROM sqlite_schema WHERE type = ? AND name NOT LIKE 'sqlite_%' ORDER BY name`)
        .pluck()
        .all(type) as string[]
    ).sort();
  return { tables: names('table'), indices: names('index'), triggers: names('trigger') };
}

function schemaSql(db: Database.Database): string[] {
  return db
    .prepare(`SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
    .pluck()
    .all() as string[];
}

/** Keys name their product by number from version 11 on, by id before. */
function keyProduct(db: WritableDB, productId: string): { column: string; value: string } {
  const byNumber = (db.pragma('table_info(keys)') as { name: string }[]).some((c) => c.name === 'product_no');
  return byNumber
    ? { column: 'product_no', value: `(SELECT no FROM products WHERE id = '${productId}')` }
    : { column: 'product_id', value: `'${productId}'` };
}

/** A shop with a product, two keys and a reserved and an expired order, written by hand. */
function populated(db: WritableDB) {
  const now = Date.now();
  db.prepare(`INSERT INTO products (id, name, price_amount, currency, created_at) VALUES ('p1', 'Card', 100, 'CNY', ?)`).run(now);
  const product = keyProduct(db, 'p1');
  const key = db.prepare(
    `INSERT INTO keys (${product.column}, fingerprint, sealed, status, order_id, updated_at) VALUES (${product.value}, ?, x'00', ?, ?, ?)`,
  );
  const order = db.prepare(
    `INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash, created_at, expires_at, updated_at)
     VALUES (?, 'p1', 1, 100, 'CNY', 'a@example.com', ?, x'00', ?, ?, ?)`,
  );
  order.run('o-live', 'reserved', now, now + 60_000, now);
  order.run('o-dead', 'expired', now, now, now);
  const k1 = Number(key.run(Buffer.from('fp-1'), 'available', null, now).lastInsertRowid);
  const k2 = Number(key.run(Buffer.from('fp-2'), 'available', null, now).lastInsertRowid);
  return { now, k1, k2, key, order };
}

describe('migrations', () => {
  it('has a schema expectation for every migration, numbered 1..n without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: MIGRATIONS.length }, (_, i) => i + 1));
    expect(LATEST_VERSION).toBe(MIGRATIONS.length);
    expect(Object.keys(ADDS).map(Number)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('leaves an empty file empty at version 0', () => {
    const db = open(freshFile(), { migrateTo: 0 });
    expect(schemaVersion(db)).toBe(0);
    expect(schemaObjects(db)).toEqual({ tables: [], indices: [], triggers: [] });
  });

  for (const migration of MIGRATIONS) {
    it(`migrates an empty file to version ${migration.version}`, () => {
      const db = open(freshFile(), { migrateTo: migration.version });
      expect(schemaVersion(db)).toBe(migration.version);
      expect(schemaObjects(db)).toEqual(expectedAt(migration.version));
      // Every table is STRICT.
      const tables = db.pragma('table_list') as { name: string; schema: string; strict: number }[];
      const ours = tables.filter((t) => t.schema === 'main' && !t.name.startsWith('sqlite_'));
      expect(ours.filter((t) => t.strict !== 1).map((t) => t.name)).toEqual([]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
    });

    it(`upgrades a file at version ${migration.version - 1} to ${migration.version}, keeping its data`, () => {
      const file = freshFile();
      const before = open(file, { migrateTo: migration.version - 1 });
      before.exec(`CREATE TABLE probe (x INTEGER) STRICT; INSERT INTO probe VALUES (42);`);
      before.close();
      const after = open(file, { migrateTo: migration.version });
      expect(schemaVersion(after)).toBe(migration.version);
      expect(after.prepare('SELECT x FROM probe').pluck().get()).toBe(42);
      expect(schemaObjects(after).tables).toEqual([...expectedAt(migration.version).tables, 'probe'].sort());
    });
  }

  it('rolls a failing migration back whole: no half schema, version unchanged', () => {
    const file = freshFile();
    const raw = new Database(file);
    // A table the first migration creates last, already there: its CREATE fails at the very end.
    raw.exec('CREATE TABLE audit (x INTEGER)');
    raw.close();
    expect(() => open(file)).toThrow(/table audit already exists/);
    const check = new Database(file);
    try {
      expect(schemaVersion(check as WritableDB)).toBe(0);
      expect(schemaObjects(check).tables).toEqual(['audit']);
    } finally {
      check.close();
    }
  });

  it('version 4 answers the per-order reconciliation questions from the index alone', () => {
    const db = open(freshFile());
    const columns = (index: string) => (db.pragma(`index_info(${index})`) as { name: string }[]).map((c) => c.name);
    expect(columns('deliveries_order')).toEqual(['order_id', 'returned_at']);
    expect(columns('payments_order')).toEqual(['order_id', 'outcome']);
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
    expect(plan("SELECT count(*) FROM deliveries WHERE order_id = 'x' AND returned_at IS NULL")).toContain(
      'COVERING INDEX deliveries_order',
    );
    expect(plan("SELECT 1 FROM payments WHERE order_id = 'x' AND outcome = 'delivered'")).toContain(
      'COVERING INDEX payments_order',
    );
  });

  it('version 5 gives the idempotency records a nullable JSON answer column (older records keep NULL)', () => {
    const file = freshFile();
    const old = open(file, { migrateTo: 4 });
    old
      .prepare(
        `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, created_at) VALUES ('orders.create', 'k', x'00', 409, NULL, x'01', 0)`,
      )
      .run();
    old.close();
    const db = open(file);
    const column = (db.pragma('table_info(idempotency)') as { name: string; type: string; notnull: number }[]).find(
      (c) => c.name === 'response',
    );
    expect(column).toMatchObject({ type: 'TEXT', notnull: 0 });
    expect(db.prepare(`SELECT response FROM idempotency WHERE key = 'k'`).pluck().get()).toBeNull();
  });

  it('version 6 stages imports in import_rows (no index)', () => {
    const db = open(freshFile(), { migrateTo: 6 });
    const columns = (db.pragma('table_info(import_rows)') as { name: string; type: string; notnull: number }[]).map((c) => [
      c.name,
      c.type,
      c.notnull,
    ]);
    expect(columns).toEqual([
      ['import_id', 'INTEGER', 1],
      ['line', 'INTEGER', 1],
      ['fingerprint', 'BLOB', 1],
      ['sealed', 'BLOB', 1],
    ]);
    expect(db.prepare(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'import_rows'`).pluck().get()).toBe(
      0,
    );
    expect(() => db.prepare(`INSERT INTO import_rows VALUES (99, 1, x'01', x'00')`).run()).toThrow(/FOREIGN KEY/);
  });

  it('version 10 drops import_rows and counts staged codes in imports; an import an older version left staging is discarded', () => {
    const file = freshFile();
    const old = open(file, { migrateTo: 9 });
    old.prepare(`INSERT INTO products (id, name, price_amount, currency, created_at) VALUES ('p1', 'Card', 100, 'CNY', 0)`).run();
    old
      .prepare(
        `INSERT INTO imports (id, product_id, state, source, created_at, updated_at) VALUES (7, 'p1', 'staging', '{"name":"a.txt","pid":1}', 0, 0)`,
      )
      .run();
    old.prepare(`INSERT INTO import_rows VALUES (7, 1, x'02', x'00')`).run();
    // A key row a version-5 import left staged.
    old
      .prepare(
        `INSERT INTO keys (product_id, import_id, fingerprint, sealed, status, updated_at) VALUES ('p1', 7, x'01', x'00', 'staged', 0)`,
      )
      .run();
    old.close();
    const db = open(file);
    expect(db.prepare(`SELECT count(*) FROM sqlite_schema WHERE name = 'import_rows'`).pluck().get()).toBe(0);
    expect(db.prepare('SELECT staged FROM imports WHERE id = 7').pluck().get()).toBe(0);
    expect(() => db.prepare('UPDATE imports SET staged = -1 WHERE id = 7').run()).toThrow(/CHECK/);
    expect(discardStaleImports(db, 1, () => false)).toEqual([7]);
    expect(db.prepare('SELECT count(*) FROM keys').pluck().get()).toBe(0);
    expect(db.prepare('SELECT state FROM imports WHERE id = 7').pluck().get()).toBe('discarded');
  });

  it('version 7 drops keys_available; the free-key lookup reads keys_product_status instead', () => {
    const file = freshFile();
    const old = open(file, { migrateTo: 6 });
    populated(old);
    old.close();
    const db = open(file);
    expect(db.prepare(`SELECT count(*) FROM sqlite_schema WHERE name = 'keys_available'`).pluck().get()).toBe(0);
    // The lookup as the engine makes it (from version 11, by the product's number).
    const free = `SELECT id FROM keys WHERE product_no = (SELECT no FROM products WHERE id = 'p1') AND status = 'available' ORDER BY id LIMIT 64`;
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${free}`).all() as { detail: string }[];
    expect(plan.map((row) => row.detail)).toEqual([
      'SEARCH keys USING COVERING INDEX keys_product_status (product_no=? AND status=?)',
      'SCALAR SUBQUERY 1',
      'SEARCH products USING INDEX sqlite_autoindex_products_1 (id=?)',
    ]);
    expect(db.prepare(free).pluck().all()).toHaveLength(2);
  });

  it('version 8 rebuilds idempotency as a rowid table with a UNIQUE (scope, key) index, keeping every record', () => {
    const file = freshFile();
    const old = open(file, { migrateTo: 7 });
    populated(old);
    const insert = old.prepare(
      `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, response, created_at) VALUES ('orders.create', ?, x'01', ?, ?, x'02', ?, ?)`,
    );
    insert.run('k-new', 201, 'o-live', '{"ok":true}', 2);
    insert.run('k-old', 409, null, null, 1);
    const before = old.prepare('SELECT * FROM idempotency ORDER BY key').all();
    old.close();
    const db = open(file);
    expect(db.prepare('SELECT * FROM idempotency ORDER BY key').all()).toEqual(before);
    // Copied in the order written: the older record has the smaller rowid.
    expect(db.prepare('SELECT key FROM idempotency ORDER BY rowid').pluck().all()).toEqual(['k-old', 'k-new']);
    expect(db.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'idempotency'`).pluck().get()).not.toMatch(/WITHOUT ROWID/);
    expect(() =>
      db
        .prepare(
          `INSERT INTO idempotency (scope, key, fingerprint, status, sealed_response, created_at) VALUES ('orders.create', 'k-new', x'01', 409, x'', 3)`,
        )
        .run(),
    ).toThrow(/UNIQUE/);
    expect(() =>
      db
        .prepare(
          `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, created_at) VALUES ('orders.create', 'k-3', x'01', 201, 'o-none', x'', 3)`,
        )
        .run(),
    ).toThrow(/FOREIGN KEY/);
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN SELECT response FROM idempotency WHERE scope = 'orders.create' AND key IN (?, ?)`)
      .all('a', 'b') as { detail: string }[];
    expect(plan.map((row) => row.detail)).toEqual(['SEARCH idempotency USING INDEX idempotency_key (scope=? AND key=?)']);
  });

  it('version 9 drops idempotency_age and keeps every record', () => {
    const file = freshFile();
    const old = open(file, { migrateTo: 8 });
    populated(old);
    old
      .prepare(
        `INSERT INTO idempotency (scope, key, fingerprint, status, sealed_response, response, created_at) VALUES ('orders.create', 'k', x'01', 409, x'', '{}', 1)`,
      )
      .run();
    const before = old.prepare('SELECT * FROM idempotency ORDER BY rowid').all();
    expect(old.prepare(`SELECT count(*) FROM sqlite_schema WHERE name = 'idempotency_age'`).pluck().get()).toBe(1);
    old.close();
    const db = open(file);
    expect(db.prepare(`SELECT count(*) FROM sqlite_schema WHERE name = 'idempotency_age'`).pluck().get()).toBe(0);
    expect(db.prepare('SELECT * FROM idempotency ORDER BY rowid').all()).toEqual(before);
    expect(
      db.prepare(`SELECT name FROM sqlite_schema WHERE tbl_name = 'idempotency' AND type = 'index' ORDER BY name`).pluck().all(),
    ).toEqual(['idempotency_key']);
  });

  it('version 11 numbers products and rebuilds keys to name the number, keeping every key, id and reference', () => {
    const file = freshFile();
    const old = open(file, { migrateTo: 10 });
    const { k1, k2, now } = populated(old);
    old.prepare(`INSERT INTO products (id, name, price_amount, currency, created_at) VALUES ('p0', 'Other', 1, 'CNY', 0)`).run();
    old
      .prepare(`INSERT INTO keys (product_id, fingerprint, sealed, status, updated_at) VALUES ('p0', x'09', x'00', 'burned', 0)`)
      .run();
    old.prepare(`UPDATE keys SET status = 'reserved', order_id = 'o-live' WHERE id = ?`).run(k1);
    old.prepare('INSERT INTO deliveries (key_id, order_id, delivered_at) VALUES (?, ?, ?)').run(k2, 'o-live', now);
    const keysBefore = old
      .prepare('SELECT id, product_id AS product, fingerprint, sealed, status, order_id, updated_at FROM keys ORDER BY id')
      .all();
    old.close();

    const db = open(file, { migrateTo: 11 });
    expect(schemaVersion(db)).toBe(11);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare('SELECT id, no FROM products ORDER BY no').all()).toEqual([
      { id: 'p1', no: 1 },
      { id: 'p0', no: 2 },
    ]);
    const keysAfter = db
      .prepare(
        `SELECT k.id, p.id AS product, k.fingerprint, k.sealed, k.status, k.order_id, k.updated_at
         FROM keys k JOIN products p ON p.no = k.product_no ORDER BY k.id`,
      )
      .all();
    expect(keysAfter).toEqual(keysBefore);
    const columns = (db.pragma('table_info(keys)') as { name: string }[]).map((c) => c.name);
    expect(columns).toContain('product_no');
    expect(columns).not.toContain('product_id');
    // The delivery still points at its key; the triggers on keys and orders still hold.
    expect(db.prepare('SELECT key_id FROM deliveries').pluck().all()).toEqual([k2]);
    expect(() => db.prepare(`UPDATE orders SET status = 'expired' WHERE id = 'o-live'`).run()).toThrow(
      'an order must release or sell its held keys',
    );
    expect(() => db.prepare(`UPDATE keys SET status = 'reserved', order_id = 'o-dead' WHERE id = ?`).run(k2)).toThrow(
      'a held key must reference a reserved order',
    );
    // A new product, however inserted, gets the next number; two products cannot share one.
    db.prepare(`INSERT INTO products (id, name, price_amount, currency, created_at) VALUES ('p3', 'New', 1, 'CNY', 0)`).run();
    expect(db.prepare(`SELECT no FROM products WHERE id = 'p3'`).pluck().get()).toBe(3);
    expect(() => db.prepare(`UPDATE products SET no = 1 WHERE id = 'p3'`).run()).toThrow(/UNIQUE constraint failed: products.no/);
  });

  it('version 12 rebuilds payments to name channel payments, keeping every payment and its id', () => {
    const file = freshFile();
    const old = open(file, { migrateTo: 11 });
    const { now } = populated(old);
    const pay = old.prepare(
      `INSERT INTO payments (event_id, order_id, amount, currency, source, outcome, received_at) VALUES (?, 'o-live', 100, 'CNY', ?, ?, ?)`,
    );
    pay.run('evt-1', 'webhook', 'delivered', now);
    pay.run('manual:1', 'manual', 'needs_review', now + 1);
    const before = old.prepare('SELECT * FROM payments ORDER BY id').all();
    old.close();

    const db = open(file);
    expect(schemaVersion(db)).toBe(LATEST_VERSION);
    expect(
      db.prepare('SELECT id, event_id, order_id, amount, currency, source, outcome, received_at FROM payments').all(),
    ).toEqual(before);
    expect(db.prepare('SELECT count(*) FROM payments WHERE trade_no IS NULL AND via IS NULL').pluck().get()).toBe(2);
    // The covering index reconciliation reads is back under its name.
    expect(db.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'payments_order'`).pluck().get()).toMatch(
      /\(order_id, outcome\)/,
    );
    const insert = db.prepare(
      `INSERT INTO payments (event_id, order_id, amount, currency, source, outcome, received_at, trade_no, via) VALUES (?, 'o-live', 100, 'CNY', ?, 'delivered', 0, ?, ?)`,
    );
    insert.run('epay:T1', 'epay', 'T1', 'notify');
    // The same gateway payment can be recorded once only; a channel payment names its trade number.
    expect(() => insert.run('epay:T1', 'epay', 'T1', 'query')).toThrow(/UNIQUE constraint failed: payments.event_id/);
    expect(() => insert.run('alipay:T2', 'alipay', null, 'notify')).toThrow(/CHECK constraint failed/);
    expect(() => insert.run('paypal:T3', 'paypal', 'T3', 'notify')).toThrow(/CHECK constraint failed/);
    // One checkout per order and channel; a closed checkout is never queried again.
    const checkout = db.prepare(
      `INSERT INTO checkouts (order_id, channel, method, amount, currency, state, created_at, expires_at, next_query_at) VALUES ('o-live', ?, 'alipay', 100, 'CNY', ?, 0, 1, ?)`,
    );
    checkout.run('epay', 'open', 5);
    expect(() => checkout.run('epay', 'open', 5)).toThrow(/UNIQUE constraint failed/);
    expect(() => checkout.run('stripe', 'closed', 5)).toThrow(/CHECK constraint failed/);
    expect(db.pragma('foreign_key_check')).toEqual([]);
  });

  it('re-opening is idempotent: same version, same schema, same data', () => {
    const file = freshFile();
    const first = open(file);
    populated(first);
    const sql = schemaSql(first);
    first.close();
    for (let i = 0; i < 3; i++) {
      const again = open(file);
      expect(schemaVersion(again)).toBe(LATEST_VERSION);
      expect(schemaSql(again)).toEqual(sql);
      expect(again.prepare('SELECT count(*) FROM keys').pluck().get()).toBe(2);
      migrate(again);
      expect(schemaSql(again)).toEqual(sql);
      again.close();
    }
  });

  it('refuses a file written by a newer OnceKey, with a clear error, and leaves it alone', async () => {
    const file = freshFile();
    const db = open(file);
    populated(db);
    db.pragma(`user_version = ${LATEST_VERSION + 1}`);
    db.close();
    expect(() => openDatabase(file)).toThrow(
      `this database was written by a newer OnceKey (schema ${LATEST_VERSION + 1}, we know ${LATEST_VERSION})`,
    );
    expect(() => Engine.open({ dataDir: join(file, '..') })).toThrow(/newer OnceKey/);
    const check = new Database(file, { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(LATEST_VERSION + 1);
      expect(check.prepare('SELECT count(*) FROM keys').pluck().get()).toBe(2);
    } finally {
      check.close();
    }
  });

  it('lets several processes open a brand-new shop at once: one schema, one vault', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const procs = await spawnBuyers(dir, 4);
    expect(await Promise.all(procs.map((p) => p.close()))).toEqual([0, 0, 0, 0]);
    const db = open(join(dir, DB_FILE));
    expect(schemaVersion(db)).toBe(LATEST_VERSION);
    expect(db.prepare('SELECT kind FROM vault_wraps').pluck().all()).toEqual(['secret_store']);
  }, 60_000);
});

describe('connection settings', () => {
  it('opens in WAL with synchronous=FULL, foreign keys on, a busy timeout and a sort helper thread', () => {
    const db = open(freshFile());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(DEFAULT_BUSY_TIMEOUT_MS);
    expect(db.pragma('threads', { simple: true })).toBe(1);
    const quick = open(freshFile(), { busyTimeoutMs: 100 });
    expect(quick.pragma('busy_timeout', { simple: true })).toBe(100);
  });

  it('gives the engine the same settings, with its short busy timeout', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const engine = Engine.open({ dataDir: dir });
    try {
      expect(engine.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(engine.db.pragma('synchronous', { simple: true })).toBe(2);
      expect(engine.db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(engine.db.pragma('busy_timeout', { simple: true })).toBe(100);
    } finally {
      await engine.close();
    }
  });
});

describe('constraints the schema enforces by itself', () => {
  it('is STRICT: a TEXT in an INTEGER column is refused', () => {
    const db = open(freshFile());
    expect(() =>
      db
        .prepare(`INSERT INTO products (id, name, price_amount, currency, created_at) VALUES ('p', 'n', 'fifty', 'CNY', 0)`)
        .run(),
    ).toThrow(/cannot store TEXT value in INTEGER column products.price_amount/);
    const { k1 } = populated(db);
    expect(() => db.prepare(`UPDATE keys SET updated_at = 'yesterday' WHERE id = ?`).run(k1)).toThrow(/cannot store TEXT value/);
    expect(() => db.prepare(`UPDATE orders SET quantity = '1x' WHERE id = 'o-live'`).run()).toThrow(/cannot store TEXT value/);
  });

  it('CHECKs refuse bad states', () => {
    const db = open(freshFile());
    const { k1, now } = populated(db);
    expect(() => db.prepare(`UPDATE keys SET status = 'lost' WHERE id = ?`).run(k1)).toThrow(/CHECK constraint failed/);
    expect(() => db.prepare(`UPDATE orders SET status = 'shipped' WHERE id = 'o-dead'`).run()).toThrow(/CHECK constraint failed/);
    // A sold key must name its order; an available one must not.
    expect(() => db.prepare(`UPDATE keys SET status = 'sold' WHERE id = ?`).run(k1)).toThrow(/CHECK constraint failed/);
    expect(() => db.prepare(`UPDATE keys SET order_id = 'o-dead' WHERE id = ?`).run(k1)).toThrow(/CHECK constraint failed/);
    // needs_review needs a reason; delivered needs a payment time.
    expect(() => db.prepare(`UPDATE orders SET status = 'needs_review' WHERE id = 'o-dead'`).run()).toThrow(
      /CHECK constraint failed/,
    );
    expect(() => db.prepare(`UPDATE orders SET status = 'delivered' WHERE id = 'o-dead'`).run()).toThrow(
      /CHECK constraint failed/,
    );
    expect(() => db.prepare(`UPDATE products SET available = -1`).run()).toThrow(/CHECK constraint failed/);
    expect(() => db.prepare(`UPDATE products SET currency = 'cny'`).run()).toThrow(/CHECK constraint failed/);
    expect(() =>
      db
        .prepare(
          `INSERT INTO ledger (seq, at, kind, product_id, key_ids, detail, prev_hash, hash) VALUES (1, ?, 'steal', 'p1', '', '{}', x'', x'')`,
        )
        .run(now),
    ).toThrow(/CHECK constraint failed/);
    expect(() =>
      db
        .prepare(
          `INSERT INTO payments (event_id, order_id, amount, currency, source, outcome, received_at) VALUES ('e', 'o', 1, 'CNY', 'cash', 'delivered', 0)`,
        )
        .run(),
    ).toThrow(/CHECK constraint failed/);
  });

  it('refuses the same code twice for a product (UNIQUE product_no, fingerprint), but not for another product', () => {
    const db = open(freshFile());
    const { key, now } = populated(db);
    expect(() => key.run(Buffer.from('fp-1'), 'available', null, now)).toThrow(
      /UNIQUE constraint failed: keys.product_no, keys.fingerprint/,
    );
    db.prepare(`INSERT INTO products (id, name, price_amount, currency, created_at) VALUES ('p2', 'Other', 1, 'CNY', 0)`).run();
    expect(() =>
      db
        .prepare(
          `INSERT INTO keys (product_no, fingerprint, sealed, status, updated_at) VALUES ((SELECT no FROM products WHERE id = 'p2'), ?, x'00', 'available', 0)`,
        )
        .run(Buffer.from('fp-1')),
    ).not.toThrow();
  });

  it('never lets a key be delivered twice at once (partial UNIQUE on live deliveries)', () => {
    const db = open(freshFile());
    const { k1, now } = populated(db);
    db.prepare(`UPDATE keys SET status = 'reserved', order_id = 'o-live' WHERE id = ?`).run(k1);
    const deliver = db.prepare('INSERT INTO deliveries (key_id, order_id, delivered_at, returned_at) VALUES (?, ?, ?, ?)');
    deliver.run(k1, 'o-live', now, null);
    expect(() => deliver.run(k1, 'o-dead', now, null)).toThrow(/UNIQUE constraint failed: deliveries.key_id/);
    // Once the first delivery is returned, the key may be delivered again; returned rows stay.
    db.prepare('UPDATE deliveries SET returned_at = ? WHERE key_id = ?').run(now, k1);
    expect(() => deliver.run(k1, 'o-dead', now, null)).not.toThrow();
    expect(() => deliver.run(k1, 'o-live', now, now)).not.toThrow();
    expect(db.prepare('SELECT count(*) FROM deliveries WHERE key_id = ?').pluck().get(k1)).toBe(3);
  });

  it('refuses a hold on an order that can no longer hold keys (trigger)', () => {
    const db = open(freshFile());
    const { k1, k2 } = populated(db);
    const hold = db.prepare(`UPDATE keys SET status = 'reserved', order_id = ? WHERE id = ?`);
    expect(() => hold.run('o-dead', k1)).toThrow('a held key must reference a reserved order');
    expect(() => hold.run('o-missing', k1)).toThrow();
    hold.run('o-live', k1);
    db.prepare(`UPDATE orders SET status = 'needs_review', review_reason = 'hold_mismatch' WHERE id = 'o-live'`).run();
    expect(() => hold.run('o-live', k2)).not.toThrow();
  });

  it('refuses to move an order out of reserved while it still holds keys (trigger)', () => {
    const db = open(freshFile());
    const { k1, now } = populated(db);
    db.prepare(`UPDATE keys SET status = 'reserved', order_id = 'o-live' WHERE id = ?`).run(k1);
    const expire = db.prepare(`UPDATE orders SET status = 'expired' WHERE id = 'o-live'`);
    expect(() => expire.run()).toThrow('an order must release or sell its held keys before it leaves reserved');
    db.prepare(`UPDATE keys SET status = 'available', order_id = NULL, updated_at = ? WHERE id = ?`).run(now, k1);
    expect(() => expire.run()).not.toThrow();
  });

  it('enforces foreign keys', () => {
    const db = open(freshFile());
    populated(db);
    expect(() =>
      db
        .prepare(
          `INSERT INTO keys (product_no, fingerprint, sealed, status, updated_at) VALUES (999, x'01', x'00', 'available', 0)`,
        )
        .run(),
    ).toThrow(/FOREIGN KEY constraint failed/);
    expect(() => db.prepare(`INSERT INTO deliveries (key_id, order_id, delivered_at) VALUES (999, 'o-live', 0)`).run()).toThrow(
      /FOREIGN KEY constraint failed/,
    );
  });
});

describe('opening a shop while another process holds the write lock', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /**
   * Holds the write lock on `dir`'s file from another connection while a buyer process opens the shop:
   * until the child is ready (`lockFree`), or for well over the engine's own short busy timeout (100 ms)
   * after the child starts opening.
   */
  async function openWhileLocked(dir: string, { lockFree = false, holdMs = 400 } = {}): Promise<void> {
    const holder = new Database(join(dir, DB_FILE));
    holder.pragma('busy_timeout = 5000');
    // As another OnceKey process would: in WAL (a no-op unless the file is brand new).
    holder.pragma('journal_mode = WAL');
    holder.exec('BEGIN IMMEDIATE');
    let committed = false;
    try {
      const proc = spawnBuyer(dir);
      await proc.opening;
      // An up-to-date shop opens with only reads: it is ready while the lock is still held.
      if (lockFree) await proc.ready;
      else await sleep(holdMs);
      holder.exec('COMMIT');
      committed = true;
      await proc.ready;
      expect(await proc.close()).toBe(0);
    } finally {
      if (!committed) holder.exec('ROLLBACK');
      holder.close();
    }
  }

  it('opens an up-to-date shop without waiting for the lock at all', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const engine = Engine.open({ dataDir: dir });
    const product = await engine.createProduct({ name: 'Card', price: { amount: 1, currency: 'CNY' } });
    seedKeys(engine.db, engine.vault, product.id, ['A']);
    await engine.close();
    await openWhileLocked(dir, { lockFree: true });
  }, 60_000);

  it('creates the vault on first open once the lock is free, instead of failing after 100 ms', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    openDatabase(join(dir, DB_FILE)).close(); // schema, no vault yet
    await openWhileLocked(dir);
    const db = open(join(dir, DB_FILE));
    expect(db.prepare('SELECT count(*) FROM vault_wraps').pluck().get()).toBe(1);
  }, 60_000);

  it('waits out a migration that holds the lock longer than the usual busy timeout', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    // A shop one migration behind, whose other opener holds the write lock past DEFAULT_BUSY_TIMEOUT_MS
    // (as a rebuild of a big table would).
    open(join(dir, DB_FILE), { migrateTo: LATEST_VERSION - 1 }).close();
    await openWhileLocked(dir, { holdMs: DEFAULT_BUSY_TIMEOUT_MS + 1500 });
    const db = open(join(dir, DB_FILE));
    expect(schemaVersion(db)).toBe(LATEST_VERSION);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(DEFAULT_BUSY_TIMEOUT_MS);
  }, 60_000);

  it('migrates a brand-new file once the other opener is done', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    // An empty file that another process has just switched to WAL and is about to migrate.
    new Database(join(dir, DB_FILE)).close();
    await openWhileLocked(dir);
    const db = open(join(dir, DB_FILE));
    expect(schemaVersion(db)).toBe(LATEST_VERSION);
  }, 60_000);
});
