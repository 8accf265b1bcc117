/**
 * Orders as stored and as shown: the row and its view, the helpers every order step reads and writes
 * them with (the order's row, its held and sold keys, its status), and the reads for buyers (an order by
 * id, by id and access token, its delivered codes).
 */
import { timingSafeEqual } from 'node:crypto';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { keyAad, open, type VaultKeys } from '../vault/crypto';
import { sha256 } from './ids';
import type { OrderState } from './ledger';

export type OrderStatus = OrderState;

export interface OrderView {
  readonly id: string;
  readonly status: OrderStatus;
  readonly productId: string;
  readonly quantity: number;
  readonly amount: number;
  readonly currency: string;
  readonly email: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly paidAt: string | null;
  readonly deliveredAt: string | null;
  readonly reviewReason: string | null;
}

/** What the buyer gets back when an order is created: the only time the access token is shown. */
export interface CreatedOrder extends OrderView {
  readonly accessToken: string;
}

export interface Ctx {
  readonly now: number;
}

export interface OrderRow {
  id: string;
  product_id: string;
  quantity: number;
  amount: number;
  currency: string;
  email: string;
  status: OrderStatus;
  review_reason: string | null;
  access_token_hash: Buffer;
  created_at: number;
  expires_at: number;
  paid_at: number | null;
  delivered_at: number | null;
}

export const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

/** `iso` that remembers its answers: a batch's new orders share their creation and expiry times. */
export function rememberingIso(): (ms: number) => string {
  const made = new Map<number, string>();
  return (ms) => {
    let text = made.get(ms);
    if (text === undefined) made.set(ms, (text = iso(ms)));
    return text;
  };
}

export function toView(row: OrderRow, isoAt = iso): OrderView {
  return {
    id: row.id,
    status: row.status,
    productId: row.product_id,
    quantity: row.quantity,
    amount: row.amount,
    currency: row.currency,
    email: row.email,
    createdAt: isoAt(row.created_at),
    expiresAt: isoAt(row.expires_at),
    paidAt: isoOrNull(row.paid_at),
    deliveredAt: isoOrNull(row.delivered_at),
    reviewReason: row.review_reason,
  };
}

export function orderRow(db: ReadableDB, id: string): OrderRow | undefined {
  return stmt(db, 'SELECT * FROM orders WHERE id = ?').get(id) as OrderRow | undefined;
}

export function heldKeys(db: ReadableDB, orderId: string): number[] {
  return stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'reserved' ORDER BY id`).pluck().all(orderId) as number[];
}

export function soldKeys(db: ReadableDB, orderId: string): number[] {
  return stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'sold' ORDER BY id`).pluck().all(orderId) as number[];
}

export function setStatus(db: WritableDB, ctx: Ctx, id: string, status: OrderStatus, reason: string | null = null): void {
  stmt(db, 'UPDATE orders SET status = ?, review_reason = ?, updated_at = ? WHERE id = ?').run(status, reason, ctx.now, id);
}

export function getOrder(db: ReadableDB, id: string): OrderView | null {
  const row = orderRow(db, id);
  return row ? toView(row) : null;
}

/**
 * The order, if `accessToken` is its token. Unknown order and wrong token look the same to the caller.
 */
export function getOrderWithToken(db: ReadableDB, id: string, accessToken: string): OrderView | null {
  const row = orderRow(db, id);
  const expected = row?.access_token_hash ?? Buffer.alloc(32);
  const ok = timingSafeEqual(sha256(accessToken), expected);
  return row && ok ? toView(row) : null;
}

/** The plaintext codes delivered to an order (for its buyer, or an audited reveal). */
export function deliveredCodes(db: ReadableDB, vault: VaultKeys, orderId: string): string[] {
  const rows = stmt(
    db,
    `SELECT p.id AS product_id, k.fingerprint, k.sealed FROM deliveries d JOIN keys k ON k.id = d.key_id JOIN products p ON p.no = k.product_no
     WHERE d.order_id = ? AND d.returned_at IS NULL ORDER BY k.id`,
  ).all(orderId) as { product_id: string; fingerprint: Buffer; sealed: Buffer }[];
  return rows.map((r) => open(vault.sealKey, r.sealed, keyAad(r.product_id, r.fingerprint)).toString('utf8'));
}
