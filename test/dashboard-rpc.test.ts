/** The dashboard's RPC methods against a real engine on a real SQLite file, through the dispatcher. */
import { afterEach, describe, expect, it } from 'vitest';
import type { MethodName, Output } from '../shared/rpc';
import { DEFAULT_LOW_STOCK_THRESHOLD, INLINE_VERIFY_MAX_ROWS } from '../shared/rpc/dashboard';
import { stmt } from '../src-main/db/statements';
import { Dispatcher, sqliteContext } from '../src-main/rpc/dispatcher';
import { HANDLERS } from '../src-main/rpc/handlers';
import { openShop, seedKeys } from './helpers/shop';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function setup(options: Parameters<typeof openShop>[0] = {}) {
  const shop = await openShop(options);
  cleanups.push(shop.cleanup);
  const dispatcher = new Dispatcher(HANDLERS, (method, error) => {
    throw new Error(`${method} failed unexpectedly: ${String(error)}`);
  });
  const call = async <M extends MethodName>(method: M, input: unknown): Promise<Output<M>> => {
    const reply = await dispatcher.dispatch(method, input, sqliteContext(shop.engine, 'test'));
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.value as Output<M>;
  };
  const fail = async (method: MethodName, input: unknown): Promise<string> => {
    const reply = await dispatcher.dispatch(method, input, sqliteContext(shop.engine, 'test'));
    if (reply.ok) throw new Error(`${method} should have failed`);
    return reply.error.code;
  };
  return { ...shop, call, fail };
}

async function buy(
  engine: Awaited<ReturnType<typeof setup>>['engine'],
  productId: string,
  quantity = 1,
  pay = true,
): Promise<string> {
  const { result } = await engine.reserve({ productId, quantity, email: 'buyer@example.com' });
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

describe('dashboard.summary', () => {
  it('counts stock per product and in total, and flags low and sold-out products on sale', async () => {
    const { engine, productId, call } = await setup({ keys: 12 });
    const empty = await engine.createProduct({ name: 'Empty card', price: { amount: 100, currency: 'CNY' } });
    const hidden = await engine.createProduct({ name: 'Not on sale', price: { amount: 100, currency: 'CNY' }, onSale: false });
    await buy(engine, productId, 2);
    await buy(engine, productId, 1, false);

    const summary = await call('dashboard.summary', {});
    const steam = summary.products.find((p) => p.id === productId);
    expect(steam?.stock).toEqual({ available: 9, reserved: 1, sold: 2 });
    expect(steam).toMatchObject({ lowStockThreshold: DEFAULT_LOW_STOCK_THRESHOLD, thresholdSource: 'default', low: true });
    expect(summary.totals).toEqual({ available: 9, reserved: 1, sold: 2 });
    expect(summary.alerts).toContainEqual({ kind: 'sold_out', productId: empty.id, name: 'Empty card' });
    expect(summary.alerts).toContainEqual({ kind: 'low_stock', productId, name: 'Steam 50', available: 9, threshold: 10 });
    // A product that is not on sale cannot run out for a buyer: no alert.
    expect(summary.alerts.some((a) => 'productId' in a && a.productId === hidden.id)).toBe(false);
    expect(summary.needsReview).toEqual({ count: 0, oldestAt: null });
  });

  it('uses a product’s own threshold over the default, and the default once it is cleared', async () => {
    const { productId, call, fail } = await setup({ keys: 12 });
    expect(await call('dashboard.setLowStockThreshold', { productId, threshold: 5 })).toEqual({ productId, threshold: 5 });
    let summary = await call('dashboard.summary', {});
    expect(summary.products[0]).toMatchObject({ lowStockThreshold: 5, thresholdSource: 'product', low: false });
    expect(summary.alerts.filter((a) => a.kind === 'low_stock')).toEqual([]);

    await call('dashboard.setLowStockThreshold', { threshold: 20 });
    await call('dashboard.setLowStockThreshold', { productId, threshold: null });
    summary = await call('dashboard.summary', {});
    expect(summary.defaultLowStockThreshold).toBe(20);
    expect(summary.products[0]).toMatchObject({ lowStockThreshold: 20, thresholdSource: 'default', low: true });

    expect(await fail('dashboard.setLowStockThreshold', { productId: 'prd_nope', threshold: 3 })).toBe('product_not_found');
    expect(await fail('dashboard.setLowStockThreshold', { productId, threshold: -1 })).toBe('validation_failed');
  });

  it('counts orders that need review', async () => {
    const { engine, productId, call } = await setup({ keys: 3 });
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'b@example.com' });
    if (!result.ok) throw new Error(result.error.message);
    // Paying the wrong amount sends the order to review.
    const paid = await engine.pay({
      orderId: result.value.id,
      amount: 1,
      currency: 'CNY',
      eventId: 'evt_short',
      source: 'webhook',
    });
    expect(paid.effect).toBe('needs_review');
    const summary = await call('dashboard.summary', {});
    expect(summary.needsReview.count).toBe(1);
    expect(summary.needsReview.oldestAt).not.toBeNull();
    expect(summary.alerts).toContainEqual({ kind: 'needs_review', count: 1 });
  });

  it('reports a tampered ledger as broken with its first bad entry', async () => {
    const { engine, productId, call } = await setup({ keys: 3 });
    await buy(engine, productId);
    let summary = await call('dashboard.summary', {});
    expect(summary.ledger).toMatchObject({ status: 'ok', entries: 3, autoVerify: true, verifiedEntries: 3, firstBadEntry: null });

    stmt(engine.db, `UPDATE ledger SET detail = '{"keysTo":"available"}' WHERE seq = 2`).run();
    // The cache still holds the earlier result until someone verifies again.
    const verified = await call('dashboard.verifyLedger', {});
    expect(verified).toMatchObject({ status: 'broken', firstBadEntry: 2 });
    expect(verified.problems.length).toBeGreaterThan(0);
    summary = await call('dashboard.summary', {});
    expect(summary.ledger.status).toBe('broken');
    expect(summary.alerts[0]).toEqual({ kind: 'ledger_broken', firstBadEntry: 2 });
  });
});

