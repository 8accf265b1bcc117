/**
 * Support actions on findings: each fixes what it says in one transaction, leaves a ledger entry where
 * stock moved and an audit record naming the actor, keeps the ledger and the stock counters consistent,
 * and marks the finding resolved (still listed, as resolved). A preview changes nothing; a bulk request
 * with one bad target changes nothing at all.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../src-main/engine/engine';
import { reconcile } from '../src-main/reconcile/run';
import { importStatement, runActions } from '../src-main/reconcile/service';
import { openShop } from './helpers/shop';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function shop(keys = 6) {
  const s = await openShop({ keys });
  cleanups.push(s.cleanup);
  return s;
}

async function order(engine: Engine, productId: string, pay = true): Promise<string> {
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

function snapshot(engine: Engine) {
  const count = (sql: string) => engine.db.prepare(sql).pluck().get() as number;
  return {
    deliveries: engine.db.prepare('SELECT * FROM deliveries ORDER BY id').all(),
    keys: engine.db.prepare('SELECT id, status, order_id FROM keys ORDER BY id').all(),
    orders: engine.db.prepare('SELECT id, status FROM orders ORDER BY id').all(),
    ledger: count('SELECT count(*) FROM ledger'),
    audit: count('SELECT count(*) FROM audit'),
    resolutions: count('SELECT count(*) FROM finding_resolutions'),
    links: count('SELECT count(*) FROM payment_links'),
  };
}

/** What must hold after any action: a clean ledger replay and counters that match the rows. */
function expectConsistent(engine: Engine) {
  expect(engine.verifyLedger()).toMatchObject({ ok: true });
  const open = reconcile(engine.db).findings.filter(
    (f) => f.status === 'open' && (f.kind === 'stock_drift' || f.kind.startsWith('ledger_')),
  );
  expect(open).toEqual([]);
}

const csvBill = (lines: string[]) =>
  new TextEncoder().encode(['payment_id,order_id,amount,currency,status,created_at', ...lines].join('\n'));

