/**
 * Detectors over the keys: a key (or one code, across products) sold twice, holds past their expiry or
 * on dead orders, and stored stock counters that drifted from the key rows. Each is one set-based query
 * (or a streamed scan) that the caller runs inside one read transaction; evidence is fetched only for
 * the findings the collector keeps.
 */
import type { EvidenceRow } from '../../shared/reconcile';
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { deliveryEvidence, keyEvidence, orderRow } from './evidence';
import { type Collector, iso, makeFinding, orderEvidence, type OrderRowLike } from './finding';

/** Up to this many products, codes shared between products are found by merging their index ranges. */
const MERGE_MAX_PRODUCTS = 100;

/**
 * Codes sold under more than one product, with their sold keys' ids. Each product's fingerprints come
 * sorted out of the UNIQUE (product_no, fingerprint) index, so SQLite merges them without a sort (about
 * 0.35 s against 1.2 s for a GROUP BY over a million sold keys); only the few codes that two products
 * share are then looked up in the table.
 */
function codesSoldTwice(db: ReadableDB): { fingerprint: Buffer; keyIds: number[] }[] {
  // Every product number the keys name (not only the products table's: a tamperer may have moved a
  // key), one index seek each.
  const products = stmt(
    db,
    `WITH RECURSIVE p(no) AS (SELECT min(product_no) FROM keys
       UNION ALL SELECT (SELECT min(product_no) FROM keys WHERE product_no > p.no) FROM p WHERE p.no IS NOT NULL)
     SELECT no FROM p WHERE no IS NOT NULL`,
  )
    .pluck()
    .all() as number[];
  if (products.length < 2) return [];
  const found: { fingerprint: Buffer; keyIds: number[] }[] = [];
  const add = (fingerprint: Buffer, ids: readonly number[]): void => {
    if (ids.length > 1) found.push({ fingerprint, keyIds: [...ids].sort((a, b) => a - b) });
  };
  if (products.length > MERGE_MAX_PRODUCTS) {
    const dupes = stmt(
      db,
      `SELECT fingerprint, group_concat(id) AS ids FROM keys WHERE status = 'sold' GROUP BY fingerprint HAVING count(*) > 1`,
    );
    for (const row of dupes.iterate() as IterableIterator<{ fingerprint: Buffer; ids: string }>)
      add(row.fingerprint, row.ids.split(',').map(Number));
    return found;
  }
  const arms = products.map(() => 'SELECT fingerprint FROM keys WHERE product_no = ?').join(' UNION ALL ');
  const shared = stmt(
    db,
    `SELECT fingerprint FROM (${arms} ORDER BY fingerprint) GROUP BY fingerprint HAVING count(*) > 1`,
  ).pluck();
  const sold = stmt(
    db,
    `SELECT id FROM keys WHERE product_no IN (SELECT value FROM json_each(?)) AND fingerprint = ? AND status = 'sold'`,
  ).pluck();
  const list = JSON.stringify(products);
  for (const fingerprint of shared.all(...products) as Buffer[]) add(fingerprint, sold.all(list, fingerprint) as number[]);
  return found;
}

/** A key with more than one live delivery, delivered to an order it does not belong to, or one code sold under two products. */
export function detectKeySoldTwice(db: ReadableDB, out: Collector): void {
  const holders = new Map<number, Set<string>>();
  const note = (keyId: number, orderId: string | null): void => {
    let set = holders.get(keyId);
    if (!set) holders.set(keyId, (set = new Set()));
    if (orderId !== null) set.add(orderId);
  };
  const multi = stmt(db, `SELECT key_id FROM deliveries WHERE returned_at IS NULL GROUP BY key_id HAVING count(*) > 1`).pluck();
  for (const keyId of multi.iterate() as IterableIterator<number>) note(keyId, null);
  const stray = stmt(
    db,
    `SELECT d.key_id, d.order_id, k.order_id AS key_order FROM deliveries d JOIN keys k ON k.id = d.key_id
     WHERE d.returned_at IS NULL AND (k.status <> 'sold' OR k.order_id IS NOT d.order_id)`,
  );
  for (const row of stray.iterate() as IterableIterator<{ key_id: number; order_id: string; key_order: string | null }>) {
    note(row.key_id, row.order_id);
    note(row.key_id, row.key_order);
  }
  for (const [keyId, orders] of holders) {
    out.add('key_sold_twice', () => {
      const deliveries = deliveryEvidence(db, 'key', keyId);
      for (const d of deliveries) if (d.fields.returnedAt === null) orders.add(String(d.fields.order));
      const key = keyEvidence(db, keyId);
      if (key?.fields.order) orders.add(String(key.fields.order));
      const list = [...orders].sort();
      return makeFinding('key_sold_twice', {
        subject: `key:${keyId}`,
        orderId: list[0] ?? null,
        productId: key ? String(key.fields.product) : null,
        keyIds: [keyId],
        summary: `key ${keyId} is held by ${list.length} orders: ${list.join(', ')}`,
        expected: { holders: 1, orders: String(key?.fields.order ?? '') },
        actual: { holders: list.length, orders: list.join(', ') },
        evidence: [...(key ? [key] : []), ...deliveries],
        actions: ['redeliver', 'refund', 'resolve'],
      });
    });
  }

  // The same code imported into two products and sold in both (the per-product UNIQUE cannot see it).
  for (const { fingerprint, keyIds } of codesSoldTwice(db)) {
    const fp = Buffer.from(fingerprint).toString('hex').slice(0, 16);
    out.add('key_sold_twice', () => {
      const keys = keyIds.map((id) => keyEvidence(db, id)).filter((k): k is EvidenceRow => k !== null);
      const orders = keys.map((k) => String(k.fields.order));
      return makeFinding('key_sold_twice', {
        subject: `code:${fp}`,
        orderId: orders[0] ?? null,
        keyIds,
        summary: `one code (fingerprint ${fp}) was sold ${keys.length} times, under keys ${keyIds.join(', ')}`,
        expected: { holders: 1, orders: orders[0] ?? '' },
        actual: { holders: keys.length, orders: orders.join(', ') },
        evidence: keys,
        actions: ['redeliver', 'refund', 'resolve'],
      });
    });
  }
}

