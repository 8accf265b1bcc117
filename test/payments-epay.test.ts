/**
 * The epay channel end to end over real sockets, on both backends (the SQLite file and a real
 * PostgreSQL; the same requests get the same answers and leave the same rows): a shop on 127.0.0.1,
 * the fake epay gateway of test/fakes (written from epay's published protocol), the buyer's checkout,
 * the gateway's signed notification (GET and POST), the query that finds a payment whose notification
 * was lost, refunds through the gateway, and every way a notification can be wrong (forged, replayed,
 * the wrong amount, for an expired order).
 *
 * The signing vectors here are ours: epay publishes the rule (sorted k=v, empty values, sign and
 * sign_type left out, the key appended, MD5 lowercase hex), not example values.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EpayChannel, epayMd5Sign } from '../src-main/payments/epay';
import { FakeEpayGateway } from './fakes/epay-gateway';
import {
  BACKEND_NAMES,
  startBackendShop,
  stopBackendServers,
  type BackendName,
  type BackendShop,
  type BackendShopOptions,
} from './helpers/backend-shop';
import { FAST_SCHEDULE, until } from './helpers/payments';
import { send, type HttpResponse } from './helpers/http';

const KEY = 'fakeMerchantKey0123456789abcdef0';
const PID = '1001';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(() => stopBackendServers(), 60_000);

async function gateway(options: ConstructorParameters<typeof FakeEpayGateway>[0] = { pid: PID, key: KEY }) {
  const g = await new FakeEpayGateway(options).start();
  cleanups.push(() => g.close());
  return g;
}

async function shop(backend: BackendName, options: BackendShopOptions = {}): Promise<BackendShop> {
  const s = await startBackendShop(backend, { keys: 3, price: 3000, ...options });
  cleanups.push(() => s.close());
  return s;
}

async function configure(s: BackendShop, settings: Record<string, unknown>): Promise<HttpResponse> {
  return s.admin('/api/v1/admin/payment-channels/epay', { method: 'PUT', body: settings });
}

async function reserve(s: BackendShop): Promise<{ id: string; token: string }> {
  const res = await s.order();
  expect(res.status).toBe(201);
  const order = (res.json as { order: { id: string; accessToken: string } }).order;
  return { id: order.id, token: order.accessToken };
}

function checkout(s: BackendShop, order: { id: string; token: string }, body: Record<string, unknown> = { channel: 'epay' }) {
  return s.send(`/api/v1/orders/${order.id}/checkout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${order.token}` },
    body,
  });
}

/** The buyer checks out and opens the gateway's pay page (where the gateway learns of the order). */
async function openGatewayPage(s: BackendShop, order: { id: string; token: string }): Promise<void> {
  const made = (await checkout(s, order)).json as { checkout: { redirectUrl: string } };
  expect((await fetch(made.checkout.redirectUrl)).status).toBe(200);
}

const readOrder = (s: BackendShop, order: { id: string; token: string }) =>
  s.send(`/api/v1/orders/${order.id}`, { headers: { authorization: `Bearer ${order.token}` } });

const statusOf = async (s: BackendShop, order: { id: string; token: string }): Promise<string> =>
  ((await readOrder(s, order)).json as { order: { status: string } }).order.status;

describe('epay signing', () => {
  it('signs the sorted k=v string with the key appended, leaving out sign, sign_type and empty values', () => {
    const params = {
      type: 'alipay',
      pid: '1001',
      out_trade_no: 'ord_1',
      money: '30.00',
      name: 'Steam 50',
      notify_url: 'http://127.0.0.1:1/n',
      return_url: '',
      sign: 'ignored',
      sign_type: 'MD5',
    };
    const expected = createHash('md5')
      .update('money=30.00&name=Steam 50&notify_url=http://127.0.0.1:1/n&out_trade_no=ord_1&pid=1001&type=alipayKEY')
      .digest('hex');
    expect(epayMd5Sign(params, 'KEY')).toBe(expected);
  });

  it('verifies only what the gateway signed: a changed amount or another key fails', () => {
    const channel = new EpayChannel(
      { gateway: 'http://127.0.0.1:1', pid: PID, key: KEY, signType: 'MD5', mode: 'submit', methods: ['alipay'] },
      { fetch, clock: Date.now, timeoutMs: 1000 },
    );
    const signed = channel.signed({
      pid: PID,
      trade_no: 'T1',
      out_trade_no: 'o1',
      money: '30.00',
      trade_status: 'TRADE_SUCCESS',
    });
    expect(channel.verify(signed)).toBe(true);
    expect(channel.verify({ ...signed, money: '0.01' })).toBe(false);
    expect(channel.verify({ ...signed, sign: signed.sign!.toUpperCase() })).toBe(true);
    expect(channel.verify({ ...signed, sign: epayMd5Sign(signed, 'another-key') })).toBe(false);
    expect(channel.selfCheck().ok).toBe(true);
  });
});

