/**
 * The statement detectors against a real shop and an imported statement that disagrees with it in
 * every way a provider's bill can: a payment for no order, money taken for an order never marked paid,
 * the wrong amount, a paid order the bill never mentions, and a refund the shop never applied.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../src-main/engine/engine';
import { reconcile } from '../src-main/reconcile/run';
import { parseStatement } from '../src-main/reconcile/statements/parse';
import { storeStatement } from '../src-main/reconcile/statements/store';
import { openShop } from './helpers/shop';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function order(engine: Engine, productId: string, pay: boolean): Promise<string> {
  const { result } = await engine.reserve({ productId, quantity: 1, email: 'buyer@example.com' });
  if (!result.ok) throw new Error(result.error.message);
  if (pay)
    await engine.pay({
      orderId: result.value.id,
      amount: 5000,
      currency: 'CNY',
      eventId: `evt_${result.value.id}`,
      source: 'webhook',
    });
  return result.value.id;
}

async function importGeneric(engine: Engine, lines: string[]): Promise<number> {
  const csv = new TextEncoder().encode(['payment_id,order_id,amount,currency,status,created_at', ...lines].join('\n'));
  const parsed = parseStatement(csv, { format: 'generic' });
  const stored = await engine.writer.run((db, now) => storeStatement(db, parsed, { source: 'bill.csv', actor: 'tester', now }));
  return stored.statement!.id;
}

describe('statement detectors', () => {
  it('finds each kind of disagreement between the bill and the shop, and nothing for the rows that agree', async () => {
    const shop = await openShop({ keys: 10 });
    cleanups.push(shop.cleanup);
    const { engine, productId } = shop;
    const ok = await order(engine, productId, true);
    const unpaid = await order(engine, productId, false);
    const wrongAmount = await order(engine, productId, true);
    const missing = await order(engine, productId, true);
    const t = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
    await importGeneric(engine, [
      `pi_ok,${ok},5000,CNY,succeeded,${t(-3_600_000)}`,
      `pi_unpaid,${unpaid},5000,CNY,succeeded,${t(-60_000)}`,
      `pi_wrong,${wrongAmount},4500,CNY,succeeded,${t(-50_000)}`,
      `pi_ghost,ord_doesnotexist,5000,CNY,succeeded,${t(-40_000)}`,
      `re_ok,${ok},5000,CNY,refunded,${t(3_600_000)}`,
    ]);
    const report = reconcile(engine.db);
    const byKind = (kind: string) => report.findings.filter((f) => f.kind === kind);
    expect(byKind('statement_payment_unknown_order')).toMatchObject([
      { id: 'statement_payment_unknown_order:pi_ghost', paymentId: 'pi_ghost', orderId: 'ord_doesnotexist' },
    ]);
    expect(byKind('statement_paid_order_unpaid')).toMatchObject([
      {
        id: 'statement_paid_order_unpaid:pi_unpaid',
        orderId: unpaid,
        expected: { paid: true },
        actual: { paid: false, status: 'reserved' },
      },
    ]);
    expect(byKind('amount_mismatch')).toMatchObject([
      {
        id: 'amount_mismatch:pi_wrong',
        orderId: wrongAmount,
        expected: { amount: 5000 },
        actual: { amount: 4500 },
        amount: { amount: -500, currency: 'CNY' },
      },
    ]);
    expect(byKind('order_paid_missing_in_statement')).toMatchObject([
      { id: `order_paid_missing_in_statement:${missing}`, orderId: missing },
    ]);
    expect(byKind('statement_refund_not_applied')).toMatchObject([
      { id: 'statement_refund_not_applied:refund:re_ok', orderId: ok, actual: { status: 'delivered' } },
    ]);
    expect(report.findings.every((f) => f.evidence.some((e) => e.source === 'statement_row' || e.source === 'order'))).toBe(true);
    expect(report.findings.some((f) => f.orderId === ok && f.kind !== 'statement_refund_not_applied')).toBe(false);
  });

  it('follows a payment link an agent made, and a refund to the order of the payment it refunds', async () => {
    const shop = await openShop({ keys: 4 });
    cleanups.push(shop.cleanup);
    const { engine, productId } = shop;
    const paid = await order(engine, productId, true);
    const now = Date.now();
    const at = new Date(now - 1000).toISOString();
    await importGeneric(engine, [
      `pi_typo,ord_typo,5000,CNY,succeeded,${at}`,
      `pi_typo,,5000,CNY,refunded,${new Date(now + 1000).toISOString()}`,
    ]);
    expect(
      reconcile(engine.db)
        .findings.map((f) => f.id)
        .sort(),
    ).toEqual([
      `order_paid_missing_in_statement:${paid}`,
      'statement_payment_unknown_order:pi_typo',
      'statement_payment_unknown_order:refund:pi_typo',
    ]);
    engine.db
      .prepare(
        `INSERT INTO payment_links (payment_id, order_id, actor, note, linked_at) VALUES ('pi_typo', ?, 'tester', 'typo', 0)`,
      )
      .run(paid);
    // Linked: the payment is the order's, and the refund (same provider payment) is now for that order too.
    expect(reconcile(engine.db).findings.map((f) => f.id)).toEqual(['statement_refund_not_applied:refund:pi_typo']);
  });
});
