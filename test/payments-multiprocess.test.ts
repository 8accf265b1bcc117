/**
 * Payment channels across processes, on both backends: two `serve` processes of one shop, as a shop with
 * two front servers runs. On SQLite they share one --data folder (one SQLite file); on PostgreSQL both
 * run `serve --data <dir> --database <url>` against one real PostgreSQL (a fresh schema per shop). The
 * same scenarios run on each:
 * - a gateway that delivers the same signed notification to both servers at the same moment gets
 *   `success` from both and every order is delivered once (distinct codes, reconciliation clean); the
 *   database itself then shows one payments row, one delivery and one `payment.applied` audit row per
 *   order;
 * - the two status pollers never ask about the same checkout at once (a query is claimed in a write
 *   before it is made);
 * - a lost notification (the gateway never tells the shop) is found by one server's poller querying the
 *   gateway, and the order shows `delivered` on both servers, paid once, via the query.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeEpayGateway } from './fakes/epay-gateway';
import { ADMIN_TOKEN, freshKey, send, startServe, type ServeProcess } from './helpers/http';
import { seedPgShop, startPgShops, type PgShops } from './helpers/pg-shop';
import { openShop } from './helpers/shop';

const KEY = 'fakeMerchantKey0123456789abcdef0';
const PID = '1001';
const ORDERS = 8;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Per order: its status and how many payments rows, deliveries and `payment.applied` audit rows it has. */
const PER_ORDER = `SELECT o.id, o.status,
    CAST((SELECT count(*) FROM payments p WHERE p.order_id = o.id) AS INTEGER) AS payments,
    CAST((SELECT count(*) FROM deliveries d WHERE d.order_id = o.id) AS INTEGER) AS deliveries,
    CAST((SELECT count(*) FROM audit a WHERE a.subject = o.id AND a.action = 'payment.applied') AS INTEGER) AS applied
  FROM orders o ORDER BY o.id`;

interface Servers {
  a: ServeProcess;
  b: ServeProcess;
  productId: string;
  gateway: FakeEpayGateway;
  /** Runs one read on the shop's own database (SQLite file read-only, or the PostgreSQL schema). */
  rows: (sql: string) => Promise<Record<string, unknown>[]>;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function orderView(server: ServeProcess, order: { id: string; token: string }) {
  const view = await send(server.url, `/api/v1/orders/${order.id}`, { headers: { authorization: `Bearer ${order.token}` } });
  expect(view.status).toBe(200);
  return (view.json as { order: { status: string; codes: string[] } }).order;
}

async function reserveAndCheckout(server: ServeProcess, productId: string): Promise<{ id: string; token: string }> {
  const created = await send(server.url, '/api/v1/orders', {
    method: 'POST',
    headers: { 'idempotency-key': freshKey() },
    body: { productId, quantity: 1, email: 'buyer@example.com' },
  });
  expect(created.status).toBe(201);
  const { id, accessToken } = (created.json as { order: { id: string; accessToken: string } }).order;
  const made = await send(server.url, `/api/v1/orders/${id}/checkout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}` },
    body: { channel: 'epay' },
  });
  expect(made.status).toBe(200);
  // The buyer opens the gateway's page: the gateway learns of the order.
  expect((await fetch((made.json as { checkout: { redirectUrl: string } }).checkout.redirectUrl)).status).toBe(200);
  return { id, token: accessToken };
}

