/**
 * The incident, over HTTP: a hundred buyers press "buy" at once for the last key. Exactly one gets
 * 201, the others 409 sold_out, against one server and against two `serve` processes sharing one
 * data folder (one SQLite file), and the database agrees afterwards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src-main/engine/engine';
import { countStock } from '../src-main/engine/products';
import { freshKey, pool, send, startServe, startShop, type HttpResponse, type ServeProcess } from './helpers/http';
import { seedKeys, tempDir } from './helpers/shop';

const BUYERS = 100;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function buyAll(urls: readonly string[], productId: string): Promise<HttpResponse[]> {
  return pool(
    Array.from({ length: BUYERS }, (_, i) => i),
    BUYERS,
    (i) =>
      send(urls[i % urls.length]!, '/api/v1/orders', {
        method: 'POST',
        headers: { 'idempotency-key': freshKey() },
        body: { productId, quantity: 1, email: `buyer${i}@example.com` },
      }),
  );
}

function expectOneSale(results: readonly HttpResponse[]): void {
  const statuses = results.map((r) => r.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(1);
  expect(statuses.filter((s) => s === 409)).toHaveLength(BUYERS - 1);
  for (const r of results.filter((x) => x.status === 409)) expect((r.json as { code: string }).code).toBe('sold_out');
}

function expectDatabaseAgrees(engine: Engine, productId: string): void {
  const orders = engine.db.prepare('SELECT count(*) FROM orders WHERE product_id = ?').pluck().get(productId);
  expect(orders).toBe(1);
  const held = engine.db
    .prepare(`SELECT count(*) FROM keys WHERE product_no = (SELECT no FROM products WHERE id = ?) AND order_id IS NOT NULL`)
    .pluck()
    .get(productId);
  expect(held).toBe(1);
  expect(engine.getProduct(productId)?.stock).toEqual({ available: 0, reserved: 1, sold: 0 });
  expect(countStock(engine.db, productId)).toEqual({ available: 0, reserved: 1, sold: 0 });
  expect(engine.verifyLedger().ok).toBe(true);
}

describe('a hundred buyers, one key, over HTTP', () => {
  it('sells it once through one server', async () => {
    const shop = await startShop({ keys: 1 });
    cleanups.push(() => shop.close());
    const results = await buyAll([shop.url], shop.productId);
    expectOneSale(results);
    expectDatabaseAgrees(shop.engine, shop.productId);
  });

  it('sells it once through two serve processes on the same data folder', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const seed = Engine.open({ dataDir: dir });
    const product = await seed.createProduct({ name: 'Last key', price: { amount: 5000, currency: 'CNY' } });
    seedKeys(seed.db, seed.vault, product.id, ['THE-ONLY-KEY']);
    await seed.close();

    const servers: ServeProcess[] = await Promise.all([startServe(dir), startServe(dir)]);
    cleanups.push(async () => {
      await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    });
    expect(new Set(servers.map((s) => s.url)).size).toBe(2);

    const results = await buyAll(
      servers.map((s) => s.url),
      product.id,
    );
    expectOneSale(results);
    const codes = await Promise.all(servers.map((s) => s.stop('SIGTERM')));
    expect(codes).toEqual([0, 0]);

    const after = Engine.open({ dataDir: dir });
    try {
      expectDatabaseAgrees(after, product.id);
    } finally {
      await after.close();
    }
  }, 60_000);
});
