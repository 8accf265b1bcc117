/**
 * Payments and delivery: a payment applied once per event id (a matching one sells the held keys, or
 * fresh ones after expiry, and delivers them in the same transaction; anything doubtful goes to
 * needs_review), and `sellKeys`, the sale and delivery that redelivery and reconciliation use too.
 */
import { writeAudit } from '../db/audit';
import { stmt } from '../db/statements';
import type { WritableDB } from '../db/types';
import { appendLedger } from './ledger';
import { heldKeys, orderRow, setStatus, toView, type Ctx, type OrderRow, type OrderView } from './order-rows';
import { paymentDetail as detailOf, paymentStep, type ReviewReason } from './payment-rules';
import { firstAvailableKeys, moveStock } from './products';

export type { ReviewReason } from './payment-rules';

export interface PayArgs {
  readonly orderId: string;
  readonly amount: number;
  readonly currency: string;
  /** The gateway's event id; recorded with the effect so the same event never takes effect twice. */
  readonly eventId: string;
  /** OnceKey's own webhook, a confirmation by hand, or a payment channel (payments/). */
  readonly source: PaymentSource;
  /** A channel payment: the gateway's trade number and whether its notification or a query brought it. */
  readonly channel?: { readonly tradeNo: string; readonly via: 'notify' | 'query' };
  /** Who confirmed a manual payment; written to the audit trail with the payment's effect. */
  readonly actor?: string;
}

export type PaymentSource = 'webhook' | 'manual' | 'epay' | 'alipay' | 'wechatpay' | 'stripe';

export interface PayResult {
  readonly effect: 'delivered' | 'needs_review' | 'duplicate_event' | 'unknown_order';
  readonly order: OrderView | null;
  readonly reason?: ReviewReason;
}

function markForReview(db: WritableDB, ctx: Ctx, order: OrderRow, reason: ReviewReason, detail: Record<string, unknown>): void {
  setStatus(db, ctx, order.id, 'needs_review', reason);
  appendLedger(db, {
    kind: 'review',
    at: ctx.now,
    productId: order.product_id,
    orderId: order.id,
    keyIds: [],
    orderTo: 'needs_review',
    detail: { reason, from: order.status, ...detail },
  });
}

/**
 * Sells keys to an order and records their delivery, moving the product's stock counters: keys the
 * order holds (`fromHold`), or free ones. In the caller's transaction, so a key found in another state
 * is a bug, not a race.
 */
export function sellKeys(
  db: WritableDB,
  now: number,
  order: { readonly id: string; readonly product_id: string },
  keyIds: readonly number[],
  fromHold: boolean,
): void {
  if (keyIds.length === 0) return;
  const claim = fromHold
    ? stmt(db, `UPDATE keys SET status = 'sold', updated_at = ? WHERE id = ? AND order_id = ? AND status = 'reserved'`)
    : stmt(db, `UPDATE keys SET status = 'sold', order_id = ?, updated_at = ? WHERE id = ? AND status = 'available'`);
  const deliver = stmt(db, 'INSERT INTO deliveries (key_id, order_id, delivered_at) VALUES (?, ?, ?)');
  for (const keyId of keyIds) {
    const changed = fromHold ? claim.run(now, keyId, order.id).changes : claim.run(order.id, now, keyId).changes;
    if (changed !== 1) throw new Error(`key ${keyId} changed under the write lock`);
    deliver.run(keyId, order.id, now);
  }
  moveStock(
    db,
    order.product_id,
    fromHold ? { reserved: -keyIds.length, sold: keyIds.length } : { available: -keyIds.length, sold: keyIds.length },
  );
}

/** A payment's sale: sells and delivers `keyIds`, marks the order delivered, and appends its ledger entry. */
function sell(
  db: WritableDB,
  ctx: Ctx,
  order: OrderRow,
  keyIds: readonly number[],
  fromHold: boolean,
  paymentDetail: Record<string, unknown>,
): void {
  sellKeys(db, ctx.now, order, keyIds, fromHold);
  stmt(
    db,
    `UPDATE orders SET status = 'delivered', review_reason = NULL, paid_at = ?, delivered_at = ?, updated_at = ? WHERE id = ?`,
  ).run(ctx.now, ctx.now, ctx.now, order.id);
  appendLedger(db, {
    kind: 'sell',
    at: ctx.now,
    productId: order.product_id,
    orderId: order.id,
    keyIds,
    keysTo: 'sold',
    orderTo: 'delivered',
    detail: paymentDetail,
  });
}

/**
 * Applies a payment: a matching payment for a reserved order sells its held keys and delivers them in
 * this same transaction. A payment after expiry sells fresh keys if enough are free. Anything else
 * (wrong amount, a second payment, no keys left) puts the order in needs_review; no key is ever
 * delivered twice. The event id is recorded with the effect, so a repeated event changes nothing.
 */
export function pay(db: WritableDB, ctx: Ctx, args: PayArgs): PayResult {
  const result = applyPayment(db, ctx, args);
  if (args.actor !== undefined) {
    writeAudit(db, ctx.now, args.actor, 'order.mark_paid', args.orderId, {
      eventId: args.eventId,
      effect: result.effect,
      ...(result.reason ? { reason: result.reason } : {}),
    });
  }
  return result;
}

function applyPayment(db: WritableDB, ctx: Ctx, args: PayArgs): PayResult {
  const seen = stmt(db, 'SELECT order_id FROM payments WHERE event_id = ?').get(args.eventId) as { order_id: string } | undefined;
  if (seen) {
    const order = orderRow(db, seen.order_id);
    return { effect: 'duplicate_event', order: order ? toView(order) : null };
  }
  const order = orderRow(db, args.orderId);
  const record = (outcome: 'delivered' | 'needs_review' | 'ignored'): void => {
    stmt(
      db,
      `INSERT INTO payments (event_id, order_id, amount, currency, source, outcome, received_at, trade_no, via)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      args.eventId,
      args.orderId,
      args.amount,
      args.currency,
      args.source,
      outcome,
      ctx.now,
      args.channel?.tradeNo ?? null,
      args.channel?.via ?? null,
    );
  };
  if (!order) {
    record('ignored');
    return { effect: 'unknown_order', order: null };
  }
  const paymentDetail = detailOf(args);
  const review = (reason: ReviewReason): PayResult => {
    markForReview(db, ctx, order, reason, paymentDetail);
    record('needs_review');
    return { effect: 'needs_review', order: toView(orderRow(db, order.id)!), reason };
  };

  const step = paymentStep(order, args);
  if (step.kind === 'review') return review(step.reason);
  if (step.kind === 'sell_held') {
    const held = heldKeys(db, order.id);
    if (held.length !== order.quantity) return review('hold_mismatch');
    sell(db, ctx, order, held, true, paymentDetail);
  } else {
    // expired: its keys went back on sale; sell fresh ones if enough are still free.
    const free = firstAvailableKeys(db, order.product_id, order.quantity);
    if (free.length < order.quantity) return review('paid_after_expiry_sold_out');
    sell(db, ctx, order, free, false, { ...paymentDetail, afterExpiry: true });
  }
  record('delivered');
  return { effect: 'delivered', order: toView(orderRow(db, order.id)!) };
}