describe.each(['SQLite', 'PostgreSQL'] as const)('payment channels with two serve processes of one shop on %s', (backend) => {
  let pgShops: PgShops | undefined;
  beforeAll(async () => {
    if (backend === 'PostgreSQL') pgShops = await startPgShops();
  }, 120_000);
  afterAll(async () => pgShops?.stop(), 60_000);

  /** A shop of `keys` codes: its --data folder, the extra serve arguments, and a read on its database. */
  async function shopOf(keys: number) {
    if (backend === 'SQLite') {
      const shop = await openShop({ keys });
      await shop.engine.close();
      cleanups.push(() => rmSync(shop.dir, { recursive: true, force: true }));
      const rows = async (sql: string) => {
        const db = new Database(join(shop.dir, 'shop.db'), { readonly: true });
        try {
          return db.prepare(sql).all() as Record<string, unknown>[];
        } finally {
          db.close();
        }
      };
      return { dir: shop.dir, productId: shop.productId, args: [] as string[], rows };
    }
    const shop = await seedPgShop(pgShops!, keys);
    cleanups.push(() => shop.cleanup());
    const rows = async (sql: string) => {
      const client = new pg.Client({ connectionString: shop.url });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query<Record<string, unknown>>(sql)).rows;
      } finally {
        await client.end();
      }
    };
    return { dir: shop.dir, productId: shop.productId, args: ['--database', shop.url], rows };
  }

  async function twoServers(keys: number): Promise<Servers> {
    const { dir, productId, args, rows } = await shopOf(keys);
    const gateway = await new FakeEpayGateway({ pid: PID, key: KEY }).start();
    cleanups.push(() => gateway.close());
    const a = await startServe(dir, args, 60_000);
    cleanups.push(() => a.stop());
    const b = await startServe(dir, args, 60_000);
    cleanups.push(() => b.stop());
    const put = await send(a.url, '/api/v1/admin/payment-channels/epay', {
      method: 'PUT',
      headers: admin,
      body: { gateway: gateway.url, pid: PID, key: KEY },
    });
    expect(put.status).toBe(200);
    return { a, b, productId, gateway, rows };
  }

  it('delivers once when the same notification reaches both servers at the same moment', async () => {
    const { a, b, productId, gateway, rows } = await twoServers(ORDERS);
    const orders = [];
    for (let i = 0; i < ORDERS; i++) orders.push(await reserveAndCheckout(i % 2 === 0 ? a : b, productId));

    for (const order of orders) {
      const paid = await gateway.pay(order.id, { notify: false });
      const params = gateway.notificationParams(paid);
      const answers = await Promise.all([
        gateway.notify(paid, params, 'GET', `${a.url}/api/v1/payments/epay/notify`),
        gateway.notify(paid, params, 'POST', `${b.url}/api/v1/payments/epay/notify`),
      ]);
      expect(answers.map((n) => [n.status, n.body])).toEqual([
        [200, 'success'],
        [200, 'success'],
      ]);
    }

    for (const order of orders) {
      const view = await orderView(b, order);
      expect(view.status).toBe('delivered');
      expect(view.codes).toHaveLength(1);
    }
    const codes = await Promise.all(orders.map(async (order) => (await orderView(a, order)).codes[0]));
    expect(new Set(codes).size).toBe(ORDERS);
    const findings = await send(a.url, '/api/v1/admin/reconciliation', { headers: admin });
    expect(findings.status).toBe(200);
    expect((findings.json as { findings: unknown[] }).findings).toEqual([]);

    // The database itself: one payment, one delivery and one `payment.applied` per order, nothing more.
    const perOrder = await rows(PER_ORDER);
    expect(perOrder.map((r) => r.id).sort()).toEqual(orders.map((o) => o.id).sort());
    for (const row of perOrder) expect(row).toMatchObject({ status: 'delivered', payments: 1, deliveries: 1, applied: 1 });
  }, 120_000);

  it('never queries one checkout from both servers at once', async () => {
    const { a, b, productId, gateway } = await twoServers(ORDERS);
    const orders = [];
    for (let i = 0; i < 4; i++) orders.push(await reserveAndCheckout(i % 2 === 0 ? a : b, productId));
    // The default schedule asks 3 s after the checkout, then 5 s later: wait for the first round.
    const deadline = Date.now() + 30_000;
    while (new Set(gateway.queries).size < orders.length && Date.now() < deadline) await sleep(100);
    expect(new Set(gateway.queries).size).toBe(orders.length);
    await sleep(1500);
    for (const order of orders) {
      const times = gateway.queryTimes.filter((q) => q.outTradeNo === order.id).map((q) => q.at);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThan(1000);
    }
  }, 120_000);

  it('finds a lost notification by query on one server, and both servers show the order delivered', async () => {
    const { a, b, productId, gateway, rows } = await twoServers(2);
    const order = await reserveAndCheckout(a, productId);
    await gateway.pay(order.id, { notify: false });
    // The first scheduled query comes 3 s after the checkout; a few rounds at most.
    const deadline = Date.now() + 30_000;
    while ((await orderView(b, order)).status !== 'delivered' && Date.now() < deadline) await sleep(200);
    for (const server of [a, b]) {
      const view = await orderView(server, order);
      expect(view.status).toBe('delivered');
      expect(view.codes).toHaveLength(1);
    }
    expect(gateway.notifications).toEqual([]);
    expect(gateway.queries).toContain(order.id);
    const perOrder = await rows(PER_ORDER);
    expect(perOrder).toEqual([{ id: order.id, status: 'delivered', payments: 1, deliveries: 1, applied: 1 }]);
    expect(await rows(`SELECT source, via, outcome FROM payments`)).toEqual([
      { source: 'epay', via: 'query', outcome: 'delivered' },
    ]);
    const findings = await send(b.url, '/api/v1/admin/reconciliation', { headers: admin });
    expect((findings.json as { findings: unknown[] }).findings).toEqual([]);
  }, 120_000);
});
