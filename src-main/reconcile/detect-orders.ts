/**
 * Detectors over the orders: paid orders without their codes, codes out with no payment, and orders
 * waiting for review. Each is one set-based query that the caller runs inside one read transaction;
 * evidence is fetched only for the findings the collector keeps.
 */
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { deliveryEvidence, paymentEvidence } from './evidence';
import { type Collector, makeFinding, orderEvidence, type OrderRowLike } from './finding';

/** Orders paid (or marked delivered) that hold fewer live deliveries than they bought. */
export function detectPaidNotDelivered(db: ReadableDB, out: Collector): void {
  const rows = stmt(
    db,
    `SELECT o.*, (SELECT count(*) FROM deliveries d WHERE d.order_id = o.id AND d.returned_at IS NULL) AS live
     FROM orders o WHERE o.status IN ('paid', 'delivered') AND live < o.quantity`,
  );
  for (const row of rows.iterate() as IterableIterator<OrderRowLike & { live: number }>) {
    out.add('paid_not_delivered', () =>
      makeFinding('paid_not_delivered', {
        subject: row.id,
        orderId: row.id,
        productId: row.product_id,
        amount: { amount: row.amount, currency: row.currency },
        summary: `order ${row.id} is ${row.status} but ${row.live} of ${row.quantity} code(s) reached the buyer`,
        expected: { status: row.status, codesDelivered: row.quantity },
        actual: { status: row.status, codesDelivered: row.live },
        evidence: [orderEvidence(row), ...paymentEvidence(db, row.id), ...deliveryEvidence(db, 'order', row.id)],
        actions: ['redeliver', 'refund', 'resolve'],
      }),
    );
  }
}

/**
 * Codes out to an order that never paid: not in a paid state, or no payment took effect and no agent
 * linked a statement payment to it.
 */
export function detectDeliveredNotPaid(db: ReadableDB, out: Collector): void {
  const rows = stmt(
    db,
    `SELECT o.*, d.live FROM (SELECT order_id, count(*) AS live FROM deliveries WHERE returned_at IS NULL GROUP BY order_id) d
     JOIN orders o ON o.id = d.order_id
     WHERE o.paid_at IS NULL OR o.status NOT IN ('paid', 'delivered', 'needs_review')
        OR (NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id AND p.outcome = 'delivered')
            AND NOT EXISTS (SELECT 1 FROM payment_links l WHERE l.order_id = o.id))`,
  );
  for (const row of rows.iterate() as IterableIterator<OrderRowLike & { live: number }>) {
    out.add('delivered_not_paid', () => {
      const payments = paymentEvidence(db, row.id);
      return makeFinding('delivered_not_paid', {
        subject: row.id,
        orderId: row.id,
        productId: row.product_id,
        amount: { amount: row.amount, currency: row.currency },
        summary: `order ${row.id} (${row.status}) has ${row.live} code(s) out, but no payment took effect`,
        expected: { codesDelivered: 0, paymentsApplied: 1, status: 'delivered' },
        actual: {
          codesDelivered: row.live,
          paymentsApplied: payments.filter((p) => p.fields.outcome === 'delivered').length,
          status: row.status,
        },
        evidence: [orderEvidence(row), ...payments, ...deliveryEvidence(db, 'order', row.id)],
        actions: ['refund', 'link_payment', 'resolve'],
      });
    });
  }
}

/** Every order waiting for review, with its reason. */
export function detectNeedsReview(db: ReadableDB, out: Collector): void {
  const rows = stmt(db, `SELECT * FROM orders WHERE status = 'needs_review' ORDER BY updated_at, id`);
  for (const row of rows.iterate() as IterableIterator<OrderRowLike>) {
    out.add('needs_review', () =>
      makeFinding('needs_review', {
        subject: row.id,
        orderId: row.id,
        productId: row.product_id,
        amount: { amount: row.amount, currency: row.currency },
        summary: `order ${row.id} needs review: ${row.review_reason ?? 'unknown'}`,
        expected: { status: 'delivered', reason: null },
        actual: { status: 'needs_review', reason: row.review_reason ?? 'unknown' },
        evidence: [orderEvidence(row), ...paymentEvidence(db, row.id), ...deliveryEvidence(db, 'order', row.id)],
        actions: ['redeliver', 'refund', 'release', 'resolve'],
      }),
    );
  }
}
