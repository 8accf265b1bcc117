/**
 * Support actions on findings: re-deliver fresh keys, refund (burn or return the keys), release a hold,
 * link a provider payment to an order, or mark resolved with a note. A request (one target or many) is
 * one IMMEDIATE transaction through the engine's writer: every stock movement appends its ledger entry,
 * every target gets an audit record naming the actor and a resolution record on its finding, and one
 * failing target rolls the whole request back. `preview: true` runs exactly the same code inside a
 * savepoint that is always rolled back, so what it reports is what would happen.
 *
 * Reuses the engine where it has the action: orders.refund, orders.releaseOrder, orders.pay and
 * engine/redeliver.ts; what the engine lacks (selling fresh keys for codes that never arrived, taking
 * back a delivery of a key sold to someone else, releasing a hold left on a dead order) is here.
 */
import {
  FINDING_KINDS,
  type ActionKind,
  type ActionOutcome,
  type ActionResult,
  type ActionTarget,
  type FindingKind,
} from '../../shared/reconcile';
import { stmt } from '../db/statements';
import type { WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { appendLedger } from '../engine/ledger';
import { pay, refund, releaseOrder, sellKeys, type Ctx } from '../engine/orders';
import { firstAvailableKeys, moveStock } from '../engine/products';
import { redeliver } from '../engine/redeliver';
import { writeAudit } from '../db/audit';
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

class PreviewRollback extends Error {}

export function parseFindingId(id: string): { kind: FindingKind; subject: string } {
  const colon = id.indexOf(':');
  const kind = id.slice(0, colon) as FindingKind;
  const subject = id.slice(colon + 1);
  if (colon < 1 || !FINDING_KINDS.includes(kind) || subject === '') {
    throw new EngineError('validation_failed', `"${id.slice(0, 80)}" is not a finding id (<kind>:<subject>)`);
  }
  return { kind, subject };
}

interface Resolved {
  readonly findingId: string;
  readonly kind: FindingKind;
  readonly subject: string;
  readonly orderId: string | null;
  readonly paymentId: string | null;
}

function resolveTarget(db: WritableDB, target: ActionTarget): Resolved {
  const { kind, subject } = parseFindingId(target.findingId);
  let orderId = target.orderId ?? (ORDER_SUBJECT.includes(kind) ? subject : null);
  const paymentId = target.paymentId ?? (PAYMENT_SUBJECT.includes(kind) ? subject.replace(/^refund:/, '') : null);
  if (orderId === null && paymentId !== null) {
    orderId =
      (stmt(
        db,
        `SELECT coalesce(l.order_id, r.order_id) FROM statement_rows r LEFT JOIN payment_links l ON l.payment_id = r.payment_id
         WHERE r.payment_id = ? ORDER BY r.id LIMIT 1`,
      )
        .pluck()
        .get(paymentId) as string | null | undefined) ?? null;
  }
  return { findingId: target.findingId, kind, subject, orderId, paymentId };
}

function orderRow(db: WritableDB, id: string): OrderRowLike | undefined {
  return stmt(db, 'SELECT * FROM orders WHERE id = ?').get(id) as OrderRowLike | undefined;
}

function requireOrder(db: WritableDB, t: Resolved, action: string): OrderRowLike {
  if (t.orderId === null) throw new EngineError('validation_failed', `${action} needs an order for ${t.findingId}`);
  const order = orderRow(db, t.orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${t.orderId}`);
  return order;
}

/** Sells the codes an order paid for but does not hold: takes back deliveries of keys sold to others, sells held and fresh keys. */
function redeliverAction(db: WritableDB, ctx: Ctx, t: Resolved, note: string, actor: string): string[] {
  const order = requireOrder(db, t, 'redeliver');
  if (!['paid', 'delivered', 'needs_review'].includes(order.status)) {
    throw new EngineError(
      'validation_failed',
      `order ${order.id} is ${order.status}; only a paid, delivered or in-review order gets codes`,
    );
  }
  const paid =
    order.paid_at !== null || (stmt(db, 'SELECT count(*) FROM payments WHERE order_id = ?').pluck().get(order.id) as number) > 0;
  if (!paid) throw new EngineError('validation_failed', `order ${order.id} has no payment; link or confirm a payment first`);
  const effects: string[] = [];
  // Deliveries of keys this order does not own (a key sold twice): the owner keeps the key; this buyer gets a fresh one.
  const stray = stmt(
    db,
    `SELECT d.id, d.key_id, k.order_id AS owner FROM deliveries d JOIN keys k ON k.id = d.key_id
     WHERE d.order_id = ? AND d.returned_at IS NULL AND (k.status <> 'sold' OR k.order_id IS NOT d.order_id)`,
  ).all(order.id) as { id: number; key_id: number; owner: string | null }[];
  for (const d of stray) {
    stmt(db, 'UPDATE deliveries SET returned_at = ? WHERE id = ?').run(ctx.now, d.id);
    effects.push(`take back the delivery of key ${d.key_id} (it belongs to ${d.owner ?? 'no order'})`);
  }
  const live = stmt(db, 'SELECT count(*) FROM deliveries WHERE order_id = ? AND returned_at IS NULL')
    .pluck()
    .get(order.id) as number;
  const held = stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'reserved' ORDER BY id`)
    .pluck()
    .all(order.id) as number[];
  const short = Math.max(0, order.quantity - live - held.length);
  if (short === 0 && stray.length === 0) {
    // Nothing missing: the engine's re-delivery sells any held keys, or records a plain "send again".
    const result = redeliver(db, ctx, { orderId: order.id, replaceKeyIds: [], reason: note, actor });
    effects.push(
      result.delivered.length > 0
        ? `sell and deliver held key(s) ${result.delivered.join(', ')}`
        : 'record a re-delivery of the codes the order holds',
    );
    return effects;
  }
  const fresh = firstAvailableKeys(db, order.product_id, short);
  if (fresh.length < short)
    throw new EngineError('sold_out', `order ${order.id} needs ${short} fresh key(s); ${fresh.length} available`);
  sellKeys(db, ctx.now, order, held, true);
  sellKeys(db, ctx.now, order, fresh, false);
  stmt(
    db,
    `UPDATE orders SET status = 'delivered', review_reason = NULL, paid_at = coalesce(paid_at, ?), delivered_at = ?, updated_at = ? WHERE id = ?`,
  ).run(ctx.now, ctx.now, ctx.now, order.id);
  const sold = [...held, ...fresh];
  if (sold.length > 0) {
    appendLedger(db, {
      kind: 'sell',
      at: ctx.now,
      productId: order.product_id,
      orderId: order.id,
      keyIds: sold,
      keysTo: 'sold',
      orderTo: 'delivered',
      detail: { reason: note, actor, redeliver: true, finding: t.findingId },
    });
    effects.push(`sell and deliver key(s) ${sold.join(', ')} to order ${order.id}`);
  } else {
    appendLedger(db, {
      kind: 'review',
      at: ctx.now,
      productId: order.product_id,
      orderId: order.id,
      keyIds: [],
      orderTo: 'delivered',
      detail: { reason: note, actor, redeliver: true, from: order.status, finding: t.findingId },
    });
  }
  writeAudit(db, ctx.now, actor, 'reconcile.redeliver', order.id, {
    finding: t.findingId,
    note,
    delivered: sold,
    takenBack: stray.map((d) => d.key_id),
  });
  return effects;
}

function refundAction(
  db: WritableDB,
  ctx: Ctx,
  t: Resolved,
  note: string,
  actor: string,
  keys: 'burn' | 'return' | undefined,
): string[] {
  if (keys === undefined)
    throw new EngineError('validation_failed', 'a refund says whether the delivered keys are burned or returned to sale (keys)');
  const order = requireOrder(db, t, 'refund');
  const sold = stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'sold'`).pluck().all(order.id) as number[];
  refund(db, ctx, { orderId: order.id, keys, reason: note, actor });
  writeAudit(db, ctx.now, actor, 'reconcile.refund', order.id, { finding: t.findingId, note, keys });
  return [
    `refund order ${order.id} (${order.amount} ${order.currency}, was ${order.status})`,
    sold.length === 0
      ? 'no delivered keys to take back'
      : `${keys === 'burn' ? 'burn' : 'return to sale'} key(s) ${sold.join(', ')}`,
  ];
}

function releaseAction(db: WritableDB, ctx: Ctx, t: Resolved, actor: string, note: string): string[] {
  if (t.orderId === null) throw new EngineError('validation_failed', `release needs an order for ${t.findingId}`);
  const order = orderRow(db, t.orderId);
  const held = stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'reserved' ORDER BY id`)
    .pluck()
    .all(t.orderId) as number[];
  if (held.length === 0) throw new EngineError('order_not_releasable', `order ${t.orderId} holds no keys`);
  if (order && (order.status === 'reserved' || order.status === 'needs_review')) {
    releaseOrder(db, ctx, order.id, actor);
  } else {
    // A hold left on an order that is no longer live (edited outside the app): give the keys back.
    stmt(
      db,
      `UPDATE keys SET status = 'available', order_id = NULL, updated_at = ? WHERE order_id = ? AND status = 'reserved'`,
    ).run(ctx.now, t.orderId);
    const product =
      (stmt(db, 'SELECT p.id FROM keys k LEFT JOIN products p ON p.no = k.product_no WHERE k.id = ?').pluck().get(held[0]) as
        string | undefined) ?? order?.product_id;
    if (product === undefined) throw new Error(`key ${held[0]} vanished under the write lock`);
    moveStock(db, product, { available: held.length, reserved: -held.length });
    appendLedger(db, {
      kind: 'release',
      at: ctx.now,
      productId: product,
      orderId: t.orderId,
      keyIds: held,
      keysTo: 'available',
      detail: { reason: 'released_by_reconciliation', actor, finding: t.findingId },
    });
  }
  writeAudit(db, ctx.now, actor, 'reconcile.release', t.orderId, { finding: t.findingId, note, keys: held });
  return [
    `return held key(s) ${held.join(', ')} to sale`,
    order?.status === 'reserved'
      ? `order ${t.orderId} becomes expired`
      : `order ${t.orderId} stays ${order?.status ?? 'missing'}`,
  ];
}

