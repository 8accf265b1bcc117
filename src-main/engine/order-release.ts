/**
 * Keys going back: holds released when they expire or by hand (back on sale), and refunds, which
 * release what an order still holds and burn or return its delivered keys as the support agent chose.
 */
import { writeAudit } from '../db/audit';
import { stmt } from '../db/statements';
import type { WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { appendLedger } from './ledger';
import {
  heldKeys,
  orderRow,
  setStatus,
  soldKeys,
  toView,
  type Ctx,
  type OrderRow,
  type OrderStatus,
  type OrderView,
} from './order-rows';
import { moveStock } from './products';

/** Returns an order's held keys to sale; the order becomes `to` (expired by default). */
function releaseHolds(db: WritableDB, ctx: Ctx, order: OrderRow, to: OrderStatus, detail: Record<string, unknown>): number {
  const held = heldKeys(db, order.id);
  if (held.length > 0) {
    stmt(
      db,
      `UPDATE keys SET status = 'available', order_id = NULL, updated_at = ? WHERE order_id = ? AND status = 'reserved'`,
    ).run(ctx.now, order.id);
    moveStock(db, order.product_id, { available: held.length, reserved: -held.length });
  }
  setStatus(db, ctx, order.id, to, null);
  appendLedger(db, {
    kind: 'release',
    at: ctx.now,
    productId: order.product_id,
    orderId: order.id,
    keyIds: held,
    keysTo: 'available',
    orderTo: to,
    detail,
  });
  return held.length;
}

/** Releases every hold that expired by `ctx.now` (at most `limit` orders); returns how many orders. */
export function sweepExpired(db: WritableDB, ctx: Ctx, limit = 500): number {
  const due = stmt(db, `SELECT * FROM orders WHERE status = 'reserved' AND expires_at <= ? ORDER BY expires_at LIMIT ?`).all(
    ctx.now,
    limit,
  ) as OrderRow[];
  for (const order of due) releaseHolds(db, ctx, order, 'expired', { reason: 'hold_expired' });
  return due.length;
}

/** Releases an unpaid order's hold by hand (support action). */
export function releaseOrder(db: WritableDB, ctx: Ctx, orderId: string, actor: string): OrderView {
  const order = orderRow(db, orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${orderId}`);
  if (order.status !== 'reserved' && !(order.status === 'needs_review' && heldKeys(db, orderId).length > 0)) {
    throw new EngineError('order_not_releasable', `order ${orderId} is ${order.status} and holds no keys`);
  }
  releaseHolds(db, ctx, order, 'expired', { reason: 'released_by_hand', actor });
  writeAudit(db, ctx.now, actor, 'order.release', orderId, {});
  return toView(orderRow(db, orderId)!);
}

export type KeyDisposition = 'burn' | 'return';

/**
 * Refunds an order. Its delivered keys are burned (the buyer saw them) or returned to sale, by the
 * caller's explicit choice; keys still held are released.
 */
export function refund(
  db: WritableDB,
  ctx: Ctx,
  args: { orderId: string; keys: KeyDisposition; reason: string; actor: string },
): OrderView {
  const order = orderRow(db, args.orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${args.orderId}`);
  if (order.status !== 'delivered' && order.status !== 'paid' && order.status !== 'needs_review') {
    throw new EngineError('order_not_refundable', `order ${args.orderId} is ${order.status}; only paid orders are refunded`);
  }
  const detail = { reason: args.reason, actor: args.actor };
  const held = heldKeys(db, order.id);
  if (held.length > 0) releaseHolds(db, ctx, order, 'refunded', detail);
  const sold = soldKeys(db, order.id);
  if (sold.length > 0) {
    const to = args.keys === 'burn' ? 'burned' : 'available';
    stmt(
      db,
      `UPDATE keys SET status = ?, order_id = CASE WHEN ? = 'burned' THEN order_id END, updated_at = ?
       WHERE order_id = ? AND status = 'sold'`,
    ).run(to, to, ctx.now, order.id);
    stmt(db, 'UPDATE deliveries SET returned_at = ? WHERE order_id = ? AND returned_at IS NULL').run(ctx.now, order.id);
    moveStock(
      db,
      order.product_id,
      args.keys === 'burn' ? { sold: -sold.length } : { sold: -sold.length, available: sold.length },
    );
  }
  setStatus(db, ctx, order.id, 'refunded', null);
  if (sold.length > 0 || held.length === 0) {
    appendLedger(db, {
      kind: args.keys === 'burn' ? 'burn' : 'refund',
      at: ctx.now,
      productId: order.product_id,
      orderId: order.id,
      keyIds: sold,
      keysTo: args.keys === 'burn' ? 'burned' : 'available',
      orderTo: 'refunded',
      detail,
    });
  }
  writeAudit(db, ctx.now, args.actor, 'order.refund', order.id, { keys: args.keys, reason: args.reason });
  return toView(orderRow(db, order.id)!);
}
