/**
 * What payment channels write, decided here once for both backends (payments/store-sqlite.ts and
 * pg/payments.ts only run the statements): checkouts (one per order and channel), the claim of a due
 * status query, and a gateway payment's effect. A payment from a notification and one a query found take
 * the same path: the engine's `pay` (amount and currency compared, the gateway's trade number recorded
 * once with the effect, `needs_review` with a reason when in doubt, never two deliveries), plus the
 * channel's own events in the audit trail (`payment.created`, `payment.notified`, `payment.queried`,
 * `payment.applied`), which the order's timeline shows.
 */
import type { ChannelName } from '../../shared/payments';
import type { PayArgs, PayResult } from '../engine/order-payment';
import type { OrderView } from '../engine/order-rows';
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

/** An audit row to write with a change, in its transaction. */
export interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detail: Record<string, unknown>;
}

export interface SaveCheckout {
  readonly orderId: string;
  readonly channel: ChannelName;
  readonly made: NewCheckout;
  readonly amount: number;
  readonly currency: string;
  readonly expiresAt: number;
}

/** The columns of a new checkout, in the order `checkoutValues` gives them. */
export const CHECKOUT_COLUMNS =
  'order_id, channel, method, amount, currency, redirect_url, qr_code, reference, state, created_at, expires_at, next_query_at';

/**
 * A checkout the gateway made, as stored: open, its first query scheduled. The store keeps the one
 * already stored for this order and channel instead (made by a request that raced this one, here or on
 * another server: that one is the payment), and refuses an order that stopped being payable while the
 * gateway was asked (`checkoutRefusal`).
 */
export function newCheckout(input: SaveCheckout, now: number, schedule: QuerySchedule): { values: unknown[]; audit: AuditEntry } {
  const { made } = input;
  return {
    values: [
      input.orderId,
      input.channel,
      made.method,
      input.amount,
      input.currency,
      made.redirectUrl ?? null,
      made.qrCode ?? null,
      made.reference ?? null,
      'open',
      now,
      input.expiresAt,
      nextQueryAt(schedule, { expires_at: input.expiresAt }, 0, now),
    ],
    audit: {
      actor: channelActor(input.channel),
      action: 'payment.created',
      subject: input.orderId,
      detail: {
        channel: input.channel,
        method: made.method,
        amount: input.amount,
        currency: input.currency,
        ...(made.reference ? { reference: made.reference } : {}),
        kind: made.qrCode !== undefined ? 'qr_code' : 'redirect',
      },
    },
  };
}

/** Why a checkout cannot be stored for this order (read in the storing transaction), or null. */
export function checkoutRefusal(
  orderId: string,
  order: Pick<OrderView, 'status'> | null,
): { code: 'order_not_found' | 'order_not_payable'; message: string } | null {
  if (!order) return { code: 'order_not_found', message: `no order ${orderId}` };
  if (order.status !== 'reserved') return { code: 'order_not_payable', message: `the order is ${order.status}` };
  return null;
}

/** A verified notification arrived (written before its effect, in the same transaction). */
export function notificationAudit(
  channel: ChannelName,
  orderId: string,
  detail: { state: GatewayState; tradeNo?: string; amount?: number; currency?: string },
): AuditEntry {
  return { actor: channelActor(channel), action: 'payment.notified', subject: orderId, detail: { channel, ...detail } };
}

/** A gateway payment, as the engine's `pay` takes it: the trade number is its event. */
export function gatewayPayArgs(channel: ChannelName, via: 'notify' | 'query', payment: GatewayPayment): PayArgs {
  return {
    orderId: payment.orderId,
    amount: payment.amount,
    currency: payment.currency,
    eventId: `${channel}:${payment.tradeNo}`,
    source: channel,
    channel: { tradeNo: payment.tradeNo, via },
  };
}

/**
 * What follows a gateway payment's `pay` in its transaction: the `payment.applied` audit row (none for
 * a trade number already applied) and whether the checkout is now paid (no more queries).
 */
export function afterGatewayPayment(
  input: { channel: ChannelName; via: 'notify' | 'query'; payment: GatewayPayment; actor: string },
  result: PayResult,
): { audit: AuditEntry | null; checkoutPaid: boolean } {
  const { channel, via, payment } = input;
  return {
    audit:
      result.effect === 'duplicate_event'
        ? null
        : {
            actor: input.actor,
            action: 'payment.applied',
            subject: payment.orderId,
            detail: {
              channel,
              via,
              tradeNo: payment.tradeNo,
              amount: payment.amount,
              currency: payment.currency,
              effect: result.effect,
              ...(result.reason ? { reason: result.reason } : {}),
            },
          },
    checkoutPaid: result.effect === 'delivered' || result.effect === 'duplicate_event',
  };
}

export type QueryReason = 'schedule' | 'buyer' | 'admin' | 'return';

/** A status query's answer, or its failure. */
export interface QueryFinding {
  readonly state: GatewayState;
  readonly detail: string;
  readonly failed: boolean;
}

/**
 * What a status query found does to its checkout, and when to ask next (`current` is the checkout as
 * the recording transaction reads it). A scheduled query that found what the last one did is only
 * counted on the checkout (a checkout is asked up to ~35 times in a 15-minute hold); the first one, a
 * changed answer, a failure and every query a person asked for go into the audit trail too.
 */
export function queryOutcome(
  checkout: CheckoutRow,
  current: Pick<CheckoutRow, 'state' | 'queries' | 'last_query_status'>,
  order: Pick<OrderView, 'status'> | null,
  result: QueryFinding,
  reason: QueryReason,
  actor: string,
  schedule: QuerySchedule,
  now: number,
): { status: string; next: number | null; state: CheckoutRow['state']; audit: AuditEntry | null } {
  const status = result.failed ? 'failed' : result.state;
  const live = current.state === 'open' && order !== null && (order.status === 'reserved' || order.status === 'expired');
  const next = live ? nextQueryAt(schedule, checkout, current.queries + 1, now) : null;
  const state = current.state === 'open' && next === null ? 'closed' : current.state;
  const audited = reason !== 'schedule' || current.queries === 0 || status !== current.last_query_status || state === 'closed';
  return {
    status,
    next,
    state,
    audit: audited
      ? {
          actor,
          action: 'payment.queried',
          subject: checkout.order_id,
          detail: {
            channel: checkout.channel,
            reason,
            state: status,
            detail: result.detail,
            ...(state === 'closed' ? { closed: true } : {}),
          },
        }
      : null,
  };
}