function linkAction(db: WritableDB, ctx: Ctx, t: Resolved, note: string, actor: string): string[] {
  if (t.paymentId === null) throw new EngineError('validation_failed', `link_payment needs a payment id for ${t.findingId}`);
  const row = stmt(
    db,
    `SELECT amount, currency FROM statement_rows WHERE payment_id = ? AND kind = 'payment' ORDER BY id LIMIT 1`,
  ).get(t.paymentId) as { amount: number; currency: string } | undefined;
  if (!row) throw new EngineError('validation_failed', `no imported statement has a payment ${t.paymentId}`);
  const order = requireOrder(db, t, 'link_payment');
  stmt(
    db,
    `INSERT INTO payment_links (payment_id, order_id, actor, note, linked_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (payment_id) DO UPDATE SET order_id = excluded.order_id, actor = excluded.actor, note = excluded.note, linked_at = excluded.linked_at`,
  ).run(t.paymentId, order.id, actor, note, ctx.now);
  const effects = [`link payment ${t.paymentId} (${row.amount} ${row.currency}) to order ${order.id}`];
  if (order.paid_at === null && (order.status === 'reserved' || order.status === 'expired')) {
    const result = pay(db, ctx, {
      orderId: order.id,
      amount: row.amount,
      currency: row.currency,
      eventId: `statement:${t.paymentId}`,
      source: 'manual',
      actor,
    });
    effects.push(
      result.effect === 'delivered'
        ? `apply it: order ${order.id} is paid and its codes delivered`
        : `apply it: order ${order.id} goes to review (${result.reason ?? result.effect})`,
    );
  }
  writeAudit(db, ctx.now, actor, 'reconcile.link_payment', order.id, { finding: t.findingId, note, paymentId: t.paymentId });
  return effects;
}

