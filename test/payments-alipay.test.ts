/**
 * The Alipay channel end to end over real sockets, through Alipay's own SDK (alipay-sdk), on both
 * backends (the SQLite file and a real PostgreSQL; the same requests get the same answers and leave the
 * same rows): a shop on 127.0.0.1, the fake Alipay gateway of test/fakes (written from Alipay's
 * published protocol), 当面付 (a QR code) and 电脑网站支付 (a redirect), the signed notification,
 * the query that finds a payment whose notification was lost, every way a notification can be wrong,
 * and a refund at the gateway.
 *
 * The keys are made here (RSA 2048): Alipay publishes its signing rules, not a key pair with signed
 * examples, so every vector in this file is ours.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AlipayChannel, beijingTime } from '../src-main/payments/alipay';
import { FakeAlipayGateway } from './fakes/alipay-gateway';
import {
  BACKEND_NAMES,
  startBackendShop,
  stopBackendServers,
  type BackendName,
  type BackendShop,
  type BackendShopOptions,
} from './helpers/backend-shop';
import { FAST_SCHEDULE, rsaPair, until } from './helpers/payments';
import type { HttpResponse } from './helpers/http';

const APP_ID = '2021000122671080';

const APP = rsaPair();
const PLATFORM = rsaPair();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(() => stopBackendServers(), 60_000);

async function gateway(): Promise<FakeAlipayGateway> {
  const g = await new FakeAlipayGateway({
    appId: APP_ID,
    appPublicKey: APP.publicKey,
    platformPrivateKey: PLATFORM.privateKey,
  }).start();
  cleanups.push(() => g.close());
  return g;
}

async function shop(backend: BackendName, options: BackendShopOptions = {}): Promise<BackendShop> {
  const s = await startBackendShop(backend, { keys: 3, price: 3000, ...options });
  cleanups.push(() => s.close());
  return s;
}

/** The settings as an owner pastes them: the app private key as its bare base64 body (Alipay's key tool). */
function settings(g: FakeAlipayGateway, extra: Record<string, unknown> = {}) {
  const body = APP.privateKey.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  return { appId: APP_ID, privateKey: body, alipayPublicKey: PLATFORM.publicKey, gateway: g.gateway, ...extra };
}

const configure = (s: BackendShop, body: Record<string, unknown>): Promise<HttpResponse> =>
  s.admin('/api/v1/admin/payment-channels/alipay', { method: 'PUT', body });

async function reserve(s: BackendShop): Promise<{ id: string; token: string }> {
  const res = await s.order();
  expect(res.status).toBe(201);
  const order = (res.json as { order: { id: string; accessToken: string } }).order;
  return { id: order.id, token: order.accessToken };
}

const checkout = (s: BackendShop, order: { id: string; token: string }, method: string) =>
  s.send(`/api/v1/orders/${order.id}/checkout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${order.token}` },
    body: { channel: 'alipay', method },
  });

const statusOf = async (s: BackendShop, order: { id: string; token: string }): Promise<string> =>
  (
    (await s.send(`/api/v1/orders/${order.id}`, { headers: { authorization: `Bearer ${order.token}` } })).json as {
      order: { status: string };
    }
  ).order.status;

describe('the Alipay channel', () => {
  it('checks its keys without the network, and catches the app key pasted as the Alipay key', () => {
    const deps = { fetch, clock: Date.now, timeoutMs: 1000 };
    const good = new AlipayChannel(
      {
        appId: APP_ID,
        privateKey: APP.privateKey,
        alipayPublicKey: PLATFORM.publicKey,
        gateway: 'http://127.0.0.1:1/gateway.do',
        methods: ['precreate'],
      },
      deps,
    );
    expect(good.selfCheck().ok).toBe(true);
    const swapped = new AlipayChannel(
      {
        appId: APP_ID,
        privateKey: APP.privateKey,
        alipayPublicKey: APP.publicKey,
        gateway: 'http://127.0.0.1:1/gateway.do',
        methods: ['precreate'],
      },
      deps,
    );
    const report = swapped.selfCheck();
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => !c.ok)?.detail).toContain('支付宝公钥');
    expect(beijingTime(Date.UTC(2026, 11, 5, 16, 30, 0))).toBe('2026-12-06 00:30:00');
  });
});

