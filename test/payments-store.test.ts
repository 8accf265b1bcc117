/**
 * The payment channels' store under races between two servers of one shop, on both backends: two
 * engines on one SQLite file, two PgShops on one real PostgreSQL, in this process. Two servers making a
 * checkout for one order at the same moment keep one (both buyers are shown the same payment); two
 * status pollers ticking at the same moment lease every due checkout to one of them, so no checkout is
 * asked about twice. The gateway is never reached: epay's `submit` checkout is a signed URL made here,
 * and the queries go to a fetch of the test's own that records them.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend, type ShopBackend } from '../src-main/engine/backend';
import { Engine } from '../src-main/engine/engine';
import type { OrderView } from '../src-main/engine/order-rows';
import type { PaymentOptions } from '../src-main/payments/service';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { FAST_SCHEDULE } from './helpers/payments';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';

const KEY = 'fakeMerchantKey0123456789abcdef0';
const ORDERS = 12;

let pgShops: PgShops;
beforeAll(async () => {
  pgShops = await startPgShops();
}, 120_000);
afterAll(async () => pgShops?.stop(), 60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every status query a server sent, by the order it asked about; each answers "not paid" after 50 ms. */
function recordingFetch(server: string, asked: { server: string; orderId: string }[]): typeof fetch {
  return async (input) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    asked.push({ server, orderId: url.searchParams.get('out_trade_no') ?? '?' });
    await new Promise((r) => setTimeout(r, 50));
    return new Response(JSON.stringify({ code: -1, msg: 'not paid' }), { headers: { 'content-type': 'application/json' } });
  };
}

interface TwoServers {
  readonly a: ShopBackend;
  readonly b: ShopBackend;
  readonly productId: string;
  /** How many rows `sql` counts, read through server a's backend-specific connection. */
  readonly count: (sql: string) => Promise<number>;
}

type Open = (options: PaymentOptions) => Promise<{ shop: ShopBackend; count: (sql: string) => Promise<number> }>;

async function twoServers(backend: 'sqlite' | 'postgres', asked: { server: string; orderId: string }[]): Promise<TwoServers> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  let open: Open;
  if (backend === 'sqlite') {
    open = async (payments) => {
      const engine = Engine.open({ dataDir: dir, payments });
      return { shop: sqliteBackend(engine), count: async (sql) => Number(engine.db.prepare(sql).pluck().get()) };
    };
  } else {
    const url = await pgShops.freshUrl();
    open = async (payments) => {
      const shop = await PgShop.open({ url, secretStore: new KeyFileStore(join(dir, 'vault.key')), payments });
      return { shop, count: async (sql) => Number(Object.values((await shop.pool.query(sql)).rows[0] as object)[0]) };
    };
  }
  const a = await open({ schedule: FAST_SCHEDULE, fetch: recordingFetch('a', asked) });
  cleanups.push(() => a.shop.close());
  const b = await open({ schedule: FAST_SCHEDULE, fetch: recordingFetch('b', asked) });
  cleanups.push(() => b.shop.close());
  const product = await a.shop.createProduct({ name: 'Steam 50', price: { amount: 3000, currency: 'CNY' } });
  await a.shop.addCodes(
    product.id,
    Array.from({ length: ORDERS }, (_, i) => `CODE-${i}`),
  );
  await a.shop.payments.configure('epay', { settings: { gateway: 'http://127.0.0.1:9', pid: '1001', key: KEY } }, 'owner');
  return { a: a.shop, b: b.shop, productId: product.id, count: a.count };
}

async function reserve(shop: ShopBackend, productId: string, n: number): Promise<OrderView> {
  const { result } = await shop.reserve({ productId, quantity: 1, email: 'buyer@example.com', idempotencyKey: `order-${n}` });
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

describe.each(['sqlite', 'postgres'] as const)('payment channels on two servers of one shop, on %s', (backend) => {
  it('keeps one checkout when two servers make one for the same order at the same moment', { timeout: 60_000 }, async () => {
    const { a, b, productId, count } = await twoServers(backend, []);
    for (let i = 0; i < ORDERS; i++) {
      const order = await reserve(a, productId, i);
      const [fromA, fromB] = await Promise.all([
        a.payments.checkout(order, 'epay', undefined, '127.0.0.1'),
        b.payments.checkout(order, 'epay', 'wxpay', '127.0.0.1'),
      ]);
      // Whichever was stored first is the payment both buyers see, and the one both servers now show.
      expect(fromB).toEqual(fromA);
      expect(await b.payments.checkoutOf(order.id, 'epay')).toEqual(fromA);
    }
    expect(await count('SELECT count(*) FROM checkouts')).toBe(ORDERS);
    expect(await count(`SELECT count(*) FROM audit WHERE action = 'payment.created'`)).toBe(ORDERS);
  });

  it('leases each due status query to one of two pollers ticking at the same moment', { timeout: 60_000 }, async () => {
    const asked: { server: string; orderId: string }[] = [];
    const { a, b, productId, count } = await twoServers(backend, asked);
    const orders: string[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const order = await reserve(i % 2 ? a : b, productId, i);
      await (i % 2 ? b : a).payments.checkout(order, 'epay', undefined, '127.0.0.1');
      orders.push(order.id);
    }
    // The first query is due 200 ms after each checkout.
    await new Promise((r) => setTimeout(r, FAST_SCHEDULE.delaysMs[0]! + 100));
    await Promise.all([a.payments.tick(), b.payments.tick()]);
    expect(asked.map((q) => q.orderId).sort()).toEqual([...orders].sort());
    expect(await count('SELECT sum(queries) FROM checkouts')).toBe(ORDERS);
    // Each answer recorded once, the next query scheduled: nothing is due again right away.
    await Promise.all([a.payments.tick(), b.payments.tick()]);
    expect(asked).toHaveLength(ORDERS);
  });
});
