/**
 * Several `serve --database postgres://...` processes against one real PostgreSQL are one shop: the
 * incident (100 buyers, one key) over four servers, 10,000 buyers for 1,000 keys, an idempotent retry
 * sent to every server at once, and a server killed with SIGKILL in the middle of a storm. Afterwards
 * the database itself is audited: no key held or delivered twice, counters equal to the rows, one order
 * per 201 answered (orders the killed server committed but never answered are the only extra), and the
 * ledger verifies.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { freshKey, pool, send, startServe, type HttpResponse, type ServeProcess } from './helpers/http';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';

let pgShops: PgShops;
beforeAll(async () => {
  pgShops = await startPgShops();
}, 120_000);
afterAll(async () => pgShops?.stop(), 60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A PostgreSQL shop with one product of `keys` codes, and `servers` serve processes on it. */
async function pgShop(keys: number, servers: number) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const url = await pgShops.freshUrl();
  const seed = await PgShop.open({ url, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
  const product = await seed.createProduct({ name: 'Last keys', price: { amount: 5000, currency: 'CNY' } });
  for (let from = 0; from < keys; from += 5000) {
    await seed.addCodes(
      product.id,
      Array.from({ length: Math.min(5000, keys - from) }, (_, i) => `PG-${from + i}`),
    );
  }
  await seed.close();
  const processes: ServeProcess[] = await Promise.all(
    Array.from({ length: servers }, () => startServe(dir, ['--database', url], 60_000)),
  );
  cleanups.push(async () => {
    await Promise.all(processes.map((s) => s.stop('SIGKILL')));
  });
  const audit = async () => {
    const shop = await PgShop.open({ url, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
    try {
      const q = async (sql: string) => Number((await shop.pool.query<{ n: number }>(sql)).rows[0]?.n);
      return {
        orders: await q('SELECT count(*) AS n FROM orders'),
        heldTwice: await q(
          `SELECT count(*) AS n FROM (SELECT order_id FROM keys WHERE status = 'reserved' GROUP BY id, order_id HAVING count(*) > 1) t`,
        ),
        keysHeld: await q(`SELECT count(*) AS n FROM keys WHERE status = 'reserved'`),
        wrongQuantity: await q(
          `SELECT count(*) AS n FROM orders o WHERE o.status = 'reserved' AND (SELECT count(*) FROM keys k WHERE k.order_id = o.id AND k.status = 'reserved') <> o.quantity`,
        ),
        stock: (await shop.getProduct(product.id))!.stock,
        rowStock: await q(`SELECT count(*) AS n FROM keys WHERE status = 'available'`),
        ledger: await shop.verifyLedger(),
      };
    } finally {
      await shop.close();
    }
  };
  return { url, dir, productId: product.id, servers: processes, audit };
}

function buy(urls: readonly string[], productId: string, buyers: number, concurrency: number): Promise<HttpResponse[]> {
  return pool(
    Array.from({ length: buyers }, (_, i) => i),
    concurrency,
    (i) =>
      send(urls[i % urls.length]!, '/api/v1/orders', {
        method: 'POST',
        headers: { 'idempotency-key': freshKey() },
        body: { productId, quantity: 1, email: `buyer${i}@example.com` },
        // A server killed mid-request cuts its connections: that buyer got no answer (status 0).
      }).catch((): HttpResponse => ({ status: 0, headers: {}, text: '', json: undefined })),
  );
}

const count = (results: readonly HttpResponse[], status: number) => results.filter((r) => r.status === status).length;

describe('serve --database: several servers, one PostgreSQL, one shop', () => {
  it('sells the last key once to 100 buyers spread over four servers', { timeout: 180_000 }, async () => {
    const shop = await pgShop(1, 4);
    const results = await buy(
      shop.servers.map((s) => s.url),
      shop.productId,
      100,
      100,
    );
    expect(count(results, 201)).toBe(1);
    expect(count(results, 409)).toBe(99);
    for (const r of results.filter((x) => x.status === 409)) expect((r.json as { code: string }).code).toBe('sold_out');
    const audit = await shop.audit();
    expect(audit).toMatchObject({
      orders: 1,
      keysHeld: 1,
      heldTwice: 0,
      wrongQuantity: 0,
      stock: { available: 0, reserved: 1, sold: 0 },
    });
    expect(audit.ledger.problems).toEqual([]);
  });

  it('sells 1,000 keys to exactly 1,000 of 10,000 buyers over four servers', { timeout: 300_000 }, async () => {
    const shop = await pgShop(1000, 4);
    const results = await buy(
      shop.servers.map((s) => s.url),
      shop.productId,
      10_000,
      64,
    );
    expect(count(results, 201)).toBe(1000);
    expect(count(results, 409)).toBe(9000);
    const audit = await shop.audit();
    expect(audit).toMatchObject({ orders: 1000, keysHeld: 1000, heldTwice: 0, wrongQuantity: 0, rowStock: 0 });
    expect(audit.stock).toEqual({ available: 0, reserved: 1000, sold: 0 });
    expect(audit.ledger.problems).toEqual([]);
  });

  it('answers one idempotency key sent to every server at once with one order', { timeout: 180_000 }, async () => {
    const shop = await pgShop(5, 4);
    const key = freshKey();
    const results = await Promise.all(
      shop.servers.map((server) =>
        send(server.url, '/api/v1/orders', {
          method: 'POST',
          headers: { 'idempotency-key': key },
          body: { productId: shop.productId, quantity: 1, email: 'retry@example.com' },
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const ids = new Set(results.map((r) => (r.json as { order: { id: string } }).order.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(3);
    expect((await shop.audit()).orders).toBe(1);
  });

  it('stays one shop when a server is killed with SIGKILL in the middle of a storm', { timeout: 300_000 }, async () => {
    const shop = await pgShop(300, 3);
    const urls = shop.servers.map((s) => s.url);
    const storm = buy(urls, shop.productId, 1500, 48);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await shop.servers[0]!.stop('SIGKILL');
    const results = await storm;
    const created = count(results, 201);
    const lost = results.filter((r) => r.status !== 201 && r.status !== 409).length;
    expect(created).toBeGreaterThan(0);
    // The kill cut requests off (or refused the ones sent after it): some buyers got no answer.
    expect(results.filter((r) => r.status === 0).length).toBeGreaterThan(0);
    const audit = await shop.audit();
    // Every order answered exists; the only extra ones are those the killed server committed unanswered.
    expect(audit.orders).toBeGreaterThanOrEqual(created);
    expect(audit.orders).toBeLessThanOrEqual(created + lost);
    expect(audit).toMatchObject({ heldTwice: 0, wrongQuantity: 0 });
    expect(audit.keysHeld).toBe(audit.orders);
    expect(audit.stock).toEqual({ available: 300 - audit.orders, reserved: audit.orders, sold: 0 });
    expect(audit.rowStock).toBe(300 - audit.orders);
    expect(audit.ledger.problems).toEqual([]);
  });
});
