/**
 * Support actions on findings: re-deliver fresh keys, refund (burn or return the keys), release a hold,
 * link a provider payment to an order, or mark resolved with a note. A request (one target or many) is
 * one IMMEDIATE transaction through the engine's writer: every stock movement appends its ledger entry,
 * every target gets an audit record naming the actor and a resolution record on its finding, and one
 * failing target rolls the whole request back. `preview: true` runs exactly the same code inside a
 * savepoint that is always rolled back, so what it reports is what would happen.
 *
 * What each action decides (refusals, records, outcome text) is in action-rules.ts, shared with the
 * PostgreSQL version (actions-pg.ts); this file runs it on SQLite. Reuses the engine where it
 * has the action: orders.refund, orders.releaseOrder, orders.pay and engine/redeliver.ts; what the engine
 * lacks (selling fresh keys for codes that never arrived, taking back a delivery of a key sold to someone
 * else, releasing a hold left on a dead order) is here.
 */
import type { ActionOutcome, ActionResult } from '../../shared/reconcile';
import { stmt } from '../db/statements';
import type { WritableDB } from '../db/types';
import { appendLedger } from '../engine/ledger';
import { pay, refund, releaseOrder, sellKeys, type Ctx } from '../engine/orders';
import { firstAvailableKeys, moveStock } from '../engine/products';
import { redeliver } from '../engine/redeliver';
import { writeAudit } from '../db/audit';
import type { OrderRowLike } from './finding';
import {
  appliedEffect,
  checkFreshKeys,
  checkHeld,
  checkRedeliverOrder,
  LINK_SQL,
  linkAudit,
  linkedPayment,
  linkEffect,
  orderFound,
  PAYMENT_ORDER_SQL,
  PreviewRollback,
  redeliveredEffect,
  redeliverRecords,
  refundAudit,
  refundEffects,
  refundKeys,
  releaseAudit,
  releaseEffects,
  releasesAsOrder,
  requireOrderId,
  requirePaymentId,
  resolutionRecord,
  RESOLUTION_SQL,
  resolveAudit,
  resolvedEffect,
  shortBy,
  STATEMENT_PAYMENT_SQL,
  statementPayment,
  strayReleaseEntry,
  takeBackEffect,
  targetFailure,
  targetIds,
  type ActionInput,
  type Resolved,
  type StatementPayment,
  type StrayDelivery,
} from './action-rules';

export { parseFindingId, type ActionInput } from './action-rules';

function resolveTarget(db: WritableDB, target: ActionInput['targets'][number]): Resolved {
  const t = targetIds(target);
  if (t.orderId !== null || t.paymentId === null) return t;
  const row = stmt(db, PAYMENT_ORDER_SQL).get(t.paymentId) as { order_id: string | null } | undefined;
  return { ...t, orderId: row?.order_id ?? null };
}

function orderRow(db: WritableDB, id: string): OrderRowLike | undefined {
  return stmt(db, 'SELECT * FROM orders WHERE id = ?').get(id) as OrderRowLike | undefined;
}

function requireOrder(db: WritableDB, t: Resolved, action: string): OrderRowLike {
  const id = requireOrderId(t, action);
  return orderFound(orderRow(db, id), id);
}

/** Sells the codes an order paid for but does not hold: takes back deliveries of keys sold to others, sells held and fresh keys. */
function redeliverAction(db: WritableDB, ctx: Ctx, t: Resolved, note: string, actor: string): string[] {
  const order = requireOrder(db, t, 'redeliver');
  checkRedeliverOrder(order, () => stmt(db, 'SELECT count(*) FROM payments WHERE order_id = ?').pluck().get(order.id) as number);
  const effects: string[] = [];
  // Deliveries of keys this order does not own (a key sold twice): the owner keeps the key; this buyer gets a fresh one.
  const stray = stmt(
    db,
    `SELECT d.id, d.key_id, k.order_id AS owner FROM deliveries d JOIN keys k ON k.id = d.key_id
     WHERE d.order_id = ? AND d.returned_at IS NULL AND (k.status <> 'sold' OR k.order_id IS NOT d.order_id)`,
  ).all(order.id) as StrayDelivery[];
  for (const d of stray) {
    stmt(db, 'UPDATE deliveries SET returned_at = ? WHERE id = ?').run(ctx.now, d.id);
    effects.push(takeBackEffect(d));
  }
  const live = stmt(db, 'SELECT count(*) FROM deliveries WHERE order_id = ? AND returned_at IS NULL')
    .pluck()
    .get(order.id) as number;
  const held = stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'reserved' ORDER BY id`)
    .pluck()
    .all(order.id) as number[];
  const short = shortBy(order, live, held.length);
  if (short === 0 && stray.length === 0) {
    // Nothing missing: the engine's re-delivery sells any held keys, or records a plain "send again".
    const result = redeliver(db, ctx, { orderId: order.id, replaceKeyIds: [], reason: note, actor });
    effects.push(redeliveredEffect(result.delivered));
    return effects;
  }
  const fresh = firstAvailableKeys(db, order.product_id, short);
  checkFreshKeys(order, short, fresh);
  sellKeys(db, ctx.now, order, held, true);
  sellKeys(db, ctx.now, order, fresh, false);
  stmt(
    db,
    `UPDATE orders SET status = 'delivered', review_reason = NULL, paid_at = coalesce(paid_at, ?), delivered_at = ?, updated_at = ? WHERE id = ?`,
  ).run(ctx.now, ctx.now, ctx.now, order.id);
  const records = redeliverRecords(ctx.now, order, t, note, actor, [...held, ...fresh], stray);
  appendLedger(db, records.entry);
  effects.push(...records.effects);
  writeAudit(db, ctx.now, actor, 'reconcile.redeliver', order.id, records.audit);
  return effects;
}

function refundAction(db: WritableDB, ctx: Ctx, t: Resolved, input: ActionInput, actor: string): string[] {
  const keys = refundKeys(input.keys);
  const order = requireOrder(db, t, 'refund');
  const sold = stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'sold'`).pluck().all(order.id) as number[];
  refund(db, ctx, { orderId: order.id, keys, reason: input.note, actor });
  writeAudit(db, ctx.now, actor, 'reconcile.refund', order.id, refundAudit(t, input.note, keys));
  return refundEffects(order, sold, keys);
}

