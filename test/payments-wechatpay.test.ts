/**
 * The WeChat Pay (API v3, Native) channel end to end over real sockets, on both backends (the SQLite
 * file and a real PostgreSQL; the same requests get the same answers and leave the same rows): a shop
 * on 127.0.0.1 and the fake WeChat Pay of test/fakes (written from WeChat Pay's published v3
 * documentation): signed requests, the `code_url` QR code, the signed and encrypted notification
 * (answered 204), the query that finds a payment whose notification was lost, forged, stale, replayed
 * and wrong-amount notifications, a refund.
 *
 * Vectors: the message a request signature covers is checked against the example WeChat Pay's
 * documentation prints (签名生成: `GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n`);
 * the keys, signatures and ciphertexts are ours (the documentation publishes no private key).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { beijingRfc3339, WechatpayChannel, wechatRequestMessage } from '../src-main/payments/wechatpay';
import { FakeWechatpayGateway } from './fakes/wechatpay-gateway';
import {
  BACKEND_NAMES,
  startBackendShop,
  stopBackendServers,
  type BackendName,
  type BackendShop,
  type BackendShopOptions,
} from './helpers/backend-shop';
import { FAST_SCHEDULE, rsaPair, until } from './helpers/payments';

const MCHID = '1900000109';
const APPID = 'wxd678efh567hg6787';
const SERIAL = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
const PLATFORM_ID = 'PUB_KEY_ID_0119000001092026120600000001';
const API_V3_KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';

const MERCHANT = rsaPair();
const PLATFORM = rsaPair();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(() => stopBackendServers(), 60_000);

async function gateway(): Promise<FakeWechatpayGateway> {
  const g = await new FakeWechatpayGateway({
    mchid: MCHID,
    appid: APPID,
    merchantPublicKey: MERCHANT.publicKey,
    platformPrivateKey: PLATFORM.privateKey,
    platformSerial: PLATFORM_ID,
    apiV3Key: API_V3_KEY,
  }).start();
  cleanups.push(() => g.close());
  return g;
}

const settings = (g: FakeWechatpayGateway) => ({
  mchid: MCHID,
  appid: APPID,
  serialNo: SERIAL,
  privateKey: MERCHANT.privateKey,
  apiV3Key: API_V3_KEY,
  platformPublicKey: PLATFORM.publicKey,
  platformPublicKeyId: PLATFORM_ID,
  gateway: g.url,
});

async function ready(backend: BackendName, options: BackendShopOptions = {}) {
  const g = await gateway();
  const s = await startBackendShop(backend, { keys: 3, price: 3000, ...options });
  cleanups.push(() => s.close());
  const put = await s.admin('/api/v1/admin/payment-channels/wechatpay', { method: 'PUT', body: settings(g) });
  expect(put.status).toBe(200);
  expect(put.text).not.toContain(API_V3_KEY);
  const res = await s.order();
  const order = (res.json as { order: { id: string; accessToken: string } }).order;
  const made = await s.send(`/api/v1/orders/${order.id}/checkout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${order.accessToken}` },
    body: { channel: 'wechatpay' },
  });
  expect(made.status).toBe(200);
  return { g, s, order, checkout: (made.json as { checkout: { qrCode: string; method: string; amount: number } }).checkout };
}

const statusOf = async (s: BackendShop, id: string): Promise<string | undefined> => (await s.shop.getOrder(id))?.status;

describe('the WeChat Pay channel', () => {
  it("builds the signed message exactly as WeChat Pay's documentation prints it, and checks its keys offline", () => {
    expect(wechatRequestMessage('GET', '/v3/certificates', '1554208460', '593BEC0C930BF1AFEB40B4A08C8FB242', '')).toBe(
      'GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n',
    );
    expect(beijingRfc3339(Date.UTC(2026, 11, 5, 16, 30, 0))).toBe('2026-12-06T00:30:00+08:00');
    const deps = { fetch, clock: Date.now, timeoutMs: 1000 };
    const base = { ...settings({ url: 'http://127.0.0.1:1' } as FakeWechatpayGateway), methods: ['native' as const] };
    expect(new WechatpayChannel(base, deps).selfCheck().ok).toBe(true);
    const swapped = new WechatpayChannel({ ...base, platformPublicKey: MERCHANT.publicKey }, deps).selfCheck();
    expect(swapped.ok).toBe(false);
    expect(swapped.checks.find((c) => !c.ok)?.detail).toContain('微信支付公钥');
  });
});

describe.each(BACKEND_NAMES)('the WeChat Pay channel over real sockets, on %s', (backend) => {
  it('Native: a code_url QR code, the encrypted notification delivers the code (204), a replay changes nothing', async () => {
    const { g, s, order, checkout } = await ready(backend);
    expect(checkout).toMatchObject({ method: 'native', amount: 3000 });
    expect(checkout.qrCode).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    expect(g.refused).toEqual([]);
    expect(g.calls[0]?.body).toMatchObject({
      appid: APPID,
      mchid: MCHID,
      out_trade_no: order.id,
      amount: { total: 3000, currency: 'CNY' },
    });
    expect(String(g.calls[0]?.body.time_expire)).toMatch(/\+08:00$/);

    const tx = await g.pay(order.id);
    expect(g.notifications.map((n) => n.status)).toEqual([204]);
    expect(await statusOf(s, order.id)).toBe('delivered');
    const again = await g.notify(tx, g.notifications[0]!.body, g.notifications[0]!.headers);
    expect(again.status).toBe(204);
    expect(await s.count(`SELECT count(*) FROM payments WHERE source = 'wechatpay' AND trade_no = ?`, tx.transactionId)).toBe(1);
    expect(await s.count(`SELECT count(*) FROM deliveries WHERE order_id = ?`, order.id)).toBe(1);
  });

  it('finds a payment whose notification was lost by querying, its answer verified', async () => {
    const { g, s, order } = await ready(backend, { payments: { schedule: FAST_SCHEDULE, tickMs: 50 }, poll: true });
    await g.pay(order.id, { notify: false });
    await until(async () => (await statusOf(s, order.id)) === 'delivered');
    expect(g.calls.some((c) => c.method === 'GET' && c.path.startsWith('/v3/pay/transactions/out-trade-no/'))).toBe(true);
    expect(await s.count(`SELECT count(*) FROM payments WHERE source = 'wechatpay' AND via = 'query'`)).toBe(1);
  });

  it('refuses forged, stale, wrongly keyed and foreign notifications; a signed wrong amount goes to review', async () => {
    const { g, s, order } = await ready(backend);
    const tx = g.transactions.get(order.id)!;
    tx.state = 'SUCCESS';
    const body = g.notificationBody(tx);
    const headers = g.signedHeaders(body);
    const refusals = [
      [body.replace('"summary":"支付成功"', '"summary":"x"'), headers], // the body changed after signing
      [
        body,
        { ...headers, 'wechatpay-signature': headers['wechatpay-signature']!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) },
      ],
      [body, g.signedHeaders(body, Math.floor(Date.now() / 1000) - 301)], // outside the 300 s window
      [body, { ...headers, 'wechatpay-serial': 'PUB_KEY_ID_SOMEONE_ELSE' }],
      [g.notificationBody(tx, {}, 'z'.repeat(32)), undefined], // encrypted under another APIv3 key
      [g.notificationBody(tx, { mchid: '1900000000' }), undefined], // another merchant's transaction
    ] as const;
    for (const [b, h] of refusals) {
      const sent = await g.notify(tx, b, h ?? g.signedHeaders(b));
      expect(sent.status).toBe(400);
    }
    expect(await statusOf(s, order.id)).toBe('reserved');
    expect(await s.count('SELECT count(*) FROM payments')).toBe(0);

    const wrong = await g.notify(tx, g.notificationBody(tx, { amount: { total: 1, payer_total: 1, currency: 'CNY' } }));
    expect(wrong.status).toBe(204);
    expect(await statusOf(s, order.id)).toBe('needs_review');
    expect((await s.shop.getOrder(order.id))?.reviewReason).toBe('amount_mismatch');
  });

  it('refunds at the gateway with a signed request', async () => {
    const { g, s, order } = await ready(backend);
    await g.pay(order.id);
    const refunded = await s.shop.payments.refund({ orderId: order.id, keys: 'burn', reason: 'buyer asked', actor: 'test' });
    expect(refunded.status).toBe('refunded');
    expect(g.transactions.get(order.id)?.state).toBe('REFUND');
    expect(g.calls.at(-1)).toMatchObject({
      path: '/v3/refund/domestic/refunds',
      body: { amount: { refund: 3000, total: 3000 } },
    });
    expect(g.refused).toEqual([]);
  });
});
