/**
 * What payment channels write, each inside the caller's IMMEDIATE transaction: checkouts (one per order
 * and channel), the claim of a due status query, and a gateway payment's effect. A payment from a
 * notification and one a query found take the same path: the engine's `pay` (amount and currency
 * compared, the gateway's trade number recorded once with the effect, `needs_review` with a reason when
 * in doubt, never two deliveries), plus the channel's own events in the audit trail (`payment.created`,
 * `payment.notified`, `payment.queried`, `payment.applied`), which the order's timeline shows.
 */
import type { ChannelName } from '../../shared/payments';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { writeAudit } from '../db/audit';
import { EngineError } from '../lib/errors';
import { getOrder, pay, type Ctx, type PayResult } from '../engine/orders';
import type { GatewayPayment, GatewayState, NewCheckout } from './channel';

export interface CheckoutRow {
  readonly id: number;
  readonly order_id: string;
  readonly channel: ChannelName;
  readonly method: string;
  readonly amount: number;
  readonly currency: string;
  readonly redirect_url: string | null;
  readonly qr_code: string | null;
  readonly reference: string | null;
  readonly state: 'open' | 'paid' | 'closed';
  readonly created_at: number;
  readonly expires_at: number;
  readonly next_query_at: number | null;
  readonly queries: number;
  readonly last_query_at: number | null;
  readonly last_query_status: string | null;
}

/**
 * When the poller asks a channel about an open checkout: after each of `delaysMs` in turn, then every
 * `everyMs` until the hold ends, and once more `afterExpiryMs` after it (a payment made in the last
 * seconds, or a notification lost then, is still found).
 */
export interface QuerySchedule {
  readonly delaysMs: readonly number[];
  readonly everyMs: number;
  readonly afterExpiryMs: number;
}

/** A paid buyer waits at most `everyMs` (30 s) for a lost notification to be found by a query. */
export const DEFAULT_SCHEDULE: QuerySchedule = {
  delaysMs: [3_000, 5_000, 10_000, 15_000, 20_000],
  everyMs: 30_000,
  afterExpiryMs: 15_000,
};

/** The next query of a checkout that has had `queries` of them, asked at `now`; null: none again. */
export function nextQueryAt(schedule: QuerySchedule, checkout: Pick<CheckoutRow, 'expires_at'>, queries: number, now: number) {
  const final = checkout.expires_at + schedule.afterExpiryMs;
  if (now >= final) return null;
  const at = now + (schedule.delaysMs[queries] ?? schedule.everyMs);
  return at >= checkout.expires_at ? Math.max(final, now + 1) : at;
}

export const channelActor = (channel: ChannelName): string => `gateway:${channel}`;

export function findCheckout(db: ReadableDB, orderId: string, channel: ChannelName): CheckoutRow | undefined {
  return stmt(db, 'SELECT * FROM checkouts WHERE order_id = ? AND channel = ?').get(orderId, channel) as CheckoutRow | undefined;
}

export function orderCheckouts(db: ReadableDB, orderId: string): CheckoutRow[] {
  return stmt(db, 'SELECT * FROM checkouts WHERE order_id = ? ORDER BY id').all(orderId) as CheckoutRow[];
}

export interface SaveCheckout {
  readonly orderId: string;
  readonly channel: ChannelName;
  readonly made: NewCheckout;
  readonly amount: number;
  readonly currency: string;
  readonly expiresAt: number;
}

/**
 * Stores a checkout the gateway made, unless one for this order and channel exists already (made by a
 * request that raced this one, here or in another process): then that one is the payment, and this one
 * is forgotten. Refuses an order that stopped being payable while the gateway was asked.
 */
