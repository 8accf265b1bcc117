/**
 * Several `serve --database postgres://...` processes against one real PostgreSQL are one shop: the
 * incident (100 buyers, one key) over four servers, 10,000 buyers for 1,000 keys, an idempotent retry
 * sent to every server at once, and a server killed with SIGKILL in the middle of a storm. Afterwards
 * the database itself is audited: no key held or delivered twice, counters equal to the rows, one order
 * per 201 answered (orders the killed server committed but never answered are the only extra), and the
 * ledger verifies. The owner's admin API answers from any of the servers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, freshKey, send, startServe, type ServeProcess } from './helpers/http';
import { buyOverHttp, type HttpBuyerOutcome } from './helpers/http-buyer-process';
import { seedPgShop, startPgShops, type PgShops } from './helpers/pg-shop';

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
  const shop = await seedPgShop(pgShops, keys);
  cleanups.push(() => shop.cleanup());
  const processes: ServeProcess[] = await Promise.all(
    Array.from({ length: servers }, () => startServe(shop.dir, ['--database', shop.url], 60_000)),
  );
  cleanups.push(async () => {
    await Promise.all(processes.map((s) => s.stop('SIGKILL')));
  });
  return { ...shop, servers: processes };
}

/** A server killed mid-request cuts its connections: that buyer got no answer (status 0). */
const buy = (urls: readonly string[], productId: string, buyers: number, concurrency: number): Promise<HttpBuyerOutcome[]> =>
  buyOverHttp({ urls, productId, buyers, concurrency, tag: 'buyer' });

const count = (results: readonly { status: number }[], status: number) => results.filter((r) => r.status === status).length;

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
    for (const r of results.filter((x) => x.status === 409)) expect(r.code).toBe('sold_out');
    const audit = await shop.audit();
    expect(audit).toMatchObject({
      orders: 1,
      keysHeld: 1,
      reservedTwice: 0,
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
    expect(audit).toMatchObject({ orders: 1000, keysHeld: 1000, reservedTwice: 0, wrongQuantity: 0, rowStock: 0 });
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

  it(
    'answers the owner from any server: paid by hand on one, seen and reconciled on the others',
    { timeout: 180_000 },
    async () => {
      const shop = await pgShop(3, 2);
      const [first, second] = shop.servers.map((s) => s.url) as [string, string];
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const created = await send(first, '/api/v1/orders', {
        method: 'POST',
        headers: { 'idempotency-key': freshKey() },
        body: { productId: shop.productId, quantity: 1, email: 'owner@example.com' },
      });
      const orderId = (created.json as { order: { id: string } }).order.id;
      const paid = await send(second, `/api/v1/admin/orders/${orderId}/mark-paid`, { method: 'POST', headers: admin });
      expect([paid.status, (paid.json as { order: { status: string } }).order.status]).toEqual([200, 'delivered']);
      const stock = await send(first, `/api/v1/admin/products/${shop.productId}/stock`, { headers: admin });
      expect(stock.json).toEqual({ available: 2, reserved: 0, sold: 1 });
      expect((await send(first, '/api/v1/admin/reconciliation', { headers: admin })).json).toEqual({ findings: [] });
      expect((await send(second, '/api/v1/admin/ledger/verify', { headers: admin })).json).toMatchObject({
        ok: true,
        problems: [],
      });
      expect((await send(second, '/api/v1/admin/reconciliation')).status).toBe(401);
    },
  );

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
    expect(audit).toMatchObject({ reservedTwice: 0, wrongQuantity: 0 });
    expect(audit.keysHeld).toBe(audit.orders);
    expect(audit.stock).toEqual({ available: 300 - audit.orders, reserved: audit.orders, sold: 0 });
    expect(audit.rowStock).toBe(300 - audit.orders);
    expect(audit.ledger.problems).toEqual([]);
  });
});