describe.each(BACKEND_NAMES)('the Alipay channel over real sockets, on %s', (backend) => {
  it('当面付: reserve → a QR code from the gateway → the signed notification delivers the code; a replay changes nothing', async () => {
    const g = await gateway();
    const s = await shop(backend);
    const put = await configure(s, settings(g));
    expect(put.status).toBe(200);
    expect(put.text).not.toContain(APP.privateKey.slice(40, 80));
    const order = await reserve(s);

    const res = await checkout(s, order, 'precreate');
    expect(res.status).toBe(200);
    const made = (res.json as { checkout: { qrCode: string } }).checkout;
    expect(made).toMatchObject({ channel: 'alipay', method: 'precreate', amount: 3000, currency: 'CNY' });
    expect(made.qrCode).toMatch(/^https:\/\/qr\.alipay\.com\//);
    expect(g.refused).toEqual([]);
    expect(g.calls[0]).toMatchObject({
      method: 'alipay.trade.precreate',
      biz: { out_trade_no: order.id, total_amount: '30.00' },
    });
    expect(g.trades.get(order.id)?.notifyUrl).toBe(`${s.url}/api/v1/payments/alipay/notify`);

    const trade = await g.pay(order.id);
    expect(g.notifications.map((n) => [n.status, n.body])).toEqual([[200, 'success']]);
    expect(await statusOf(s, order)).toBe('delivered');
    // The same notification again (Alipay retries until it reads `success`): one delivery.
    expect((await g.notify(trade, g.notifications[0]!.params)).body).toBe('success');
    expect(await s.count(`SELECT count(*) FROM payments WHERE source = 'alipay' AND trade_no = ?`, trade.tradeNo)).toBe(1);
    expect(await s.count(`SELECT count(*) FROM deliveries WHERE order_id = ?`, order.id)).toBe(1);
  });

  it('电脑网站支付: a signed redirect to the gateway, paid there, back through the return URL', async () => {
    const g = await gateway();
    const s = await shop(backend);
    expect((await configure(s, settings(g))).status).toBe(200);
    const order = await reserve(s);
    const made = ((await checkout(s, order, 'page')).json as { checkout: { redirectUrl: string } }).checkout;
    const redirect = new URL(made.redirectUrl);
    expect(`${redirect.origin}${redirect.pathname}`).toBe(g.gateway);
    expect(redirect.searchParams.get('method')).toBe('alipay.trade.page.pay');
    expect(JSON.parse(redirect.searchParams.get('biz_content')!)).toMatchObject({
      out_trade_no: order.id,
      total_amount: '30.00',
      product_code: 'FAST_INSTANT_TRADE_PAY',
    });
    const page = await fetch(made.redirectUrl);
    expect(page.status).toBe(200);
    expect(g.refused).toEqual([]);
    const back = await fetch(`${g.url}/pay`, {
      method: 'POST',
      body: new URLSearchParams({ out_trade_no: order.id }),
      redirect: 'manual',
    });
    expect(back.headers.get('location')).toContain(`/api/v1/payments/alipay/return/${order.id}`);
    expect(await statusOf(s, order)).toBe('delivered');
  });

  it('finds a payment whose notification was lost by querying the gateway', async () => {
    const g = await gateway();
    const s = await shop(backend, { payments: { schedule: FAST_SCHEDULE, tickMs: 50 }, poll: true });
    expect((await configure(s, settings(g))).status).toBe(200);
    const order = await reserve(s);
    expect((await checkout(s, order, 'precreate')).status).toBe(200);
    await g.pay(order.id, { notify: false });
    await until(async () => (await statusOf(s, order)) === 'delivered');
    expect(g.calls.some((c) => c.method === 'alipay.trade.query')).toBe(true);
    expect(await s.count(`SELECT count(*) FROM payments WHERE source = 'alipay' AND via = 'query'`)).toBe(1);
  });

  it('refuses forged notifications with `fail` and changes nothing; a wrong amount goes to review', async () => {
    const g = await gateway();
    const s = await shop(backend);
    expect((await configure(s, settings(g))).status).toBe(200);
    const order = await reserve(s);
    expect((await checkout(s, order, 'precreate')).status).toBe(200);
    const trade = g.trades.get(order.id)!;
    trade.status = 'TRADE_SUCCESS';

    const good = g.notificationParams(trade);
    const forged = [
      { ...good, sign: good.sign!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) },
      { ...good, total_amount: '0.01' },
      g.notificationParams(trade, { app_id: '2021000000000000' }),
      { ...good, sign: '' },
    ];
    for (const params of forged) {
      const sent = await g.notify(trade, params);
      expect([sent.status, sent.body]).toEqual([400, 'fail']);
    }
    expect(await statusOf(s, order)).toBe('reserved');
    expect(await s.count(`SELECT count(*) FROM payments`)).toBe(0);

    // Correctly signed, but not the order's amount.
    const wrong = await g.notify(trade, g.notificationParams(trade, { total_amount: '0.01' }));
    expect(wrong.body).toBe('success');
    expect(await statusOf(s, order)).toBe('needs_review');
    expect((await s.shop.getOrder(order.id))?.reviewReason).toBe('amount_mismatch');
  });

  it('refunds at the gateway, signed, then refunds the order', async () => {
    const g = await gateway();
    const s = await shop(backend);
    expect((await configure(s, settings(g))).status).toBe(200);
    const order = await reserve(s);
    expect((await checkout(s, order, 'precreate')).status).toBe(200);
    await g.pay(order.id);
    const refunded = await s.shop.payments.refund({ orderId: order.id, keys: 'burn', reason: 'buyer asked', actor: 'test' });
    expect(refunded.status).toBe('refunded');
    expect(g.calls.at(-1)).toMatchObject({
      method: 'alipay.trade.refund',
      biz: { out_trade_no: order.id, refund_amount: '30.00' },
    });
    expect(g.trades.get(order.id)?.status).toBe('TRADE_CLOSED');
    expect(g.refused).toEqual([]);
  });
});
