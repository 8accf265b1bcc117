/**
 * reconcile_1m_orders_s: a full reconciliation (every detector, the ledger replay, a 100,000-row payment
 * statement) of a shop with 1,000,000 delivered orders over four products, one read transaction.
 *
 * The shop is built with raw SQL (recursive CTEs, synchronous=OFF, foreign keys off while building) and
 * a ledger whose hash chain is computed in one pass, so building takes seconds rather than the hours a
 * million real purchases would. 1,000 payment records are deleted so the report has findings to build.
 */
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src-main/db/open';
import type { WritableDB } from '../src-main/db/types';
import { entryHash } from '../src-main/engine/ledger';
import { reconcile } from '../src-main/reconcile/run';

const PRODUCTS = 4;
const STATEMENT_ROWS = 100_000;
const BROKEN = 1_000;

export function build(db: WritableDB, orders: number): void {
  const t0 = Date.UTC(2026, 10, 24);
  const per = Math.ceil(orders / PRODUCTS);
  db.pragma('synchronous = OFF');
  db.pragma('foreign_keys = OFF');
  db.transaction(() => {
    const product = db.prepare(
      `INSERT INTO products (id, name, price_amount, currency, available, reserved, sold, created_at) VALUES (?, ?, 5000, 'CNY', 0, 0, ?, ?)`,
    );
    for (let p = 0; p < PRODUCTS; p++) product.run(`prd_${p}`, `Card ${p}`, Math.max(0, Math.min(per, orders - p * per)), t0);
    const params = { n: orders, per, t: t0 };
    const series = `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @n)`;
    db.prepare(
      `${series} INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash,
         created_at, expires_at, paid_at, delivered_at, updated_at)
       SELECT 'ord_' || i, 'prd_' || CAST((i - 1) / @per AS INTEGER), 1, 5000, 'CNY', 'buyer' || (i % 50000) || '@example.com', 'delivered', x'00',
         @t + i * 10, @t + i * 10 + 900000, @t + i * 10 + 5, @t + i * 10 + 5, @t + i * 10 + 5 FROM s`,
    ).run(params);
    db.prepare(
      `${series} INSERT INTO keys (id, product_no, fingerprint, sealed, status, order_id, updated_at)
       SELECT i, (SELECT no FROM products WHERE id = 'prd_' || CAST((i - 1) / @per AS INTEGER)), randomblob(32), x'00', 'sold',
         'ord_' || i, @t + i * 10 + 5 FROM s`,
    ).run(params);
    db.prepare(
      `${series} INSERT INTO deliveries (key_id, order_id, delivered_at) SELECT i, 'ord_' || i, @t + i * 10 + 5 FROM s`,
    ).run(params);
    db.prepare(
      `${series} INSERT INTO payments (event_id, order_id, amount, currency, source, outcome, received_at)
       SELECT 'evt_' || i, 'ord_' || i, 5000, 'CNY', 'webhook', 'delivered', @t + i * 10 + 5 FROM s`,
    ).run(params);

    // The ledger: one import per product, one sale per order, hash-chained.
    const insert = db.prepare(
      `INSERT INTO ledger (seq, at, kind, product_id, order_id, key_ids, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    let prev: Buffer = Buffer.alloc(32);
    let seq = 0;
    const append = (at: number, kind: string, productId: string, orderId: string | null, keyIds: string, detail: string) => {
      const row = {
        seq: ++seq,
        at,
        kind: kind as 'sell',
        product_id: productId,
        order_id: orderId,
        key_ids: keyIds,
        detail,
        prev_hash: prev,
      };
      const hash = entryHash(row);
      insert.run(row.seq, at, kind, productId, orderId, keyIds, detail, prev, hash);
      prev = hash;
    };
    for (let p = 0; p < PRODUCTS; p++) {
      const first = p * per + 1;
      const last = Math.min(orders, (p + 1) * per);
      if (first <= last)
        append(t0, 'import', `prd_${p}`, null, first === last ? String(first) : `${first}-${last}`, '{"keysTo":"available"}');
    }
    const sold = '{"keysTo":"sold","orderTo":"delivered"}';
    for (let i = 1; i <= orders; i++)
      append(t0 + i * 10 + 5, 'sell', `prd_${Math.floor((i - 1) / per)}`, `ord_${i}`, String(i), sold);

    // A day's statement for the first orders, and some payment records lost.
    const rows = Math.min(STATEMENT_ROWS, orders);
    db.prepare(
      `INSERT INTO statements (id, format, source, rows, period_start, period_end, imported_at, actor) VALUES (1, 'generic', 'bench.csv', ?, ?, ?, ?, 'bench')`,
    ).run(rows, t0 + 15, t0 + rows * 10 + 5, t0);
    db.prepare(
      `${series.replace('@n', '@rows')} INSERT INTO statement_rows (statement_id, line, payment_id, order_id, kind, amount, currency, at)
       SELECT 1, i + 1, '42000' || i, 'ord_' || i, 'payment', 5000, 'CNY', @t + i * 10 + 5 FROM s`,
    ).run({ rows, t: t0 });
    db.prepare(`DELETE FROM payments WHERE id % ? = 0`).run(Math.max(1, Math.floor(orders / BROKEN)));
  }).immediate();
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = FULL');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

export function benchReconcile(options: { quick?: boolean; orders?: number } = {}): { reconcile_1m_orders_s: number } {
  const orders = options.orders ?? (options.quick ? 20_000 : 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-reconcile-bench-'));
  try {
    const file = join(dir, 'shop.db');
    const builder = openDatabase(file);
    build(builder, orders);
    builder.close();
    const db = openDatabase(file);
    try {
      const heapBefore = process.memoryUsage().heapUsed;
      const started = performance.now();
      const report = reconcile(db, { now: Date.UTC(2026, 10, 25) });
      const seconds = (performance.now() - started) / 1000;
      const heapAfter = process.memoryUsage().heapUsed;
      const found = Object.values(report.counts).reduce((n, c) => n + c.open, 0);
      process.stderr.write(
        `reconcile: ${orders} orders in ${seconds.toFixed(2)} s, ${found} finding(s), heap ${heapAfter >= heapBefore ? '+' : '-'}${(Math.abs(heapAfter - heapBefore) / 2 ** 20).toFixed(0)} MB\n`,
      );
      if (found !== Math.floor(orders / Math.max(1, Math.floor(orders / BROKEN))))
        throw new Error(`expected the deleted payments as findings, found ${found}`);
      return { reconcile_1m_orders_s: Number(seconds.toFixed(3)) };
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
