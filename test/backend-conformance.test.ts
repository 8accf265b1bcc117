/**
 * One suite, both backends: the embedded SQLite file and PostgreSQL (a real server, test/helpers/postgres)
 * answer the same purchases the same way, through the same interface (engine/backend.ts). What a shop
 * must never do (sell a key twice, take money without delivering, forget an idempotency key) is checked
 * on each, and the ledger verifies on each at the end of every case.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend, type ShopBackend } from '../src-main/engine/backend';
import { Engine } from '../src-main/engine/engine';
import { isEngineError } from '../src-main/engine/errors';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';

let pgShops: PgShops;
beforeAll(async () => {
  pgShops = await startPgShops();
}, 120_000);
afterAll(async () => pgShops?.stop(), 60_000);

const open: ShopBackend[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const shop of open.splice(0)) await shop.close();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface Clock {
  now: number;
  readonly read: () => number;
}
function clock(): Clock {
  const c = { now: Date.UTC(2026, 11, 7, 12), read: () => c.now };
  return c;
}

type Make = (time: Clock) => Promise<ShopBackend>;
const BACKENDS: [string, Make][] = [
  [
    'sqlite',
    async (time) => {
      const { dir, cleanup } = tempDir();
      cleanups.push(cleanup);
      const shop = sqliteBackend(Engine.open({ dataDir: dir, clock: time.read, holdSeconds: 600 }));
      open.push(shop);
      return shop;
    },
  ],
  [
    'postgres',
    async (time) => {
      const { dir, cleanup } = tempDir();
      cleanups.push(cleanup);
      const shop = await PgShop.open({
        url: await pgShops.freshUrl(),
        secretStore: new KeyFileStore(join(dir, 'vault.key')),
        clock: time.read,
        holdSeconds: 600,
      });
      open.push(shop);
      return shop;
    },
  ],
];

const codes = (n: number, prefix = 'CODE') => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
const buyer = { email: 'buyer@example.com', quantity: 1 };

async function stocked(make: Make, keys: number, time = clock()) {
  const shop = await make(time);
  const product = await shop.createProduct({ name: 'Steam 50', price: { amount: 5000, currency: 'CNY' } });
  if (keys > 0) expect(await shop.addCodes(product.id, codes(keys))).toEqual({ added: keys, duplicates: 0 });
  return { shop, product, time };
}

async function expectVerified(shop: ShopBackend): Promise<void> {
  const report = await shop.verifyLedger();
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

describe.each(BACKENDS)('%s backend', (_name, make) => {
  it('holds a key for a new order, shows it to its token only, and moves the stock', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 3);
    const { replayed, result } = await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'k-1' });
    expect(replayed).toBe(false);
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value).toMatchObject({ status: 'reserved', amount: 5000, currency: 'CNY', quantity: 1 });
    expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 2, reserved: 1, sold: 0 });
    expect(await shop.getOrderWithToken(result.value.id, result.value.accessToken)).toMatchObject({ id: result.value.id });
    expect(await shop.getOrderWithToken(result.value.id, 'wrong')).toBeNull();
    expect(await shop.getOrderWithToken('ord_missing', result.value.accessToken)).toBeNull();
    await expectVerified(shop);
  });

  it('replays an idempotent retry and refuses the key for another request', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 3);
    const first = await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'same' });
    const again = await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'same' });
    expect(again.replayed).toBe(true);
    expect(again.result).toEqual(first.result);
    await expect(shop.reserve({ productId: product.id, ...buyer, quantity: 2, idempotencyKey: 'same' })).rejects.toMatchObject({
      code: 'idempotency_key_reused',
    });
    expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 2, reserved: 1, sold: 0 });
    await expectVerified(shop);
  });

  it('stores sold out as an outcome, and refuses a product not on sale storing nothing', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 1);
    await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'a' });
    const late = await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'b' });
    expect(late.result).toMatchObject({ ok: false, error: { code: 'sold_out' } });
    await shop.addCodes(product.id, ['LATE-1']);
    // The retry gets the stored answer, not the key that arrived since.
    expect((await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'b' })).result).toEqual(late.result);
    await expect(shop.reserve({ productId: 'prd_nope', ...buyer, idempotencyKey: 'c' })).rejects.toMatchObject({
      code: 'product_not_found',
    });
    // Nothing was stored for the refused request: the same key now buys.
    expect((await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'c' })).result.ok).toBe(true);
    await expectVerified(shop);
  });

  it('holds a buyer to the purchase limit', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 5);
    const limit = { maxOrders: 2, windowMs: 86_400_000 };
    for (const key of ['l1', 'l2']) {
      expect((await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: key, purchaseLimit: limit })).result.ok).toBe(
        true,
      );
    }
    await expect(
      shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'l3', purchaseLimit: limit }),
    ).rejects.toMatchObject({
      code: 'purchase_limit',
    });
  });

  it('delivers on payment once, and sends a doubled or wrong payment to review', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 3);
    const order = async (key: string) => {
      const { result } = await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: key });
      if (!result.ok) throw new Error(result.error.message);
      return result.value;
    };
    const a = await order('p-a');
    const paid = await shop.pay({ orderId: a.id, amount: 5000, currency: 'CNY', eventId: 'ev-1', source: 'webhook' });
    expect(paid).toMatchObject({ effect: 'delivered', order: { status: 'delivered' } });
    // Codes of one import sell in no particular order (README): one of them, once.
    const delivered = await shop.deliveredCodes(a.id);
    expect(delivered).toHaveLength(1);
    expect(codes(3)).toContain(delivered[0]);
    expect(await shop.pay({ orderId: a.id, amount: 5000, currency: 'CNY', eventId: 'ev-1', source: 'webhook' })).toMatchObject({
      effect: 'duplicate_event',
    });
    expect(await shop.pay({ orderId: a.id, amount: 5000, currency: 'CNY', eventId: 'ev-2', source: 'webhook' })).toMatchObject({
      effect: 'needs_review',
      reason: 'duplicate_payment',
    });
    const b = await order('p-b');
    expect(await shop.pay({ orderId: b.id, amount: 4999, currency: 'CNY', eventId: 'ev-3', source: 'webhook' })).toMatchObject({
      effect: 'needs_review',
      reason: 'amount_mismatch',
    });
    expect(await shop.pay({ orderId: 'ord_nope', amount: 1, currency: 'CNY', eventId: 'ev-4', source: 'webhook' })).toMatchObject(
      {
        effect: 'unknown_order',
      },
    );
    expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 1, reserved: 1, sold: 1 });
    await expectVerified(shop);
  });

  it(
    'releases expired holds, and sells fresh keys to a payment after expiry while any are left',
    { timeout: 60_000 },
    async () => {
      const { shop, product, time } = await stocked(make, 2);
      const { result } = await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'e-1' });
      if (!result.ok) throw new Error(result.error.message);
      time.now += 601_000;
      expect(await shop.sweepExpired()).toBe(1);
      expect(await shop.getOrder(result.value.id)).toMatchObject({ status: 'expired' });
      expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 2, reserved: 0, sold: 0 });
      const late = await shop.pay({
        orderId: result.value.id,
        amount: 5000,
        currency: 'CNY',
        eventId: 'late',
        source: 'webhook',
      });
      expect(late).toMatchObject({ effect: 'delivered', order: { status: 'delivered' } });
      expect(await shop.deliveredCodes(result.value.id)).toHaveLength(1);
      expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 1, reserved: 0, sold: 1 });
      await expectVerified(shop);
    },
  );

  it('refunds (burning or returning the code) and releases a hold by hand', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 3);
    const bought = async (key: string) => {
      const { result } = await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: key });
      if (!result.ok) throw new Error(result.error.message);
      await shop.pay({ orderId: result.value.id, amount: 5000, currency: 'CNY', eventId: `pay-${key}`, source: 'webhook' });
      return result.value.id;
    };
    const burned = await bought('r-1');
    const returned = await bought('r-2');
    expect(await shop.refund({ orderId: burned, keys: 'burn', reason: 'fraud', actor: 'support' })).toMatchObject({
      status: 'refunded',
    });
    expect(await shop.refund({ orderId: returned, keys: 'return', reason: 'unused', actor: 'support' })).toMatchObject({
      status: 'refunded',
    });
    await expect(shop.refund({ orderId: returned, keys: 'return', reason: 'again', actor: 'support' })).rejects.toMatchObject({
      code: 'order_not_refundable',
    });
    const { result } = await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'r-3' });
    if (!result.ok) throw new Error(result.error.message);
    expect(await shop.releaseOrder(result.value.id, 'support')).toMatchObject({ status: 'expired' });
    expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 2, reserved: 0, sold: 0 });
    await expectVerified(shop);
  });

  it('sells the last key to exactly one of 100 buyers at once', { timeout: 120_000 }, async () => {
    const { shop, product } = await stocked(make, 1);
    const outcomes = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        shop.reserve({ productId: product.id, email: `b${i}@example.com`, quantity: 1, idempotencyKey: `storm-${i}` }),
      ),
    );
    expect(outcomes.filter((o) => o.result.ok)).toHaveLength(1);
    expect(outcomes.filter((o) => !o.result.ok && o.result.error.code === 'sold_out')).toHaveLength(99);
    expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 0, reserved: 1, sold: 0 });
    await expectVerified(shop);
  });

  it('lets refused requests fail alone among neighbours that arrive with them', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 3);
    await shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'taken' });
    // Arriving together, these share one transaction (SQLite's writer, PostgreSQL's batcher).
    const settled = await Promise.allSettled([
      shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'n-1' }),
      shop.reserve({ productId: product.id, ...buyer, quantity: 2, idempotencyKey: 'taken' }),
      shop.reserve({ productId: 'prd_gone', ...buyer, idempotencyKey: 'n-2' }),
      shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'n-3' }),
      shop.reserve({ productId: product.id, ...buyer, idempotencyKey: 'n-1' }).catch((error: unknown) => error),
    ]);
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { replayed: false, result: { ok: true } } });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'idempotency_key_reused' } });
    expect(settled[2]).toMatchObject({ status: 'rejected', reason: { code: 'product_not_found' } });
    expect(settled[3]).toMatchObject({ status: 'fulfilled', value: { result: { ok: true } } });
    // The same key again while its first request is still in flight.
    expect(settled[4]).toMatchObject({ status: 'fulfilled', value: { code: 'idempotency_key_in_flight' } });
    expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 0, reserved: 3, sold: 0 });
    await expectVerified(shop);
  });

  it('answers ids and e-mails holding a NUL as unknown or invalid, never as a failure', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 1);
    expect(await shop.getOrder('ord_\0x')).toBeNull();
    expect(await shop.getOrderWithToken('ord_\0x', 'token')).toBeNull();
    await expect(shop.reserve({ productId: `${product.id}\0`, ...buyer, idempotencyKey: 'nul-1' })).rejects.toMatchObject({
      code: 'product_not_found',
    });
    await expect(
      shop.reserve({ productId: product.id, email: 'a\0b@example.com', quantity: 1, idempotencyKey: 'nul-2' }),
    ).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(
      shop.pay({ orderId: 'ord_\0', amount: 1, currency: 'CNY', eventId: 'ev-\0', source: 'webhook' }),
    ).rejects.toMatchObject({ code: 'validation_failed' });
    expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 1, reserved: 0, sold: 0 });
  });

  it('counts codes it already holds as duplicates and refuses an import with nothing new', { timeout: 60_000 }, async () => {
    const { shop, product } = await stocked(make, 2);
    expect(await shop.addCodes(product.id, ['CODE-00001', 'NEW-1'])).toEqual({ added: 1, duplicates: 1 });
    const refused = await shop.addCodes(product.id, ['CODE-00000']).catch((error: unknown) => error);
    expect(isEngineError(refused) && refused.code).toBe('import_rejected');
    expect((await shop.getProduct(product.id))?.stock).toEqual({ available: 3, reserved: 0, sold: 0 });
    await expectVerified(shop);
  });
});
