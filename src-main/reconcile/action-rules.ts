/**
 * What the support actions on findings decide, whichever backend runs them: which finding id names
 * which order or payment, what each action refuses, the ledger entries and audit and resolution records
 * each target leaves, and the outcome text. Pure functions: reconcile/actions.ts runs them on SQLite,
 * actions-pg.ts on PostgreSQL, so the two only differ in how they run their statements.
 */
import {
  FINDING_KINDS,
  type ActionKind,
  type ActionTarget,
  type FindingKind,
  type ReconcileFinding,
} from '../../shared/reconcile';
import type { PayArgs, PayResult } from '../engine/order-payment';
import type { LedgerEntryInput } from '../engine/ledger';
import { EngineError } from '../lib/errors';
import { makeFinding, orderEvidence, type OrderRowLike } from './finding';

export interface ActionInput {
  readonly action: ActionKind;
  readonly targets: readonly ActionTarget[];
  readonly note: string;
  readonly keys?: 'burn' | 'return' | undefined;
  readonly preview: boolean;
}

/** Kinds whose subject is an order id. */
const ORDER_SUBJECT: readonly FindingKind[] = [
  'paid_not_delivered',
  'delivered_not_paid',
  'expired_hold',
  'needs_review',
  'order_paid_missing_in_statement',
];
/** Kinds whose subject is a provider payment id (a refund's prefixed with `refund:`). */
const PAYMENT_SUBJECT: readonly FindingKind[] = [
  'statement_payment_unknown_order',
  'statement_paid_order_unpaid',
  'amount_mismatch',
  'statement_refund_not_applied',
];

/** Thrown at the end of a preview so its transaction (or savepoint) rolls back; caught by whoever threw it. */
export class PreviewRollback extends Error {}

export function parseFindingId(id: string): { kind: FindingKind; subject: string } {
  const colon = id.indexOf(':');
  const kind = id.slice(0, colon) as FindingKind;
  const subject = id.slice(colon + 1);
  if (colon < 1 || !FINDING_KINDS.includes(kind) || subject === '') {
    throw new EngineError('validation_failed', `"${id.slice(0, 80)}" is not a finding id (<kind>:<subject>)`);
  }
  return { kind, subject };
}

/** A target with the order and payment it concerns. */
export interface Resolved {
  readonly findingId: string;
  readonly kind: FindingKind;
  readonly subject: string;
  readonly orderId: string | null;
  readonly paymentId: string | null;
}

/** The target's finding, order and payment as its id and the caller say; `orderId` null when only a statement can tell. */
export function targetIds(target: ActionTarget): Resolved {
  const { kind, subject } = parseFindingId(target.findingId);
  const orderId = target.orderId ?? (ORDER_SUBJECT.includes(kind) ? subject : null);
  const paymentId = target.paymentId ?? (PAYMENT_SUBJECT.includes(kind) ? subject.replace(/^refund:/, '') : null);
  return { findingId: target.findingId, kind, subject, orderId, paymentId };
}

/** The order a statement's payment went to (linked by hand, else as the statement says); one `?`: the payment id. */
export const PAYMENT_ORDER_SQL = `SELECT coalesce(l.order_id, r.order_id) AS order_id FROM statement_rows r
  LEFT JOIN payment_links l ON l.payment_id = r.payment_id WHERE r.payment_id = ? ORDER BY r.id LIMIT 1`;

/** The first imported payment row of a payment id; one `?`. */
export const STATEMENT_PAYMENT_SQL = `SELECT amount, currency FROM statement_rows WHERE payment_id = ? AND kind = 'payment' ORDER BY id LIMIT 1`;

/** Records (or replaces) a finding's resolution: finding_id, kind, action, note, actor, finding, resolved_at. */
export const RESOLUTION_SQL = `INSERT INTO finding_resolutions (finding_id, kind, action, note, actor, finding, resolved_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (finding_id) DO UPDATE SET action = excluded.action, note = excluded.note, actor = excluded.actor,
    finding = excluded.finding, resolved_at = excluded.resolved_at`;

/** Links a payment to an order: payment_id, order_id, actor, note, linked_at. */
export const LINK_SQL = `INSERT INTO payment_links (payment_id, order_id, actor, note, linked_at) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (payment_id) DO UPDATE SET order_id = excluded.order_id, actor = excluded.actor, note = excluded.note,
    linked_at = excluded.linked_at`;

