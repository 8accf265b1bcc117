/**
 * An order's later steps on PostgreSQL, each inside the caller's transaction: a payment (the rules of
 * engine/payment-rules.ts, as on SQLite), releasing holds (expiry sweep, by hand), and refunds. The
 * order's row is locked first (`FOR UPDATE`), so two servers acting on one order take turns; then the
 * keys it holds, the product's counters and the ledger, in that order in every transaction, so no two
 * transactions wait for each other in a circle. A payment's event id is UNIQUE: the same event arriving
 * at two servers at once commits once, and the other's retry finds it recorded.
 */
import type { PayArgs, PayResult } from '../engine/order-payment';
import type { KeyDisposition } from '../engine/order-release';
import { toView, type OrderRow, type OrderStatus, type OrderView } from '../engine/order-rows';
import { paymentDetail, paymentStep, type ReviewReason } from '../engine/payment-rules';
import type { Stock } from '../engine/products';
import { EngineError } from '../lib/errors';
import type { Queryable } from './connect';
import { appendLedger } from './ledger';
import { CLAIM_KEYS } from './reserve';

async function lockedOrder(client: Queryable, id: string): Promise<OrderRow | undefined> {
  return (await client.query<OrderRow>('SELECT * FROM orders WHERE id = $1 FOR UPDATE', [id])).rows[0];
}

async function readOrder(client: Queryable, id: string): Promise<OrderView> {
  const row = (await client.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [id])).rows[0];
  if (!row) throw new Error(`order ${id} vanished inside its own transaction`);
  return toView(row);
}

async function keysOf(client: Queryable, orderId: string, status: 'reserved' | 'sold'): Promise<number[]> {
  const rows = await client.query<{ id: number }>(
    'SELECT id FROM keys WHERE order_id = $1 AND status = $2 ORDER BY id FOR UPDATE',
    [orderId, status],
  );
  return rows.rows.map((r) => r.id);
}

/** Moves a product's counters by `delta` (the product's row, after the order's and the keys'). */
export async function moveStock(
  client: Queryable,
  productId: string,
  delta: Partial<Record<keyof Stock, number>>,
): Promise<void> {
  await client.query('UPDATE products SET available = available + $2, reserved = reserved + $3, sold = sold + $4 WHERE id = $1', [
    productId,
    delta.available ?? 0,
    delta.reserved ?? 0,
    delta.sold ?? 0,
  ]);
}

async function setStatus(client: Queryable, now: number, id: string, status: OrderStatus, reason: string | null): Promise<void> {
  await client.query('UPDATE orders SET status = $2, review_reason = $3, updated_at = $4 WHERE id = $1', [
    id,
    status,
    reason,
    now,
  ]);
}

export async function writeAuditPg(
  client: Queryable,
  now: number,
  actor: string,
  action: string,
  subject: string,
  detail: Record<string, unknown>,
): Promise<void> {
  await client.query('INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)', [
    now,
    actor,
    action,
    subject,
    JSON.stringify(detail),
  ]);
}

/** Applies a payment once per event id (see engine/order-payment.ts for the rules). */
export async function payPg(client: Queryable, now: number, args: PayArgs): Promise<PayResult> {
  const result = await applyPayment(client, now, args);
  if (args.actor !== undefined) {
    await writeAuditPg(client, now, args.actor, 'order.mark_paid', args.orderId, {
      eventId: args.eventId,
      effect: result.effect,
      ...(result.reason ? { reason: result.reason } : {}),
    });
  }
  return result;
}

