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
import { appendLedgerEntries, type LedgerEntryInput } from './ledger';
import { getOrder, pay, sellKeys, type Ctx, type OrderStatus, type OrderView, type PayArgs, type PayResult } from './orders';
import { firstAvailableKeys, moveStock, type Stock } from './products';

/*
 * What both backends decide alike (pure): this file's SQLite transactions and pg/redeliver.ts's
 * PostgreSQL ones read and write their own rows and ask these functions what is allowed and what to record.
 */

/**
 * The manual payment `markPaid` applies: the order's full amount, once (`manual:<id>`), audited as
 * `order.mark_paid` by the payment. Refused unless the order is waiting for a payment (reserved or expired).
 */
export function manualPayment(
  order: { readonly status: OrderStatus; readonly amount: number; readonly currency: string } | null | undefined,
  orderId: string,
  actor: string,
): PayArgs {
  if (!order) throw new EngineError('order_not_found', `no order ${orderId}`);
  if (order.status !== 'reserved' && order.status !== 'expired') {
    throw new EngineError(
      'order_not_payable',
      `order ${orderId} is ${order.status}; only a reserved or expired order can be marked paid`,
    );
  }
  return { orderId, amount: order.amount, currency: order.currency, eventId: `manual:${orderId}`, source: 'manual', actor };
}