function releaseAction(db: WritableDB, ctx: Ctx, t: Resolved, actor: string, note: string): string[] {
  const orderId = requireOrderId(t, 'release');
  const order = orderRow(db, orderId);
  const held = stmt(db, `SELECT id FROM keys WHERE order_id = ? AND status = 'reserved' ORDER BY id`)
    .pluck()
    .all(orderId) as number[];
  checkHeld(orderId, held);
  if (order && releasesAsOrder(order)) {
    releaseOrder(db, ctx, order.id, actor);
  } else {
    // A hold left on an order that is no longer live (edited outside the app): give the keys back.
    stmt(
      db,
      `UPDATE keys SET status = 'available', order_id = NULL, updated_at = ? WHERE order_id = ? AND status = 'reserved'`,
    ).run(ctx.now, orderId);
    const product =
      (stmt(db, 'SELECT p.id FROM keys k LEFT JOIN products p ON p.no = k.product_no WHERE k.id = ?').pluck().get(held[0]) as
        string | undefined) ?? order?.product_id;
    if (product === undefined) throw new Error(`key ${held[0]} vanished under the write lock`);
    moveStock(db, product, { available: held.length, reserved: -held.length });
    appendLedger(db, strayReleaseEntry(ctx.now, t, orderId, product, held, actor));
  }
  writeAudit(db, ctx.now, actor, 'reconcile.release', orderId, releaseAudit(t, note, held));
  return releaseEffects(orderId, order, held);
}

function linkAction(db: WritableDB, ctx: Ctx, t: Resolved, note: string, actor: string): string[] {
  const paymentId = requirePaymentId(t);
  const row = statementPayment(stmt(db, STATEMENT_PAYMENT_SQL).get(paymentId) as StatementPayment | undefined, paymentId);
  const order = requireOrder(db, t, 'link_payment');
  stmt(db, LINK_SQL).run(paymentId, order.id, actor, note, ctx.now);
  const effects = [linkEffect(paymentId, row, order)];
  const payment = linkedPayment(order, paymentId, row, actor);
  if (payment) effects.push(appliedEffect(order, pay(db, ctx, payment)));
  writeAudit(db, ctx.now, actor, 'reconcile.link_payment', order.id, linkAudit(t, note, paymentId));
  return effects;
}

function act(db: WritableDB, ctx: Ctx, t: Resolved, input: ActionInput, actor: string): string[] {
  switch (input.action) {
    case 'redeliver':
      return redeliverAction(db, ctx, t, input.note, actor);
    case 'refund':
      return refundAction(db, ctx, t, input, actor);
    case 'release':
      return releaseAction(db, ctx, t, actor, input.note);
    case 'link_payment':
      return linkAction(db, ctx, t, input.note, actor);
    case 'resolve': {
      const [subject, detail] = resolveAudit(t, input.note);
      writeAudit(db, ctx.now, actor, 'reconcile.resolve', subject, detail);
      return [];
    }
  }
}

/** Runs inside the writer's transaction. */
export function performActions(db: WritableDB, ctx: Ctx, actor: string, input: ActionInput): ActionResult {
  const run = (): ActionOutcome[] =>
    input.targets.map((target) => {
      const t = resolveTarget(db, target);
      let effects: string[];
      try {
        effects = act(db, ctx, t, input, actor);
      } catch (error) {
        throw targetFailure(error, t, input.targets.length);
      }
      const order = t.orderId === null ? undefined : orderRow(db, t.orderId);
      stmt(db, RESOLUTION_SQL).run(...resolutionRecord(t, order, input.action, input.note, actor, ctx.now));
      effects.push(resolvedEffect(t, actor, input.note));
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