describe('reconciliation actions', () => {
  it('re-delivers a fresh key to a paid order that lost its code, audited, and keeps the finding visible as resolved', async () => {
    const { engine, productId } = await shop();
    const id = await order(engine, productId);
    engine.db.prepare('UPDATE deliveries SET returned_at = 1 WHERE order_id = ?').run(id);
    const findingId = `paid_not_delivered:${id}`;
    const result = await runActions(engine, 'agent-ann', {
      action: 'redeliver',
      targets: [{ findingId }],
      note: 'buyer never got the code',
      preview: false,
    });
    expect(result.outcomes[0]!.effects.join(' | ')).toMatch(/sell and deliver key\(s\) \d+ to order/);
    expect(await engine.deliveredCodes(id)).toHaveLength(1);
    expect(
      engine.db.prepare(`SELECT actor, detail FROM audit WHERE action = 'reconcile.redeliver' AND subject = ?`).get(id),
    ).toMatchObject({ actor: 'agent-ann' });
    const after = reconcile(engine.db);
    expect(after.findings).toMatchObject([
      {
        id: findingId,
        status: 'resolved',
        present: false,
        resolution: { action: 'redeliver', actor: 'agent-ann', note: 'buyer never got the code' },
      },
    ]);
    expect(after.counts.paid_not_delivered).toEqual({ open: 0, resolved: 1 });
    expectConsistent(engine);
  });

  it('previews exactly what an action would do and changes nothing', async () => {
    const { engine, productId } = await shop();
    const id = await order(engine, productId);
    engine.db.prepare('UPDATE deliveries SET returned_at = 1 WHERE order_id = ?').run(id);
    const before = snapshot(engine);
    const preview = await runActions(engine, 'agent', {
      action: 'redeliver',
      targets: [{ findingId: `paid_not_delivered:${id}` }],
      note: 'x',
      preview: true,
    });
    expect(preview.preview).toBe(true);
    expect(preview.outcomes[0]!.effects[0]).toMatch(/sell and deliver key/);
    expect(snapshot(engine)).toEqual(before);
    expect(reconcile(engine.db).findings).toMatchObject([{ kind: 'paid_not_delivered', status: 'open' }]);
  });

  it('gives the second buyer of a key sold twice a fresh key; the first keeps it', async () => {
    const { engine, productId } = await shop();
    const first = await order(engine, productId);
    const second = await order(engine, productId);
    engine.db.exec('DROP INDEX deliveries_one_live_per_key');
    const shared = engine.db.prepare('SELECT key_id FROM deliveries WHERE order_id = ?').pluck().get(first) as number;
    engine.db.prepare('UPDATE deliveries SET key_id = ? WHERE order_id = ?').run(shared, second);
    // The second order's delivery now points at the first order's key.
    expect(
      reconcile(engine.db)
        .findings.map((f) => f.kind)
        .sort(),
    ).toEqual(['key_sold_twice']);
    await runActions(engine, 'agent', {
      action: 'redeliver',
      targets: [{ findingId: `key_sold_twice:key:${shared}`, orderId: second }],
      note: 'duplicate code',
      preview: false,
    });
    const live = engine.db
      .prepare('SELECT order_id, key_id FROM deliveries WHERE returned_at IS NULL ORDER BY order_id')
      .all() as { order_id: string; key_id: number }[];
    expect(live.filter((d) => d.key_id === shared).map((d) => d.order_id)).toEqual([first]);
    expect(live.filter((d) => d.order_id === second)).toHaveLength(1);
    expect(reconcile(engine.db).findings.filter((f) => f.status === 'open')).toEqual([]);
  });

  it('releases a stuck hold (reserved order) and a hold left on an expired order, with ledger entries', async () => {
    const { engine, productId } = await shop();
    const stuck = await order(engine, productId, false);
    const dead = await order(engine, productId, false);
    engine.db.exec('DROP TRIGGER orders_release_holds_first');
    engine.db.prepare(`UPDATE orders SET status = 'expired' WHERE id = ?`).run(dead);
    const now = Date.parse(engine.getOrder(stuck)!.expiresAt) + 120_000;
    expect(
      reconcile(engine.db, { now })
        .findings.filter((f) => f.kind === 'expired_hold')
        .map((f) => f.orderId)
        .sort(),
    ).toEqual([stuck, dead].sort());
    const ledgerBefore = engine.db.prepare('SELECT count(*) FROM ledger').pluck().get() as number;
    await runActions(engine, 'agent', {
      action: 'release',
      targets: [{ findingId: `expired_hold:${stuck}` }, { findingId: `expired_hold:${dead}` }],
      note: 'holds past expiry',
      preview: false,
    });
    expect(engine.db.prepare('SELECT count(*) FROM ledger').pluck().get()).toBe(ledgerBefore + 2);
    expect(engine.getProduct(productId)!.stock).toEqual({ available: 6, reserved: 0, sold: 0 });
    expect(engine.getOrder(stuck)!.status).toBe('expired');
    const left = reconcile(engine.db, { now }).findings.filter((f) => f.status === 'open');
    // The order row edited to expired outside the app still disagrees with its ledger history, and says so.
    expect(left.map((f) => f.kind)).toEqual(['ledger_state_mismatch']);
    expect(engine.db.prepare(`SELECT count(*) FROM audit WHERE action = 'reconcile.release'`).pluck().get()).toBe(2);
  });

  it('links a statement payment to the order it paid: the order is paid and delivered, the finding resolved', async () => {
    const { engine, productId } = await shop();
    const unpaid = await order(engine, productId, false);
    const at = new Date().toISOString();
    await importStatement(engine, {
      bytes: csvBill([`pi_1,ord_typo,5000,CNY,succeeded,${at}`]),
      fileName: 'bill.csv',
      format: 'generic',
      actor: 'agent',
    });
    expect(reconcile(engine.db).findings.map((f) => f.id)).toEqual(['statement_payment_unknown_order:pi_1']);
    const result = await runActions(engine, 'agent-bo', {
      action: 'link_payment',
      targets: [{ findingId: 'statement_payment_unknown_order:pi_1', orderId: unpaid }],
      note: 'buyer typed the order number wrong',
      preview: false,
    });
    expect(result.outcomes[0]!.effects[1]).toMatch(/is paid and its codes delivered/);
    expect(engine.getOrder(unpaid)!.status).toBe('delivered');
    expect(reconcile(engine.db).findings).toMatchObject([
      { id: 'statement_payment_unknown_order:pi_1', status: 'resolved', present: false },
    ]);
    expect(engine.db.prepare(`SELECT actor FROM audit WHERE action = 'order.mark_paid'`).pluck().all()).toEqual(['agent-bo']);
    expectConsistent(engine);
  });

  it('applies a refund the provider made: the order is refunded and its key burned', async () => {
    const { engine, productId } = await shop();
    const id = await order(engine, productId);
    const at = new Date().toISOString();
    await importStatement(engine, {
      bytes: csvBill([`pi_1,${id},5000,CNY,succeeded,${at}`, `pi_1,${id},5000,CNY,refunded,${at}`]),
      fileName: 'bill.csv',
      actor: 'agent',
    });
    await expect(
      runActions(engine, 'agent', {
        action: 'refund',
        targets: [{ findingId: 'statement_refund_not_applied:refund:pi_1' }],
        note: 'x',
        preview: false,
      }),
    ).rejects.toMatchObject({
      code: 'validation_failed',
    });
    await runActions(engine, 'agent', {
      action: 'refund',
      targets: [{ findingId: 'statement_refund_not_applied:refund:pi_1' }],
      note: 'provider refunded',
      keys: 'burn',
      preview: false,
    });
    expect(engine.getOrder(id)!.status).toBe('refunded');
    expect(engine.db.prepare('SELECT status FROM keys WHERE order_id = ?').pluck().all(id)).toEqual(['burned']);
    expect(reconcile(engine.db).findings.filter((f) => f.status === 'open')).toEqual([]);
    expectConsistent(engine);
  });

  it('marks a finding resolved with a note; while the disagreement lasts it is listed as resolved', async () => {
    const { engine, productId } = await shop();
    engine.db.prepare('UPDATE products SET sold = sold + 1 WHERE id = ?').run(productId);
    await runActions(engine, 'agent', {
      action: 'resolve',
      targets: [{ findingId: `stock_drift:${productId}` }],
      note: 'known, fixed by the next import',
      preview: false,
    });
    const report = reconcile(engine.db);
    expect(report.findings).toMatchObject([
      {
        id: `stock_drift:${productId}`,
        status: 'resolved',
        present: true,
        resolution: { note: 'known, fixed by the next import' },
      },
    ]);
    expect(report.counts.stock_drift).toEqual({ open: 0, resolved: 1 });
  });

  it('changes nothing when one target of a bulk request fails, naming it; refuses ids that are not findings', async () => {
    const { engine, productId } = await shop(2);
    const a = await order(engine, productId);
    const b = await order(engine, productId);
    engine.db.prepare('UPDATE deliveries SET returned_at = 1').run();
    const before = snapshot(engine);
    // Two orders need a code each but no key is left: the second fails, so the first is rolled back too.
    await expect(
      runActions(engine, 'agent', {
        action: 'redeliver',
        targets: [{ findingId: `paid_not_delivered:${a}` }, { findingId: `paid_not_delivered:${b}` }],
        note: 'bulk',
        preview: false,
      }),
    ).rejects.toMatchObject({ code: 'sold_out' });
    expect(snapshot(engine)).toEqual(before);
    await expect(
      runActions(engine, 'agent', { action: 'resolve', targets: [{ findingId: 'nonsense' }], note: 'x', preview: false }),
    ).rejects.toMatchObject({
      code: 'validation_failed',
    });
    await expect(
      runActions(engine, 'agent', { action: 'resolve', targets: [{ findingId: 'made_up:1' }], note: 'x', preview: false }),
    ).rejects.toThrow(/not a finding id/);
  });
});
