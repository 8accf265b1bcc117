/**
 * The support actions on findings (reconcile/actions.ts) on PostgreSQL: a request is one transaction
 * (PgShop.write, not repeated after a lost connection), every target in it, so one failing target rolls
 * the whole request back; a preview runs the same transaction and always rolls it back. What each action
 * decides is reconcile/action-rules.ts's, shared with SQLite; here only the statements differ. Each
 * target keeps the lock order of pg/order-writes.ts: its order's row first (`FOR UPDATE`), then its keys,
 * fresh keys claimed with `SKIP LOCKED`, the product's counters, then its ledger entry (an audit row may
 * follow). A request of many targets holds the ledger's lock from its first target's entry to its COMMIT,
 * so a sale elsewhere waits for it; should another transaction hold a later target's order row and wait
 * for the ledger, PostgreSQL ends one of the two as a deadlock and PgShop.write runs it again.
 */
import type { ActionOutcome, ActionResult } from '../../shared/reconcile';
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
import type { OrderRowLike } from './finding';
import type { Queryable } from '../pg/connect';
import { appendLedger } from '../pg/ledger';
import { moveStock, payPg, refundPg, releaseOrderPg, sellKeysPg, writeAuditPg } from '../pg/order-writes';
import { redeliverPg } from '../pg/redeliver';
import { CLAIM_KEYS } from '../pg/reserve';
import type { PgShop } from '../pg/shop';
import { EngineError } from '../lib/errors';
import { toPostgres } from '../pg/sql';

type Db = Queryable;

async function first<T extends object>(db: Db, sql: string, params: unknown[]): Promise<T | undefined> {
  return (await db.query<T>(toPostgres(sql), params)).rows[0];
}

const ids = (rows: { rows: { id: number }[] }): number[] => rows.rows.map((r) => r.id);

async function resolveTarget(db: Db, target: ActionInput['targets'][number]): Promise<Resolved> {
  const t = targetIds(target);
  if (t.orderId !== null || t.paymentId === null) return t;
  const row = await first<{ order_id: string | null }>(db, PAYMENT_ORDER_SQL, [t.paymentId]);
  return { ...t, orderId: row?.order_id ?? null };
}

/** The order's row, locked for the rest of the transaction. */
async function lockOrder(db: Db, id: string): Promise<OrderRowLike | undefined> {
  return (await db.query<OrderRowLike>('SELECT * FROM orders WHERE id = $1 FOR UPDATE', [id])).rows[0];
}

async function requireOrder(db: Db, t: Resolved, action: string): Promise<OrderRowLike> {
  const id = requireOrderId(t, action);
  return orderFound(await lockOrder(db, id), id);
}

async function heldKeys(db: Db, orderId: string): Promise<number[]> {
  return ids(
    await db.query<{ id: number }>(`SELECT id FROM keys WHERE order_id = $1 AND status = 'reserved' ORDER BY id FOR UPDATE`, [
      orderId,
    ]),
  );
}

