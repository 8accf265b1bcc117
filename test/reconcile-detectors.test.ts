/**
 * Each reconciliation detector against a shop broken on purpose: rows edited outside the app with raw
 * SQL (dropping the trigger or index that would otherwise refuse the break). A shop used only through
 * the engine reconciles clean.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcileFinding } from '../shared/reconcile';
import type { WritableDB } from '../src-main/db/types';
import type { Engine } from '../src-main/engine/engine';
import { reconcile } from '../src-main/reconcile/run';
import { runReconcile } from '../src-main/reconcile/service';
import { openShop, seedKeys } from './helpers/shop';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function shop(keys = 5) {
  const s = await openShop({ keys });
  cleanups.push(s.cleanup);
  return s;
}

async function buy(engine: Engine, productId: string, email = 'buyer@example.com', pay = true): Promise<string> {
  const { result } = await engine.reserve({ productId, quantity: 1, email });
  if (!result.ok) throw new Error(result.error.message);
  if (pay)
    await engine.pay({
      orderId: result.value.id,
      amount: result.value.amount,
      currency: 'CNY',
      eventId: `evt_${result.value.id}`,
      source: 'webhook',
    });
  return result.value.id;
}

const kinds = (findings: readonly ReconcileFinding[]) => findings.map((f) => f.kind).sort();
const only = (db: WritableDB, kind: string) => reconcile(db).findings.filter((f) => f.kind === kind);

describe('reconciliation detectors', () => {
  it('finds nothing in a shop used only through the engine (sales, expiry, refund, release)', async () => {
    const { engine, productId } = await shop(6);
    await buy(engine, productId);
    const refunded = await buy(engine, productId);
    await engine.refund({ orderId: refunded, keys: 'burn', reason: 'test', actor: 'tester' });
    const held = await buy(engine, productId, 'x@example.com', false);
    await engine.releaseOrder(held, 'tester');
    await buy(engine, productId, 'y@example.com', false);
    const report = reconcile(engine.db);
    expect(report.findings).toEqual([]);
    expect(report.truncated).toBe(false);
    expect(Object.values(report.counts).every((c) => c.open === 0 && c.resolved === 0)).toBe(true);
  });

  it('key_sold_twice: a second live delivery of one key (unique index dropped), with both orders as evidence', async () => {
    const { engine, productId } = await shop(3);
    const first = await buy(engine, productId);
    const second = await buy(engine, productId);
    const db = engine.db;
    db.exec('DROP INDEX deliveries_one_live_per_key');
    const keyId = db.prepare('SELECT key_id FROM deliveries WHERE order_id = ?').pluck().get(first) as number;
    db.prepare('INSERT INTO deliveries (key_id, order_id, delivered_at) VALUES (?, ?, ?)').run(keyId, second, Date.now());
    const [finding, ...rest] = only(db, 'key_sold_twice');
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({
      id: `key_sold_twice:key:${keyId}`,
      keyIds: [keyId],
      status: 'open',
      expected: { holders: 1 },
      actual: { holders: 2 },
    });
    expect(String(finding!.actual.orders).split(', ').sort()).toEqual([first, second].sort());
    expect(finding!.evidence.filter((e) => e.source === 'delivery')).toHaveLength(2);
  });

  it('key_sold_twice: one code imported into two products and sold in both', async () => {
    const { engine, productId } = await shop(0);
    const other = await engine.createProduct({ name: 'Other', price: { amount: 5000, currency: 'CNY' } });
    seedKeys(engine.db, engine.vault, productId, ['SAME-CODE']);
    seedKeys(engine.db, engine.vault, other.id, ['SAME-CODE']);
    const a = await buy(engine, productId);
    const b = await buy(engine, other.id);
    const findings = only(engine.db, 'key_sold_twice');
    expect(findings).toHaveLength(1);
    expect(findings[0]!.subject).toMatch(/^code:[0-9a-f]{16}$/);
    expect(String(findings[0]!.actual.orders).split(', ').sort()).toEqual([a, b].sort());
  });

  it('key_sold_twice: finds the shared code also past the product count where the index merge gives way, and for a key moved to an unknown product', async () => {
    const { engine, productId } = await shop(0);
    const other = await engine.createProduct({ name: 'Other', price: { amount: 5000, currency: 'CNY' } });
    seedKeys(engine.db, engine.vault, productId, ['SAME-CODE', 'MOVED-CODE']);
    seedKeys(engine.db, engine.vault, other.id, ['SAME-CODE']);
    await buy(engine, productId);
    await buy(engine, other.id);
    await buy(engine, productId);
    // A tamperer moves the second sold key to a product id the products table does not have, with a copy of the code.
    const db = engine.db;
    const moved = db
      .prepare(
        "SELECT id, fingerprint FROM keys WHERE product_no = (SELECT no FROM products WHERE id = ?) AND status = 'sold' ORDER BY id DESC LIMIT 1",
      )
      .get(productId) as { id: number; fingerprint: Buffer };
    db.pragma('foreign_keys = OFF');
    db.prepare(
      'INSERT INTO keys (product_no, fingerprint, sealed, status, order_id, updated_at) SELECT 999, fingerprint, sealed, status, order_id, updated_at FROM keys WHERE id = ?',
    ).run(moved.id);
    db.pragma('foreign_keys = ON');
    const codes = (): string[] =>
      only(db, 'key_sold_twice')
        .map((f) => f.subject)
        .sort();
    const merged = codes();
    expect(merged).toHaveLength(2);
    for (let i = 0; i < 100; i++) {
      const filler = await engine.createProduct({ name: `Filler ${i}`, price: { amount: 100, currency: 'CNY' } });
      seedKeys(db, engine.vault, filler.id, [`FILLER-${i}`]);
    }
    expect(codes()).toEqual(merged);
  });

  it('paid_not_delivered: a delivered order whose delivery row was returned outside the app', async () => {
    const { engine, productId } = await shop();
    const orderId = await buy(engine, productId);
    engine.db.prepare('UPDATE deliveries SET returned_at = ? WHERE order_id = ?').run(Date.now(), orderId);
    const findings = only(engine.db, 'paid_not_delivered');
    expect(findings).toMatchObject([
      {
        id: `paid_not_delivered:${orderId}`,
        orderId,
        expected: { codesDelivered: 1 },
        actual: { codesDelivered: 0 },
        amount: { amount: 5000, currency: 'CNY' },
      },
    ]);
  });

  it('delivered_not_paid: codes out while the payment record was deleted', async () => {
    const { engine, productId } = await shop();
    const orderId = await buy(engine, productId);
    const paid = await buy(engine, productId);
    engine.db.prepare('DELETE FROM payments WHERE order_id = ?').run(orderId);
    const findings = only(engine.db, 'delivered_not_paid');
    expect(findings.map((f) => f.orderId)).toEqual([orderId]);
    expect(findings[0]).toMatchObject({ actual: { codesDelivered: 1, paymentsApplied: 0 } });
    expect(findings.some((f) => f.orderId === paid)).toBe(false);
  });

  it('expired_hold: a reservation past expiry the sweeper never released, and a hold on an expired order (trigger dropped)', async () => {
    const { engine, productId } = await shop();
    const stuck = await buy(engine, productId, 'a@example.com', false);
    const expiresAt = Date.parse(engine.getOrder(stuck)!.expiresAt);
    expect(reconcile(engine.db, { now: expiresAt + 30_000 }).findings).toEqual([]); // within the sweeper's grace
    const late = reconcile(engine.db, { now: expiresAt + 120_000 }).findings;
    expect(late).toMatchObject([{ kind: 'expired_hold', id: `expired_hold:${stuck}`, actual: { heldKeys: 1 } }]);

    const dead = await buy(engine, productId, 'b@example.com', false);
    engine.db.exec('DROP TRIGGER orders_release_holds_first');
    engine.db.prepare(`UPDATE orders SET status = 'expired' WHERE id = ?`).run(dead);
    const holds = only(engine.db, 'expired_hold');
    expect(holds.map((f) => f.orderId)).toEqual([dead]);
    expect(holds[0]).toMatchObject({ actual: { status: 'expired', heldKeys: 1 } });
  });

  it('stock_drift: stored counters edited away from the key rows', async () => {
    const { engine, productId } = await shop(4);
    await buy(engine, productId);
    engine.db.prepare('UPDATE products SET sold = sold + 3, available = 0 WHERE id = ?').run(productId);
    expect(only(engine.db, 'stock_drift')).toMatchObject([
      {
        id: `stock_drift:${productId}`,
        expected: { available: 3, reserved: 0, sold: 1 },
        actual: { available: 0, reserved: 0, sold: 4 },
      },
    ]);
  });

  it('ledger_broken: an edited entry; ledger_state_mismatch: a key burned outside the app', async () => {
    const { engine, productId } = await shop(3);
    await buy(engine, productId);
    engine.db.prepare(`UPDATE ledger SET detail = '{"keysTo":"sold","orderTo":"delivered","forged":1}' WHERE seq = 3`).run();
    const broken = only(engine.db, 'ledger_broken');
    expect(broken).toMatchObject([{ id: 'ledger_broken:seq:3', actual: { chainIntact: false, firstBadEntry: 3 } }]);

    const { engine: e2, productId: p2 } = await shop(3);
    await buy(e2, p2);
    const free = e2.db.prepare(`SELECT id FROM keys WHERE status = 'available' ORDER BY id LIMIT 1`).pluck().get() as number;
    e2.db.prepare(`UPDATE keys SET status = 'burned' WHERE id = ?`).run(free);
    expect(only(e2.db, 'ledger_broken')).toEqual([]);
    const mismatch = only(e2.db, 'ledger_state_mismatch');
    expect(mismatch).toMatchObject([
      { id: `ledger_state_mismatch:key:${free}`, keyIds: [free], expected: { state: 'available' }, actual: { state: 'burned' } },
    ]);
  });

  it('needs_review: every order in review with its reason', async () => {
    const { engine, productId } = await shop();
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'a@example.com' });
    if (!result.ok) throw new Error('sold out');
    await engine.pay({ orderId: result.value.id, amount: 1, currency: 'CNY', eventId: 'evt_short', source: 'webhook' });
    expect(only(engine.db, 'needs_review')).toMatchObject([
      {
        id: `needs_review:${result.value.id}`,
        orderId: result.value.id,
        actual: { status: 'needs_review', reason: 'amount_mismatch' },
      },
    ]);
  });

  it('keeps at most limitPerKind findings of a kind, counts them all, and says it truncated', async () => {
    const { engine, productId } = await shop(5);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await buy(engine, productId));
    engine.db.prepare('UPDATE deliveries SET returned_at = 1').run();
    const report = reconcile(engine.db, { limitPerKind: 2 });
    expect(report.findings.filter((f) => f.kind === 'paid_not_delivered')).toHaveLength(2);
    expect(report.counts.paid_not_delivered).toEqual({ open: 4, resolved: 0 });
    expect(report.truncated).toBe(true);
    expect(kinds(report.findings)).toEqual(['paid_not_delivered', 'paid_not_delivered']);
  });

  it(
    'gives the same report from a worker thread (its own read-only connection) as in this thread',
    { timeout: 60_000 },
    async () => {
      const { engine, productId } = await shop(6);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await buy(engine, productId));
      engine.db.prepare('UPDATE deliveries SET returned_at = 1 WHERE order_id = ?').run(ids[0]);
      engine.db.prepare(`UPDATE ledger SET detail = '{"forged":1}' WHERE seq = 2`).run();
      engine.db.prepare('UPDATE products SET available = available + 7').run();
      const here = await runReconcile(engine, { worker: 'never' });
      expect(kinds(here.findings)).toEqual(expect.arrayContaining(['ledger_broken', 'paid_not_delivered', 'stock_drift']));
      expect({ ...(await runReconcile(engine, { worker: 'always' })), ranAt: here.ranAt }).toEqual(here);
    },
  );
});
