/**
 * The dashboard's RPC methods through the dispatcher, on both backends (a real SQLite file and a real
 * PostgreSQL): every case runs on each; orders are made through the shop (reserve, pay) and the rows
 * read or tampered with through backend-shop's `rows` / `count`. The last case runs the same history on
 * both and compares the summaries and sales series.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { MethodName } from '../shared/rpc';
import { DEFAULT_LOW_STOCK_THRESHOLD, INLINE_VERIFY_MAX_ROWS } from '../shared/rpc/dashboard';
import type { ShopBackend } from '../src-main/engine/backend';
import {
  BACKEND_NAMES,
  type BackendName,
  type BackendShopOptions,
  startBackendShop,
  stopBackendServers,
} from './helpers/backend-shop';
import { rpcClient } from './helpers/rpc';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(stopBackendServers);

async function setup(backend: BackendName, options: BackendShopOptions = {}) {
  const s = await startBackendShop(backend, options);
  cleanups.push(() => s.close());
  const { call, fails } = rpcClient(s.rpcContext('test'), { strict: true });
  const fail = async (method: MethodName, input: unknown): Promise<string> => (await fails(method, input)).code;
  return { ...s, call, fail };
}

async function buy(
  shop: ShopBackend,
  productId: string,
  quantity = 1,
  pay: false | { currency: string; source: 'webhook' | 'manual' } = { currency: 'CNY', source: 'webhook' },
): Promise<string> {
  const { result } = await shop.reserve({ productId, quantity, email: 'buyer@example.com' });
  if (!result.ok) throw new Error(result.error.message);
  if (pay)
    await shop.pay({
      orderId: result.value.id,
      amount: result.value.amount,
      currency: pay.currency,
      eventId: `evt_${result.value.id}`,
      source: pay.source,
    });
  return result.value.id;
}

describe.each(BACKEND_NAMES)('on %s', (backend) => {
  describe('dashboard.summary', () => {
    it('counts stock per product and in total, and flags low and sold-out products on sale', async () => {
      const { shop, productId, call } = await setup(backend, { keys: 12 });
      const empty = await shop.createProduct({ name: 'Empty card', price: { amount: 100, currency: 'CNY' } });
      const hidden = await shop.createProduct({ name: 'Not on sale', price: { amount: 100, currency: 'CNY' }, onSale: false });
      await buy(shop, productId, 2);
      await buy(shop, productId, 1, false);

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
      const s = await setup(backend, { keys: 12 });
      const { productId, call, fail } = s;
      expect(await call('dashboard.setLowStockThreshold', { productId, threshold: 5 })).toEqual({ productId, threshold: 5 });
      let summary = await call('dashboard.summary', {});
      expect(summary.products[0]).toMatchObject({ lowStockThreshold: 5, thresholdSource: 'product', low: false });
      expect(summary.alerts.filter((a) => a.kind === 'low_stock')).toEqual([]);
      // Setting it again overwrites the one row.
      expect(await call('dashboard.setLowStockThreshold', { productId, threshold: 6 })).toEqual({ productId, threshold: 6 });
      expect(await s.count(`SELECT count(*) FROM meta WHERE key = ?`, `alert.low_stock.${productId}`)).toBe(1);

      expect(await call('dashboard.setLowStockThreshold', { threshold: 20 })).toEqual({ productId: null, threshold: 20 });
      expect(await call('dashboard.setLowStockThreshold', { productId, threshold: null })).toEqual({ productId, threshold: 20 });
      expect(await s.count(`SELECT count(*) FROM meta WHERE key = ?`, `alert.low_stock.${productId}`)).toBe(0);
      summary = await call('dashboard.summary', {});
      expect(summary.defaultLowStockThreshold).toBe(20);
      expect(summary.products[0]).toMatchObject({ lowStockThreshold: 20, thresholdSource: 'default', low: true });

      expect(await fail('dashboard.setLowStockThreshold', { productId: 'prd_nope', threshold: 3 })).toBe('product_not_found');
      expect(await fail('dashboard.setLowStockThreshold', { productId, threshold: -1 })).toBe('validation_failed');
    });

    it('counts orders that need review', async () => {
      const { shop, productId, call } = await setup(backend, { keys: 3 });
      const { result } = await shop.reserve({ productId, quantity: 1, email: 'b@example.com' });
      if (!result.ok) throw new Error(result.error.message);
      // Paying the wrong amount sends the order to review.
      const paid = await shop.pay({
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
      const s = await setup(backend, { keys: 3 });
      const { shop, productId, call } = s;
      await buy(shop, productId);
      let summary = await call('dashboard.summary', {});
      expect(summary.ledger).toMatchObject({
        status: 'ok',
        entries: 3,
        autoVerify: true,
        verifiedEntries: 3,
        firstBadEntry: null,
      });

      expect(await s.rows(`UPDATE ledger SET detail = '{"keysTo":"available"}' WHERE seq = 2 RETURNING seq`)).toHaveLength(1);
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
      const { shop, productId, call } = await setup(backend, { keys: 20, clock: () => now });
      await buy(shop, productId, 2); // day -0
      now -= 24 * 3_600_000;
      await buy(shop, productId, 1); // day -1
      await buy(shop, productId, 3, false); // reserved only: not a sale
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
      const { shop, productId, call, fail } = await setup(backend, { keys: 5, clock: () => now });
      const other = await shop.createProduct({ name: 'Other', price: { amount: 700, currency: 'USD' } });
      await shop.addCodes(other.id, ['O-1', 'O-2']);
      await buy(shop, productId);
      now -= 3 * 3_600_000;
      await buy(shop, other.id, 1, { currency: 'USD', source: 'manual' });
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
      const s = await setup(backend, { keys: 1 });
      const { productId, call } = s;
      // Push the key ids past the inline limit without storing 200,000 rows: the size estimate reads the highest id.
      const moved = await s.rows(
        `UPDATE keys SET id = ? WHERE product_no = (SELECT no FROM products WHERE id = ?) RETURNING id`,
        INLINE_VERIFY_MAX_ROWS + 1,
        productId,
      );
      expect(moved).toHaveLength(1);
      const summary = await call('dashboard.summary', {});
      expect(summary.ledger).toMatchObject({ status: 'unverified', autoVerify: false, verifiedAt: null });
      expect(summary.alerts).toContainEqual({ kind: 'ledger_unverified', entries: 1 });
      const verified = await call('dashboard.verifyLedger', {});
      expect(verified.verifiedEntries).toBe(1);
      expect(verified.durationMs).not.toBeNull();
      expect((await call('dashboard.summary', {})).ledger.verifiedAt).toBe(verified.verifiedAt);
    });
  });
});

describe('the same history on both backends', () => {
  /** A few days of sales in two currencies, an unpaid order, an order in review and thresholds of both kinds. */
  async function history(backend: BackendName) {
    let now = Date.parse('2026-03-10T12:30:00Z');
    const s = await setup(backend, { keys: 12, clock: () => now });
    const other = await s.shop.createProduct({ name: 'Other', price: { amount: 700, currency: 'USD' } });
    await s.shop.addCodes(other.id, ['O-1', 'O-2', 'O-3']);
    await s.shop.createProduct({ name: 'Empty card', price: { amount: 100, currency: 'CNY' } });
    await s.call('dashboard.setLowStockThreshold', { threshold: 2 });
    await s.call('dashboard.setLowStockThreshold', { productId: s.productId, threshold: 8 });
    for (const [hoursAgo, productId, quantity, currency] of [
      [0, s.productId, 2, 'CNY'],
      [5, other.id, 1, 'USD'],
      [13, s.productId, 1, 'CNY'],
      [30, other.id, 2, 'USD'],
      [75, s.productId, 3, 'CNY'],
    ] as const) {
      now = Date.parse('2026-03-10T12:30:00Z') - hoursAgo * 3_600_000;
      await buy(s.shop, productId, quantity, { currency, source: 'webhook' });
    }
    await buy(s.shop, s.productId, 1, false);
    const { result } = await s.shop.reserve({ productId: s.productId, quantity: 1, email: 'b@example.com' });
    if (!result.ok) throw new Error(result.error.message);
    await s.shop.pay({ orderId: result.value.id, amount: 1, currency: 'CNY', eventId: 'evt_short', source: 'webhook' });
    now = Date.parse('2026-03-10T12:30:00Z');

    // Product ids are random: name them by the product's name; a verification's duration is the host's.
    const names = new Map((await s.shop.listProducts()).map((p) => [p.id, p.name]));
    const named = (value: unknown): unknown =>
      JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? (names.get(v) ?? v) : v)));
    const summary = await s.call('dashboard.summary', {});
    return {
      summary: named({ ...summary, ledger: { ...summary.ledger, durationMs: 0 } }),
      week: await s.call('dashboard.sales', { days: 7, tzOffsetMinutes: -480 }),
      twoDays: await s.call('dashboard.sales', { days: 2, tzOffsetMinutes: 300 }),
      other: await s.call('dashboard.sales', { days: 7, productId: other.id }),
    };
  }

  it('gives the same summary and sales series on SQLite and PostgreSQL', async () => {
    const sqlite = await history('sqlite');
    const postgres = await history('postgres');
    expect(postgres).toEqual(sqlite);
    // And the history is what it says: something in every part of the comparison.
    expect(sqlite.week.totals).toEqual({
      orders: 5,
      units: 9,
      revenue: [
        { amount: 30000, currency: 'CNY' },
        { amount: 2100, currency: 'USD' },
      ],
    });
    expect(sqlite.twoDays.points.filter((p) => p.orders > 0)).toHaveLength(4);
    expect(sqlite.other.totals.orders).toBe(2);
    expect(sqlite.summary).toMatchObject({
      needsReview: { count: 1 },
      defaultLowStockThreshold: 2,
      ledger: { status: 'ok' },
      totals: { available: 4, reserved: 2, sold: 9 },
    });
  });
});