async function redeliverAction(db: Db, now: number, t: Resolved, note: string, actor: string): Promise<string[]> {
  const order = await requireOrder(db, t, 'redeliver');
  const payments =
    order.paid_at === null
      ? (await db.query<{ n: number }>('SELECT count(*) AS n FROM payments WHERE order_id = $1', [order.id])).rows[0]!.n
      : 0;
  checkRedeliverOrder(order, () => payments);
  const effects: string[] = [];
  // Deliveries of keys this order does not own (a key sold twice): the owner keeps the key; this buyer gets a fresh one.
  const stray = (
    await db.query<StrayDelivery>(
      `SELECT d.id, d.key_id, k.order_id AS owner FROM deliveries d JOIN keys k ON k.id = d.key_id
       WHERE d.order_id = $1 AND d.returned_at IS NULL AND (k.status <> 'sold' OR k.order_id IS DISTINCT FROM d.order_id)
       ORDER BY d.id FOR UPDATE OF d`,
      [order.id],
    )
  ).rows;
  for (const d of stray) {
    await db.query('UPDATE deliveries SET returned_at = $1 WHERE id = $2', [now, d.id]);
    effects.push(takeBackEffect(d));
  }
  const live = (
    await db.query<{ n: number }>('SELECT count(*) AS n FROM deliveries WHERE order_id = $1 AND returned_at IS NULL', [order.id])
  ).rows[0]!.n;
  const held = await heldKeys(db, order.id);
  const short = shortBy(order, live, held.length);
  if (short === 0 && stray.length === 0) {
    // Nothing missing: the Orders page's re-delivery sells any held keys, or records a plain "send again".
    const result = await redeliverPg(db, now, { orderId: order.id, replaceKeyIds: [], reason: note, actor });
    effects.push(redeliveredEffect(result.delivered));
    return effects;
  }
  const product = await db.query<{ no: number }>('SELECT no FROM products WHERE id = $1', [order.product_id]);
  const fresh = ids(await db.query<{ id: number }>(CLAIM_KEYS, [product.rows[0]?.no, short]));
  checkFreshKeys(order, short, fresh);
  await sellKeysPg(db, now, order, held, true);
  await sellKeysPg(db, now, order, fresh, false);
  await db.query(
    `UPDATE orders SET status = 'delivered', review_reason = NULL, paid_at = coalesce(paid_at, $1), delivered_at = $1, updated_at = $1
     WHERE id = $2`,
    [now, order.id],
  );
  const records = redeliverRecords(now, order, t, note, actor, [...held, ...fresh], stray);
  effects.push(...records.effects);
  await writeAuditPg(db, now, actor, 'reconcile.redeliver', order.id, records.audit);
  await appendLedger(db, [records.entry]);
  return effects;
}

async function refundAction(db: Db, now: number, t: Resolved, input: ActionInput, actor: string): Promise<string[]> {
  const keys = refundKeys(input.keys);
  const order = await requireOrder(db, t, 'refund');
  const sold = ids(
    await db.query<{ id: number }>(`SELECT id FROM keys WHERE order_id = $1 AND status = 'sold' ORDER BY id`, [order.id]),
  );
  await refundPg(db, now, { orderId: order.id, keys, reason: input.note, actor });
  await writeAuditPg(db, now, actor, 'reconcile.refund', order.id, refundAudit(t, input.note, keys));
  return refundEffects(order, sold, keys);
}

async function releaseAction(db: Db, now: number, t: Resolved, actor: string, note: string): Promise<string[]> {
  const orderId = requireOrderId(t, 'release');
  const order = await lockOrder(db, orderId);
  const held = await heldKeys(db, orderId);
  checkHeld(orderId, held);
  if (order && releasesAsOrder(order)) {
    await releaseOrderPg(db, now, order.id, actor);
  } else {
    // A hold left on an order that is no longer live (edited outside the app): give the keys back.
    await db.query(
      `UPDATE keys SET status = 'available', order_id = NULL, updated_at = $1 WHERE order_id = $2 AND status = 'reserved'`,
      [now, orderId],
    );
    const product =
      (
        await db.query<{ id: string | null }>(
          'SELECT p.id FROM keys k LEFT JOIN products p ON p.no = k.product_no WHERE k.id = $1',
          [held[0]],
        )
      ).rows[0]?.id ?? order?.product_id;
    if (product === undefined) throw new Error(`key ${held[0]} vanished under its row lock`);
    await moveStock(db, product, { available: held.length, reserved: -held.length });
    await appendLedger(db, [strayReleaseEntry(now, t, orderId, product, held, actor)]);
  }
  await writeAuditPg(db, now, actor, 'reconcile.release', orderId, releaseAudit(t, note, held));
  return releaseEffects(orderId, order, held);
}

