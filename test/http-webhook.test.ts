/**
 * The payment webhook over real sockets: the signature over the raw bytes, the 300 s window, replays,
 * and the payment edge cases (mismatch, late payment, the same event twice, two events for one order).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { stmt } from '../src-main/db/statements';
import { countStock } from '../src-main/engine/products';
import { signature, startShop, WEBHOOK_SECRET, type HttpShop } from './helpers/http';

const shops: HttpShop[] = [];
afterEach(async () => {
  for (const s of shops.splice(0)) await s.close();
});

/** A shop whose engine clock the test moves (the webhook window uses it too). */
async function shopWithClock(keys: number, holdSeconds = 60) {
  const clock = { now: Date.parse('2026-03-01T12:00:00Z') };
  const shop = await startShop({ keys, holdSeconds, clock: () => clock.now });
  shops.push(shop);
  return { shop, clock, unix: () => Math.floor(clock.now / 1000) };
}

async function reserve(shop: HttpShop): Promise<{ id: string; accessToken: string }> {
  const res = await shop.order();
  expect(res.status).toBe(201);
  return (res.json as { order: { id: string; accessToken: string } }).order;
}

const event = (orderId: string, extra: Record<string, unknown> = {}) => ({
  id: `evt_${orderId}`,
  orderId,
  amount: 5000,
  currency: 'CNY',
  status: 'succeeded',
  ...extra,
});

function rawWebhook(shop: HttpShop, raw: string | Buffer, sig: string | undefined, contentType = 'application/json') {
  return shop.send('/api/v1/payments/webhook', {
    method: 'POST',
    headers: { 'content-type': contentType, ...(sig === undefined ? {} : { 'oncekey-signature': sig }) },
    body: raw,
  });
}

const payments = (shop: HttpShop): number => stmt(shop.engine.db, 'SELECT count(*) FROM payments').pluck().get() as number;
const status = (shop: HttpShop, id: string) => shop.engine.getOrder(id);

function invariantsHold(shop: HttpShop): void {
  for (const product of shop.engine.listProducts()) expect(countStock(shop.engine.db, product.id)).toEqual(product.stock);
  expect(shop.engine.verifyLedger().ok).toBe(true);
}