/** Records (or replaces) the resolution of a finding, with a snapshot so it stays visible once the disagreement is gone. */
function recordResolution(db: WritableDB, now: number, t: Resolved, action: ActionKind, note: string, actor: string): void {
  const order = t.orderId === null ? undefined : orderRow(db, t.orderId);
  const snapshot = makeFinding(t.kind, {
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
  stmt(
    db,
    `INSERT INTO finding_resolutions (finding_id, kind, action, note, actor, finding, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (finding_id) DO UPDATE SET action = excluded.action, note = excluded.note, actor = excluded.actor,
       finding = excluded.finding, resolved_at = excluded.resolved_at`,
  ).run(t.findingId, t.kind, action, note, actor, JSON.stringify(snapshot), now);
}

/** Runs inside the writer's transaction. */
export function performActions(db: WritableDB, ctx: Ctx, actor: string, input: ActionInput): ActionResult {
  const run = (): ActionOutcome[] =>
    input.targets.map((target) => {
      const t = resolveTarget(db, target);
      let effects: string[];
      try {
        switch (input.action) {
          case 'redeliver':
            effects = redeliverAction(db, ctx, t, input.note, actor);
            break;
          case 'refund':
            effects = refundAction(db, ctx, t, input.note, actor, input.keys);
            break;
          case 'release':
            effects = releaseAction(db, ctx, t, actor, input.note);
            break;
          case 'link_payment':
            effects = linkAction(db, ctx, t, input.note, actor);
            break;
          case 'resolve':
            writeAudit(db, ctx.now, actor, 'reconcile.resolve', t.orderId ?? t.subject, {
              finding: t.findingId,
              note: input.note,
            });
            effects = [];
            break;
        }
      } catch (error) {
        if (error instanceof EngineError && input.targets.length > 1) {
          throw new EngineError(error.code, `${t.findingId}: ${error.message}; nothing was changed`, error.details);
        }
        throw error;
      }
      recordResolution(db, ctx.now, t, input.action, input.note, actor);
      effects.push(`mark ${t.findingId} resolved by ${actor}: ${input.note}`);
      return { findingId: t.findingId, action: input.action, orderId: t.orderId, effects };
    });
  if (!input.preview) return { preview: false, outcomes: run() };
  let outcomes: ActionOutcome[] = [];
  try {
    db.transaction(() => {
      outcomes = run();
      throw new PreviewRollback();
    })();
  } catch (error) {
    if (!(error instanceof PreviewRollback)) throw error;
  }
  return { preview: true, outcomes };
}
