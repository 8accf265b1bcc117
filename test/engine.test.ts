import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../src-main/engine/engine';
import type { CreatedOrder } from '../src-main/engine/orders';
import { countStock } from '../src-main/engine/products';
import { GroupCommitWriter, type WriteGroup } from '../src-main/engine/writer';
import { seal } from '../src-main/vault/crypto';
import { openShop } from './helpers/shop';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
async function shop(options: Parameters<typeof openShop>[0] = {}) {
  const s = await openShop(options);
  cleanups.push(s.cleanup);
  return s;
}

describe('purchase engine', () => {
  it('reserves, pays and delivers the held code in one go', async () => {
    const { engine, productId } = await shop({ keys: 2 });
    const { result, replayed } = await engine.reserve({ productId, quantity: 1, email: 'a@example.com', idempotencyKey: 'k1' });
    expect(replayed).toBe(false);
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.status).toBe('reserved');
    expect(result.value.amount).toBe(5000);
    expect(engine.getProduct(productId)?.stock).toEqual({ available: 1, reserved: 1, sold: 0 });

    const paid = await engine.pay({
      orderId: result.value.id,
      amount: 5000,
      currency: 'CNY',
      eventId: 'evt_1',
      source: 'webhook',
    });
    expect(paid.effect).toBe('delivered');
    expect(await engine.deliveredCodes(result.value.id)).toEqual(['CODE-000000']);
    expect(engine.getProduct(productId)?.stock).toEqual({ available: 1, reserved: 0, sold: 1 });
    expect(countStock(engine.db, productId)).toEqual({ available: 1, reserved: 0, sold: 1 });
    expect(engine.verifyLedger()).toMatchObject({ ok: true, entries: 3 });
  });

  it('holds several keys all or nothing', async () => {
    const { engine, productId } = await shop({ keys: 3 });
    const tooMany = await engine.reserve({ productId, quantity: 4, email: 'a@example.com' });
    expect(tooMany.result.ok).toBe(false);
    expect(engine.getProduct(productId)?.stock.available).toBe(3);
    const three = await engine.reserve({ productId, quantity: 3, email: 'a@example.com' });
    expect(three.result.ok).toBe(true);
    expect(engine.getProduct(productId)?.stock).toEqual({ available: 0, reserved: 3, sold: 0 });
  });

  it('replays the same idempotent request and refuses a different one', async () => {
    const { engine, productId } = await shop({ keys: 2 });
    const first = await engine.reserve({ productId, quantity: 1, email: 'a@example.com', idempotencyKey: 'same' });
    const again = await engine.reserve({ productId, quantity: 1, email: 'a@example.com', idempotencyKey: 'same' });
    expect(again.replayed).toBe(true);
    expect(again.result).toEqual(first.result);
    expect(engine.getProduct(productId)?.stock.reserved).toBe(1);
    await expect(
      engine.reserve({ productId, quantity: 1, email: 'b@example.com', idempotencyKey: 'same' }),
    ).rejects.toMatchObject({
      code: 'idempotency_key_reused',
    });
  });

  it('keeps a refusal as JSON, rebuilds a created order from its row, seals only the access token', async () => {
    const { engine, productId } = await shop({ keys: 1 });
    const first = await engine.reserve({ productId, quantity: 1, email: 'a@example.com', idempotencyKey: 'sealed' });
    if (!first.result.ok) throw new Error(first.result.error.message);
    const soldOut = await engine.reserve({ productId, quantity: 1, email: 'a@example.com', idempotencyKey: 'none-left' });
    expect(soldOut.result.ok).toBe(false);
    const rows = engine.db.prepare('SELECT key, sealed_response, response FROM idempotency ORDER BY key').all() as {
      key: string;
      sealed_response: Buffer;
      response: string;
    }[];
    expect(rows.map((r) => r.key)).toEqual(['none-left', 'sealed']);
    const [none, sealed] = rows;
    expect(none!.sealed_response.length).toBe(0);
    expect(JSON.parse(none!.response)).toEqual(soldOut.result);
    expect(sealed!.response).toBe('');
    expect(sealed!.sealed_response.toString('latin1')).not.toContain(first.result.value.accessToken);
    expect((await engine.reserve({ productId, quantity: 1, email: 'a@example.com', idempotencyKey: 'sealed' })).result).toEqual(
      first.result,
    );
    expect(
      (await engine.reserve({ productId, quantity: 1, email: 'a@example.com', idempotencyKey: 'none-left' })).result,
    ).toEqual(soldOut.result);
  });

  /**
   * Creates an order with idempotency key `key`, lets `change` alter the shop or the stored record the way
   * a later event or an older version would, then sends the same request again: the first answer comes back.
   */
  async function expectReplayAfter(key: string, change: (engine: Engine, created: CreatedOrder) => unknown): Promise<void> {
    const { engine, productId } = await shop({ keys: 2 });
    const request = { productId, quantity: 1, email: 'a@example.com', idempotencyKey: key };
    const first = await engine.reserve(request);
    if (!first.result.ok) throw new Error(first.result.error.message);
    await change(engine, first.result.value);
    expect(await engine.reserve(request)).toEqual({ replayed: true, result: first.result });
  }

  it('replays the answer as it was at creation after the order was paid', async () => {
    await expectReplayAfter('then-paid', async (engine, created) => {
      await engine.pay({ orderId: created.id, amount: 5000, currency: 'CNY', eventId: 'evt_paid', source: 'webhook' });
      expect(engine.getOrder(created.id)?.status).toBe('delivered');
    });
  });

  it('replays a record that stored a created order as JSON (before migration 9)', async () => {
    await expectReplayAfter('json', (engine, created) => {
      const { accessToken: _token, ...view } = created;
      engine.db.prepare(`UPDATE idempotency SET response = ? WHERE key = 'json'`).run(JSON.stringify({ ok: true, value: view }));
    });
  });

  it('replays a record written before migration 5, with the whole answer sealed', async () => {
    await expectReplayAfter('old', (engine, created) => {
      const legacy = seal(
        engine.vault.sealKey,
        JSON.stringify({ ok: true, value: created }),
        'oncekey/idempotency/orders.create/old',
      );
      engine.db.prepare(`UPDATE idempotency SET sealed_response = ?, response = NULL WHERE key = 'old'`).run(legacy);
    });
  });

  it('replays a record whose access token was sealed under the idempotency key (before order tickets)', async () => {
    await expectReplayAfter('keyed', (engine, created) => {
      const keyed = seal(engine.vault.sealKey, created.accessToken, 'oncekey/idempotency/orders.create/token/keyed');
      engine.db.prepare(`UPDATE idempotency SET sealed_response = ? WHERE key = 'keyed'`).run(keyed);
    });
  });

  it('answers 409 in flight for a concurrent duplicate in the same process', async () => {
    const { engine, productId } = await shop({ keys: 2 });
    const args = { productId, quantity: 1, email: 'a@example.com', idempotencyKey: 'dup' };
    const [a, b] = await Promise.allSettled([engine.reserve(args), engine.reserve(args)]);
    expect(a.status).toBe('fulfilled');
    expect(b).toMatchObject({ status: 'rejected', reason: { code: 'idempotency_key_in_flight' } });
  });

  it('sells the last key once when a hundred buyers press buy together', async () => {
    const { engine, productId } = await shop({ keys: 1 });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        engine.reserve({ productId, quantity: 1, email: `b${i}@example.com`, idempotencyKey: `i${i}` }),
      ),
    );
    const ok = results.filter((r) => r.result.ok);
    const soldOut = results.filter((r) => !r.result.ok && r.result.error.code === 'sold_out');
    expect(ok).toHaveLength(1);
    expect(soldOut).toHaveLength(99);
    expect(engine.writer.stats.batches).toBeLessThan(10);
    // The storm's reservations ran through reserveMany, not one by one.
    expect(engine.writer.stats.grouped).toBeGreaterThan(50);
  });

  it('keeps one failing write from failing its batch neighbours', async () => {
    const { engine, productId } = await shop({ keys: 5 });
    const results = await Promise.allSettled([
      engine.reserve({ productId, quantity: 1, email: 'a@example.com' }),
      engine.writer.run(() => {
        throw new Error('boom');
      }),
      engine.reserve({ productId, quantity: 1, email: 'b@example.com' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(engine.getProduct(productId)?.stock.reserved).toBe(2);
  });

  it('refuses a writer whose batches could hold no write, instead of queueing every write forever', async () => {
    const { engine } = await shop();
    for (const maxBatch of [0, -1, 1.5, Number.NaN]) {
      expect(() => new GroupCommitWriter(engine.db, { maxBatch })).toThrow(/maxBatch must be a positive integer/);
    }
  });

  it('runs neighbouring writes of one group as one runMany, and each alone once runMany throws', async () => {
    const { engine } = await shop();
    const calls: number[][] = [];
    const group: WriteGroup<number> = {
      runMany: (_db, _now, inputs) => {
        calls.push([...inputs]);
        if (inputs.includes(3)) throw new Error('boom');
        return inputs.map((n) => (n === 5 ? { ok: false, error: new Error('five') } : { ok: true, value: n * 10 }));
      },
    };
    const write = (n: number): Promise<unknown> =>
      engine.writer.run(
        () => {
          if (n === 3) throw new Error('three');
          return n * 10;
        },
        { group, input: n },
      );
    const first = await Promise.allSettled([write(1), write(2), engine.writer.run(() => 'alone'), write(4), write(5)]);
    expect(first.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      10,
      20,
      'alone',
      40,
      'five',
    ]);
    expect(calls).toEqual([
      [1, 2],
      [4, 5],
    ]);
    calls.length = 0;
    const second = await Promise.allSettled([write(1), write(3), write(4)]);
    expect(second.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([10, 'three', 40]);
    expect(calls).toEqual([[1, 3, 4]]);
    expect(engine.writer.stats.isolatedRetries).toBe(1);
    // Counted only for attempts that committed: 1, 2, 4 and 5.
    expect(engine.writer.stats.grouped).toBe(4);
  });

  it('returns expired holds to sale and still sells a late payment while keys are free', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const { engine, productId } = await shop({ keys: 1, holdSeconds: 60, clock: () => now });
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'a@example.com' });
    if (!result.ok) throw new Error('expected an order');
    now += 61_000;
    expect(await engine.sweepExpired()).toBe(1);
    expect(engine.getOrder(result.value.id)?.status).toBe('expired');
    expect(engine.getProduct(productId)?.stock).toEqual({ available: 1, reserved: 0, sold: 0 });
    const late = await engine.pay({
      orderId: result.value.id,
      amount: 5000,
      currency: 'CNY',
      eventId: 'late',
      source: 'webhook',
    });
    expect(late.effect).toBe('delivered');
    expect(engine.verifyLedger().ok).toBe(true);
  });

  it('sends doubtful payments to review and never delivers twice', async () => {
    const { engine, productId } = await shop({ keys: 3 });
    const a = await engine.reserve({ productId, quantity: 1, email: 'a@example.com' });
    const b = await engine.reserve({ productId, quantity: 1, email: 'b@example.com' });
    if (!a.result.ok || !b.result.ok) throw new Error('expected orders');
    const wrong = await engine.pay({
      orderId: a.result.value.id,
      amount: 4999,
      currency: 'CNY',
      eventId: 'e1',
      source: 'webhook',
    });
    expect(wrong).toMatchObject({ effect: 'needs_review', reason: 'amount_mismatch' });
    await engine.pay({ orderId: b.result.value.id, amount: 5000, currency: 'CNY', eventId: 'e2', source: 'webhook' });
    const same = await engine.pay({
      orderId: b.result.value.id,
      amount: 5000,
      currency: 'CNY',
      eventId: 'e2',
      source: 'webhook',
    });
    expect(same.effect).toBe('duplicate_event');
    const second = await engine.pay({
      orderId: b.result.value.id,
      amount: 5000,
      currency: 'CNY',
      eventId: 'e3',
      source: 'webhook',
    });
    expect(second).toMatchObject({ effect: 'needs_review', reason: 'duplicate_payment' });
    expect(engine.getProduct(productId)?.stock.sold).toBe(1);
    expect(engine.verifyLedger().ok).toBe(true);
  });

  it('refunds by burning or returning the key, as chosen', async () => {
    const { engine, productId } = await shop({ keys: 2 });
    for (const [i, keys] of (['burn', 'return'] as const).entries()) {
      const { result } = await engine.reserve({ productId, quantity: 1, email: `r${i}@example.com` });
      if (!result.ok) throw new Error('expected an order');
      await engine.pay({ orderId: result.value.id, amount: 5000, currency: 'CNY', eventId: `p${i}`, source: 'manual' });
      const refunded = await engine.refund({ orderId: result.value.id, keys, reason: 'buyer complaint', actor: 'test' });
      expect(refunded.status).toBe('refunded');
    }
    expect(engine.getProduct(productId)?.stock).toEqual({ available: 1, reserved: 0, sold: 0 });
    expect(countStock(engine.db, productId)).toEqual({ available: 1, reserved: 0, sold: 0 });
    expect(engine.verifyLedger().ok).toBe(true);
  });

  it('finds an order only with its access token', async () => {
    const { engine, productId } = await shop({ keys: 1 });
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'a@example.com' });
    if (!result.ok) throw new Error('expected an order');
    expect(engine.getOrderWithToken(result.value.id, result.value.accessToken)?.id).toBe(result.value.id);
    expect(engine.getOrderWithToken(result.value.id, 'wrong')).toBeNull();
    expect(engine.getOrderWithToken('ord_nope', result.value.accessToken)).toBeNull();
  });

  it('audits a payment confirmed by hand, with who did it and what it did', async () => {
    const { engine, productId } = await shop({ keys: 1 });
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'a@example.com' });
    if (!result.ok) throw new Error('expected an order');
    const id = result.value.id;
    const payment = {
      orderId: id,
      amount: 5000,
      currency: 'CNY',
      eventId: `manual:${id}`,
      source: 'manual',
      actor: 'alice',
    } as const;
    const first = await engine.pay(payment);
    const again = await engine.pay(payment);
    expect([first.effect, again.effect]).toEqual(['delivered', 'duplicate_event']);
    const rows = engine.db.prepare(`SELECT actor, action, subject, detail FROM audit ORDER BY id`).all() as {
      actor: string;
      action: string;
      subject: string;
      detail: string;
    }[];
    expect(rows.map((r) => [r.actor, r.action, r.subject, (JSON.parse(r.detail) as { effect: string }).effect])).toEqual([
      ['alice', 'order.mark_paid', id, 'delivered'],
      ['alice', 'order.mark_paid', id, 'duplicate_event'],
    ]);
  });

  it('enforces a purchase limit per e-mail under the write lock, even for simultaneous requests', async () => {
    const { engine, productId } = await shop({ keys: 10 });
    const purchaseLimit = { maxOrders: 2, windowMs: 86_400_000 };
    const settled = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        engine.reserve({ productId, quantity: 1, email: 'greedy@example.com', idempotencyKey: `g${i}`, purchaseLimit }),
      ),
    );
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(2);
    for (const s of settled) if (s.status === 'rejected') expect((s.reason as { code: string }).code).toBe('purchase_limit');
    const other = await engine.reserve({ productId, quantity: 1, email: 'other@example.com', purchaseLimit });
    expect(other.result.ok).toBe(true);
    // A replay of an order that went through is still answered from its record.
    const replay = await engine.reserve({
      productId,
      quantity: 1,
      email: 'greedy@example.com',
      idempotencyKey: 'g0',
      purchaseLimit,
    });
    expect(replay.replayed).toBe(true);
  });
});
