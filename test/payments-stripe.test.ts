/**
 * The Stripe channel end to end over real sockets, on both backends (the SQLite file and a real
 * PostgreSQL; the same requests get the same answers and leave the same rows), through the official
 * `stripe` package pointed at the fake Stripe API of test/fakes: a Checkout Session per order (one,
 * however often it is asked for), the signed `checkout.session.completed` webhook, the session read
 * back when the webhook is lost, forged, stale and replayed webhooks, a wrong amount, a refund of the
 * PaymentIntent.
 *
 * Vectors: the webhook signatures are made by our own implementation of Stripe's published scheme
 * (`t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>`, test/fakes/stripe-api.ts) and verified by
 * Stripe's SDK, so the two agree on the scheme; Stripe publishes no fixed example vector, so the values
 * are ours.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StripeChannel } from '../src-main/payments/stripe';
import { FakeStripeApi, stripeSignature } from './fakes/stripe-api';
import {
  BACKEND_NAMES,
  startBackendShop,
  stopBackendServers,
  type BackendName,
  type BackendShop,
  type BackendShopOptions,
} from './helpers/backend-shop';
import { FAST_SCHEDULE, until } from './helpers/payments';

const SECRET_KEY = 'sk_test_51OnceKeyFakeSecretKey0001';
const WEBHOOK_SECRET = 'whsec_onceKeyFakeEndpointSecret01';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(() => stopBackendServers(), 60_000);

async function ready(backend: BackendName, options: BackendShopOptions = {}) {
  const api = await new FakeStripeApi(SECRET_KEY, WEBHOOK_SECRET).start();
  cleanups.push(() => api.close());
  const s = await startBackendShop(backend, { keys: 3, price: 3000, ...options });
  cleanups.push(() => s.close());
  const put = await s.admin('/api/v1/admin/payment-channels/stripe', {
    method: 'PUT',
    body: { secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, gateway: api.url },
  });
  expect(put.status).toBe(200);
  expect(put.text).not.toContain(SECRET_KEY);
  api.webhookUrl = `${s.url}/api/v1/payments/stripe/notify`;
  const res = await s.order();
  const order = (res.json as { order: { id: string; accessToken: string } }).order;
  const checkout = () =>
    s.send(`/api/v1/orders/${order.id}/checkout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${order.accessToken}` },
      body: { channel: 'stripe' },
    });
  const made = await checkout();
  expect(made.status).toBe(200);
  return { api, s, order, checkout, made: (made.json as { checkout: { redirectUrl: string; amount: number } }).checkout };
}

const statusOf = async (s: BackendShop, id: string): Promise<string | undefined> => (await s.shop.getOrder(id))?.status;

describe('the Stripe channel', () => {
  it('checks its secrets offline and refuses currencies Stripe counts in other units', async () => {
    const channel = new StripeChannel(
      { secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, gateway: 'http://127.0.0.1:1', methods: ['card'] },
      { fetch, clock: Date.now, timeoutMs: 1000 },
    );
    const report = channel.selfCheck();
    expect(report.ok).toBe(true);
    expect(report.checks[0]?.detail).toContain('test key');
    const order = {
      id: 'ord_x',
      amount: 1000,
      currency: 'HUF',
      subject: 'x',
      quantity: 1,
      email: 'a@b.c',
      expiresAt: Date.now(),
    };
    await expect(
      channel.createCheckout(order, 'card', { notifyUrl: '', returnUrl: 'http://x/', clientIp: '' }),
    ).rejects.toMatchObject({
      code: 'currency_not_supported',
    });
  });
});

describe.each(BACKEND_NAMES)('the Stripe channel over real sockets, on %s', (backend) => {
  it('one Checkout Session per order, paid on Stripe, the signed webhook delivers the code; a replay changes nothing', async () => {
    const { api, s, order, checkout, made } = await ready(backend);
    expect(made).toMatchObject({ channel: 'stripe', method: 'card', amount: 3000, currency: 'CNY' });
    const session = api.sessionFor(order.id)!;
    expect(made.redirectUrl).toBe(`${api.url}/pay/${session.id}`);
    expect(session).toMatchObject({ amountTotal: 3000, currency: 'cny' });
    expect(session.successUrl).toBe(`${s.url}/api/v1/payments/stripe/return/${order.id}`);
    // At least 30 minutes, as Stripe requires, though the hold is 15.
    expect(session.expiresAt * 1000).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect((await checkout()).json).toMatchObject({ checkout: { redirectUrl: made.redirectUrl } });
    expect(api.sessions.size).toBe(1);

    await api.pay(session.id);
    expect(api.webhooks.map((w) => w.status)).toEqual([200]);
    expect(await statusOf(s, order.id)).toBe('delivered');
    const replay = await api.sendWebhook(api.webhooks[0]!.body);
    expect(replay.status).toBe(200);
    expect(await s.count(`SELECT count(*) FROM payments WHERE source = 'stripe' AND trade_no = ?`, session.paymentIntent)).toBe(
      1,
    );
    expect(await s.count(`SELECT count(*) FROM deliveries WHERE order_id = ?`, order.id)).toBe(1);
    expect(api.refused).toEqual([]);
  });

  it('finds a payment whose webhook was lost by reading the session back', async () => {
    const { api, s, order } = await ready(backend, { payments: { schedule: FAST_SCHEDULE, tickMs: 50 }, poll: true });
    await api.pay(api.sessionFor(order.id)!.id, { webhook: false });
    await until(async () => (await statusOf(s, order.id)) === 'delivered');
    expect(await s.count(`SELECT count(*) FROM payments WHERE source = 'stripe' AND via = 'query'`)).toBe(1);
  });

  it('refuses forged, stale and wrongly keyed webhooks with 400; a signed wrong amount goes to review', async () => {
    const { api, s, order } = await ready(backend);
    const session = api.sessionFor(order.id)!;
    session.paymentStatus = 'paid';
    session.paymentIntent = 'pi_fake0001';
    const body = api.eventBody(session);
    for (const signature of [
      stripeSignature(body, 'whsec_someoneElsesSecret00000'),
      stripeSignature(body, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 301),
      stripeSignature(body, WEBHOOK_SECRET).replace(/v1=(.)/, (_, c: string) => `v1=${c === '0' ? '1' : '0'}`),
      '',
    ]) {
      expect((await api.sendWebhook(body, signature)).status).toBe(400);
    }
    expect(
      (await api.sendWebhook(body.replace('"amount_total":3000', '"amount_total":1'), stripeSignature(body, WEBHOOK_SECRET)))
        .status,
    ).toBe(400);
    expect(await statusOf(s, order.id)).toBe('reserved');
    expect(await s.count('SELECT count(*) FROM payments')).toBe(0);

    // Another event type is acknowledged and changes nothing.
    expect((await api.sendWebhook(api.eventBody(session, {}, 'payment_intent.created'))).status).toBe(200);
    expect(await statusOf(s, order.id)).toBe('reserved');

    expect((await api.sendWebhook(api.eventBody(session, { amount_total: 1 }))).status).toBe(200);
    expect(await statusOf(s, order.id)).toBe('needs_review');
    expect((await s.shop.getOrder(order.id))?.reviewReason).toBe('amount_mismatch');
  });

  it('refunds the PaymentIntent at Stripe with an idempotency key', async () => {
    const { api, s, order } = await ready(backend);
    const session = await api.pay(api.sessionFor(order.id)!.id);
    const refunded = await s.shop.payments.refund({ orderId: order.id, keys: 'burn', reason: 'buyer asked', actor: 'test' });
    expect(refunded.status).toBe('refunded');
    expect(api.refunds).toEqual([
      { paymentIntent: session.paymentIntent, amount: 3000, idempotencyKey: `oncekey-refund-${order.id}` },
    ]);
  });
});
