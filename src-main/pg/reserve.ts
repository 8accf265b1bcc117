/**
 * Reserving keys on PostgreSQL: one transaction per order, holding the same rows and telling the same
 * outcomes as SQLite's reserveMany (engine/order-reserve.ts): the idempotency record written with the
 * order, a product not on sale refused with nothing stored, sold out stored as an outcome.
 *
 * The claim is `SELECT ... FOR UPDATE SKIP LOCKED` on the product's available keys: concurrent buyers on
 * any server lock different keys without waiting for each other, and a key locked by one transaction is
 * never seen by another until that one ends. What every purchase of a product shares (its stock counters,
 * then the ledger's chain) is written last, so the time a purchase holds them is its final statements and
 * the COMMIT. The purchase limit is counted under an advisory lock per buyer and product, so two servers
 * cannot both let a buyer slip under it.
 *
 * A second request with the same idempotency key racing on another server fails on the unique index
 * (23505) when it commits second; the caller retries and then replays the first one's record.
 */
import type { Result } from '../../shared/errors';
import { createdResponse, CREATED_ORDER, IDEMPOTENCY_SCOPE, NOTHING_SEALED, type OutcomeRow } from '../engine/order-idempotency';
import type { ReserveArgs, ReserveWrite, ReserveWriteTicket } from '../engine/order-reserve';
import { toView, type OrderRow, type OrderView } from '../engine/order-rows';
import { EngineError } from '../lib/errors';
import type { Queryable } from './connect';
import { appendLedger } from './ledger';

interface ProductRow {
  readonly no: number;
  readonly price_amount: number;
  readonly currency: string;
  readonly on_sale: number;
}

async function storedOutcome(client: Queryable, key: string): Promise<OutcomeRow | undefined> {
  const found = await client.query<OutcomeRow>(
    `SELECT key, fingerprint, sealed_response, response, order_id FROM idempotency WHERE scope = $1 AND key = $2`,
    [IDEMPOTENCY_SCOPE, key],
  );
  return found.rows[0];
}

/** The replay of an earlier request with this key, or null when there was none. */
async function replay(client: Queryable, key: string, fingerprint: Buffer): Promise<ReserveWrite | null> {
  const row = await storedOutcome(client, key);
  if (!row) return null;
  if (!row.fingerprint.equals(fingerprint)) {
    throw new EngineError('idempotency_key_reused', 'this Idempotency-Key was already used for a different request');
  }
  let response = row.response;
  if (response === CREATED_ORDER) {
    const order = await client.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [row.order_id]);
    if (!order.rows[0]) throw new Error(`the idempotency record of a created order names no order (${row.order_id})`);
    response = createdResponse(order.rows[0]);
  }
  return { replayed: true, stored: { response, sealed: row.sealed_response } };
}

/** The write of one reservation, inside the caller's transaction (see the module comment). */
export async function reservePg(
  client: Queryable,
  now: number,
  args: ReserveArgs,
  ticket: ReserveWriteTicket,
): Promise<ReserveWrite> {
  const key = args.idempotencyKey;
  if (key !== undefined) {
    if (!ticket.requestFingerprint) throw new Error('reserve: an idempotent request needs its fingerprint');
    const earlier = await replay(client, key, ticket.requestFingerprint);
    if (earlier) return earlier;
  }
  const product = (
    await client.query<ProductRow>('SELECT no, price_amount, currency, on_sale FROM products WHERE id = $1', [args.productId])
  ).rows[0];
  if (product?.on_sale !== 1) throw new EngineError('product_not_found', `no product ${args.productId} on sale`);
  const limit = args.purchaseLimit;
  if (limit?.maxOrders) {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${args.email}\n${args.productId}`]);
    const live = await client.query<{ n: number }>(
      `SELECT count(*) AS n FROM orders WHERE email = $1 AND product_id = $2
         AND status IN ('reserved', 'paid', 'delivered') AND created_at >= $3`,
      [args.email, args.productId, now - limit.windowMs],
    );
    const count = live.rows[0]?.n ?? 0;
    if (count >= limit.maxOrders) {
      throw new EngineError('purchase_limit', `this e-mail already holds ${count} live order(s) for this product`, {
        limit: limit.maxOrders,
      });
    }
  }
  const picked = await client.query<{ id: number }>(
    `SELECT id FROM keys WHERE product_no = $1 AND status = 'available' ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [product.no, args.quantity],
  );
  const keyIds = picked.rows.map((r) => r.id);
  let result: Result<OrderView>;
  if (keyIds.length < args.quantity) {
    result = { ok: false, error: { code: 'sold_out', message: `only ${keyIds.length} available, ${args.quantity} requested` } };
  } else {
    const row: OrderRow = {
      id: ticket.orderId,
      product_id: args.productId,
      quantity: args.quantity,
      amount: product.price_amount * args.quantity,
      currency: product.currency,
      email: args.email,
      status: 'reserved',
      review_reason: null,
      access_token_hash: ticket.tokenHash,
      created_at: now,
      expires_at: now + args.holdSeconds * 1000,
      paid_at: null,
      delivered_at: null,
    };
    await client.query(
      `INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash, created_at, expires_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'reserved', $7, $8, $9, $8)`,
      [row.id, row.product_id, row.quantity, row.amount, row.currency, row.email, row.access_token_hash, now, row.expires_at],
    );
    const held = await client.query(
      `UPDATE keys SET status = 'reserved', order_id = $1, updated_at = $2 WHERE id = ANY($3::bigint[]) AND status = 'available'`,
      [row.id, now, keyIds],
    );
    if (held.rowCount !== keyIds.length) throw new Error('a key changed under its row lock');
    result = { ok: true, value: toView(row) };
  }
  if (key !== undefined) {
    await client.query(
      `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, response, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        IDEMPOTENCY_SCOPE,
        key,
        ticket.requestFingerprint,
        result.ok ? 201 : 409,
        result.ok ? result.value.id : null,
        result.ok ? ticket.sealedToken : NOTHING_SEALED,
        result.ok ? CREATED_ORDER : JSON.stringify(result),
        now,
      ],
    );
  }
  if (result.ok) {
    // Shared by every purchase of the product, then by every write of the shop: last.
    await client.query('UPDATE products SET available = available - $2, reserved = reserved + $2 WHERE id = $1', [
      args.productId,
      args.quantity,
    ]);
    await appendLedger(client, [
      {
        kind: 'reserve',
        at: now,
        productId: args.productId,
        orderId: result.value.id,
        keyIds,
        keysTo: 'reserved',
        orderTo: 'reserved',
        detail: { quantity: args.quantity, amount: result.value.amount, currency: result.value.currency },
      },
    ]);
  }
  return { replayed: false, result };
}
