/**
 * Reserving keys for new orders: the request's checks, the ticket made before the write lock, the write
 * itself (one order or a whole batch of the group-commit writer, with a few multi-row statements per
 * table), the purchase limit, and the answer handed back to the buyer.
 */
import type { Result } from '../../shared/errors';
import { allRows, runRows, stmt, type RowsStatement } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import type { VaultKeys } from '../vault/crypto';
import { sha256 } from './ids';
import { appendLedgerEntries, type LedgerEntryInput } from './ledger';
import {
  checkIdempotencyKey,
  CREATED_ORDER,
  FIND_OUTCOMES,
  INSERT_OUTCOMES,
  NOTHING_SEALED,
  replayStored,
  storedResponse,
  withToken,
  type OutcomeRow,
  type StoredOutcome,
} from './order-idempotency';
import { rememberingIso, toView, type CreatedOrder, type Ctx, type OrderRow, type OrderView } from './order-rows';
import { firstAvailableKeys, moveStock } from './products';
import { makeTicket, type OrderTicket } from './tickets';

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

const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[^\s@<>()[\]\\,;:"]{1,189}\.[^\s@<>()[\]\\,;:".]{1,63}$/;
/** Control characters: no mailbox has one, and PostgreSQL's text cannot hold a NUL. */
const CONTROL = /\p{Cc}/u;
export const MAX_QUANTITY = 1000;

export function checkReserveArgs(args: ReserveArgs): void {
  if (!Number.isSafeInteger(args.quantity) || args.quantity < 1 || args.quantity > MAX_QUANTITY) {
    throw new EngineError('validation_failed', `quantity must be an integer from 1 to ${MAX_QUANTITY}`, {
      field: 'quantity',
    });
  }
  if (args.email.length > 254 || !EMAIL.test(args.email) || CONTROL.test(args.email)) {
    throw new EngineError('validation_failed', 'email must be an e-mail address', { field: 'email' });
  }
  if (args.idempotencyKey !== undefined) checkIdempotencyKey(args.idempotencyKey);
}

function requestFingerprint(args: ReserveArgs): Buffer {
  return sha256(JSON.stringify(['orders.create', args.productId, args.quantity, args.email]));
}

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

/** What the write transaction of a reservation returns: a new outcome, or the stored one of an earlier request. */
export type ReserveWrite =
  { readonly replayed: false; readonly result: Result<OrderView> } | { readonly replayed: true; readonly stored: StoredOutcome };

/** Turns a reservation's write into the caller's answer: the new order with its token, or the first request's answer again. */
export function finishReserve(vault: VaultKeys, args: ReserveArgs, ticket: ReserveTicket, write: ReserveWrite): ReserveResult {
  if (!write.replayed) {
    const { result } = write;
    return { replayed: false, result: result.ok ? { ok: true, value: withToken(result.value, ticket.accessToken) } : result };
  }
  return { replayed: true, result: replayStored(vault, args.idempotencyKey!, write.stored) };
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
  for (const run of idempotencyRuns(requests)) {
    for (const outcome of reserveRun(db, ctx, run)) outcomes.push(outcome);
  }
  return outcomes;
}

/**
 * A batch cut into runs, in order, each holding an idempotency key at most once: a repeat must see the
 * record its first use writes, so it starts the next run. Both backends' batches (reserveMany here,
 * reservePgMany in pg/reserve.ts) run each run in turn. On the group-commit writer's hot path, so light:
 * no set unless a request has a key, and the batch itself, not a copy, when it is one run.
 */
