/**
 * The rows a detector's finding shows as evidence, read from the database when the collector keeps the
 * finding: an order's row, a key, a code's deliveries, an order's payments.
 */
import type { EvidenceRow } from '../../shared/reconcile';
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { iso, type OrderRowLike } from './finding';

export function orderRow(db: ReadableDB, id: string): OrderRowLike | undefined {
  return stmt(db, 'SELECT * FROM orders WHERE id = ?').get(id) as OrderRowLike | undefined;
}

export function deliveryEvidence(db: ReadableDB, where: 'key' | 'order', value: number | string): EvidenceRow[] {
  const sql =
    where === 'key'
      ? 'SELECT id, key_id, order_id, delivered_at, returned_at FROM deliveries WHERE key_id = ? ORDER BY id'
      : 'SELECT id, key_id, order_id, delivered_at, returned_at FROM deliveries WHERE order_id = ? ORDER BY id';
  const rows = stmt(db, sql).all(value) as {
    id: number;
    key_id: number;
    order_id: string;
    delivered_at: number;
    returned_at: number | null;
  }[];
  return rows.map((d) => ({
    source: 'delivery',
    ref: String(d.id),
    fields: { key: d.key_id, order: d.order_id, deliveredAt: iso(d.delivered_at), returnedAt: iso(d.returned_at) },
  }));
}

export function keyEvidence(db: ReadableDB, keyId: number): EvidenceRow | null {
  const k = stmt(
    db,
    'SELECT k.id, p.id AS product_id, k.status, k.order_id, k.fingerprint, k.updated_at FROM keys k LEFT JOIN products p ON p.no = k.product_no WHERE k.id = ?',
  ).get(keyId) as
    | { id: number; product_id: string; status: string; order_id: string | null; fingerprint: Buffer; updated_at: number }
    | undefined;
  if (!k) return null;
  return {
    source: 'key',
    ref: String(k.id),
    fields: {
      product: k.product_id,
      status: k.status,
      order: k.order_id,
      fingerprint: Buffer.from(k.fingerprint).toString('hex').slice(0, 16),
      updatedAt: iso(k.updated_at),
    },
  };
}

export function paymentEvidence(db: ReadableDB, orderId: string): EvidenceRow[] {
  const rows = stmt(db, 'SELECT * FROM payments WHERE order_id = ? ORDER BY id').all(orderId) as {
    id: number;
    event_id: string;
    amount: number;
    currency: string;
    source: string;
    outcome: string;
    received_at: number;
  }[];
  return rows.map((p) => ({
    source: 'payment',
    ref: p.event_id,
    fields: { amount: p.amount, currency: p.currency, source: p.source, outcome: p.outcome, receivedAt: iso(p.received_at) },
  }));
}
