/**
 * The Orders and Ledger RPC methods through the real dispatcher, against a real shop in a temp folder, on
 * both backends (the SQLite file and a real PostgreSQL); audit and ledger rows are read through the
 * shop's own tables (s.rows) with the same SQL on both. The last case runs one scripted history on both
 * and compares what the Orders and Ledger pages show, ids and hashes aside.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { MethodName } from '../shared/rpc';
import type { AppEvent } from '../shared/rpc';
import {
  BACKEND_NAMES,
  startBackendShop,
  stopBackendServers,
  type BackendName,
  type BackendShopOptions,
} from './helpers/backend-shop';
import { rpcClient } from './helpers/rpc';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(() => stopBackendServers(), 60_000);

async function setup(backend: BackendName, keys = 3, options: BackendShopOptions = {}) {
  const shop = await startBackendShop(backend, { keys, ...options });
  cleanups.push(() => shop.close());
  const { call, dispatch, ...rpc } = rpcClient(shop.rpcContext('desktop:test'));
  const fails = async (method: MethodName, input: unknown): Promise<string> => (await rpc.fails(method, input)).code;
  const reserve = async (email = 'buyer@example.com', quantity = 1) => {
    const { result } = await shop.shop.reserve({ productId: shop.productId, quantity, email });
    if (!result.ok) throw new Error(result.error.message);
    return result.value;
  };
  const auditRows = () =>
    shop.rows<{ actor: string; action: string; subject: string; detail: string }>(
      'SELECT actor, action, subject, detail FROM audit ORDER BY id',
    );
  const stock = async () => (await shop.shop.getProduct(shop.productId))?.stock;
  return { ...shop, call, dispatch, fails, reserve, auditRows, stock };
}

describe.each(BACKEND_NAMES)('on %s', (backend) => {
  describe('orders.list', () => {
    it('finds orders by id prefix or e-mail part, filters by status, and pages newest first', async () => {
      const s = await setup(backend, 5);
      const a = await s.reserve('alice@example.com');
      const b = await s.reserve('bob@shop.cn');
      const c = await s.reserve('carol@example.com');
      await s.call('orders.markPaid', { id: b.id });

      const all = await s.call('orders.list', {});
      expect(all.total).toBe(3);
      expect(all.orders.map((o) => o.id).sort()).toEqual([a.id, b.id, c.id].sort());
      expect(all.orders[0]?.productName).toBe('Steam 50');

      expect((await s.call('orders.list', { q: 'EXAMPLE.com' })).orders.map((o) => o.email).sort()).toEqual([
        'alice@example.com',
        'carol@example.com',
      ]);
      expect((await s.call('orders.list', { q: b.id })).orders.map((o) => o.id)).toEqual([b.id]);
      expect((await s.call('orders.list', { q: '%' })).total).toBe(0);
      // Case-insensitive on both backends, and LIKE's wildcards taken literally.
      expect((await s.call('orders.list', { q: b.id.toUpperCase() })).orders.map((o) => o.id)).toEqual([b.id]);
      expect((await s.call('orders.list', { q: 'ORD_' })).total).toBe(3);
      expect((await s.call('orders.list', { q: 'ord%' })).total).toBe(0);
      expect((await s.call('orders.list', { q: 'e_ample' })).total).toBe(0);
      expect(await s.call('orders.list', { offset: 3 })).toEqual({ orders: [], total: 3 });
      const delivered = await s.call('orders.list', { status: 'delivered' });
      expect(delivered.orders.map((o) => o.id)).toEqual([b.id]);
      const page = await s.call('orders.list', { offset: 1, limit: 1 });
      expect(page).toMatchObject({ total: 3 });
      expect(page.orders).toHaveLength(1);
      expect(await s.fails('orders.list', { limit: 0 })).toBe('validation_failed');
      expect(await s.fails('orders.list', { status: 'lost' })).toBe('validation_failed');
    });
  });

  describe('orders actions', () => {
    it('marks an order paid by hand once, audits who did it, and refuses a second press', async () => {
      const s = await setup(backend, 2);
      const events: AppEvent[] = [];
      s.shop.events.subscribe((e) => events.push(e));
      const order = await s.reserve();
      const paid = await s.call('orders.markPaid', { id: order.id });
      expect(paid.effect).toBe('delivered');
      expect(paid.order.status).toBe('delivered');
      expect(events).toContainEqual({ type: 'order', orderId: order.id, productId: s.productId, status: 'delivered' });
      expect(await s.fails('orders.markPaid', { id: order.id })).toBe('order_not_payable');
      expect((await s.shop.getOrder(order.id))?.status).toBe('delivered');
      expect(await s.auditRows()).toEqual([
        expect.objectContaining({ actor: 'desktop:test', action: 'order.mark_paid', subject: order.id }),
      ]);
      expect(await s.fails('orders.markPaid', { id: 'ord_nope' })).toBe('order_not_found');
    });

    it('shows an order with its keys (ids only), payments and a timeline from the ledger and the audit trail', async () => {
      const s = await setup(backend, 2);
      const order = await s.reserve();
      await s.call('orders.markPaid', { id: order.id });
      const detail = await s.call('orders.get', { id: order.id });
      expect(detail.order.id).toBe(order.id);
      expect(detail.keys).toEqual([expect.objectContaining({ status: 'sold', returnedAt: null })]);
      expect(detail.payments).toEqual([
        expect.objectContaining({ eventId: `manual:${order.id}`, source: 'manual', outcome: 'delivered' }),
      ]);
      expect(detail.timeline.map((t) => [t.source, t.event, t.orderTo])).toEqual([
        ['ledger', 'reserve', 'reserved'],
        ['ledger', 'sell', 'delivered'],
        ['audit', 'order.mark_paid', null],
      ]);
      expect(detail.timeline[2]?.actor).toBe('desktop:test');
      expect(JSON.stringify(detail)).not.toContain('CODE-');
      expect(await s.fails('orders.get', { id: 'ord_missing' })).toBe('order_not_found');
    });

    it('refunds with the keys burned or returned, audited, and the ledger still verifies', async () => {
      const s = await setup(backend, 2);
      const one = await s.reserve('a@example.com');
      const two = await s.reserve('b@example.com');
      await s.call('orders.markPaid', { id: one.id });
      await s.call('orders.markPaid', { id: two.id });
      expect(await s.fails('orders.refund', { id: one.id, keys: 'burn', reason: '  ' })).toBe('validation_failed');
      expect((await s.call('orders.refund', { id: one.id, keys: 'burn', reason: 'charge-back' })).order.status).toBe('refunded');
      await s.call('orders.refund', { id: two.id, keys: 'return', reason: 'never used' });
      expect(await s.stock()).toEqual({ available: 1, reserved: 0, sold: 0 });
      expect(await s.fails('orders.refund', { id: one.id, keys: 'burn', reason: 'again' })).toBe('order_not_refundable');
      const refunds = (await s.auditRows()).filter((r) => r.action === 'order.refund');
      expect(refunds.map((r): unknown[] => [r.subject, JSON.parse(r.detail) as unknown])).toEqual([
        [one.id, { keys: 'burn', reason: 'charge-back' }],
        [two.id, { keys: 'return', reason: 'never used' }],
      ]);
      const returned = await s.call('orders.get', { id: two.id });
      expect(returned.keys[0]?.status).toBe('returned');
      expect((await s.call('ledger.verify', {})).ok).toBe(true);
    });

    it('releases a hold by hand and refuses to release a paid order', async () => {
      const s = await setup(backend, 2);
      const order = await s.reserve();
      expect((await s.call('orders.release', { id: order.id })).order.status).toBe('expired');
      expect((await s.stock())?.available).toBe(2);
      const paid = await s.reserve();
      await s.call('orders.markPaid', { id: paid.id });
      expect(await s.fails('orders.release', { id: paid.id })).toBe('order_not_releasable');
      expect((await s.auditRows()).filter((r) => r.action === 'order.release')).toEqual([
        expect.objectContaining({ subject: order.id, actor: 'desktop:test' }),
      ]);
    });

    it('re-delivers: the same codes again, or a fresh key in place of a bad one (burned), all in the ledger', async () => {
      const s = await setup(backend, 3);
      const order = await s.reserve();
      expect(await s.fails('orders.redeliver', { id: order.id, reason: 'resend' })).toBe('validation_failed');
      await s.call('orders.markPaid', { id: order.id });
      const [first] = await s.shop.deliveredCodes(order.id);

      const again = await s.call('orders.redeliver', { id: order.id, reason: 'buyer lost the e-mail' });
      expect(again).toMatchObject({ delivered: [], burned: [] });
      expect(await s.shop.deliveredCodes(order.id)).toEqual([first]);

      const badKey = (await s.call('orders.get', { id: order.id })).keys[0]!.id;
      const replaced = await s.call('orders.redeliver', {
        id: order.id,
        replaceKeyIds: [badKey],
        reason: 'code rejected by the store',
      });
      expect(replaced.burned).toEqual([badKey]);
      expect(replaced.delivered).toHaveLength(1);
      expect(replaced.order.status).toBe('delivered');
      const codes = await s.shop.deliveredCodes(order.id);
      expect(codes).toHaveLength(1);
      expect(codes[0]).not.toBe(first);
      expect(await s.stock()).toEqual({ available: 1, reserved: 0, sold: 1 });

      const detail = await s.call('orders.get', { id: order.id });
      expect(detail.keys.map((k) => [k.id, k.status, k.returnedAt !== null])).toEqual([
        [badKey, 'burned', true],
        [replaced.delivered[0], 'sold', false],
      ]);
      expect(detail.timeline.filter((t) => t.source === 'ledger').map((t) => t.event)).toEqual([
        'reserve',
        'sell',
        'review',
        'burn',
        'sell',
      ]);
      expect((await s.auditRows()).filter((r) => r.action === 'order.redeliver')).toHaveLength(2);
      // A key that is not this order's cannot be "replaced".
      expect(await s.fails('orders.redeliver', { id: order.id, replaceKeyIds: [badKey], reason: 'again' })).toBe(
        'validation_failed',
      );
      expect((await s.call('ledger.verify', {})).ok).toBe(true);
    });

    it('re-delivery of a bad key with no fresh stock changes nothing', async () => {
      const s = await setup(backend, 1);
      const order = await s.reserve();
      await s.call('orders.markPaid', { id: order.id });
      const keyId = (await s.call('orders.get', { id: order.id })).keys[0]!.id;
      const entries = (await s.call('ledger.list', {})).head;
      expect(await s.fails('orders.redeliver', { id: order.id, replaceKeyIds: [keyId], reason: 'bad' })).toBe('sold_out');
      expect((await s.call('ledger.list', {})).head).toBe(entries);
      expect(await s.shop.deliveredCodes(order.id)).toHaveLength(1);
      expect((await s.auditRows()).filter((r) => r.action === 'order.redeliver')).toHaveLength(0);
    });

    it('takes presses at the same time one after the other: one pays, the last fresh key replaces one code', async () => {
      const s = await setup(backend, 3);
      const a = await s.reserve('a@example.com');
      const b = await s.reserve('b@example.com');
      const twice = await Promise.all([0, 1].map(() => s.dispatch('orders.markPaid', { id: a.id })));
      expect(twice.map((r) => (r.ok ? 'ok' : r.error.code)).sort()).toEqual(['ok', 'order_not_payable']);
      await s.call('orders.markPaid', { id: b.id });
      const keyOf = async (id: string) => (await s.call('orders.get', { id })).keys[0]!.id;
      const [keyA, keyB] = [await keyOf(a.id), await keyOf(b.id)];
      const both = await Promise.all([
        s.dispatch('orders.redeliver', { id: a.id, replaceKeyIds: [keyA], reason: 'bad' }),
        s.dispatch('orders.redeliver', { id: b.id, replaceKeyIds: [keyB], reason: 'bad' }),
      ]);
      expect(both.map((r) => (r.ok ? 'ok' : r.error.code)).sort()).toEqual(['ok', 'sold_out']);
      expect(await s.stock()).toEqual({ available: 0, reserved: 0, sold: 2 });
      expect(await s.count(`SELECT count(*) FROM keys WHERE status = 'burned'`)).toBe(1);
      expect((await s.auditRows()).filter((r) => r.action === 'order.mark_paid')).toHaveLength(2);
      expect((await s.call('ledger.verify', {})).ok).toBe(true);
    });
  });

  describe('ledger.list and ledger.verify', () => {
    it('pages the ledger newest first and names the first bad entry after tampering', async () => {
      const s = await setup(backend, 3);
      for (let i = 0; i < 3; i++) await s.reserve(`b${i}@example.com`);
      const first = await s.call('ledger.list', { limit: 2 });
      expect(first.head).toBe(4);
      expect(first.entries.map((e) => e.seq)).toEqual([4, 3]);
      expect(first.entries[0]).toMatchObject({ kind: 'reserve', keyCount: 1 });
      expect(first.entries[0]?.hash).toMatch(/^[0-9a-f]{16}$/);
      const second = await s.call('ledger.list', { limit: 2, beforeSeq: first.nextBeforeSeq! });
      expect(second.entries.map((e) => e.seq)).toEqual([2, 1]);
      expect(second.nextBeforeSeq).toBeNull();

      expect(await s.call('ledger.verify', {})).toMatchObject({ ok: true, entries: 4 });
      await s.rows(`UPDATE ledger SET detail = '{"quantity":9}' WHERE seq = 3 RETURNING seq`);
      const report = await s.call('ledger.verify', {});
      expect(report.ok).toBe(false);
      expect(report.firstBadEntry).toBe(3);
    });
  });
});

describe('on both backends', () => {
  /** One history, scripted on a shop with a clock that moves a second per step; what the pages show, ids and hashes named. */
  async function history(backend: BackendName) {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const s = await setup(backend, 6, { clock: () => now });
    const step = () => (now += 1000);
    const a = await s.reserve('alice@example.com');
    step();
    const b = await s.reserve('Bob@Shop.cn');
    step();
    const c = await s.reserve('carol@example.com', 2);
    step();
    const d = await s.reserve('dave@example.com');
    step();
    await s.call('orders.markPaid', { id: a.id });
    step();
    await s.call('orders.markPaid', { id: b.id });
    step();
    await s.call('orders.redeliver', { id: b.id, reason: 'resend' });
    step();
    const badKey = (await s.call('orders.get', { id: a.id })).keys[0]!.id;
    await s.call('orders.redeliver', { id: a.id, replaceKeyIds: [badKey], reason: 'bad code' });
    step();
    await s.rows(
      `INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'desktop:test', 'key.reveal', ?, '{}') RETURNING id`,
      now,
      `key:${badKey}`,
    );
    step();
    await s.call('orders.release', { id: c.id });
    step();
    await s.call('orders.markPaid', { id: c.id }); // expired: fresh keys sold
    step();
    await s.call('orders.refund', { id: b.id, keys: 'return', reason: 'never used' });
    step();
    const pages = {
      list: await s.call('orders.list', {}),
      search: await s.call('orders.list', { q: 'EXAMPLE.COM', limit: 2, offset: 1 }),
      byStatus: await s.call('orders.list', { status: 'delivered', productId: s.productId }),
      orders: await Promise.all([a, b, c, d].map((o) => s.call('orders.get', { id: o.id }))),
      ledger: await s.call('ledger.list', {}),
      ledgerPage: await s.call('ledger.list', { limit: 3, beforeSeq: 9 }),
      ledgerOfA: await s.call('ledger.list', { orderId: a.id }),
    };
    // Ids are random; each becomes its name. A hash chains the ids (and the seeded import's own time).
    let text = JSON.stringify(pages);
    for (const [id, name] of [
      [a.id, 'A'],
      [b.id, 'B'],
      [c.id, 'C'],
      [d.id, 'D'],
      [s.productId, 'P'],
    ] as const) {
      text = text.split(id).join(`<${name}>`);
    }
    const shown = JSON.parse(text) as typeof pages;
    for (const entry of [...shown.ledger.entries, ...shown.ledgerPage.entries, ...shown.ledgerOfA.entries]) {
      expect(entry.hash).toMatch(/^[0-9a-f]{16}$/);
      Object.assign(entry, { hash: '<hash>' }, entry.kind === 'import' ? { at: '<seeded>', detail: '<seeded>' } : {});
    }
    return shown;
  }

  it('the Orders and Ledger pages show the same history the same way', async () => {
    const [sqlite, postgres] = [await history('sqlite'), await history('postgres')];
    expect(sqlite.list.total).toBe(4);
    expect(sqlite.orders[0]!.timeline.map((t) => [t.source, t.event])).toEqual([
      ['ledger', 'reserve'],
      ['ledger', 'sell'],
      ['audit', 'order.mark_paid'],
      ['ledger', 'burn'],
      ['ledger', 'sell'],
      ['audit', 'order.redeliver'],
      ['audit', 'key.reveal'],
    ]);
    expect(postgres).toEqual(sqlite);
  });
});
