/**
 * The order life cycle, as synchronous functions that must run inside one IMMEDIATE write transaction
 * (the writer in writer.ts provides it). Taking the write lock first and only then reading is what makes
 * "read stock = 1, then sell" safe: no other connection can read-then-write in between.
 *
 * reserved --pay--> delivered --refund--> refunded
 *    |  \--expire/release--> expired --late pay, keys free--> delivered
 *    \-- anything doubtful --> needs_review (with a reason; reconciliation lists it)
 */
import { timingSafeEqual } from 'node:crypto';
import type { Result } from '../../shared/errors';
import { allRows, runRows, stmt, type RowsStatement } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { keyAad, open, VaultCryptoError, type VaultKeys } from '../vault/crypto';
import { writeAudit } from '../db/audit';
import { EngineError } from '../lib/errors';
import { sha256 } from './ids';
import { appendLedger, appendLedgerEntries, type LedgerEntryInput, type OrderState } from './ledger';
import { firstAvailableKeys, moveStock } from './products';
import { makeTicket, orderTokenAad, type OrderTicket } from './tickets';

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

export interface ReserveArgs {
  readonly productId: string;
  readonly quantity: number;
  readonly email: string;
  readonly idempotencyKey?: string | undefined;
  readonly holdSeconds: number;
  /** At most `maxOrders` live orders per buyer e-mail and product within `windowMs`, checked under the write lock. */
  readonly purchaseLimit?: { readonly maxOrders: number; readonly windowMs: number } | undefined;
}

export interface ReserveResult {
  readonly replayed: boolean;
  readonly result: Result<CreatedOrder>;
}

export type ReviewReason =
  'amount_mismatch' | 'paid_after_expiry_sold_out' | 'duplicate_payment' | 'payment_after_refund' | 'hold_mismatch';

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

export interface Ctx {
  readonly now: number;
}