export function requireOrderId(t: Resolved, action: string): string {
  if (t.orderId === null) throw new EngineError('validation_failed', `${action} needs an order for ${t.findingId}`);
  return t.orderId;
}

export function orderFound<T>(order: T | undefined, id: string): T {
  if (!order) throw new EngineError('order_not_found', `no order ${id}`);
  return order;
}

/** The resolution's row values (RESOLUTION_SQL's order), with a snapshot that stays visible once the disagreement is gone. */
export function resolutionRecord(
  t: Resolved,
  order: OrderRowLike | undefined,
  action: ActionKind,
  note: string,
  actor: string,
  now: number,
): unknown[] {
  const snapshot: ReconcileFinding = makeFinding(t.kind, {
    subject: t.subject,
    orderId: t.orderId,
    productId: order?.product_id ?? null,
    paymentId: t.paymentId,
    summary: `${t.kind.replaceAll('_', ' ')}: ${t.subject}`,
    expected: {},
    actual: {},
    evidence: order ? [orderEvidence(order)] : [],
    actions: [],
  });
  return [t.findingId, t.kind, action, note, actor, JSON.stringify(snapshot), now];
}

export const resolvedEffect = (t: Resolved, actor: string, note: string): string =>
  `mark ${t.findingId} resolved by ${actor}: ${note}`;

/** A bulk request's failure names its target and says nothing changed; a single target's is passed on. */
export function targetFailure(error: unknown, t: Resolved, targets: number): unknown {
  if (error instanceof EngineError && targets > 1) {
    return new EngineError(error.code, `${t.findingId}: ${error.message}; nothing was changed`, error.details);
  }
  return error;
}

/** The resolve action's audit: subject and detail. */
export const resolveAudit = (t: Resolved, note: string): [string, Record<string, unknown>] => [
  t.orderId ?? t.subject,
  { finding: t.findingId, note },
];

// --- redeliver ---------------------------------------------------------------------------------

export function checkRedeliverOrder(order: OrderRowLike, paymentCount: () => number): void {
  if (!['paid', 'delivered', 'needs_review'].includes(order.status)) {
    throw new EngineError(
      'validation_failed',
      `order ${order.id} is ${order.status}; only a paid, delivered or in-review order gets codes`,
    );
  }
  if (order.paid_at === null && paymentCount() === 0) {
    throw new EngineError('validation_failed', `order ${order.id} has no payment; link or confirm a payment first`);
  }
}

export interface StrayDelivery {
  readonly id: number;
  readonly key_id: number;
  readonly owner: string | null;
}

export const takeBackEffect = (d: StrayDelivery): string =>
  `take back the delivery of key ${d.key_id} (it belongs to ${d.owner ?? 'no order'})`;

/** How many fresh keys an order needs beyond its live deliveries and held keys. */
export const shortBy = (order: OrderRowLike, live: number, held: number): number => Math.max(0, order.quantity - live - held);

export const redeliveredEffect = (delivered: readonly number[]): string =>
  delivered.length > 0
    ? `sell and deliver held key(s) ${delivered.join(', ')}`
    : 'record a re-delivery of the codes the order holds';

export function checkFreshKeys(order: OrderRowLike, short: number, fresh: readonly number[]): void {
  if (fresh.length < short)
    throw new EngineError('sold_out', `order ${order.id} needs ${short} fresh key(s); ${fresh.length} available`);
}

/** The ledger entry of a redelivery that sold `sold` (held, then fresh) keys, its audit detail and effects. */
export function redeliverRecords(
  now: number,
  order: OrderRowLike,
  t: Resolved,
  note: string,
  actor: string,
  sold: readonly number[],
  stray: readonly StrayDelivery[],
): { entry: LedgerEntryInput; audit: Record<string, unknown>; effects: string[] } {
  const entry: LedgerEntryInput =
    sold.length > 0
      ? {
          kind: 'sell',
          at: now,
          productId: order.product_id,
          orderId: order.id,
          keyIds: sold,
          keysTo: 'sold',
          orderTo: 'delivered',
          detail: { reason: note, actor, redeliver: true, finding: t.findingId },
        }
      : {
          kind: 'review',
          at: now,
          productId: order.product_id,
          orderId: order.id,
          keyIds: [],
          orderTo: 'delivered',
          detail: { reason: note, actor, redeliver: true, from: order.status, finding: t.findingId },
        };
  return {
    entry,
    audit: { finding: t.findingId, note, delivered: sold, takenBack: stray.map((d) => d.key_id) },
    effects: sold.length > 0 ? [`sell and deliver key(s) ${sold.join(', ')} to order ${order.id}`] : [],
  };
}

