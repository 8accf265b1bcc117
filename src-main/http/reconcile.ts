/**
 * A first, small reconciliation for `GET /api/v1/admin/reconciliation`, read-only: orders waiting for
 * review with their reason, and products whose stored stock counters disagree with their key rows.
 * The full reconciliation (paid-not-delivered, keys sold twice, provider statements) belongs in the
 * engine later; this lives in src-main/http/ until then. One read transaction, so a sale committing
 * meanwhile cannot show up as drift.
 */
import type { Finding } from '../../shared/api';
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { countStock, listProducts } from '../engine/products';

export function findDisagreements(db: ReadableDB): Finding[] {
  return db.transaction((): Finding[] => {
    const findings: Finding[] = [];
    const review = stmt(db, `SELECT id, review_reason FROM orders WHERE status = 'needs_review' ORDER BY updated_at, id`).all() as {
      id: string;
      review_reason: string | null;
    }[];
    for (const row of review) findings.push({ kind: 'needs_review', orderId: row.id, reason: row.review_reason ?? 'unknown' });
    for (const product of listProducts(db)) {
      const actual = countStock(db, product.id);
      const stored = product.stock;
      if (actual.available !== stored.available || actual.reserved !== stored.reserved || actual.sold !== stored.sold) {
        findings.push({ kind: 'stock_drift', productId: product.id, stored: { ...stored }, actual });
      }
    }
    return findings;
  })();
}