describe('webhook signature', () => {
  it('delivers a reserved order on a valid signed event', async () => {
    const { shop, unix } = await shopWithClock(1);
    const order = await reserve(shop);
    const res = await shop.webhook(event(order.id), unix());
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ received: true });
    expect(status(shop, order.id)?.status).toBe('delivered');
    invariantsHold(shop);
  });

  it.each([
    ['no signature header', () => undefined],
    ['the wrong secret', (raw: string, t: number) => signature('not-the-secret', raw, t)],
    ['a signature of another body', (raw: string, t: number) => signature(WEBHOOK_SECRET, `${raw} `, t)],
    ['a malformed header', () => 'v1=abc'],
    ['a signature without a timestamp', (raw: string, t: number) => signature(WEBHOOK_SECRET, raw, t).replace(/^t=\d+,/, '')],
    ['two timestamps', (raw: string, t: number) => `t=${t},${signature(WEBHOOK_SECRET, raw, t)}`],
    ['a timestamp 301 s old', (raw: string, t: number) => signature(WEBHOOK_SECRET, raw, t - 301)],
    ['a timestamp 301 s ahead', (raw: string, t: number) => signature(WEBHOOK_SECRET, raw, t + 301)],
  ])('refuses %s with 401 invalid_signature and changes nothing', async (_label, sign) => {
    const { shop, unix } = await shopWithClock(1);
    const order = await reserve(shop);
    const raw = JSON.stringify(event(order.id));
    const res = await rawWebhook(shop, raw, sign(raw, unix()));
    expect(res.status).toBe(401);
    expect((res.json as { code: string }).code).toBe('invalid_signature');
    expect(status(shop, order.id)?.status).toBe('reserved');
    expect(payments(shop)).toBe(0);
  });

  it('accepts timestamps inside the 300 s window, either side', async () => {
    const { shop, unix } = await shopWithClock(2);
    const a = await reserve(shop);
    const b = await reserve(shop);
    expect((await shop.webhook(event(a.id), unix() - 299)).status).toBe(200);
    expect((await shop.webhook(event(b.id), unix() + 299)).status).toBe(200);
  });

  it('verifies the raw bytes as sent (spacing, key order, unicode, extra fields, any content type)', async () => {
    const { shop, unix } = await shopWithClock(1);
    const order = await reserve(shop);
    const raw = Buffer.from(
      `{ "status" : "succeeded", "orderId":"${order.id}",\n  "amount": 5000, "currency": "CNY", "id": "evt_\u00fc\u4e2d", "note": "caf\u00e9 \ud83d\ude00" }`,
      'utf8',
    );
    const res = await rawWebhook(shop, raw, signature(WEBHOOK_SECRET, raw, unix()), 'text/plain; charset=utf-8');
    expect(res.status).toBe(200);
    expect(status(shop, order.id)?.status).toBe('delivered');
  });

  it('accepts several v1 values when one of them is right (secret rotation)', async () => {
    const { shop, unix } = await shopWithClock(1);
    const order = await reserve(shop);
    const raw = JSON.stringify(event(order.id));
    const good = signature(WEBHOOK_SECRET, raw, unix());
    const sig = `t=${unix()},v1=${'ab'.repeat(32)},${good.split(',')[1] ?? ''}`;
    expect((await rawWebhook(shop, raw, sig)).status).toBe(200);
    expect(status(shop, order.id)?.status).toBe('delivered');
  });

  it('refuses a captured request replayed after the window, and a replay inside it has no second effect', async () => {
    const { shop, clock, unix } = await shopWithClock(2);
    const order = await reserve(shop);
    const raw = JSON.stringify(event(order.id));
    const sig = signature(WEBHOOK_SECRET, raw, unix());
    expect((await rawWebhook(shop, raw, sig)).status).toBe(200);
    expect((await rawWebhook(shop, raw, sig)).status).toBe(200);
    expect(payments(shop)).toBe(1);
    clock.now += 301_000;
    const late = await rawWebhook(shop, raw, sig);
    expect(late.status).toBe(401);
    expect(payments(shop)).toBe(1);
    expect(shop.engine.getProduct(shop.productId)?.stock.sold).toBe(1);
  });

  it('answers a signed body that is not JSON with 400 and one that misses fields with 422', async () => {
    const { shop, unix } = await shopWithClock(1);
    const notJson = '{"id": ';
    const bad = await rawWebhook(shop, notJson, signature(WEBHOOK_SECRET, notJson, unix()));
    expect(bad.status).toBe(400);
    expect((bad.json as { code: string }).code).toBe('bad_request');
    const partial = JSON.stringify({ id: 'evt_x', amount: '5000' });
    const invalid = await rawWebhook(shop, partial, signature(WEBHOOK_SECRET, partial, unix()));
    expect(invalid.status).toBe(422);
    expect((invalid.json as { code: string }).code).toBe('validation_failed');
    expect(payments(shop)).toBe(0);
  });

  it('acknowledges events for unknown orders and non-success statuses without effect', async () => {
    const { shop, unix } = await shopWithClock(1);
    const order = await reserve(shop);
    expect((await shop.webhook(event(order.id, { status: 'failed', id: 'evt_failed' }), unix())).status).toBe(200);
    expect(status(shop, order.id)?.status).toBe('reserved');
    expect((await shop.webhook(event('ord_nope'), unix())).json).toEqual({ received: true });
    expect(status(shop, order.id)?.status).toBe('reserved');
  });
});