describe('dashboard.sales', () => {
  it('buckets paid orders per day in the caller’s time zone and leaves unpaid ones out', async () => {
    let now = Date.parse('2026-03-10T12:00:00Z');
    const { engine, productId, call } = await setup({ keys: 20, clock: () => now });
    await buy(engine, productId, 2); // day -0
    now -= 24 * 3_600_000;
    await buy(engine, productId, 1); // day -1
    await buy(engine, productId, 3, false); // reserved only: not a sale
    now = Date.parse('2026-03-10T12:00:00Z');

    const series = await call('dashboard.sales', { days: 7, tzOffsetMinutes: -480 });
    expect(series.bucket).toBe('day');
    expect(series.points).toHaveLength(7);
    // Shanghai's midnight is 16:00 UTC the day before.
    expect(series.points[6]).toEqual({
      start: '2026-03-09T16:00:00.000Z',
      orders: 1,
      units: 2,
      revenue: [{ amount: 10000, currency: 'CNY' }],
    });
    expect(series.points[5]).toMatchObject({ start: '2026-03-08T16:00:00.000Z', orders: 1, units: 1 });
    expect(series.points.slice(0, 5).every((p) => p.orders === 0 && p.revenue.length === 0)).toBe(true);
    expect(series.totals).toEqual({ orders: 2, units: 3, revenue: [{ amount: 15000, currency: 'CNY' }] });
  });

  it('switches to hours for one or two days, and filters by product', async () => {
    let now = Date.parse('2026-03-10T12:30:00Z');
    const { engine, productId, call, fail } = await setup({ keys: 5, clock: () => now });
    const other = await engine.createProduct({ name: 'Other', price: { amount: 700, currency: 'USD' } });
    seedKeys(engine.db, engine.vault, other.id, ['O-1', 'O-2']);
    await buy(engine, productId);
    now -= 3 * 3_600_000;
    const { result } = await engine.reserve({ productId: other.id, quantity: 1, email: 'c@example.com' });
    if (!result.ok) throw new Error(result.error.message);
    await engine.pay({ orderId: result.value.id, amount: 700, currency: 'USD', eventId: 'evt_usd', source: 'manual' });
    now = Date.parse('2026-03-10T12:30:00Z');

    const day = await call('dashboard.sales', { days: 1 });
    expect(day.bucket).toBe('hour');
    expect(day.points).toHaveLength(24);
    expect(day.points[23]).toMatchObject({ start: '2026-03-10T12:00:00.000Z', orders: 1 });
    expect(day.points[20]).toMatchObject({ start: '2026-03-10T09:00:00.000Z', revenue: [{ amount: 700, currency: 'USD' }] });
    expect(day.totals.revenue).toEqual([
      { amount: 5000, currency: 'CNY' },
      { amount: 700, currency: 'USD' },
    ]);

    const only = await call('dashboard.sales', { days: 1, productId: other.id });
    expect(only.totals).toEqual({ orders: 1, units: 1, revenue: [{ amount: 700, currency: 'USD' }] });
    expect(await fail('dashboard.sales', { days: 0 })).toBe('validation_failed');
    expect(await fail('dashboard.sales', { days: 7, productId: 'prd_nope' })).toBe('product_not_found');
  });
});

describe('dashboard ledger state on a big shop', () => {
  it('does not verify by itself past the inline limit, and says so; verifying on request caches the result', async () => {
    const { engine, productId, call } = await setup({ keys: 1 });
    // Push the key ids past the inline limit without storing 200,000 rows: the size estimate reads the highest id.
    stmt(engine.db, `UPDATE keys SET id = ? WHERE product_no = (SELECT no FROM products WHERE id = ?)`).run(
      INLINE_VERIFY_MAX_ROWS + 1,
      productId,
    );
    const summary = await call('dashboard.summary', {});
    expect(summary.ledger).toMatchObject({ status: 'unverified', autoVerify: false, verifiedAt: null });
    expect(summary.alerts).toContainEqual({ kind: 'ledger_unverified', entries: 1 });
    const verified = await call('dashboard.verifyLedger', {});
    expect(verified.verifiedEntries).toBe(1);
    expect(verified.durationMs).not.toBeNull();
    expect((await call('dashboard.summary', {})).ledger.verifiedAt).toBe(verified.verifiedAt);
  });
});