async function applyPayment(client: Queryable, now: number, args: PayArgs): Promise<PayResult> {
  const seen = (await client.query<{ order_id: string }>('SELECT order_id FROM payments WHERE event_id = $1', [args.eventId]))
    .rows[0];
  if (seen) {
    const order = (await client.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [seen.order_id])).rows[0];
    return { effect: 'duplicate_event', order: order ? toView(order) : null };
  }
  const order = await lockedOrder(client, args.orderId);
  const record = async (outcome: 'delivered' | 'needs_review' | 'ignored'): Promise<void> => {
    await client.query(
      `INSERT INTO payments (event_id, order_id, amount, currency, source, outcome, received_at, trade_no, via)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        args.eventId,
        args.orderId,
        args.amount,
        args.currency,
        args.source,
        outcome,
        now,
        args.channel?.tradeNo ?? null,
        args.channel?.via ?? null,
      ],
    );
  };
  if (!order) {
    await record('ignored');
    return { effect: 'unknown_order', order: null };
  }
  const detail = paymentDetail(args);
  const review = async (reason: ReviewReason): Promise<PayResult> => {
    await setStatus(client, now, order.id, 'needs_review', reason);
    await record('needs_review');
    await appendLedger(client, [
      {
        kind: 'review',
        at: now,
        productId: order.product_id,
        orderId: order.id,
        keyIds: [],
        orderTo: 'needs_review',
        detail: { reason, from: order.status, ...detail },
      },
    ]);
    return { effect: 'needs_review', order: await readOrder(client, order.id), reason };
  };
  const step = paymentStep(order, args);
  if (step.kind === 'review') return review(step.reason);
  let keyIds: number[];
  let fromHold: boolean;
  let saleDetail = detail;
  if (step.kind === 'sell_held') {
    keyIds = await keysOf(client, order.id, 'reserved');
    if (keyIds.length !== order.quantity) return review('hold_mismatch');
    fromHold = true;
  } else {
    // Expired: its keys went back on sale; sell fresh ones if enough are still free.
    const product = await client.query<{ no: number }>('SELECT no FROM products WHERE id = $1', [order.product_id]);
    const free = await client.query<{ id: number }>(CLAIM_KEYS, [product.rows[0]?.no, order.quantity]);
    keyIds = free.rows.map((r) => r.id);
    if (keyIds.length < order.quantity) return review('paid_after_expiry_sold_out');
    fromHold = false;
    saleDetail = { ...detail, afterExpiry: true };
  }
  await sellKeysPg(client, now, order, keyIds, fromHold);
  await client.query(
    `UPDATE orders SET status = 'delivered', review_reason = NULL, paid_at = $2, delivered_at = $2, updated_at = $2 WHERE id = $1`,
    [order.id, now],
  );
  await record('delivered');
  await appendLedger(client, [
    {
      kind: 'sell',
      at: now,
      productId: order.product_id,
      orderId: order.id,
      keyIds,
      keysTo: 'sold',
      orderTo: 'delivered',
      detail: saleDetail,
    },
  ]);
  return { effect: 'delivered', order: await readOrder(client, order.id) };
}

/**
 * Sells and delivers `keyIds` to the order (held by it, or free), in the order given, and moves the
 * product's counters: engine/order-payment.ts's sellKeys on PostgreSQL. The caller holds the order's row
 * and writes the order's status and the ledger entry.
 */
export async function sellKeysPg(
  client: Queryable,
  now: number,
  order: Pick<OrderRow, 'id' | 'product_id'>,
  keyIds: readonly number[],
  fromHold: boolean,
): Promise<void> {
  if (keyIds.length === 0) return;
  const sold = fromHold
    ? await client.query(
        `UPDATE keys SET status = 'sold', updated_at = $2 WHERE id = ANY($3::bigint[]) AND order_id = $1 AND status = 'reserved'`,
        [order.id, now, keyIds],
      )
    : await client.query(
        `UPDATE keys SET status = 'sold', order_id = $1, updated_at = $2 WHERE id = ANY($3::bigint[]) AND status = 'available'`,
        [order.id, now, keyIds],
      );
  if (sold.rowCount !== keyIds.length) throw new Error('a key changed under its row lock');
  await client.query(
    'INSERT INTO deliveries (key_id, order_id, delivered_at) SELECT k, $2, $3 FROM unnest($1::bigint[]) WITH ORDINALITY AS u (k, n) ORDER BY n',
    [keyIds, order.id, now],
  );
  const n = keyIds.length;
  await moveStock(client, order.product_id, fromHold ? { reserved: -n, sold: n } : { available: -n, sold: n });
}

/** Returns the order's held keys to sale; the order becomes `to`. */
async function releaseHolds(
  client: Queryable,
  now: number,
  order: OrderRow,
  to: OrderStatus,
  detail: Record<string, unknown>,
): Promise<number> {
  const held = await keysOf(client, order.id, 'reserved');
  if (held.length > 0) {
    await client.query(
      `UPDATE keys SET status = 'available', order_id = NULL, updated_at = $2 WHERE order_id = $1 AND status = 'reserved'`,
      [order.id, now],
    );
  }
  await setStatus(client, now, order.id, to, null);
  if (held.length > 0) await moveStock(client, order.product_id, { available: held.length, reserved: -held.length });
  await appendLedger(client, [
    {
      kind: 'release',
      at: now,
      productId: order.product_id,
      orderId: order.id,
      keyIds: held,
      keysTo: 'available',
      orderTo: to,
      detail,
    },
  ]);
  return held.length;
}

/**
 * Releases holds that expired by `now` (at most `limit` orders); returns how many. Orders another
 * server is sweeping (or paying) right now are skipped, not waited for.
 */
export async function sweepExpiredPg(client: Queryable, now: number, limit = 500): Promise<number> {
  const due = await client.query<OrderRow>(
    `SELECT * FROM orders WHERE status = 'reserved' AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
  for (const order of due.rows) await releaseHolds(client, now, order, 'expired', { reason: 'hold_expired' });
  return due.rows.length;
}

/** Releases an unpaid order's hold by hand (support action). */
export async function releaseOrderPg(client: Queryable, now: number, orderId: string, actor: string): Promise<OrderView> {
  const order = await lockedOrder(client, orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${orderId}`);
  if (
    order.status !== 'reserved' &&
    !(order.status === 'needs_review' && (await keysOf(client, orderId, 'reserved')).length > 0)
  ) {
    throw new EngineError('order_not_releasable', `order ${orderId} is ${order.status} and holds no keys`);
  }
  await releaseHolds(client, now, order, 'expired', { reason: 'released_by_hand', actor });
  await writeAuditPg(client, now, actor, 'order.release', orderId, {});
  return readOrder(client, orderId);
}

/** Refunds a paid order: delivered keys burned or returned as the caller chose, held keys released. */
export async function refundPg(
  client: Queryable,
  now: number,
  args: { orderId: string; keys: KeyDisposition; reason: string; actor: string },
): Promise<OrderView> {
  const order = await lockedOrder(client, args.orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${args.orderId}`);
  if (order.status !== 'delivered' && order.status !== 'paid' && order.status !== 'needs_review') {
    throw new EngineError('order_not_refundable', `order ${args.orderId} is ${order.status}; only paid orders are refunded`);
  }
  const detail = { reason: args.reason, actor: args.actor };
  const held = await keysOf(client, order.id, 'reserved');
  if (held.length > 0) await releaseHolds(client, now, order, 'refunded', detail);
  const sold = await keysOf(client, order.id, 'sold');
  const burn = args.keys === 'burn';
  if (sold.length > 0) {
    await client.query(
      `UPDATE keys SET status = $2, order_id = CASE WHEN $2 = 'burned' THEN order_id END, updated_at = $3 WHERE order_id = $1 AND status = 'sold'`,
      [order.id, burn ? 'burned' : 'available', now],
    );
    await client.query('UPDATE deliveries SET returned_at = $2 WHERE order_id = $1 AND returned_at IS NULL', [order.id, now]);
  }
  await setStatus(client, now, order.id, 'refunded', null);
  if (sold.length > 0)
    await moveStock(client, order.product_id, burn ? { sold: -sold.length } : { sold: -sold.length, available: sold.length });
  if (sold.length > 0 || held.length === 0) {
    await appendLedger(client, [
      {
        kind: burn ? 'burn' : 'refund',
        at: now,
        productId: order.product_id,
        orderId: order.id,
        keyIds: sold,
        keysTo: burn ? 'burned' : 'available',
        orderTo: 'refunded',
        detail,
      },
    ]);
  }
  await writeAuditPg(client, now, args.actor, 'order.refund', order.id, { keys: args.keys, reason: args.reason });
  return readOrder(client, order.id);
}
