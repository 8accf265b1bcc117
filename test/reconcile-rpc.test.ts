/**
 * The reconcile.* RPC methods through the real dispatcher: import a bill, see its findings, preview then
 * apply an action (audited with the caller as actor, live events after the commit), look the order up,
 * export CSV; bad input is refused with validation_failed and stores nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AppEvent } from '../shared/rpc';
import { sqliteContext } from '../src-main/rpc/dispatcher';
import { rpcClient } from './helpers/rpc';
import { openShop } from './helpers/shop';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const shop = await openShop({ keys: 4 });
  cleanups.push(shop.cleanup);
  const { call, fails } = rpcClient(sqliteContext(shop.engine, 'desktop:agent'));
  return { ...shop, call, fails };
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

describe('reconcile RPC', () => {
  it('imports a bill, shows its findings, previews and applies a link, and the finding is resolved', async () => {
    const { engine, productId, call } = await setup();
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'buyer@example.com' });
    if (!result.ok) throw new Error('sold out');
    const orderId = result.value.id;
    const events: AppEvent[] = [];
    cleanups.push(engine.events.subscribe((e) => events.push(e)));
    const bill = `payment_id,order_id,amount,currency,status,created_at\n4200001,${orderId},5000,CNY,succeeded,${new Date().toISOString()}\n`;
    const imported = await call('reconcile.importStatement', { fileName: 'bill.csv', base64: b64(bill), format: 'generic' });
    expect(imported).toMatchObject({
      imported: 1,
      duplicates: 0,
      encoding: 'utf-8',
      statement: { format: 'generic', source: 'bill.csv' },
    });
    expect((await call('reconcile.statements', {})).statements).toHaveLength(1);

    const report = await call('reconcile.run', {});
    expect(report.findings).toMatchObject([
      {
        id: 'statement_paid_order_unpaid:4200001',
        kind: 'statement_paid_order_unpaid',
        orderId,
        actions: ['link_payment', 'refund', 'resolve'],
      },
    ]);

    const request = {
      action: 'link_payment',
      targets: [{ findingId: 'statement_paid_order_unpaid:4200001' }],
      note: 'paid, webhook lost',
    };
    const preview = await call('reconcile.action', { ...request, preview: true });
    expect(preview.preview).toBe(true);
    expect(engine.getOrder(orderId)!.status).toBe('reserved');
    expect(events).toEqual([]);
    const applied = await call('reconcile.action', request);
    expect(applied.outcomes.map((o) => o.effects)).toEqual(preview.outcomes.map((o) => o.effects));
    expect(engine.getOrder(orderId)!.status).toBe('delivered');
    expect(events).toContainEqual({ type: 'order', orderId, productId, status: 'delivered' });
    const audit = engine.db.prepare(`SELECT actor FROM audit WHERE action = 'reconcile.link_payment'`).pluck().all();
    expect(audit).toEqual(['desktop:agent']);
    expect((await call('reconcile.run', {})).findings).toMatchObject([
      { status: 'resolved', resolution: { actor: 'desktop:agent', note: 'paid, webhook lost' } },
    ]);

    const found = await call('reconcile.lookup', { query: '4200001' });
    expect(found).toMatchObject({ matchedBy: 'payment', orders: [{ id: orderId, status: 'delivered' }] });
    const evidence = await call('reconcile.export', { kind: 'evidence', query: orderId });
    expect(evidence.fileName).toMatch(/^oncekey-evidence-.*\.csv$/);
    expect(evidence.csv.startsWith('\uFEFFsection,at,ref,order,what,detail\r\n')).toBe(true);
    const findings = await call('reconcile.export', { kind: 'findings' });
    expect(findings.csv).toContain('statement_paid_order_unpaid:4200001');
  });

  it('refuses bad input with validation_failed and stores nothing', async () => {
    const { engine, fails } = await setup();
    expect((await fails('reconcile.importStatement', { fileName: 'x.csv', base64: '!!!', format: 'generic' })).code).toBe(
      'validation_failed',
    );
    expect(
      (await fails('reconcile.importStatement', { fileName: 'x.csv', base64: b64('a,b\n1,2\n'), format: 'excel' })).code,
    ).toBe('validation_failed');
    const wrong = await fails('reconcile.importStatement', { fileName: 'x.csv', base64: b64('a,b\n1,2\n'), format: 'wechat' });
    expect(wrong).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/not a WeChat Pay trade bill/) });
    expect(
      (await fails('reconcile.action', { action: 'resolve', targets: [{ findingId: 'stock_drift:p' }], note: '   ' })).code,
    ).toBe('validation_failed');
    expect(
      (await fails('reconcile.action', { action: 'explode', targets: [{ findingId: 'stock_drift:p' }], note: 'x' })).code,
    ).toBe('validation_failed');
    expect(
      (
        await fails('reconcile.action', {
          action: 'redeliver',
          targets: [{ findingId: 'paid_not_delivered:ord_nope' }],
          note: 'x',
        })
      ).code,
    ).toBe('order_not_found');
    expect((await fails('reconcile.lookup', { query: '' })).code).toBe('validation_failed');
    expect(
      engine.db.prepare('SELECT (SELECT count(*) FROM statements) + (SELECT count(*) FROM finding_resolutions)').pluck().get(),
    ).toBe(0);
  });
});