interface OrderRow {
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

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

/** `iso` that remembers its answers: a batch's new orders share their creation and expiry times. */
function rememberingIso(): (ms: number) => string {
  const made = new Map<number, string>();
  return (ms) => {
    let text = made.get(ms);
    if (text === undefined) made.set(ms, (text = iso(ms)));
    return text;
  };
}

function toView(row: OrderRow, isoAt = iso): OrderView {
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

const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[^\s@<>()[\]\\,;:"]{1,189}\.[^\s@<>()[\]\\,;:".]{1,63}$/;
export const MAX_QUANTITY = 1000;

export function checkIdempotencyKey(key: string): void {
  if (key.length < 1 || key.length > 255 || !/^[\x20-\x7e]+$/.test(key)) {
    throw new EngineError('validation_failed', 'an idempotency key is 1 to 255 printable ASCII characters', {
      field: 'idempotencyKey',
    });
  }
}

export function checkReserveArgs(args: ReserveArgs): void {
  if (!Number.isSafeInteger(args.quantity) || args.quantity < 1 || args.quantity > MAX_QUANTITY) {
    throw new EngineError('validation_failed', `quantity must be an integer from 1 to ${MAX_QUANTITY}`, {
      field: 'quantity',
    });
  }
  if (args.email.length > 254 || !EMAIL.test(args.email)) {
    throw new EngineError('validation_failed', 'email must be an e-mail address', { field: 'email' });
  }
  if (args.idempotencyKey !== undefined) checkIdempotencyKey(args.idempotencyKey);
}

function requestFingerprint(args: ReserveArgs): Buffer {
  return sha256(JSON.stringify(['orders.create', args.productId, args.quantity, args.email]));
}

const IDEMPOTENCY_SCOPE = 'orders.create';
/** Records before migration 5 seal the whole response under this associated data. */
const legacyResponseAad = (key: string): string => `oncekey/idempotency/${IDEMPOTENCY_SCOPE}/${key}`;
/** Records from migration 5 until order tickets seal the access token under the idempotency key. */
const legacyTokenAad = (key: string): string => `oncekey/idempotency/${IDEMPOTENCY_SCOPE}/token/${key}`;

/**
 * What a reservation needs that costs crypto, made before the write transaction so that the write lock is
 * never held for it: the order's ticket (id, access token, the token's hash and the token sealed under
 * the order id, see tickets.ts) and the request's fingerprint. The write itself never needs the plaintext token.
 */
export interface ReserveTicket extends OrderTicket {
  /** Null without an idempotency key. */
  readonly requestFingerprint: Buffer | null;
}

/** The part of a ticket the write transaction uses (no plaintext token). */
export type ReserveWriteTicket = Omit<ReserveTicket, 'accessToken'>;

/** Makes a reservation's ticket from an order ticket (a pool's, or a new one); `args` have passed checkReserveArgs. */
export function prepareReserve(
  vault: VaultKeys,
  args: ReserveArgs,
  order: OrderTicket = makeTicket(vault.sealKey),
): ReserveTicket {
  return {
    orderId: order.orderId,
    accessToken: order.accessToken,
    tokenHash: order.tokenHash,
    sealedToken: order.sealedToken,
    requestFingerprint: args.idempotencyKey === undefined ? null : requestFingerprint(args),
  };
}

/**
 * An idempotency record's answer: `response` is the answer as JSON (a created order's rebuilt from its row,
 * see `storedResponse`), or null for records sealed whole (before migration 5).
 */
export interface StoredOutcome {
  readonly response: string | null;
  readonly sealed: Buffer;
}

/** What the write transaction of a reservation returns: a new outcome, or the stored one of an earlier request. */
export type ReserveWrite =
  { readonly replayed: false; readonly result: Result<OrderView> } | { readonly replayed: true; readonly stored: StoredOutcome };

/** A refused request has no token: its record seals nothing. */
const NOTHING_SEALED = Buffer.alloc(0);

/** Turns a reservation's write into the caller's answer: the new order with its token, or the first request's answer again. */
export function finishReserve(vault: VaultKeys, args: ReserveArgs, ticket: ReserveTicket, write: ReserveWrite): ReserveResult {
  if (!write.replayed) {
    const { result } = write;
    return { replayed: false, result: result.ok ? { ok: true, value: withToken(result.value, ticket.accessToken) } : result };
  }
  const key = args.idempotencyKey!;
  const { response, sealed } = write.stored;
  if (response === null) {
    return {
      replayed: true,
      result: JSON.parse(open(vault.sealKey, sealed, legacyResponseAad(key)).toString()) as Result<CreatedOrder>,
    };
  }
  const stored = JSON.parse(response) as Result<OrderView>;
  if (!stored.ok) return { replayed: true, result: stored };
  const accessToken = openToken(vault, sealed, stored.value.id, key);
  return { replayed: true, result: { ok: true, value: withToken(stored.value, accessToken) } };
}

/** The order with its access token (Object.assign: on Node 20 a spread of these objects is several times slower). */
const withToken = (order: OrderView, accessToken: string): CreatedOrder => Object.assign({}, order, { accessToken });

/** A stored access token: sealed under its order id, or (records made before order tickets) under the idempotency key. */
function openToken(vault: VaultKeys, sealed: Buffer, orderId: string, key: string): string {
  try {
    return open(vault.sealKey, sealed, orderTokenAad(orderId)).toString();
  } catch (error) {
    if (!(error instanceof VaultCryptoError)) throw error;
    return open(vault.sealKey, sealed, legacyTokenAad(key)).toString();
  }
}

/**
 * The write of a reservation: holds `quantity` keys for a new order, all or nothing, and records the
 * idempotency key with it, inside the caller's IMMEDIATE transaction. `args` have passed
 * checkReserveArgs (Engine.reserve checks them once, before anything else). Sold out is a stored
 * business outcome (a retry gets it again); a product not on sale throws and stores nothing.
 */
export function reserve(db: WritableDB, ctx: Ctx, args: ReserveArgs, ticket: ReserveWriteTicket): ReserveWrite {
  const [outcome] = reserveMany(db, ctx, [{ args, ticket }]);
  if (!outcome!.ok) throw outcome!.error;
  return outcome!.value;
}

export interface ReserveRequest {
  readonly args: ReserveArgs;
  readonly ticket: ReserveWriteTicket;
}

export type ReserveOutcome =
  { readonly ok: true; readonly value: ReserveWrite } | { readonly ok: false; readonly error: unknown };

/**
 * Many reservations in one call (a batch of the group-commit writer), with the outcomes, rows and ledger
 * that `reserve` run on each in turn would give, but one statement per table for all of them instead of
 * eight per order. A request refused before it writes anything (not on sale, the purchase limit, a
 * reused idempotency key) gets its error as its outcome and stores nothing, as `reserve` alone would.
 * An error while writing throws: the caller rolls the whole attempt back.
 */
export function reserveMany(db: WritableDB, ctx: Ctx, requests: readonly ReserveRequest[]): ReserveOutcome[] {
  const outcomes: ReserveOutcome[] = [];
  let from = 0;
  while (from < requests.length) {
    // A run holds each idempotency key once: a repeat must see the record that its first use writes.
    const seen = new Set<string>();
    let to = from;
    for (; to < requests.length; to++) {
      const key = requests[to]!.args.idempotencyKey;
      if (key === undefined) continue;
      if (seen.has(key)) break;
      seen.add(key);
    }
    for (const outcome of reserveRun(db, ctx, requests.slice(from, to))) outcomes.push(outcome);
    from = to;
  }
  return outcomes;
}

const INSERT_ORDERS: RowsStatement = {
  sql: (list) => `INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash,
      created_at, expires_at, updated_at) VALUES ${list}`,
  tuple: "(?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?, ?)",
  width: 10,
};
const HOLD_KEYS: RowsStatement = {
  sql: (list) => `UPDATE keys SET status = 'reserved', order_id = hold.column2, updated_at = hold.column3
    FROM (VALUES ${list}) AS hold WHERE keys.id = hold.column1 AND keys.status = 'available'`,
  tuple: '(?, ?, ?)',
  width: 3,
};
const INSERT_OUTCOMES: RowsStatement = {
  sql: (list) => `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, response, created_at)
    VALUES ${list}`,
  tuple: `('${IDEMPOTENCY_SCOPE}', ?, ?, ?, ?, ?, ?, ?)`,
  width: 7,
};
const FIND_OUTCOMES: RowsStatement = {
  sql: (list) => `SELECT key, fingerprint, sealed_response, response, order_id FROM idempotency
    WHERE scope = '${IDEMPOTENCY_SCOPE}' AND key IN (${list})`,
  tuple: '?',
  width: 1,
};

interface OutcomeRow {
  readonly key: string;
  readonly fingerprint: Buffer;
  readonly sealed_response: Buffer;
  readonly response: string | null;
  readonly order_id: string | null;
}

/**
 * What a created order's record stores as its `response`: nothing, because the answer was the order as
 * created, which its row still holds (id, product, quantity, amount, e-mail and both times never change).
 * Records written before this stored the same answer as JSON, and still replay as stored.
 */
const CREATED_ORDER = '';

/** A record's answer as JSON (null: sealed whole, before migration 5). */
function storedResponse(db: ReadableDB, row: OutcomeRow): string | null {
  if (row.response !== CREATED_ORDER) return row.response;
  const order = row.order_id === null ? undefined : orderRow(db, row.order_id);
  if (!order) throw new Error(`the idempotency record of a created order names no order (${row.order_id})`);
  const created = Object.assign({}, order, {
    status: 'reserved' as const,
    review_reason: null,
    paid_at: null,
    delivered_at: null,
  });
  return JSON.stringify({ ok: true, value: toView(created) });
}

interface ProductRow {
  readonly price_amount: number;
  readonly currency: string;
  readonly on_sale: number;
}

/** A product's first free keys, fetched once for a run of reservations and handed out in order. */
interface KeyPool {
  readonly ids: number[];
  next: number;
}

/** The smallest power of two >= n: a few cached key lookups serve every batch size. */
const roundUp = (n: number): number => 2 ** Math.ceil(Math.log2(n));

/** `reserveMany` for requests whose idempotency keys are all different. */
function reserveRun(db: WritableDB, ctx: Ctx, requests: readonly ReserveRequest[]): ReserveOutcome[] {
  const keys = requests.flatMap((r) => (r.args.idempotencyKey === undefined ? [] : [r.args.idempotencyKey]));
  const stored = new Map(allRows<OutcomeRow>(db, FIND_OUTCOMES, keys).map((row) => [row.key, row]));
  // Every key this run could take, per product: an upper bound of what it takes, read before any write.
  const wanted = new Map<string, number>();
  for (const { args } of requests) wanted.set(args.productId, (wanted.get(args.productId) ?? 0) + args.quantity);
  const products = new Map<string, ProductRow | undefined>();
  const pools = new Map<string, KeyPool>();
  const newOrders = new Map<string, number>();

  const outcomes: ReserveOutcome[] = [];
  const orders: unknown[] = [];
  const holds: unknown[] = [];
  const entries: LedgerEntryInput[] = [];
  const records: unknown[] = [];
  const moved = new Map<string, number>();
  const isoAt = rememberingIso();
  for (const { args, ticket } of requests) {
    const key = args.idempotencyKey;
    try {
      if (key !== undefined) {
        const fp = ticket.requestFingerprint;
        if (!fp) throw new Error('reserve: an idempotent request needs its fingerprint');
        const row = stored.get(key);
        if (row) {
          if (!row.fingerprint.equals(fp)) {
            throw new EngineError('idempotency_key_reused', 'this Idempotency-Key was already used for a different request');
          }
          outcomes.push({
            ok: true,
            value: { replayed: true, stored: { response: storedResponse(db, row), sealed: row.sealed_response } },
          });
          continue;
        }
      }
      if (!products.has(args.productId)) {
        products.set(
          args.productId,
          stmt(db, 'SELECT price_amount, currency, on_sale FROM products WHERE id = ?').get(args.productId) as
            ProductRow | undefined,
        );
      }
      const product = products.get(args.productId);
      if (product?.on_sale !== 1) throw new EngineError('product_not_found', `no product ${args.productId} on sale`);
      const buyer = `${args.email}\n${args.productId}`;
      const limit = args.purchaseLimit;
      if (limit?.maxOrders) {
        // Counted under the same write lock as the insert, with this run's own new orders, so parallel
        // requests cannot all slip under it.
        const live = liveOrdersFor(db, args.email, args.productId, ctx.now - limit.windowMs) + (newOrders.get(buyer) ?? 0);
        if (live >= limit.maxOrders) {
          throw new EngineError('purchase_limit', `this e-mail already holds ${live} live order(s) for this product`, {
            limit: limit.maxOrders,
          });
        }
      }
      let pool = pools.get(args.productId);
      if (pool === undefined) {
        pool = { ids: firstAvailableKeys(db, args.productId, roundUp(wanted.get(args.productId)!)), next: 0 };
        pools.set(args.productId, pool);
      }
      const free = pool.ids.length - pool.next;
      let result: Result<OrderView>;
      if (free < args.quantity) {
        result = { ok: false, error: { code: 'sold_out', message: `only ${free} available, ${args.quantity} requested` } };
      } else {
        const keyIds = pool.ids.slice(pool.next, pool.next + args.quantity);
        pool.next += args.quantity;
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
          created_at: ctx.now,
          expires_at: ctx.now + args.holdSeconds * 1000,
          paid_at: null,
          delivered_at: null,
        };
        orders.push(
          row.id,
          row.product_id,
          row.quantity,
          row.amount,
          row.currency,
          row.email,
          row.access_token_hash,
          row.created_at,
          row.expires_at,
          row.created_at,
        );
        for (const keyId of keyIds) holds.push(keyId, row.id, ctx.now);
        moved.set(args.productId, (moved.get(args.productId) ?? 0) + args.quantity);
        newOrders.set(buyer, (newOrders.get(buyer) ?? 0) + 1);
        entries.push({
          kind: 'reserve',
          at: ctx.now,
          productId: args.productId,
          orderId: row.id,
          keyIds,
          keysTo: 'reserved',
          orderTo: 'reserved',
          detail: { quantity: args.quantity, amount: row.amount, currency: row.currency },
        });
        result = { ok: true, value: toView(row, isoAt) };
      }
      if (key !== undefined) {
        records.push(
          key,
          ticket.requestFingerprint,
          result.ok ? 201 : 409,
          result.ok ? result.value.id : null,
          result.ok ? ticket.sealedToken : NOTHING_SEALED,
          result.ok ? CREATED_ORDER : JSON.stringify(result),
          ctx.now,
        );
      }
      outcomes.push({ ok: true, value: { replayed: false, result } });
    } catch (error) {
      // Refused before writing anything: this request alone fails, and stores nothing.
      outcomes.push({ ok: false, error });
    }
  }

  runRows(db, INSERT_ORDERS, orders);
  const held = holds.length / HOLD_KEYS.width;
  if (runRows(db, HOLD_KEYS, holds) !== held) throw new Error('a key changed under the write lock');
  for (const [productId, count] of moved) moveStock(db, productId, { available: -count, reserved: count });
  if (entries.length > 0) appendLedgerEntries(db, entries);
  runRows(db, INSERT_OUTCOMES, records);
  return outcomes;
}

/** Live orders (reserved, paid or delivered) of `email` for `productId` created at or after `sinceMs`. */
export function liveOrdersFor(db: ReadableDB, email: string, productId: string, sinceMs: number): number {
  return stmt(
    db,
    `SELECT count(*) FROM orders
     WHERE email = ? AND product_id = ? AND status IN ('reserved', 'paid', 'delivered') AND created_at >= ?`,
  )
    .pluck()
    .get(email, productId, sinceMs) as number;
}

function orderRow(db: ReadableDB, id: string): OrderRow | undefined {
  return stmt(db, 'SELECT * FROM orders WHERE id = ?').get(id) as OrderRow | undefined;
}

function heldKeys(db: ReadableDB, orderId: string): number[] {
  return stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'reserved' ORDER BY id`).pluck().all(orderId) as number[];
}

function soldKeys(db: ReadableDB, orderId: string): number[] {
  return stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'sold' ORDER BY id`).pluck().all(orderId) as number[];
}

function setStatus(db: WritableDB, ctx: Ctx, id: string, status: OrderStatus, reason: string | null = null): void {
  stmt(db, 'UPDATE orders SET status = ?, review_reason = ?, updated_at = ? WHERE id = ?').run(status, reason, ctx.now, id);
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
  const paymentDetail = { eventId: args.eventId, source: args.source, amount: args.amount, currency: args.currency };
  const review = (reason: ReviewReason): PayResult => {
    markForReview(db, ctx, order, reason, paymentDetail);
    record('needs_review');
    return { effect: 'needs_review', order: toView(orderRow(db, order.id)!), reason };
  };

  const matches = args.amount === order.amount && args.currency === order.currency;
  if (order.status === 'paid' || order.status === 'delivered' || order.status === 'needs_review') {
    return review('duplicate_payment');
  }
  if (order.status === 'refunded') return review('payment_after_refund');
  if (!matches) return review('amount_mismatch');

  if (order.status === 'reserved') {
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