// --- refund ------------------------------------------------------------------------------------

export function refundKeys(keys: 'burn' | 'return' | undefined): 'burn' | 'return' {
  if (keys === undefined)
    throw new EngineError('validation_failed', 'a refund says whether the delivered keys are burned or returned to sale (keys)');
  return keys;
}

export function refundEffects(order: OrderRowLike, sold: readonly number[], keys: 'burn' | 'return'): string[] {
  return [
    `refund order ${order.id} (${order.amount} ${order.currency}, was ${order.status})`,
    sold.length === 0
      ? 'no delivered keys to take back'
      : `${keys === 'burn' ? 'burn' : 'return to sale'} key(s) ${sold.join(', ')}`,
  ];
}

export const refundAudit = (t: Resolved, note: string, keys: 'burn' | 'return') => ({ finding: t.findingId, note, keys });

// --- release -----------------------------------------------------------------------------------

export function checkHeld(orderId: string, held: readonly number[]): void {
  if (held.length === 0) throw new EngineError('order_not_releasable', `order ${orderId} holds no keys`);
}

/** Whether the order's own release runs (a live order), or the hold is given back by hand (an order no longer live). */
export const releasesAsOrder = (order: OrderRowLike): boolean => order.status === 'reserved' || order.status === 'needs_review';

/** The ledger entry of a hold given back from an order that is no longer live. */
export function strayReleaseEntry(
  now: number,
  t: Resolved,
  orderId: string,
  productId: string,
  held: readonly number[],
  actor: string,
): LedgerEntryInput {
  return {
    kind: 'release',
    at: now,
    productId,
    orderId,
    keyIds: held,
    keysTo: 'available',
    detail: { reason: 'released_by_reconciliation', actor, finding: t.findingId },
  };
}

export function releaseEffects(orderId: string, order: OrderRowLike | undefined, held: readonly number[]): string[] {
  return [
    `return held key(s) ${held.join(', ')} to sale`,
    order?.status === 'reserved' ? `order ${orderId} becomes expired` : `order ${orderId} stays ${order?.status ?? 'missing'}`,
  ];
}

export const releaseAudit = (t: Resolved, note: string, held: readonly number[]) => ({ finding: t.findingId, note, keys: held });

// --- link_payment ------------------------------------------------------------------------------

export function requirePaymentId(t: Resolved): string {
  if (t.paymentId === null) throw new EngineError('validation_failed', `link_payment needs a payment id for ${t.findingId}`);
  return t.paymentId;
}

export interface StatementPayment {
  readonly amount: number;
  readonly currency: string;
}

export function statementPayment(row: StatementPayment | undefined, paymentId: string): StatementPayment {
  if (!row) throw new EngineError('validation_failed', `no imported statement has a payment ${paymentId}`);
  return row;
}

export const linkEffect = (paymentId: string, row: StatementPayment, order: OrderRowLike): string =>
  `link payment ${paymentId} (${row.amount} ${row.currency}) to order ${order.id}`;

/** The payment a link applies to an unpaid live or expired order, or null when the order is paid or past that. */
export function linkedPayment(order: OrderRowLike, paymentId: string, row: StatementPayment, actor: string): PayArgs | null {
  if (order.paid_at !== null || (order.status !== 'reserved' && order.status !== 'expired')) return null;
  return {
    orderId: order.id,
    amount: row.amount,
    currency: row.currency,
    eventId: `statement:${paymentId}`,
    source: 'manual',
    actor,
  };
}

export const appliedEffect = (order: OrderRowLike, result: PayResult): string =>
  result.effect === 'delivered'
    ? `apply it: order ${order.id} is paid and its codes delivered`
    : `apply it: order ${order.id} goes to review (${result.reason ?? result.effect})`;

export const linkAudit = (t: Resolved, note: string, paymentId: string) => ({ finding: t.findingId, note, paymentId });
