/**
 * The Orders page's support actions on PostgreSQL, as engine/redeliver.ts does them on SQLite and with
 * its decisions (manualPayment, checkRedeliverable, checkReplacement, redeliverRecords, ...): each in the
 * caller's transaction (PgShop.write), in the lock order of pg/order-writes.ts: the order's row first
 * (`FOR UPDATE`), then its keys, then fresh keys claimed with `SKIP LOCKED` (pg/reserve.ts's CLAIM_KEYS),
 * then the product's counters, and the ledger last.
 */
import type { PayResult } from '../engine/order-payment';
import { toView, type OrderRow } from '../engine/order-rows';
import {
  checkDelivered,
  checkRedeliverable,
  checkReplacement,
  keysToReplace,
  manualPayment,
  redeliverRecords,
  redeliverStock,
  REDELIVER_ORDER_COLUMNS,
  type RedeliverArgs,
  type RedeliverOrder,
  type RedeliverResult,
} from '../engine/redeliver';
import { checkPaymentIds } from '../engine/payment-rules';
import type { Queryable } from './connect';
import { appendLedger } from './ledger';
import { payPg, writeAuditPg } from './order-writes';
import { CLAIM_KEYS } from './reserve';

const ids = (rows: { rows: { id: number }[] }): number[] => rows.rows.map((r) => r.id);

/**
 * Marks a reserved or expired order paid by hand: the order's row locked, checked, then paid as payPg
 * pays (it records the payment `manual:<id>` and audits `order.mark_paid` for the actor).
 */
export async function markPaidPg(client: Queryable, now: number, orderId: string, actor: string): Promise<PayResult> {
  // PostgreSQL's text holds no NUL: no order has such an id.
  const order = orderId.includes('\0')
    ? undefined
    : (await client.query<OrderRow>('SELECT * FROM orders WHERE id = $1 FOR UPDATE', [orderId])).rows[0];
  const payment = manualPayment(order, orderId, actor);
  checkPaymentIds(payment);
  return payPg(client, now, payment);
}

/** Re-delivers an order (see engine/redeliver.ts for what it does). */
export async function redeliverPg(client: Queryable, now: number, args: RedeliverArgs): Promise<RedeliverResult> {
  const order = args.orderId.includes('\0')
    ? undefined
    : (
        await client.query<RedeliverOrder>(`SELECT ${REDELIVER_ORDER_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE`, [
          args.orderId,
        ])
      ).rows[0];
  const payments =
    order?.paid_at === null
      ? (await client.query<{ n: number }>('SELECT count(*) AS n FROM payments WHERE order_id = $1', [order.id])).rows[0]!.n
      : 0;
  checkRedeliverable(order, args.orderId, () => payments);
  const held = ids(
    await client.query<{ id: number }>(`SELECT id FROM keys WHERE order_id = $1 AND status = 'reserved' ORDER BY id FOR UPDATE`, [
      order.id,
    ]),
  );
  const replace = keysToReplace(args);
  let live: number[] = [];
  let fresh: number[] = [];
  if (replace.length > 0) {
    live = ids(
      await client.query<{ id: number }>(
        `SELECT k.id FROM keys k WHERE k.id = ANY($1::bigint[]) AND k.status = 'sold' AND k.order_id = $2
           AND EXISTS (SELECT 1 FROM deliveries d WHERE d.key_id = k.id AND d.order_id = $2 AND d.returned_at IS NULL)
         ORDER BY k.id FOR UPDATE OF k`,
        [replace, order.id],
      ),
    );
    if (live.length === replace.length) {
      const product = await client.query<{ no: number }>('SELECT no FROM products WHERE id = $1', [order.product_id]);
      fresh = ids(await client.query<{ id: number }>(CLAIM_KEYS, [product.rows[0]?.no, replace.length]));
    }
  }
  checkReplacement(order.id, replace, live, fresh);

  // 1. Held keys: sold to the order and delivered.
  if (held.length > 0) {
    const sold = await client.query(
      `UPDATE keys SET status = 'sold', updated_at = $2 WHERE id = ANY($3::bigint[]) AND order_id = $1 AND status = 'reserved'`,
      [order.id, now, held],
    );
    if (sold.rowCount !== held.length) throw new Error('a key changed under its row lock');
    await deliver(client, now, order.id, held);
  }
  // 2. Bad keys: burned, their deliveries taken back, a fresh key sold and delivered in each one's place.
  if (replace.length > 0) {
    await client.query(`UPDATE keys SET status = 'burned', updated_at = $2 WHERE id = ANY($1::bigint[])`, [replace, now]);
    await client.query(
      'UPDATE deliveries SET returned_at = $3 WHERE key_id = ANY($1::bigint[]) AND order_id = $2 AND returned_at IS NULL',
      [replace, order.id, now],
    );
    const sold = await client.query(
      `UPDATE keys SET status = 'sold', order_id = $1, updated_at = $2 WHERE id = ANY($3::bigint[]) AND status = 'available'`,
      [order.id, now, fresh],
    );
    if (sold.rowCount !== fresh.length) throw new Error('a key changed under its row lock');
    await deliver(client, now, order.id, fresh);
  }
  const liveCount = await client.query<{ n: number }>(
    'SELECT count(*) AS n FROM deliveries WHERE order_id = $1 AND returned_at IS NULL',
    [order.id],
  );
  checkDelivered(order, liveCount.rows[0]!.n);
  await client.query(
    `UPDATE orders SET status = 'delivered', review_reason = NULL, paid_at = coalesce(paid_at, $2), delivered_at = $2, updated_at = $2
     WHERE id = $1`,
    [order.id, now],
  );
  if (held.length > 0 || replace.length > 0) {
    const delta = redeliverStock(held.length, replace.length);
    await client.query(
      'UPDATE products SET available = available + $2, reserved = reserved + $3, sold = sold + $4 WHERE id = $1',
      [order.product_id, delta.available ?? 0, delta.reserved ?? 0, delta.sold ?? 0],
    );
  }
  const records = redeliverRecords(now, order, args, { held, replace, fresh });
  await writeAuditPg(client, now, args.actor, 'order.redeliver', order.id, records.audit);
  await appendLedger(client, records.entries);
  const row = (await client.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [order.id])).rows[0]!;
  return { order: toView(row), delivered: records.delivered, burned: records.burned };
}

async function deliver(client: Queryable, now: number, orderId: string, keyIds: readonly number[]): Promise<void> {
  await client.query('INSERT INTO deliveries (key_id, order_id, delivered_at) SELECT unnest($1::bigint[]), $2, $3', [
    keyIds,
    orderId,
    now,
  ]);
}
