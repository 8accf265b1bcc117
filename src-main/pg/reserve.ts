/**
 * Reserving keys on PostgreSQL: the reservations waiting together on one server run in one transaction
 * (pg/reserve-batch.ts), with the same rows and outcomes as SQLite's reserveMany (engine/order-reserve.ts):
 * each order with its idempotency record, a request refused before it writes (not on sale, the purchase
 * limit, a reused key) failing alone and storing nothing, sold out stored as an outcome.
 *
 * The claim is `SELECT ... FOR UPDATE SKIP LOCKED` on each product's available keys: transactions on any
 * server lock different keys without waiting for each other, and a key one of them locked is seen by no
 * other until it ends. What every purchase shares (a product's stock counters, then the ledger's chain)
 * is written last, once per batch, so a batch holds those locks only for its final statements and the
 * COMMIT. The purchase limit is counted under an advisory lock per buyer and product, so two servers
 * cannot both let a buyer slip under it.
 *
 * A request with the same idempotency key racing on another server fails on the unique index (23505)
 * when it commits second; the caller runs the batch again, and then replays the first one's record.
 */
import type { Result } from '../../shared/errors';
import type { LedgerEntryInput } from '../engine/ledger';
import { createdResponse, CREATED_ORDER, IDEMPOTENCY_SCOPE, type OutcomeRow } from '../engine/order-idempotency';
import {
  checkOnSale,
  earlierOutcome,
  idempotencyRuns,
  newReservation,
  outcomeRecord,
  purchaseLimitError,
  soldOut,
  type ReserveOutcome,
  type ReserveRequest,
  type SaleProduct,
} from '../engine/order-reserve';
import { rememberingIso, type OrderRow, type OrderView } from '../engine/order-rows';
import type { Queryable } from './connect';
import { appendLedger } from './ledger';

/**
 * A product's first `$2` free keys, locked, skipping those other transactions hold: through keys_claim,
 * the index of free keys (migration 14), which only `ORDER BY id + 0` matches, so that the planner never
 * walks the primary key past every key sold before.
 */
export const CLAIM_KEYS = `SELECT id FROM keys WHERE product_no = $1 AND status = 'available'
  ORDER BY id + 0 LIMIT $2 FOR UPDATE SKIP LOCKED`;

interface ProductRow extends SaleProduct {
  readonly id: string;
  readonly no: number;
}

/** Many reservations in the caller's transaction, in order; a repeated idempotency key starts a new run. */
export async function reservePgMany(
  client: Queryable,
  now: number,
  requests: readonly ReserveRequest[],
): Promise<ReserveOutcome[]> {
  const outcomes: ReserveOutcome[] = [];
  for (const run of idempotencyRuns(requests)) outcomes.push(...(await reserveRun(client, now, run)));
  return outcomes;
}

/** The stored answers of earlier requests with these keys, each with its created order's answer rebuilt. */
async function storedOutcomes(client: Queryable, keys: readonly string[]): Promise<Map<string, OutcomeRow>> {
  if (keys.length === 0) return new Map();
  const rows = (
    await client.query<OutcomeRow>(
      `SELECT key, fingerprint, sealed_response, response, order_id FROM idempotency WHERE scope = $1 AND key = ANY($2::text[])`,
      [IDEMPOTENCY_SCOPE, keys],
    )
  ).rows;
  const created = rows.filter((row) => row.response === CREATED_ORDER).map((row) => row.order_id);
  if (created.length > 0) {
    const orders = await client.query<OrderRow>('SELECT * FROM orders WHERE id = ANY($1::text[])', [created]);
    const byId = new Map(orders.rows.map((order) => [order.id, order]));
    for (const row of rows) {
      if (row.response !== CREATED_ORDER) continue;
      const order = row.order_id === null ? undefined : byId.get(row.order_id);
      if (!order) throw new Error(`the idempotency record of a created order names no order (${row.order_id})`);
      (row as { response: string | null }).response = createdResponse(order);
    }
  }
  return new Map(rows.map((row) => [row.key, row]));
}

/** A stored record's answer (a created order's already rebuilt by storedOutcomes). */
const storedAnswer = (row: OutcomeRow): string | null => row.response;

