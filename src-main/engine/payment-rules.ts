/**
 * What a payment does to an order, decided from the order alone: the rules every backend applies in its
 * own payment transaction (engine/order-payment.ts on SQLite, pg/pay.ts on PostgreSQL), so they cannot
 * drift apart. A payment sells the held keys of a reserved order, or fresh keys of an expired one; a
 * second payment, a payment after a refund or of the wrong amount goes to review and delivers nothing.
 */
import { EngineError } from '../lib/errors';
import type { OrderStatus } from './order-rows';

export type ReviewReason =
  'amount_mismatch' | 'paid_after_expiry_sold_out' | 'duplicate_payment' | 'payment_after_refund' | 'hold_mismatch';

/**
 * `sell_held`: sell the keys the order holds (fewer than its quantity: review `hold_mismatch`).
 * `sell_fresh`: its hold expired; sell free keys if enough are left (else review `paid_after_expiry_sold_out`).
 */
export type PaymentStep =
  { readonly kind: 'review'; readonly reason: ReviewReason } | { readonly kind: 'sell_held' | 'sell_fresh' };

export function paymentStep(
  order: { readonly status: OrderStatus; readonly amount: number; readonly currency: string },
  payment: { readonly amount: number; readonly currency: string },
): PaymentStep {
  if (order.status === 'paid' || order.status === 'delivered' || order.status === 'needs_review') {
    return { kind: 'review', reason: 'duplicate_payment' };
  }
  if (order.status === 'refunded') return { kind: 'review', reason: 'payment_after_refund' };
  if (payment.amount !== order.amount || payment.currency !== order.currency)
    return { kind: 'review', reason: 'amount_mismatch' };
  return { kind: order.status === 'reserved' ? 'sell_held' : 'sell_fresh' };
}

/** What a payment's ledger entries and records say about it. */
export function paymentDetail(args: {
  readonly eventId: string;
  readonly source: string;
  readonly amount: number;
  readonly currency: string;
}): Record<string, unknown> {
  return { eventId: args.eventId, source: args.source, amount: args.amount, currency: args.currency };
}

/**
 * Refuses a payment whose ids hold a NUL character before either backend stores anything: no gateway
 * sends one, PostgreSQL's text cannot hold one, and an id that cannot be stored cannot be deduplicated.
 */
export function checkPaymentIds(args: { readonly orderId: string; readonly eventId: string }): void {
  if (args.orderId.includes('\0') || args.eventId.includes('\0')) {
    throw new EngineError('validation_failed', "a payment's order id and event id may not contain NUL characters");
  }
}