/** A manual payment of the order's full amount, for an order that is waiting for one (reserved or expired). */
export function markPaid(db: WritableDB, ctx: Ctx, orderId: string, actor: string): PayResult {
  return pay(db, ctx, manualPayment(getOrder(db, orderId), orderId, actor));
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

/** The order's columns re-delivery reads (locked first on PostgreSQL). */
export interface RedeliverOrder {
  readonly id: string;
  readonly product_id: string;
  readonly quantity: number;
  readonly status: string;
  readonly paid_at: number | null;
}

export const REDELIVER_ORDER_COLUMNS = 'id, product_id, quantity, status, paid_at';

/** Refuses an order that is not paid (by status, and by a payment or its paid time). */
export function checkRedeliverable(
  order: RedeliverOrder | undefined,
  orderId: string,
  payments: () => number,
): asserts order is RedeliverOrder {
  if (!order) throw new EngineError('order_not_found', `no order ${orderId}`);
  if (order.status !== 'delivered' && order.status !== 'paid' && order.status !== 'needs_review') {
    throw new EngineError(
      'validation_failed',
      `order ${orderId} is ${order.status}; only a paid, delivered or in-review order can be delivered again`,
    );
  }
  if (order.paid_at === null && payments() === 0) {
    throw new EngineError('validation_failed', `order ${orderId} has no payment; mark it paid first`);
  }
}

/** The keys to replace: each once, ascending. */
export function keysToReplace(args: RedeliverArgs): number[] {
  return [...new Set(args.replaceKeyIds)].sort((a, b) => a - b);
}

/**
 * Refuses a replacement unless every key is a code delivered to the order and still live (`live`: those
 * of `replace` that are), and there are enough `fresh` keys to put in their place.
 */
export function checkReplacement(
  orderId: string,
  replace: readonly number[],
  live: readonly number[],
  fresh: readonly number[],
): void {
  const ok = new Set(live);
  const bad = replace.find((id) => !ok.has(id));
  if (bad !== undefined) throw new EngineError('validation_failed', `key ${bad} is not a code delivered to order ${orderId}`);
  if (fresh.length < replace.length) {
    throw new EngineError('sold_out', `only ${fresh.length} fresh key(s) available to replace ${replace.length}`);
  }
}

/** Refuses to end with fewer live deliveries than the order's quantity. */
export function checkDelivered(order: RedeliverOrder, liveCount: number): void {
  if (liveCount < order.quantity) {
    throw new EngineError(
      'validation_failed',
      `order ${order.id} has ${liveCount} of ${order.quantity} code(s) delivered and holds no more keys`,
    );
  }
}

/** How the product's counters move: held keys sold, replaced keys burned (out of `sold`), fresh keys sold. */
export function redeliverStock(held: number, replaced: number): Partial<Record<keyof Stock, number>> {
  return { reserved: -held, available: -replaced, sold: held };
}

/** What a re-delivery records: its ledger entries (in order), its audit detail and its answer's key lists. */
export function redeliverRecords(
  now: number,
  order: RedeliverOrder,
  args: RedeliverArgs,
  sold: { readonly held: readonly number[]; readonly replace: readonly number[]; readonly fresh: readonly number[] },
): { entries: LedgerEntryInput[]; audit: Record<string, unknown>; delivered: number[]; burned: number[] } {
  const { held, replace, fresh } = sold;
  const detail = { reason: args.reason, actor: args.actor, redeliver: true };
  const base = { at: now, productId: order.product_id, orderId: order.id };
  const delivered = [...held, ...fresh];
  const burned = [...replace];
  const entries: LedgerEntryInput[] = [];
  if (replace.length > 0) {
    entries.push({ ...base, kind: 'burn', keyIds: replace, keysTo: 'burned', detail: { ...detail, replacedBy: fresh } });
  }
  if (delivered.length > 0) {
    entries.push({
      ...base,
      kind: 'sell',
      keyIds: delivered,
      keysTo: 'sold',
      orderTo: 'delivered',
      detail: replace.length > 0 ? { ...detail, replaces: replace } : detail,
    });
  } else if (entries.length === 0) {
    entries.push({ ...base, kind: 'review', keyIds: [], orderTo: 'delivered', detail: { ...detail, from: order.status } });
  }
  return { entries, audit: { reason: args.reason, delivered, burned }, delivered, burned };
}

export function redeliver(db: WritableDB, ctx: Ctx, args: RedeliverArgs): RedeliverResult {
  const order = stmt(db, `SELECT ${REDELIVER_ORDER_COLUMNS} FROM orders WHERE id = ?`).get(args.orderId) as
    RedeliverOrder | undefined;
  checkRedeliverable(order, args.orderId, () =>
    Number(stmt(db, 'SELECT count(*) FROM payments WHERE order_id = ?').pluck().get(args.orderId)),
  );
  const held = stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'reserved' ORDER BY id`)
    .pluck()
    .all(order.id) as number[];
  const replace = keysToReplace(args);
  const isLive = stmt(
    db,
    `SELECT d.id FROM deliveries d JOIN keys k ON k.id = d.key_id
     WHERE d.key_id = ? AND d.order_id = ? AND d.returned_at IS NULL AND k.status = 'sold' AND k.order_id = ?`,
  );
  const live = replace.filter((id) => isLive.get(id, order.id, order.id) !== undefined);
  const fresh =
    replace.length > 0 && live.length === replace.length ? firstAvailableKeys(db, order.product_id, replace.length) : [];
  checkReplacement(order.id, replace, live, fresh);

  // 1. Held keys: sell them to the order. 2. Bad keys: burn each, take its delivery back, sell a fresh key in its place.
  sellKeys(db, ctx.now, order, held, true);
  for (const id of replace) {
    stmt(db, `UPDATE keys SET status = 'burned', updated_at = ? WHERE id = ?`).run(ctx.now, id);
    stmt(db, 'UPDATE deliveries SET returned_at = ? WHERE key_id = ? AND order_id = ? AND returned_at IS NULL').run(
      ctx.now,
      id,
      order.id,
    );
  }
  if (replace.length > 0) moveStock(db, order.product_id, { sold: -replace.length });
  sellKeys(db, ctx.now, order, fresh, false);

  checkDelivered(
    order,
    stmt(db, 'SELECT count(*) FROM deliveries WHERE order_id = ? AND returned_at IS NULL').pluck().get(order.id) as number,
  );
  stmt(
    db,
    `UPDATE orders SET status = 'delivered', review_reason = NULL, paid_at = coalesce(paid_at, ?), delivered_at = ?, updated_at = ? WHERE id = ?`,
  ).run(ctx.now, ctx.now, ctx.now, order.id);
  const records = redeliverRecords(ctx.now, order, args, { held, replace, fresh });
  appendLedgerEntries(db, records.entries);
  writeAudit(db, ctx.now, args.actor, 'order.redeliver', order.id, records.audit);
  return { order: getOrder(db, order.id)!, delivered: records.delivered, burned: records.burned };
}