export function idempotencyRuns(requests: readonly ReserveRequest[]): (readonly ReserveRequest[])[] {
  const runs: (readonly ReserveRequest[])[] = [];
  let seen: Set<string> | undefined;
  let from = 0;
  for (let i = 0; i < requests.length; i++) {
    const key = requests[i]!.args.idempotencyKey;
    if (key === undefined) continue;
    seen ??= new Set();
    if (seen.has(key)) {
      runs.push(requests.slice(from, i));
      from = i;
      seen.clear();
    }
    seen.add(key);
  }
  if (from < requests.length) runs.push(from === 0 ? requests : requests.slice(from));
  return runs;
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

/** A product's first free keys, fetched once for a run of reservations and handed out in order. */
interface KeyPool {
  readonly ids: number[];
  next: number;
}

/** The smallest power of two >= n: a few cached key lookups serve every batch size. */
const roundUp = (n: number): number => 2 ** Math.ceil(Math.log2(n));

/**
 * The idempotency check of a reservation, the same on every backend: null when `key` has no earlier
 * record (go ahead), the earlier answer's replay when the same request made it, `idempotency_key_reused`
 * when another request did. `response` rebuilds the record's answer (see storedResponse).
 */
export function earlierOutcome(
  ticket: ReserveWriteTicket,
  row: OutcomeRow | undefined,
  response: (row: OutcomeRow) => string | null,
): ReserveWrite | null {
  const fp = ticket.requestFingerprint;
  if (!fp) throw new Error('reserve: an idempotent request needs its fingerprint');
  if (!row) return null;
  if (!row.fingerprint.equals(fp)) {
    throw new EngineError('idempotency_key_reused', 'this Idempotency-Key was already used for a different request');
  }
  return { replayed: true, stored: { response: response(row), sealed: row.sealed_response } };
}

/** A product as a reservation reads it. */
export interface SaleProduct {
  readonly price_amount: number;
  readonly currency: string;
  readonly on_sale: number;
}

/** Refuses a product that does not exist or is not on sale (nothing is stored for it). */
export function checkOnSale(product: SaleProduct | undefined, productId: string): asserts product is SaleProduct {
  if (product?.on_sale !== 1) throw new EngineError('product_not_found', `no product ${productId} on sale`);
}

export function purchaseLimitError(live: number, maxOrders: number): EngineError {
  return new EngineError('purchase_limit', `this e-mail already holds ${live} live order(s) for this product`, {
    limit: maxOrders,
  });
}

export const soldOut = (free: number, quantity: number): Result<OrderView> => ({
  ok: false,
  error: { code: 'sold_out', message: `only ${free} available, ${quantity} requested` },
});

/** A new reservation holding `keyIds`: its order row, its ledger entry and the buyer's view of it. */
export function newReservation(
  args: ReserveArgs,
  ticket: ReserveWriteTicket,
  product: SaleProduct,
  keyIds: number[],
  now: number,
  isoAt: (ms: number) => string,
): { row: OrderRow; entry: LedgerEntryInput; view: OrderView } {
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
  const entry: LedgerEntryInput = {
    kind: 'reserve',
    at: now,
    productId: args.productId,
    orderId: row.id,
    keyIds,
    keysTo: 'reserved',
    orderTo: 'reserved',
    detail: { quantity: args.quantity, amount: row.amount, currency: row.currency },
  };
  return { row, entry, view: toView(row, isoAt) };
}

/** An idempotency record's values for `result`: key, fingerprint, status, order id, sealed token, response. */
export function outcomeRecord(
  key: string,
  ticket: ReserveWriteTicket,
  result: Result<OrderView>,
): [string, Buffer | null, number, string | null, Buffer, string] {
  return result.ok
    ? [key, ticket.requestFingerprint, 201, result.value.id, ticket.sealedToken, CREATED_ORDER]
    : [key, ticket.requestFingerprint, 409, null, NOTHING_SEALED, JSON.stringify(result)];
}

/** `reserveMany` for requests whose idempotency keys are all different. */
function reserveRun(db: WritableDB, ctx: Ctx, requests: readonly ReserveRequest[]): ReserveOutcome[] {
  const keys = requests.flatMap((r) => (r.args.idempotencyKey === undefined ? [] : [r.args.idempotencyKey]));
  const stored = new Map(allRows<OutcomeRow>(db, FIND_OUTCOMES, keys).map((row) => [row.key, row]));
  // Every key this run could take, per product: an upper bound of what it takes, read before any write.
  const wanted = new Map<string, number>();
  for (const { args } of requests) wanted.set(args.productId, (wanted.get(args.productId) ?? 0) + args.quantity);
  const products = new Map<string, SaleProduct | undefined>();
  const pools = new Map<string, KeyPool>();
  const newOrders = new Map<string, number>();

  const outcomes: ReserveOutcome[] = [];
  const orders: unknown[] = [];
  const holds: unknown[] = [];
  const entries: LedgerEntryInput[] = [];
  const records: unknown[] = [];
  const moved = new Map<string, number>();
  const isoAt = rememberingIso();
  const responseOf = (row: OutcomeRow) => storedResponse(db, row);
  for (const { args, ticket } of requests) {
    const key = args.idempotencyKey;
    try {
      if (key !== undefined) {
        const earlier = earlierOutcome(ticket, stored.get(key), responseOf);
        if (earlier) {
          outcomes.push({ ok: true, value: earlier });
          continue;
        }
      }
      if (!products.has(args.productId)) {
        products.set(
          args.productId,
          stmt(db, 'SELECT price_amount, currency, on_sale FROM products WHERE id = ?').get(args.productId) as
            SaleProduct | undefined,
        );
      }
      const product = products.get(args.productId);
      checkOnSale(product, args.productId);
      const buyer = `${args.email}\n${args.productId}`;
      const limit = args.purchaseLimit;
      if (limit?.maxOrders) {
        // Counted under the same write lock as the insert, with this run's own new orders, so parallel
        // requests cannot all slip under it.
        const live = liveOrdersFor(db, args.email, args.productId, ctx.now - limit.windowMs) + (newOrders.get(buyer) ?? 0);
        if (live >= limit.maxOrders) throw purchaseLimitError(live, limit.maxOrders);
      }
      let pool = pools.get(args.productId);
      if (pool === undefined) {
        pool = { ids: firstAvailableKeys(db, args.productId, roundUp(wanted.get(args.productId)!)), next: 0 };
        pools.set(args.productId, pool);
      }
      const free = pool.ids.length - pool.next;
      let result: Result<OrderView>;
      if (free < args.quantity) {
        result = soldOut(free, args.quantity);
      } else {
        const keyIds = pool.ids.slice(pool.next, pool.next + args.quantity);
        pool.next += args.quantity;
        const { row, entry, view } = newReservation(args, ticket, product, keyIds, ctx.now, isoAt);
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
        entries.push(entry);
        result = { ok: true, value: view };
      }
      if (key !== undefined) {
        for (const value of outcomeRecord(key, ticket, result)) records.push(value);
        records.push(ctx.now);
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
