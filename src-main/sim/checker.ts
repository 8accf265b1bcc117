/**
 * The checker: reads any history (live or deterministic, with the scratch database's final state) and
 * names what went wrong, each anomaly explained in one sentence in English and Chinese that points at the
 * events (their `i`) involved:
 *
 * - `key_sold_twice`: two orders hold the same key;
 * - `oversold`: more purchases told "success" than there was stock;
 * - `success_without_durable_order`: a buyer told "success" for whom no order exists;
 * - `lost_update`: two committed stock writes computed from the same value (one overwrote the other);
 * - `double_purchase_on_retry`: one buyer's retried purchase made two orders;
 * - `stale_read`: a stock check used a cached value the database had already changed.
 */
import type { Anomaly, AnomalyName, History, HistoryEvent } from '../../shared/sim';

function list(indexes: readonly number[]): string {
  const shown = indexes.slice(0, 8).map((i) => `#${i}`);
  return indexes.length > 8 ? `${shown.join(', ')} … (+${indexes.length - 8})` : shown.join(', ');
}

function anomaly(name: AnomalyName, events: number[], en: string, zh: string): Anomaly {
  return { name, events, message: { en, 'zh-CN': zh } };
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

export interface Purchases {
  /** "Success" answers that hand out a unit: not idempotent replays, not a program's end after an early answer. */
  readonly successes: HistoryEvent[];
  readonly declined: number;
  readonly errors: number;
  readonly unknown: number;
}

/** Counts a history's outcomes, per purchase (one per buyer; retries belong to their buyer's purchase). */
export function countPurchases(history: History): Purchases {
  const successes: HistoryEvent[] = [];
  const seenOrders = new Set<number>();
  const byBuyer = new Map<number, { ok: boolean; fail: string | null }>();
  for (const e of history.events) {
    if (e.step !== 'ok' && e.step !== 'fail') continue;
    if (e.detail.afterResponse === true && e.step === 'fail') continue;
    const entry = byBuyer.get(e.buyer) ?? { ok: false, fail: null };
    byBuyer.set(e.buyer, entry);
    if (e.step === 'ok') {
      if (e.detail.afterResponse === true || e.detail.replayed === true) {
        entry.ok = true;
        continue;
      }
      const orderId = num(e.detail.orderId);
      if (orderId !== null) {
        if (seenOrders.has(orderId)) continue;
        seenOrders.add(orderId);
      }
      entry.ok = true;
      successes.push(e);
    } else if (e.detail.late !== true) {
      entry.fail = typeof e.detail.reason === 'string' ? e.detail.reason : 'error';
    }
  }
  let declined = 0;
  let errors = 0;
  let unknown = 0;
  for (let b = 0; b < history.scenario.buyers; b++) {
    const entry = byBuyer.get(b);
    if (entry?.ok) continue;
    if (entry?.fail == null) unknown += 1;
    else if (entry.fail === 'sold_out') declined += 1;
    else errors += 1;
  }
  return { successes, declined, errors, unknown };
}

export function check(history: History): Anomaly[] {
  const found: Anomaly[] = [];
  const { events, final } = history;
  const { successes } = countPurchases(history);

  // key_sold_twice
  const ordersByKey = new Map<number, number[]>();
  for (const o of final.orders) if (o.keyId !== null) ordersByKey.set(o.keyId, [...(ordersByKey.get(o.keyId) ?? []), o.id]);
  for (const [keyId, orderIds] of ordersByKey) {
    if (orderIds.length < 2) continue;
    const ids = new Set(orderIds);
    const involved = events
      .filter((e) => (e.step === 'ok' || e.step === 'write') && ids.has(num(e.detail.orderId) ?? -1))
      .map((e) => e.i);
    found.push(
      anomaly(
        'key_sold_twice',
        involved,
        `Key #${keyId} was sold to ${orderIds.length} orders at once (events ${list(involved)}).`,
        `同一张卡密 #${keyId} 同时卖给了 ${orderIds.length} 个订单（事件 ${list(involved)}）。`,
      ),
    );
  }

  // oversold
  if (successes.length > history.initialStock) {
    const extra = successes.slice(history.initialStock).map((e) => e.i);
    found.push(
      anomaly(
        'oversold',
        successes.map((e) => e.i),
        `${successes.length} buyers were told "success" for a stock of ${history.initialStock}: ${successes.length - history.initialStock} too many (events ${list(extra)}).`,
        `库存只有 ${history.initialStock}，却有 ${successes.length} 位买家被告知"购买成功"，多卖了 ${successes.length - history.initialStock} 份（事件 ${list(extra)}）。`,
      ),
    );
  }

  // success_without_durable_order
  const orderIds = new Set(final.orders.map((o) => o.id));
  const attemptsWithOrder = new Set(final.orders.map((o) => `${o.buyer}/${o.attempt}`));
  const ghosts = events.filter((e) => {
    if (e.step !== 'ok' || e.detail.afterResponse === true) return false;
    const orderId = num(e.detail.orderId);
    return orderId === null ? !attemptsWithOrder.has(`${e.buyer}/${e.attempt}`) : !orderIds.has(orderId);
  });
  if (ghosts.length > 0) {
    const idx = ghosts.map((e) => e.i);
    found.push(
      anomaly(
        'success_without_durable_order',
        idx,
        `${ghosts.length} buyers were told "success" but no order of theirs exists in the database (events ${list(idx)}).`,
        `${ghosts.length} 位买家被告知"购买成功"，数据库里却没有他们的订单（事件 ${list(idx)}）。`,
      ),
    );
  }

  // lost_update: committed stock writes that start from the same value
  const pending = new Map<string, HistoryEvent[]>();
  const durable: HistoryEvent[] = [];
  for (const e of events) {
    const who = `${e.buyer}/${e.attempt}`;
    if (e.step === 'write' && e.detail.field === 'stock' && num(e.detail.from) !== null) {
      if (e.detail.autocommit === true) durable.push(e);
      else pending.set(who, [...(pending.get(who) ?? []), e]);
    } else if (e.step === 'commit') {
      durable.push(...(pending.get(who) ?? []));
      pending.delete(who);
    } else if (e.step === 'rollback' || e.step === 'fail') {
      pending.delete(who);
    }
  }
  const byFrom = new Map<number, HistoryEvent[]>();
  for (const e of durable) {
    const from = num(e.detail.from) ?? 0;
    byFrom.set(from, [...(byFrom.get(from) ?? []), e]);
  }
  for (const [from, writes] of byFrom) {
    if (writes.length < 2) continue;
    const idx = writes.map((e) => e.i);
    found.push(
      anomaly(
        'lost_update',
        idx,
        `${writes.length} committed writes each set the stock from ${from} to ${from - 1}, so all but one decrement were lost (events ${list(idx)}).`,
        `${writes.length} 次已提交的写入都把库存从 ${from} 改成 ${from - 1}，除一次外其余扣减全部丢失（事件 ${list(idx)}）。`,
      ),
    );
  }

  // double_purchase_on_retry
  const ordersByBuyer = new Map<number, number[]>();
  for (const o of final.orders) ordersByBuyer.set(o.buyer, [...(ordersByBuyer.get(o.buyer) ?? []), o.id]);
  for (const [buyer, ids] of ordersByBuyer) {
    if (ids.length < 2) continue;
    const idx = events
      .filter((e) => e.buyer === buyer && (e.step === 'ok' || e.step === 'unknown' || e.step === 'invoke'))
      .map((e) => e.i);
    found.push(
      anomaly(
        'double_purchase_on_retry',
        idx,
        `Buyer ${buyer} made one purchase but holds ${ids.length} orders after the client retried (events ${list(idx)}).`,
        `买家 ${buyer} 只想买一次，客户端重试后却有 ${ids.length} 个订单（事件 ${list(idx)}）。`,
      ),
    );
  }

  // stale_read: a cache read whose value differs from the last committed stock before it
  let lastDurable: { stock: number; i: number | null } = { stock: history.initialStock, i: null };
  for (const e of events) {
    const after = num(e.detail.stockAfter);
    if ((e.step === 'commit' || (e.step === 'write' && e.detail.autocommit === true)) && after !== null) {
      lastDurable = { stock: after, i: e.i };
      continue;
    }
    const seen = num(e.detail.stock);
    if (e.step === 'read' && e.detail.source === 'cache' && seen !== null && seen !== lastDurable.stock) {
      const idx = lastDurable.i === null ? [e.i] : [lastDurable.i, e.i];
      found.push(
        anomaly(
          'stale_read',
          idx,
          `Buyer ${e.buyer} checked a cached stock of ${seen} while the database already held ${lastDurable.stock} (events ${list(idx)}).`,
          `买家 ${e.buyer} 读到缓存库存 ${seen}，而数据库里已经是 ${lastDurable.stock}（事件 ${list(idx)}）。`,
        ),
      );
    }
  }
  return found;
}
