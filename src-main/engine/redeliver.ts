/**
 * Support actions on one order that the purchase path does not need: a manual ("test") payment that is
 * refused unless the order is waiting for one, and re-delivery. Each runs inside one IMMEDIATE write
 * transaction (the engine's writer), appends its ledger entries and an audit row naming the actor.
 *
 * Re-delivery, precisely:
 * 1. keys the order still holds (an order put in review while reserved, e.g. an amount mismatch the
 *    owner accepts) are sold to it and delivered (ledger `sell`);
 * 2. each key in `replaceKeyIds` (a delivered code the buyer reports as bad) is burned (ledger `burn`;
 *    it never goes on sale again), its delivery is marked returned, and a fresh available key of the
 *    same product is sold and delivered in its place (ledger `sell`); not enough fresh keys: nothing
 *    changes (`sold_out`);
 * 3. the order ends `delivered`; its buyer's order page shows the codes it now holds. When nothing had
 *    to move (a plain "send it again"), one ledger `review` entry records the re-delivery.
 */
import { stmt } from '../db/statements';
import type { WritableDB } from '../db/types';
import { writeAudit } from '../db/audit';
import { EngineError } from '../lib/errors';
import { appendLedger } from './ledger';
import { getOrder, pay, sellKeys, type Ctx, type OrderView, type PayResult } from './orders';
import { firstAvailableKeys, moveStock } from './products';

/** A manual payment of the order's full amount, for an order that is waiting for one (reserved or expired). */
export function markPaid(db: WritableDB, ctx: Ctx, orderId: string, actor: string): PayResult {
  const order = getOrder(db, orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${orderId}`);
  if (order.status !== 'reserved' && order.status !== 'expired') {
    throw new EngineError(
      'order_not_payable',
      `order ${orderId} is ${order.status}; only a reserved or expired order can be marked paid`,
    );
  }
  return pay(db, ctx, {
    orderId,
    amount: order.amount,
    currency: order.currency,
    eventId: `manual:${orderId}`,
    source: 'manual',
    actor,
  });
}

export interface RedeliverArgs {
  readonly orderId: string;
  readonly replaceKeyIds: readonly number[];
  readonly reason: string;
  readonly actor: string;
}

export interface RedeliverResult {
  readonly order: OrderView;
  /** Keys newly sold and delivered to the order by this action. */
  readonly delivered: number[];
  readonly burned: number[];
}

interface OrderRow {
  id: string;
  product_id: string;
  quantity: number;
  status: string;
  paid_at: number | null;
}

export function redeliver(db: WritableDB, ctx: Ctx, args: RedeliverArgs): RedeliverResult {
  const order = stmt(db, 'SELECT id, product_id, quantity, status, paid_at FROM orders WHERE id = ?').get(args.orderId) as
    OrderRow | undefined;
  if (!order) throw new EngineError('order_not_found', `no order ${args.orderId}`);
  if (order.status !== 'delivered' && order.status !== 'paid' && order.status !== 'needs_review') {
    throw new EngineError(
      'validation_failed',
      `order ${args.orderId} is ${order.status}; only a paid, delivered or in-review order can be delivered again`,
    );
  }
  const payments = stmt(db, 'SELECT count(*) FROM payments WHERE order_id = ?').pluck().get(order.id) as number;
  if (order.paid_at === null && payments === 0) {
    throw new EngineError('validation_failed', `order ${args.orderId} has no payment; mark it paid first`);
  }
  const detail = { reason: args.reason, actor: args.actor, redeliver: true };
  const delivered: number[] = [];
  const burned: number[] = [];
  let wroteLedger = false;

  // 1. Held keys: sell them to the order.
  const held = stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'reserved' ORDER BY id`)
    .pluck()
    .all(order.id) as number[];
  sellKeys(db, ctx.now, order, held, true);
  delivered.push(...held);

  // 2. Bad keys: burn each, take its delivery back, and sell a fresh key in its place.
  const replace = [...new Set(args.replaceKeyIds)].sort((a, b) => a - b);
  if (replace.length > 0) {
    for (const id of replace) {
      const live = stmt(
        db,
        `SELECT d.id FROM deliveries d JOIN keys k ON k.id = d.key_id
         WHERE d.key_id = ? AND d.order_id = ? AND d.returned_at IS NULL AND k.status = 'sold' AND k.order_id = ?`,
      ).get(id, order.id, order.id) as { id: number } | undefined;
      if (!live) throw new EngineError('validation_failed', `key ${id} is not a code delivered to order ${order.id}`);
    }
    const fresh = firstAvailableKeys(db, order.product_id, replace.length);
    if (fresh.length < replace.length) {
      throw new EngineError('sold_out', `only ${fresh.length} fresh key(s) available to replace ${replace.length}`);
    }
    for (const id of replace) {
      stmt(db, `UPDATE keys SET status = 'burned', updated_at = ? WHERE id = ?`).run(ctx.now, id);
      stmt(db, 'UPDATE deliveries SET returned_at = ? WHERE key_id = ? AND order_id = ? AND returned_at IS NULL').run(
        ctx.now,
        id,
        order.id,
      );
    }
    moveStock(db, order.product_id, { sold: -replace.length });
    appendLedger(db, {
      kind: 'burn',
      at: ctx.now,
      productId: order.product_id,
      orderId: order.id,
      keyIds: replace,
      keysTo: 'burned',
      detail: { ...detail, replacedBy: fresh },
    });
    wroteLedger = true;
    sellKeys(db, ctx.now, order, fresh, false);
    delivered.push(...fresh);
    burned.push(...replace);
  }

  const liveCount = stmt(db, 'SELECT count(*) FROM deliveries WHERE order_id = ? AND returned_at IS NULL')
    .pluck()
    .get(order.id) as number;
  if (liveCount < order.quantity) {
    throw new EngineError(
      'validation_failed',
      `order ${order.id} has ${liveCount} of ${order.quantity} code(s) delivered and holds no more keys`,
    );
  }
  stmt(
    db,
    `UPDATE orders SET status = 'delivered', review_reason = NULL, paid_at = coalesce(paid_at, ?), delivered_at = ?, updated_at = ? WHERE id = ?`,
  ).run(ctx.now, ctx.now, ctx.now, order.id);
  if (delivered.length > 0) {
    appendLedger(db, {
      kind: 'sell',
      at: ctx.now,
      productId: order.product_id,
      orderId: order.id,
      keyIds: delivered,
      keysTo: 'sold',
      orderTo: 'delivered',
      detail: replace.length > 0 ? { ...detail, replaces: replace } : detail,
    });
  } else if (!wroteLedger) {
    appendLedger(db, {
      kind: 'review',
      at: ctx.now,
      productId: order.product_id,
      orderId: order.id,
      keyIds: [],
      orderTo: 'delivered',
      detail: { ...detail, from: order.status },
    });
  }
  writeAudit(db, ctx.now, args.actor, 'order.redeliver', order.id, { reason: args.reason, delivered, burned });
  return { order: getOrder(db, order.id)!, delivered, burned };
}