/** Reservations past their expiry (plus a grace for the sweeper) still holding keys, and holds on dead orders. */
export function detectExpiredHolds(db: ReadableDB, out: Collector, now: number, graceMs: number): void {
  const seen = new Set<string>();
  const report = (row: OrderRowLike | undefined, orderId: string, keyIds: number[], why: string): void => {
    if (seen.has(orderId)) return;
    seen.add(orderId);
    out.add('expired_hold', () =>
      makeFinding('expired_hold', {
        subject: orderId,
        orderId,
        productId: row?.product_id ?? null,
        keyIds,
        summary: `order ${orderId} ${why}, yet holds ${keyIds.length} key(s)`,
        expected: { heldKeys: 0, status: row?.status === 'reserved' ? 'expired' : (row?.status ?? 'missing') },
        actual: { heldKeys: keyIds.length, status: row?.status ?? 'missing' },
        evidence: [
          ...(row ? [orderEvidence(row)] : []),
          ...keyIds.slice(0, 50).flatMap((id) => {
            const k = keyEvidence(db, id);
            return k ? [k] : [];
          }),
        ],
        actions: ['release', 'resolve'],
      }),
    );
  };
  const overdue = stmt(
    db,
    `SELECT o.*, group_concat(k.id) AS held FROM orders o JOIN keys k ON k.order_id = o.id AND k.status = 'reserved'
     WHERE o.status = 'reserved' AND o.expires_at <= ? GROUP BY o.id`,
  );
  for (const row of overdue.iterate(now - graceMs) as IterableIterator<OrderRowLike & { held: string }>) {
    report(row, row.id, row.held.split(',').map(Number), `expired at ${iso(row.expires_at)}`);
  }
  const dead = stmt(
    db,
    `SELECT k.order_id, group_concat(k.id) AS held FROM keys k LEFT JOIN orders o ON o.id = k.order_id
     WHERE k.status = 'reserved' AND (o.status IS NULL OR o.status NOT IN ('reserved', 'needs_review'))
     GROUP BY k.order_id`,
  );
  for (const row of dead.iterate() as IterableIterator<{ order_id: string | null; held: string }>) {
    const orderId = row.order_id ?? '(none)';
    const order = row.order_id === null ? undefined : orderRow(db, row.order_id);
    report(order, orderId, row.held.split(',').map(Number), order ? `is ${order.status}` : 'does not exist');
  }
}

/** Products whose stored counters disagree with their key rows. */
export function detectStockDrift(db: ReadableDB, out: Collector): void {
  const counted = new Map<string, { available: number; reserved: number; sold: number }>();
  // Counted by product number, then named (a number no product has stays apart from every product).
  const rows = stmt(
    db,
    `SELECT coalesce((SELECT id FROM products WHERE no = g.product_no), '#' || g.product_no) AS product_id, g.status, g.n
     FROM (SELECT product_no, status, count(*) AS n FROM keys GROUP BY product_no, status) AS g`,
  );
  for (const row of rows.iterate() as IterableIterator<{ product_id: string; status: string; n: number }>) {
    let c = counted.get(row.product_id);
    if (!c) counted.set(row.product_id, (c = { available: 0, reserved: 0, sold: 0 }));
    if (row.status === 'available' || row.status === 'reserved' || row.status === 'sold') c[row.status] = row.n;
  }
  const products = stmt(
    db,
    'SELECT id, name, price_amount, currency, available, reserved, sold FROM products ORDER BY created_at, id',
  ).all() as {
    id: string;
    name: string;
    price_amount: number;
    currency: string;
    available: number;
    reserved: number;
    sold: number;
  }[];
  for (const p of products) {
    const actual = counted.get(p.id) ?? { available: 0, reserved: 0, sold: 0 };
    const stored = { available: p.available, reserved: p.reserved, sold: p.sold };
    if (stored.available === actual.available && stored.reserved === actual.reserved && stored.sold === actual.sold) continue;
    out.add('stock_drift', () =>
      makeFinding('stock_drift', {
        subject: p.id,
        productId: p.id,
        summary: `product ${p.name} (${p.id}): stored counters disagree with the key rows`,
        expected: { ...actual },
        actual: { ...stored },
        evidence: [{ source: 'product', ref: p.id, fields: { name: p.name, ...stored } }],
        actions: ['resolve'],
      }),
    );
  }
}