export function saveCheckout(db: WritableDB, now: number, input: SaveCheckout, schedule: QuerySchedule): CheckoutRow {
  const existing = findCheckout(db, input.orderId, input.channel);
  if (existing) return existing;
  const order = getOrder(db, input.orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${input.orderId}`);
  if (order.status !== 'reserved') throw new EngineError('order_not_payable', `the order is ${order.status}`);
  const first = nextQueryAt(schedule, { expires_at: input.expiresAt }, 0, now);
  stmt(
    db,
    `INSERT INTO checkouts (order_id, channel, method, amount, currency, redirect_url, qr_code, reference, state,
       created_at, expires_at, next_query_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
  ).run(
    input.orderId,
    input.channel,
    input.made.method,
    input.amount,
    input.currency,
    input.made.redirectUrl ?? null,
    input.made.qrCode ?? null,
    input.made.reference ?? null,
    now,
    input.expiresAt,
    first,
  );
  writeAudit(db, now, channelActor(input.channel), 'payment.created', input.orderId, {
    channel: input.channel,
    method: input.made.method,
    amount: input.amount,
    currency: input.currency,
    ...(input.made.reference ? { reference: input.made.reference } : {}),
    kind: input.made.qrCode !== undefined ? 'qr_code' : 'redirect',
  });
  return findCheckout(db, input.orderId, input.channel)!;
}

/** When the next query of any checkout is due (null: none is scheduled). A read: no write lock. */
export function nextDueAt(db: ReadableDB): number | null {
  return (
    (stmt(db, 'SELECT min(next_query_at) FROM checkouts WHERE next_query_at IS NOT NULL').pluck().get() as number | null) ?? null
  );
}

/**
 * Claims up to `limit` checkouts whose query is due: moves each one's next query `leaseMs` ahead in this
 * same write, so no other poller (another process serving the shop) takes it meanwhile; the query's
 * result then sets the real next time. A poller that dies mid-query leaves the lease to expire.
 */
export function claimDueQueries(db: WritableDB, now: number, limit: number, leaseMs: number): CheckoutRow[] {
  const due = stmt(db, 'SELECT * FROM checkouts WHERE next_query_at <= ? ORDER BY next_query_at LIMIT ?').all(
    now,
    limit,
  ) as CheckoutRow[];
  const lease = stmt(db, 'UPDATE checkouts SET next_query_at = ? WHERE id = ?');
  for (const row of due) lease.run(now + leaseMs, row.id);
  return due;
}

/** A gateway payment's effect on its order, recorded with the event that brought it. */
export function applyGatewayPayment(
  db: WritableDB,
  ctx: Ctx,
  input: { channel: ChannelName; via: 'notify' | 'query'; payment: GatewayPayment; actor: string },
): PayResult {
  const { channel, via, payment } = input;
  const result = pay(db, ctx, {
    orderId: payment.orderId,
    amount: payment.amount,
    currency: payment.currency,
    eventId: `${channel}:${payment.tradeNo}`,
    source: channel,
    channel: { tradeNo: payment.tradeNo, via },
  });
  if (result.effect !== 'duplicate_event') {
    writeAudit(db, ctx.now, input.actor, 'payment.applied', payment.orderId, {
      channel,
      via,
      tradeNo: payment.tradeNo,
      amount: payment.amount,
      currency: payment.currency,
      effect: result.effect,
      ...(result.reason ? { reason: result.reason } : {}),
    });
  }
  if (result.effect === 'delivered' || result.effect === 'duplicate_event') {
    stmt(db, `UPDATE checkouts SET state = 'paid', next_query_at = NULL WHERE order_id = ? AND channel = ?`).run(
      payment.orderId,
      channel,
    );
  }
  return result;
}

/** A verified notification arrived (written before its effect, in the same transaction). */
export function recordNotification(
  db: WritableDB,
  now: number,
  channel: ChannelName,
  orderId: string,
  detail: { state: GatewayState; tradeNo?: string; amount?: number; currency?: string },
): void {
  writeAudit(db, now, channelActor(channel), 'payment.notified', orderId, { channel, ...detail });
}

export type QueryReason = 'schedule' | 'buyer' | 'admin' | 'return';

/**
 * What a status query found, and when to ask next. A scheduled query that found what the last one did
 * is only counted on the checkout (a checkout is asked up to ~35 times in a 15-minute hold); the first
 * one, a changed answer, a failure and every query a person asked for go into the audit trail too.
 */
export function recordQuery(
  db: WritableDB,
  now: number,
  checkout: CheckoutRow,
  result: { state: GatewayState; detail: string; failed: boolean },
  reason: QueryReason,
  actor: string,
  schedule: QuerySchedule,
): void {
  const current = stmt(db, 'SELECT state, queries, last_query_status FROM checkouts WHERE id = ?').get(checkout.id) as
    { state: CheckoutRow['state']; queries: number; last_query_status: string | null } | undefined;
  if (!current) return;
  const status = result.failed ? 'failed' : result.state;
  const order = getOrder(db, checkout.order_id);
  const live = current.state === 'open' && order !== null && (order.status === 'reserved' || order.status === 'expired');
  const next = live ? nextQueryAt(schedule, checkout, current.queries + 1, now) : null;
  const state = current.state === 'open' && next === null ? 'closed' : current.state;
  stmt(
    db,
    `UPDATE checkouts SET queries = queries + 1, last_query_at = ?, last_query_status = ?, next_query_at = ?, state = ?
     WHERE id = ?`,
  ).run(now, status, next, state, checkout.id);
  if (reason !== 'schedule' || current.queries === 0 || status !== current.last_query_status || state === 'closed') {
    writeAudit(db, now, actor, 'payment.queried', checkout.order_id, {
      channel: checkout.channel,
      reason,
      state: status,
      detail: result.detail,
      ...(state === 'closed' ? { closed: true } : {}),
    });
  }
}

/** Stops querying a checkout whose order no longer waits for a payment (paid another way, refunded, ...). */
export function closeCheckout(db: WritableDB, checkoutId: number): void {
  stmt(
    db,
    `UPDATE checkouts SET next_query_at = NULL, state = CASE state WHEN 'open' THEN 'closed' ELSE state END WHERE id = ?`,
  ).run(checkoutId);
}
