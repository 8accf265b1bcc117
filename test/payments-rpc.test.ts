/**
 * The app's payment methods through the real dispatcher (the same handlers serve IPC and browser mode),
 * against a real shop and the fake epay gateway over real sockets: channels configured, listed without
 * secrets, self-checked, switched off and removed; an order's checkouts and channel payments in its
 * detail; *Re-query* finding a payment whose notification was lost; a refund given back at the gateway.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sqliteContext } from '../src-main/rpc/dispatcher';
import { FakeEpayGateway } from './fakes/epay-gateway';
import { rpcClient } from './helpers/rpc';
import { openShop } from './helpers/shop';

const KEY = 'fakeMerchantKey0123456789abcdef0';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup() {
  const gateway = await new FakeEpayGateway({ pid: '1001', key: KEY }).start();
  cleanups.push(() => gateway.close());
  const shop = await openShop({ keys: 3, price: 3000 });
  cleanups.push(shop.cleanup);
  const { call, fails } = rpcClient(sqliteContext(shop.engine, 'desktop:test'));
  return { ...shop, gateway, call, fails };
}

describe('payments.* methods', () => {
  it('configure, list without secrets, test, switch off and on, remove', async () => {
    const s = await setup();
    const empty = await s.call('payments.list', {});
    expect(empty.channels).toEqual([]);
    expect(empty.notifyUnreachable).toBe(true);

    const bad = await s.fails('payments.configure', { channel: 'epay', settings: { gateway: s.gateway.url, pid: '1001' } });
    expect(bad.code).toBe('validation_failed');
    expect(bad.message).toContain('key');
    expect(await s.engine.payments.list()).toEqual([]);

    const { channel } = await s.call('payments.configure', {
      channel: 'epay',
      settings: { gateway: s.gateway.url, pid: '1001', key: KEY, mode: 'mapi' },
    });
    expect(channel).toMatchObject({ name: 'epay', enabled: true, configured: true, methods: ['alipay', 'wxpay'] });
    expect(channel.fields).toContain('key');
    const listed = await s.call('payments.list', {});
    expect(JSON.stringify(listed)).not.toContain(KEY);
    expect(listed.channels[0]?.notifyUrl).toMatch(/\/api\/v1\/payments\/epay\/notify$/);

    const check = await s.call('payments.test', { channel: 'epay' });
    expect(check.ok).toBe(true);
    expect(check.checks.length).toBeGreaterThan(0);

    expect((await s.call('payments.setEnabled', { channel: 'epay', enabled: false })).channel.enabled).toBe(false);
    expect(await s.engine.payments.publicChannels()).toEqual([]);
    expect((await s.call('payments.setEnabled', { channel: 'epay', enabled: true })).channel.enabled).toBe(true);
    // A secret left out keeps its stored value.
    await s.call('payments.configure', { channel: 'epay', settings: { gateway: s.gateway.url, pid: '1001', mode: 'mapi' } });
    expect((await s.call('payments.test', { channel: 'epay' })).ok).toBe(true);

    expect(await s.call('payments.remove', { channel: 'epay' })).toEqual({ removed: true });
    expect((await s.fails('payments.remove', { channel: 'epay' })).code).toBe('channel_not_configured');
    expect((await s.fails('payments.test', { channel: 'epay' })).code).toBe('channel_not_configured');
    const actions = s.engine.db.prepare(`SELECT action FROM audit WHERE actor = 'desktop:test' ORDER BY id`).pluck().all();
    expect(actions.length).toBeGreaterThanOrEqual(4);
  });

  it('shows the checkout, re-queries a lost notification into a delivery, and refunds at the gateway', async () => {
    const s = await setup();
    await s.call('payments.configure', {
      channel: 'epay',
      settings: { gateway: s.gateway.url, pid: '1001', key: KEY, mode: 'mapi' },
    });
    const { result } = await s.engine.reserve({ productId: s.productId, quantity: 1, email: 'buyer@example.com' });
    if (!result.ok) throw new Error(result.error.message);
    const orderId = result.value.id;
    const checkout = await s.engine.payments.checkout(s.engine.getOrder(orderId)!, 'epay', 'alipay', '127.0.0.1');
    expect(checkout.qrCode).toBeTruthy();

    let detail = await s.call('orders.get', { id: orderId });
    expect(detail.checkouts).toMatchObject([{ channel: 'epay', method: 'alipay', state: 'open', amount: 3000, queries: 0 }]);

    // Paid at the gateway; the notification never came.
    await s.gateway.pay(orderId, { notify: false });
    const requeried = await s.call('orders.requery', { id: orderId });
    expect(requeried).toMatchObject({ asked: 1, order: { status: 'delivered' } });
    detail = await s.call('orders.get', { id: orderId });
    expect(detail.payments).toMatchObject([{ source: 'epay', via: 'query', outcome: 'delivered', amount: 3000 }]);
    expect(detail.payments[0]?.tradeNo).toBe(s.gateway.orders.get(orderId)?.tradeNo);
    expect(detail.checkouts[0]).toMatchObject({ state: 'paid', queries: 1, nextQueryAt: null });
    const events = detail.timeline.filter((i) => i.event.startsWith('payment.')).map((i) => i.event);
    expect(events).toEqual(['payment.created', 'payment.queried', 'payment.applied']);

    const refunded = await s.call('orders.refund', { id: orderId, keys: 'burn', reason: 'buyer asked', atGateway: true });
    expect(refunded.order.status).toBe('refunded');
    expect(s.gateway.orders.get(orderId)?.status).toBe(2);
    detail = await s.call('orders.get', { id: orderId });
    expect(detail.timeline.map((i) => i.event)).toContain('payment.refunded');
    expect((await s.fails('orders.requery', { id: 'ord_nope' })).code).toBe('order_not_found');
  });
});
