/**
 * The simulator's checker, one anomaly at a time, on histories written by hand: each is found, named,
 * explained in English and Chinese, and points at the right events; a clean history has none.
 */
import { describe, expect, it } from 'vitest';
import { History, preset, type FinalOrder, type HistoryEvent, type StepKind } from '../shared/sim';
import { check } from '../src-main/sim';
import { summarize } from '../src-main/sim/summary';

type E = [buyer: number, step: StepKind, detail?: HistoryEvent['detail'], attempt?: number];

function history(
  initialStock: number,
  events: E[],
  orders: [id: number, buyer: number, keyId: number | null, attempt?: number][],
  stock = 0,
): History {
  return History.parse({
    version: 1,
    mode: 'deterministic',
    timeUnit: 'step',
    scenario: { ...preset('incident'), buyers: Math.max(1, ...events.map((e) => e[0] + 1)), keys: initialStock },
    initialStock,
    events: events.map(([buyer, step, detail, attempt], i) => ({
      i,
      buyer,
      attempt: attempt ?? 1,
      step,
      t: i,
      detail: detail ?? {},
    })),
    final: {
      stock,
      counter: null,
      keysSold: new Set(orders.map((o) => o[2])).size,
      orders: orders.map(([id, buyer, keyId, attempt]): FinalOrder => ({ id, buyer, attempt: attempt ?? 1, keyId, token: null })),
    },
  });
}

const names = (h: History) => check(h).map((a) => a.name);

describe('checker', () => {
  it('finds nothing in a clean sale: one buyer buys, the other is declined', () => {
    const h = history(
      1,
      [
        [0, 'invoke'],
        [0, 'begin', { mode: 'immediate' }],
        [0, 'write', { label: 'stock', field: 'stock', from: 1, to: 0 }],
        [0, 'write', { label: 'order', orderId: 1, keyId: 1 }],
        [0, 'commit', { stockAfter: 0 }],
        [0, 'ok', { orderId: 1, keyId: 1 }],
        [1, 'invoke'],
        [1, 'read', { source: 'db', stock: 0 }],
        [1, 'fail', { reason: 'sold_out' }],
      ],
      [[1, 0, 1]],
    );
    expect(check(h)).toEqual([]);
    expect(summarize(h, [])).toMatchObject({ successes: 1, oversold: 0, declined: 1, errors: 0, unknown: 0 });
  });

  it('key_sold_twice: two orders hold key 7', () => {
    const h = history(
      2,
      [
        [0, 'write', { label: 'order', orderId: 1, keyId: 7 }],
        [0, 'ok', { orderId: 1, keyId: 7 }],
        [1, 'write', { label: 'order', orderId: 2, keyId: 7 }],
        [1, 'ok', { orderId: 2, keyId: 7 }],
      ],
      [
        [1, 0, 7],
        [2, 1, 7],
      ],
    );
    const [a] = check(h);
    expect(a).toMatchObject({ name: 'key_sold_twice', events: [0, 1, 2, 3] });
    expect(a?.message.en).toMatch(/Key #7 was sold to 2 orders/);
    expect(a?.message['zh-CN']).toMatch(/卡密 #7/);
  });

  it('oversold: three successes for a stock of one, pointing at the two extra answers', () => {
    const h = history(
      1,
      [
        [0, 'ok', { orderId: 1, keyId: 1 }],
        [1, 'ok', { orderId: 2, keyId: null }],
        [2, 'ok', { orderId: 3, keyId: null }],
      ],
      [
        [1, 0, 1],
        [2, 1, null],
        [3, 2, null],
      ],
    );
    expect(names(h)).toEqual(['oversold']);
    const [a] = check(h);
    expect(a?.events).toEqual([0, 1, 2]);
    expect(a?.message.en).toMatch(/3 buyers were told "success" for a stock of 1: 2 too many \(events #1, #2\)/);
    expect(summarize(h, check(h)).oversold).toBe(2);
  });

  it('success_without_durable_order: told success early, no order row', () => {
    const h = history(
      2,
      [
        [0, 'write', { label: 'stock', field: 'stock', from: 2, to: 1, autocommit: true, stockAfter: 1 }],
        [0, 'ok', { orderId: null, keyId: null, early: true }],
        [1, 'write', { label: 'stock', field: 'stock', from: 1, to: 0, autocommit: true, stockAfter: 0 }],
        [1, 'ok', { orderId: null, keyId: null, early: true }],
        [1, 'write', { label: 'order', orderId: 1, keyId: 1 }],
        [1, 'ok', { orderId: 1, keyId: 1, afterResponse: true }],
        [0, 'fail', { reason: 'key_taken', afterResponse: true }],
      ],
      [[1, 1, 1]],
    );
    expect(names(h)).toEqual(['success_without_durable_order']);
    expect(check(h)[0]?.events).toEqual([1]);
  });

  it('lost_update: two committed writes both set the stock from 5 to 4; a rolled-back one does not count', () => {
    const h = history(
      5,
      [
        [0, 'write', { label: 'stock', field: 'stock', from: 5, to: 4, autocommit: true, stockAfter: 4 }],
        [1, 'begin', { mode: 'deferred' }],
        [1, 'write', { label: 'stock', field: 'stock', from: 5, to: 4 }],
        [1, 'commit', { stockAfter: 4 }],
        [2, 'begin', { mode: 'deferred' }],
        [2, 'write', { label: 'stock', field: 'stock', from: 4, to: 3 }],
        [2, 'rollback'],
        [3, 'write', { label: 'stock', field: 'stock', from: 4, to: 3, autocommit: true, stockAfter: 3 }],
      ],
      [],
      3,
    );
    expect(names(h)).toEqual(['lost_update']);
    expect(check(h)[0]).toMatchObject({ events: [0, 2] });
    expect(check(h)[0]?.message['zh-CN']).toMatch(/从 5 改成 4/);
  });

  it('double_purchase_on_retry: one buyer, a timed-out attempt and its retry, two orders', () => {
    const h = history(
      10,
      [
        [0, 'invoke', {}, 1],
        [0, 'unknown', { timeoutMs: 50 }, 1],
        [0, 'invoke', {}, 2],
        [0, 'ok', { orderId: 1, keyId: 1, late: true }, 1],
        [0, 'ok', { orderId: 2, keyId: 2 }, 2],
      ],
      [
        [1, 0, 1, 1],
        [2, 0, 2, 2],
      ],
      8,
    );
    expect(names(h)).toEqual(['double_purchase_on_retry']);
    expect(check(h)[0]).toMatchObject({ events: [0, 1, 2, 3, 4] });
    expect(check(h)[0]?.message.en).toMatch(/Buyer 0 made one purchase but holds 2 orders/);
  });

  it('stale_read: a cached stock of 2 after the database went to 1; a fresh cache read is fine', () => {
    const h = history(
      2,
      [
        [0, 'read', { source: 'cache', stock: 2 }],
        [0, 'commit', { stockAfter: 1 }],
        [1, 'read', { source: 'cache', stock: 2 }],
        [2, 'read', { source: 'db', stock: 1 }],
      ],
      [],
      1,
    );
    expect(names(h)).toEqual(['stale_read']);
    expect(check(h)[0]).toMatchObject({ events: [1, 2] });
    expect(check(h)[0]?.message.en).toMatch(/cached stock of 2 while the database already held 1/);
  });
});