async function linkAction(db: Db, now: number, t: Resolved, note: string, actor: string): Promise<string[]> {
  const paymentId = requirePaymentId(t);
  const row = statementPayment(await first<StatementPayment>(db, STATEMENT_PAYMENT_SQL, [paymentId]), paymentId);
  const order = await requireOrder(db, t, 'link_payment');
  await db.query(toPostgres(LINK_SQL), [paymentId, order.id, actor, note, now]);
  const effects = [linkEffect(paymentId, row, order)];
  const payment = linkedPayment(order, paymentId, row, actor);
  if (payment) effects.push(appliedEffect(order, await payPg(db, now, payment)));
  await writeAuditPg(db, now, actor, 'reconcile.link_payment', order.id, linkAudit(t, note, paymentId));
  return effects;
}

/** PostgreSQL's text holds no NUL: a note or id with one is refused before anything is written. */
function checkNoNul(input: ActionInput): void {
  const texts = [input.note, ...input.targets.flatMap((t) => [t.findingId, t.orderId ?? '', t.paymentId ?? ''])];
  if (texts.some((text) => text.includes('\0')))
    throw new EngineError('validation_failed', 'a note, finding id, order id or payment id holds a NUL character');
}

async function act(db: Db, now: number, t: Resolved, input: ActionInput, actor: string): Promise<string[]> {
  switch (input.action) {
    case 'redeliver':
      return redeliverAction(db, now, t, input.note, actor);
    case 'refund':
      return refundAction(db, now, t, input, actor);
    case 'release':
      return releaseAction(db, now, t, actor, input.note);
    case 'link_payment':
      return linkAction(db, now, t, input.note, actor);
    case 'resolve': {
      const [subject, detail] = resolveAudit(t, input.note);
      await writeAuditPg(db, now, actor, 'reconcile.resolve', subject, detail);
      return [];
    }
  }
}

/** Every target of the request in the caller's transaction (performActions on PostgreSQL); a preview's outcomes are the caller's to roll back. */
export async function performActionsPg(db: Db, now: number, actor: string, input: ActionInput): Promise<ActionOutcome[]> {
  checkNoNul(input);
  const outcomes: ActionOutcome[] = [];
  for (const target of input.targets) {
    const t = await resolveTarget(db, target);
    let effects: string[];
    try {
      effects = await act(db, now, t, input, actor);
    } catch (error) {
      throw targetFailure(error, t, input.targets.length);
    }
    const order =
      t.orderId === null ? undefined : await first<OrderRowLike>(db, 'SELECT * FROM orders WHERE id = ?', [t.orderId]);
    await db.query(toPostgres(RESOLUTION_SQL), resolutionRecord(t, order, input.action, input.note, actor, now));
    effects.push(resolvedEffect(t, actor, input.note));
    outcomes.push({ findingId: t.findingId, action: input.action, orderId: t.orderId, effects });
  }
  return outcomes;
}

/** One request as one transaction of the shop's; a preview's is rolled back. Live pages hear of the orders changed. */
export async function runActionsPg(shop: PgShop, actor: string, input: ActionInput): Promise<ActionResult> {
  let previewed: ActionOutcome[] = [];
  try {
    const outcomes = await shop.write(async (client, now) => {
      const done = await performActionsPg(client, now, actor, input);
      if (!input.preview) return done;
      previewed = done;
      throw new PreviewRollback();
    }, false);
    const products = new Set<string>();
    for (const orderId of new Set(outcomes.map((o) => o.orderId))) {
      const order = orderId === null ? null : await shop.getOrder(orderId);
      if (!order) continue;
      products.add(order.productId);
      shop.events.emit({ type: 'order', orderId: order.id, productId: order.productId, status: order.status });
    }
    for (const productId of products) shop.events.emit({ type: 'stock', productId });
    return { preview: false, outcomes };
  } catch (error) {
    if (input.preview && error instanceof PreviewRollback) return { preview: true, outcomes: previewed };
    throw error;
  }
}