/** `reservePgMany` for requests whose idempotency keys are all different. */
async function reserveRun(client: Queryable, now: number, requests: readonly ReserveRequest[]): Promise<ReserveOutcome[]> {
  const stored = await storedOutcomes(
    client,
    requests.flatMap((r) => (r.args.idempotencyKey === undefined ? [] : [r.args.idempotencyKey])),
  );
  // PostgreSQL's text holds no NUL: an id with one names no product (and could not be sent).
  const productIds = [...new Set(requests.map((r) => r.args.productId))].filter((id) => !id.includes('\0'));
  const products = new Map(
    (
      await client.query<ProductRow>('SELECT id, no, price_amount, currency, on_sale FROM products WHERE id = ANY($1::text[])', [
        productIds,
      ])
    ).rows.map((row) => [row.id, row]),
  );
  // Every key this run could take, per product: an upper bound, claimed before any write.
  const wanted = new Map<string, number>();
  for (const { args } of requests) {
    if (products.get(args.productId)?.on_sale === 1)
      wanted.set(args.productId, (wanted.get(args.productId) ?? 0) + args.quantity);
  }
  const pools = new Map<string, { ids: number[]; next: number }>();
  for (const [productId, count] of wanted) {
    const claimed = await client.query<{ id: number }>(CLAIM_KEYS, [products.get(productId)!.no, count]);
    pools.set(productId, { ids: claimed.rows.map((r) => r.id), next: 0 });
  }

  const outcomes: ReserveOutcome[] = [];
  const orders: OrderRow[] = [];
  const holds: { keyIds: number[]; orderId: string }[] = [];
  const entries: LedgerEntryInput[] = [];
  const records: unknown[][] = [[], [], [], [], [], []];
  const moved = new Map<string, number>();
  const newOrders = new Map<string, number>();
  const isoAt = rememberingIso();
  for (const { args, ticket } of requests) {
    const key = args.idempotencyKey;
    try {
      if (key !== undefined) {
        const earlier = earlierOutcome(ticket, stored.get(key), storedAnswer);
        if (earlier) {
          outcomes.push({ ok: true, value: earlier });
          continue;
        }
      }
      const product = products.get(args.productId);
      checkOnSale(product, args.productId);
      const limit = args.purchaseLimit;
      const buyer = `${args.email}\n${args.productId}`;
      if (limit?.maxOrders) {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [buyer]);
        const live = await client.query<{ n: number }>(
          `SELECT count(*) AS n FROM orders WHERE email = $1 AND product_id = $2
             AND status IN ('reserved', 'paid', 'delivered') AND created_at >= $3`,
          [args.email, args.productId, now - limit.windowMs],
        );
        const count = (live.rows[0]?.n ?? 0) + (newOrders.get(buyer) ?? 0);
        if (count >= limit.maxOrders) throw purchaseLimitError(count, limit.maxOrders);
      }
      const pool = pools.get(args.productId)!;
      const free = pool.ids.length - pool.next;
      let result: Result<OrderView>;
      if (free < args.quantity) {
        result = soldOut(free, args.quantity);
      } else {
        const keyIds = pool.ids.slice(pool.next, pool.next + args.quantity);
        pool.next += args.quantity;
        const { row, entry, view } = newReservation(args, ticket, product, keyIds, now, isoAt);
        orders.push(row);
        holds.push({ keyIds, orderId: row.id });
        moved.set(args.productId, (moved.get(args.productId) ?? 0) + args.quantity);
        newOrders.set(buyer, (newOrders.get(buyer) ?? 0) + 1);
        entries.push(entry);
        result = { ok: true, value: view };
      }
      if (key !== undefined) outcomeRecord(key, ticket, result).forEach((value, i) => records[i]!.push(value));
      outcomes.push({ ok: true, value: { replayed: false, result } });
    } catch (error) {
      // Refused before writing anything: this request alone fails, and stores nothing.
      outcomes.push({ ok: false, error });
    }
  }
  await writeRun(client, now, orders, holds, records, moved, entries);
  return outcomes;
}

/** The run's rows: a few statements per table for all of its orders, the shared ones last. */
async function writeRun(
  client: Queryable,
  now: number,
  orders: readonly OrderRow[],
  holds: readonly { keyIds: number[]; orderId: string }[],
  records: readonly unknown[][],
  moved: ReadonlyMap<string, number>,
  entries: readonly LedgerEntryInput[],
): Promise<void> {
  if (orders.length > 0) {
    const column = <K extends keyof OrderRow>(name: K) => orders.map((o) => o[name]);
    await client.query(
      `INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash, created_at, expires_at, updated_at)
       SELECT id, product_id, quantity, amount, currency, email, 'reserved', token_hash, $9, expires_at, $9
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::bytea[], $8::bigint[])
         AS t(id, product_id, quantity, amount, currency, email, token_hash, expires_at)`,
      [
        column('id'),
        column('product_id'),
        column('quantity'),
        column('amount'),
        column('currency'),
        column('email'),
        column('access_token_hash'),
        column('expires_at'),
        now,
      ],
    );
    const keyIds = holds.flatMap((h) => h.keyIds);
    const orderIds = holds.flatMap((h) => h.keyIds.map(() => h.orderId));
    const held = await client.query(
      `UPDATE keys SET status = 'reserved', order_id = h.order_id, updated_at = $3
       FROM unnest($1::bigint[], $2::text[]) AS h(id, order_id) WHERE keys.id = h.id AND keys.status = 'available'`,
      [keyIds, orderIds, now],
    );
    if (held.rowCount !== keyIds.length) throw new Error('a key changed under its row lock');
  }
  if (records[0]!.length > 0) {
    await client.query(
      `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, response, created_at)
       SELECT $7, key, fingerprint, status, order_id, sealed, response, $8
       FROM unnest($1::text[], $2::bytea[], $3::int[], $4::text[], $5::bytea[], $6::text[])
         AS t(key, fingerprint, status, order_id, sealed, response)`,
      [...records, IDEMPOTENCY_SCOPE, now],
    );
  }
  // Shared by every purchase of a product, then by every write of the shop: last.
  for (const [productId, count] of [...moved].sort(([a], [b]) => (a < b ? -1 : 1))) {
    await client.query('UPDATE products SET available = available - $2, reserved = reserved + $2 WHERE id = $1', [
      productId,
      count,
    ]);
  }
  if (entries.length > 0) await appendLedger(client, entries);
}