describe('webhook edge cases', () => {
  it('puts the order in needs_review on an amount mismatch, delivering nothing', async () => {
    const { shop, unix } = await shopWithClock(1);
    const order = await reserve(shop);
    expect((await shop.webhook(event(order.id, { amount: 4999 }), unix())).status).toBe(200);
    expect(status(shop, order.id)).toMatchObject({ status: 'needs_review', reviewReason: 'amount_mismatch' });
    expect(await shop.engine.deliveredCodes(order.id)).toEqual([]);
    invariantsHold(shop);
  });

  it('puts the order in needs_review on a currency mismatch', async () => {
    const { shop, unix } = await shopWithClock(1);
    const order = await reserve(shop);
    expect((await shop.webhook(event(order.id, { currency: 'USD' }), unix())).status).toBe(200);
    expect(status(shop, order.id)).toMatchObject({ status: 'needs_review', reviewReason: 'amount_mismatch' });
    expect(shop.engine.getProduct(shop.productId)?.stock.sold).toBe(0);
  });

  it('reads a lower-case currency as the ISO code it names', async () => {
    const { shop, unix } = await shopWithClock(1);
    const order = await reserve(shop);
    expect((await shop.webhook(event(order.id, { currency: 'cny' }), unix())).status).toBe(200);
    expect(status(shop, order.id)?.status).toBe('delivered');
  });

  it('sells a payment that arrives after the hold expired while keys are still free', async () => {
    const { shop, clock, unix } = await shopWithClock(1, 60);
    const order = await reserve(shop);
    clock.now += 61_000;
    expect(await shop.engine.sweepExpired()).toBe(1);
    expect(status(shop, order.id)?.status).toBe('expired');
    expect((await shop.webhook(event(order.id), unix())).status).toBe(200);
    expect(status(shop, order.id)?.status).toBe('delivered');
    expect(await shop.engine.deliveredCodes(order.id)).toHaveLength(1);
    invariantsHold(shop);
  });

  it('puts a late payment in needs_review when its keys were sold to someone else meanwhile', async () => {
    const { shop, clock, unix } = await shopWithClock(1, 60);
    const late = await reserve(shop);
    clock.now += 61_000;
    await shop.engine.sweepExpired();
    const next = await reserve(shop);
    expect((await shop.webhook(event(next.id), unix())).status).toBe(200);
    expect((await shop.webhook(event(late.id), unix())).status).toBe(200);
    expect(status(shop, late.id)).toMatchObject({ status: 'needs_review', reviewReason: 'paid_after_expiry_sold_out' });
    expect(await shop.engine.deliveredCodes(late.id)).toEqual([]);
    expect(await shop.engine.deliveredCodes(next.id)).toHaveLength(1);
    invariantsHold(shop);
  });

  it('applies the same event once, however often it arrives', async () => {
    const { shop, unix } = await shopWithClock(3);
    const order = await reserve(shop);
    const results = await Promise.all(Array.from({ length: 10 }, () => shop.webhook(event(order.id), unix())));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(payments(shop)).toBe(1);
    expect(await shop.engine.deliveredCodes(order.id)).toHaveLength(1);
    expect(shop.engine.getProduct(shop.productId)?.stock).toEqual({ available: 2, reserved: 0, sold: 1 });
    invariantsHold(shop);
  });

  it('puts an order paid by two different events in needs_review and never delivers twice', async () => {
    const { shop, unix } = await shopWithClock(3);
    const order = await reserve(shop);
    const [a, b] = await Promise.all([
      shop.webhook(event(order.id, { id: 'evt_first' }), unix()),
      shop.webhook(event(order.id, { id: 'evt_second' }), unix()),
    ]);
    expect([a?.status, b?.status]).toEqual([200, 200]);
    expect(status(shop, order.id)).toMatchObject({ status: 'needs_review', reviewReason: 'duplicate_payment' });
    expect(await shop.engine.deliveredCodes(order.id)).toHaveLength(1);
    expect(shop.engine.getProduct(shop.productId)?.stock.sold).toBe(1);
    const findings = await shop.admin('/api/v1/admin/reconciliation');
    expect((findings.json as { findings: unknown[] }).findings).toContainEqual({
      kind: 'needs_review',
      orderId: order.id,
      reason: 'duplicate_payment',
    });
    invariantsHold(shop);
  });
});
