/**
 * Payment channels across processes: two `serve` processes of one shop (one --data folder, one SQLite
 * file), as a shop with two front servers runs. A gateway that delivers the same notification to both at
 * the same moment gets `success` from both and the order is delivered once; the two status pollers never
 * ask about the same checkout at once (a query is claimed in a write before it is made).
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeEpayGateway } from './fakes/epay-gateway';
import { ADMIN_TOKEN, freshKey, send, startServe, type ServeProcess } from './helpers/http';
import { openShop } from './helpers/shop';

const KEY = 'fakeMerchantKey0123456789abcdef0';
const PID = '1001';
const ORDERS = 8;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function twoServers(): Promise<{ a: ServeProcess; b: ServeProcess; productId: string; gateway: FakeEpayGateway }> {
  const shop = await openShop({ keys: ORDERS });
  const { productId, dir } = shop;
  await shop.engine.close();
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const gateway = await new FakeEpayGateway({ pid: PID, key: KEY }).start();
  cleanups.push(() => gateway.close());
  const a = await startServe(dir);
  cleanups.push(() => a.stop());
  const b = await startServe(dir);
  cleanups.push(() => b.stop());
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const put = await send(a.url, '/api/v1/admin/payment-channels/epay', {
    method: 'PUT',
    headers: admin,
    body: { gateway: gateway.url, pid: PID, key: KEY },
  });
  expect(put.status).toBe(200);
  return { a, b, productId, gateway };
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

describe('payment channels with two serve processes of one shop', () => {
  it('delivers once when the same notification reaches both servers at the same moment', async () => {
    const { a, b, productId, gateway } = await twoServers();
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
      const view = await send(b.url, `/api/v1/orders/${order.id}`, { headers: { authorization: `Bearer ${order.token}` } });
      const body = view.json as { order: { status: string; codes: string[] } };
      expect(body.order.status).toBe('delivered');
      expect(body.order.codes).toHaveLength(1);
    }
    const codes = await Promise.all(
      orders.map(async (order) => {
        const view = await send(a.url, `/api/v1/orders/${order.id}`, { headers: { authorization: `Bearer ${order.token}` } });
        return (view.json as { order: { codes: string[] } }).order.codes[0];
      }),
    );
    expect(new Set(codes).size).toBe(ORDERS);
    const findings = await send(a.url, '/api/v1/admin/reconciliation', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect((findings.json as { findings: unknown[] }).findings).toEqual([]);
  }, 120_000);

  it('never queries one checkout from both servers at once', async () => {
    const { a, b, productId, gateway } = await twoServers();
    const orders = [];
    for (let i = 0; i < 4; i++) orders.push(await reserveAndCheckout(i % 2 === 0 ? a : b, productId));
    // The default schedule asks 3 s after the checkout, then 5 s later: wait for the first round.
    const deadline = Date.now() + 30_000;
    while (new Set(gateway.queries).size < orders.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(new Set(gateway.queries).size).toBe(orders.length);
    await new Promise((r) => setTimeout(r, 1500));
    for (const order of orders) {
      const times = gateway.queryTimes.filter((q) => q.outTradeNo === order.id).map((q) => q.at);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThan(1000);
    }
  }, 120_000);
});