describe.each(BACKEND_NAMES)('the epay channel over real sockets, on %s', (backend) => {
  it('refuses incomplete settings naming the field, never returns a secret, and forgets a channel on DELETE', async () => {
    const s = await shop(backend);
    const missing = await configure(s, { gateway: 'http://127.0.0.1:9', pid: PID });
    expect(missing.status).toBe(422);
    expect((missing.json as { code: string; errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['key']);
    const unknown = await configure(s, { gateway: 'http://127.0.0.1:9', pid: PID, key: KEY, colour: 'red' });
    expect(unknown.status).toBe(422);
    expect(unknown.text).toContain('colour');

    const ok = await configure(s, { gateway: 'http://127.0.0.1:9/', pid: PID, key: KEY, methods: ['alipay', 'wxpay'] });
    expect(ok.status).toBe(200);
    const channel = (ok.json as { channel: Record<string, unknown> }).channel;
    expect(channel).toMatchObject({ name: 'epay', enabled: true, configured: true, methods: ['alipay', 'wxpay'] });
    expect(channel.fields).toEqual(['gateway', 'pid', 'signType', 'key', 'mode', 'methods']);
    expect(channel.notifyUrl).toBe(`${s.url}/api/v1/payments/epay/notify`);
    const listing = await s.admin('/api/v1/admin/payment-channels');
    expect(listing.text).not.toContain(KEY);
    expect(ok.text).not.toContain(KEY);
    // Sealed in the database: the key is nowhere in the file's rows as text.
    expect(
      await s.count(
        `SELECT count(*) FROM payment_channels WHERE settings LIKE ? OR CAST(sealed AS TEXT) LIKE ?`,
        `%${KEY}%`,
        `%${KEY}%`,
      ),
    ).toBe(0);
    expect(await s.count('SELECT count(*) FROM payment_channels')).toBe(1);
    // Changing the address keeps the stored key.
    const moved = await configure(s, { gateway: 'http://127.0.0.1:10', pid: PID });
    expect(moved.status).toBe(200);
    expect((await s.admin('/api/v1/admin/payment-channels/epay/test', { method: 'POST' })).json).toMatchObject({ ok: true });
    expect(((await s.send('/api/v1/payment-channels')).json as { channels: unknown[] }).channels).toEqual([
      { name: 'epay', methods: ['alipay', 'wxpay'] },
    ]);
    expect((await s.admin('/api/v1/admin/payment-channels/epay', { method: 'DELETE' })).status).toBe(204);
    expect((await s.admin('/api/v1/admin/payment-channels/epay', { method: 'DELETE' })).status).toBe(404);
    expect(((await s.send('/api/v1/payment-channels')).json as { channels: unknown[] }).channels).toEqual([]);
  });

  it('reserve → checkout → the buyer pays at the gateway → the signed notification delivers the code', async () => {
    const g = await gateway();
    const s = await shop(backend);
    expect((await configure(s, { gateway: g.url, pid: PID, key: KEY })).status).toBe(200);
    const order = await reserve(s);

    const res = await checkout(s, order, { channel: 'epay', method: 'wxpay' });
    expect(res.status).toBe(200);
    const made = (res.json as { checkout: { redirectUrl: string } }).checkout;
    expect(made).toMatchObject({ channel: 'epay', method: 'wxpay', amount: 3000, currency: 'CNY' });
    const redirect = new URL(made.redirectUrl);
    expect(`${redirect.origin}${redirect.pathname}`).toBe(`${g.url}/submit.php`);
    expect(Object.fromEntries(redirect.searchParams)).toMatchObject({
      pid: PID,
      type: 'wxpay',
      out_trade_no: order.id,
      money: '30.00',
      notify_url: `${s.url}/api/v1/payments/epay/notify`,
      sign_type: 'MD5',
    });
    // A second checkout is the same payment, even with another method.
    expect((await checkout(s, order, { channel: 'epay', method: 'alipay' })).json).toEqual(res.json);

    // The buyer opens the gateway's page (the gateway checks our signature), then pays.
    const page = await fetch(made.redirectUrl);
    expect(page.status).toBe(200);
    expect(g.refused).toEqual([]);
    await g.pay(order.id);
    expect(g.notifications.map((n) => [n.method, n.status, n.body])).toEqual([['GET', 200, 'success']]);

    const after = (await readOrder(s, order)).json as { order: { status: string; codes: string[] } };
    expect(after.order.status).toBe('delivered');
    expect(after.order.codes).toHaveLength(1);
    expect(await s.count(`SELECT count(*) FROM payments WHERE source = 'epay' AND via = 'notify' AND trade_no IS NOT NULL`)).toBe(
      1,
    );
    const events = (await s.rows<{ action: string }>(`SELECT action FROM audit WHERE subject = ? ORDER BY id`, order.id)).map(
      (r) => r.action,
    );
    expect(events).toEqual(['payment.created', 'payment.notified', 'payment.applied']);
    // The poller would have nothing left to ask.
    expect(await s.count(`SELECT count(*) FROM checkouts WHERE state = 'paid' AND next_query_at IS NULL`)).toBe(1);
  });

  it('takes a notification posted as a form, and answers a replayed one success with no second effect', async () => {
    const g = await gateway();
    const s = await shop(backend);
    await configure(s, { gateway: g.url, pid: PID, key: KEY });
    const order = await reserve(s);
    await openGatewayPage(s, order);
    g.notifyMethod = 'POST';
    await g.pay(order.id);
    const first = g.notifications[0]!;
    expect([first.status, first.body]).toEqual([200, 'success']);
    // The gateway retries (it does, on its schedule) and someone replays it by GET: one delivery.
    const again = await g.notify(g.orders.get(order.id)!, first.params, 'POST');
    const byGet = await g.notify(g.orders.get(order.id)!, first.params, 'GET');
    expect([again.body, byGet.body]).toEqual(['success', 'success']);
    expect(await s.count('SELECT count(*) FROM deliveries WHERE order_id = ?', order.id)).toBe(1);
    expect(await s.count('SELECT count(*) FROM payments WHERE order_id = ?', order.id)).toBe(1);
    expect(await statusOf(s, order)).toBe('delivered');
  });

  it('answers a forged or altered notification 400 fail and changes nothing', async () => {
    const g = await gateway();
    const s = await shop(backend);
    await configure(s, { gateway: g.url, pid: PID, key: KEY });
    const order = await reserve(s);
    await openGatewayPage(s, order);
    const fake = g.orders.get(order.id)!;
    const good = g.notificationParams(fake);
    const auditBefore = await s.count('SELECT count(*) FROM audit');
    const forged = [
      { ...good, money: '0.01' },
      { ...good, sign: 'f'.repeat(32) },
      { ...good, sign: '' },
      { ...good, pid: '9999' },
      { ...good, trade_no: 'OTHER' },
      Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'sign')),
    ];
    for (const params of forged) {
      const answer = await g.notify(fake, params, 'GET');
      expect([answer.status, answer.body]).toEqual([400, 'fail']);
    }
    const signedWithAnotherKey = { ...good, sign: epayMd5Sign(good, 'not-the-key') };
    expect((await g.notify(fake, signedWithAnotherKey, 'POST')).status).toBe(400);
    expect(await statusOf(s, order)).toBe('reserved');
    expect(await s.count('SELECT count(*) FROM payments')).toBe(0);
    expect(await s.count('SELECT count(*) FROM audit')).toBe(auditBefore);
  });

  it('puts a payment of the wrong amount in needs_review with the reason, and delivers nothing', async () => {
    const g = await gateway();
    const s = await shop(backend);
    await configure(s, { gateway: g.url, pid: PID, key: KEY });
    const order = await reserve(s);
    await openGatewayPage(s, order);
    await g.pay(order.id, { money: '0.30' });
    expect(g.notifications[0]!.body).toBe('success');
    const after = (await s.admin(`/api/v1/admin/orders/${order.id}/requery`, { method: 'POST' })).json as {
      order: { status: string; reviewReason: string };
    };
    expect(after.order).toMatchObject({ status: 'needs_review', reviewReason: 'amount_mismatch' });
    expect(await s.count('SELECT count(*) FROM deliveries')).toBe(0);
  });

  it('puts a payment for an expired order whose keys were sold in needs_review', async () => {
    let now = Date.now();
    const g = await gateway();
    const s = await shop(backend, { keys: 1, holdSeconds: 60, clock: () => now });
    await configure(s, { gateway: g.url, pid: PID, key: KEY });
    const late = await reserve(s);
    await openGatewayPage(s, late);
    now += 61_000;
    await s.shop.sweepExpired();
    // The key went back on sale and someone else bought it.
    const other = await reserve(s);
    await s.admin(`/api/v1/admin/orders/${other.id}/mark-paid`, { method: 'POST' });
    await g.pay(late.id);
    expect(g.notifications[0]!.body).toBe('success');
    const view = (await s.admin(`/api/v1/admin/orders/${late.id}/requery`, { method: 'POST' })).json as {
      order: { status: string; reviewReason: string };
    };
    expect(view.order).toMatchObject({ status: 'needs_review', reviewReason: 'paid_after_expiry_sold_out' });
    expect(await s.count('SELECT count(*) FROM deliveries')).toBe(1);
  });

  it('finds a payment whose notification was lost by querying the channel on its schedule', async () => {
    const g = await gateway();
    const s = await shop(backend, { payments: { schedule: FAST_SCHEDULE, tickMs: 50 }, poll: true });
    await configure(s, { gateway: g.url, pid: PID, key: KEY });
    const order = await reserve(s);
    await openGatewayPage(s, order);
    await until(async () => g.queries.length >= 1);
    expect(await statusOf(s, order)).toBe('reserved');
    await g.pay(order.id, { notify: false });
    await until(async () => (await statusOf(s, order)) === 'delivered');
    expect(g.notifications).toEqual([]);
    expect(await s.rows('SELECT via FROM payments')).toEqual([{ via: 'query' }]);
    const actions = await s.rows('SELECT actor, action FROM audit WHERE subject = ? ORDER BY id', order.id);
    expect(actions).toContainEqual({ actor: 'poller', action: 'payment.applied' });
    // The notification arrives late after all: acknowledged, nothing more happens.
    const late = await g.notify(g.orders.get(order.id)!, g.notificationParams(g.orders.get(order.id)!));
    expect(late.body).toBe('success');
    expect(await s.count('SELECT count(*) FROM deliveries')).toBe(1);
  });

  it('asks the channel at once when the buyer says "I have paid", at most once per couple of seconds', async () => {
    const g = await gateway();
    const s = await shop(backend);
    await configure(s, { gateway: g.url, pid: PID, key: KEY });
    const order = await reserve(s);
    await openGatewayPage(s, order);
    await g.pay(order.id, { notify: false });
    const refresh = () =>
      send(s.url, `/api/v1/orders/${order.id}/refresh`, { method: 'POST', headers: { authorization: `Bearer ${order.token}` } });
    const first = await refresh();
    expect(first.status).toBe(200);
    expect((first.json as { order: { status: string; codes: string[] } }).order).toMatchObject({ status: 'delivered' });
    expect(g.queries).toHaveLength(1);
    expect((await refresh()).status).toBe(200);
    expect(g.queries).toHaveLength(1);
    // A wrong token learns nothing.
    const stranger = await send(s.url, `/api/v1/orders/${order.id}/refresh`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope' },
    });
    expect(stranger.status).toBe(404);
  });

  it('refunds through the gateway first, then the order; a refusal at the gateway changes nothing here', async () => {
    const g = await gateway();
    const s = await shop(backend);
    await configure(s, { gateway: g.url, pid: PID, key: KEY });
    const order = await reserve(s);
    await openGatewayPage(s, order);
    await g.pay(order.id);
    expect(await statusOf(s, order)).toBe('delivered');
    const tradeNo = g.orders.get(order.id)!.tradeNo;

    // The gateway refuses (it already refunded the trade in its console): the order stays delivered.
    g.orders.get(order.id)!.status = 2;
    await expect(
      s.shop.payments.refund({ orderId: order.id, keys: 'burn', reason: 'buyer asked', actor: 'support' }),
    ).rejects.toMatchObject({ code: 'channel_unavailable' });
    expect(await statusOf(s, order)).toBe('delivered');

    g.orders.get(order.id)!.status = 1;
    const refunded = await s.shop.payments.refund({ orderId: order.id, keys: 'burn', reason: 'buyer asked', actor: 'support' });
    expect(refunded.status).toBe('refunded');
    expect(g.orders.get(order.id)!.status).toBe(2);
    const [audit] = await s.rows<{ detail: string }>(
      `SELECT detail FROM audit WHERE action = 'payment.refunded' AND subject = ?`,
      order.id,
    );
    expect(JSON.parse(audit!.detail)).toMatchObject({ channel: 'epay', tradeNo, amount: 3000, currency: 'CNY', state: 'done' });
    // A manual payment has no channel to refund through.
    const manual = await reserve(s);
    await s.admin(`/api/v1/admin/orders/${manual.id}/mark-paid`, { method: 'POST' });
    await expect(
      s.shop.payments.refund({ orderId: manual.id, keys: 'return', reason: 'x', actor: 'support' }),
    ).rejects.toMatchObject({ code: 'order_not_refundable' });
  });

  it('refuses a checkout for an order that is not reserved, a channel that is off, and another currency', async () => {
    const g = await gateway();
    const s = await shop(backend);
    const order = await reserve(s);
    expect(((await checkout(s, order)).json as { code: string }).code).toBe('channel_not_configured');
    await configure(s, { gateway: g.url, pid: PID, key: KEY, enabled: false });
    expect((await checkout(s, order)).status).toBe(404);
    await configure(s, { gateway: g.url, pid: PID, enabled: true });
    expect(((await checkout(s, order, { channel: 'epay', method: 'paypal' })).json as { code: string }).code).toBe(
      'validation_failed',
    );
    expect(((await checkout(s, order, { channel: 'nope' })).json as { code: string }).code).toBe('channel_not_configured');
    await s.admin(`/api/v1/admin/orders/${order.id}/mark-paid`, { method: 'POST' });
    const paid = await checkout(s, order);
    expect([paid.status, (paid.json as { code: string }).code]).toEqual([409, 'order_not_payable']);
    const usd = await s.shop.createProduct({ name: 'US card', price: { amount: 500, currency: 'USD' } });
    await s.shop.addCodes(usd.id, ['USD-1']);
    const created = (await s.order({ productId: usd.id })).json as { order: { id: string; accessToken: string } };
    const foreign = await checkout(s, { id: created.order.id, token: created.order.accessToken });
    expect([foreign.status, (foreign.json as { code: string }).code]).toEqual([409, 'currency_not_supported']);
  });

  it('signs with RSA (彩虹易支付 V2), asks mapi for a QR code, verifies the platform-signed notification and query', async () => {
    const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = (k: KeyObject, type: 'pkcs8' | 'spki') => k.export({ type, format: 'pem' }).toString();
    const g = await gateway({
      pid: PID,
      merchantPublicKey: pem(merchant.publicKey, 'spki'),
      platformPrivateKey: pem(platform.privateKey, 'pkcs8'),
    });
    const s = await shop(backend);
    const res = await configure(s, {
      gateway: g.url,
      pid: PID,
      signType: 'RSA',
      mode: 'mapi',
      // Pasted as the consoles show them: the base64 body only.
      privateKey: pem(merchant.privateKey, 'pkcs8').replace(/-----[^-]+-----|\s/g, ''),
      platformPublicKey: pem(platform.publicKey, 'spki'),
    });
    expect(res.status).toBe(200);
    expect((await s.admin('/api/v1/admin/payment-channels/epay/test', { method: 'POST' })).json).toMatchObject({ ok: true });
    const order = await reserve(s);
    const made = await checkout(s, order);
    expect(made.status).toBe(200);
    const qr = (made.json as { checkout: { qrCode: string } }).checkout.qrCode;
    expect(qr).toMatch(/^https:\/\/qr\.fake-epay\.test\/pay\//);
    const svg = await send(s.url, `/api/v1/orders/${order.id}/checkout/epay/qr.svg`, {
      headers: { authorization: `Bearer ${order.token}` },
    });
    expect(svg.status).toBe(200);
    expect(svg.headers['content-type']).toContain('image/svg+xml');
    expect(svg.text).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);

    // A notification signed by the merchant's own key (not the platform's) is refused.
    const fakeOrder = g.orders.get(order.id)!;
    const good = g.notificationParams(fakeOrder);
    const own = new EpayChannel(
      {
        gateway: g.url,
        pid: PID,
        signType: 'RSA',
        mode: 'mapi',
        methods: ['alipay'],
        privateKey: pem(merchant.privateKey, 'pkcs8'),
        platformPublicKey: pem(platform.publicKey, 'spki'),
      },
      { fetch, clock: Date.now, timeoutMs: 1000 },
    ).signed({ ...good });
    expect((await g.notify(fakeOrder, own)).status).toBe(400);

    // The query (signed both ways) finds the payment.
    await g.pay(order.id, { notify: false });
    await s.admin(`/api/v1/admin/orders/${order.id}/requery`, { method: 'POST' });
    expect(await statusOf(s, order)).toBe('delivered');
    expect(g.refused).toEqual([]);
  });
});
