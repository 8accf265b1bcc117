/**
 * Scheduled reconciliation: runs at start and at its interval, and emits a `findings` event when a
 * disagreement appears that the previous run did not have (and when the open count changes), never
 * for a run that found the same things again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AppEvent } from '../shared/rpc';
import { startReconcileScheduler, type ReconcileScheduler } from '../src-main/reconcile/scheduler';
import { openShop } from './helpers/shop';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Resolves with the next findings event, or null after `ms` (bounded wait, not a timing assertion). */
function nextFindings(events: AppEvent[], from: number, ms = 10_000): Promise<AppEvent | null> {
  return new Promise((resolve) => {
    const deadline = Date.now() + ms;
    const poll = () => {
      const hit = events.slice(from).find((e) => e.type === 'findings');
      if (hit) resolve(hit);
      else if (Date.now() > deadline) resolve(null);
      else setTimeout(poll, 10);
    };
    poll();
  });
}

describe('reconciliation scheduler', () => {
  it('emits {type: findings, open, new} when new findings appear, and stays quiet when nothing changed', async () => {
    const shop = await openShop({ keys: 3 });
    cleanups.push(shop.cleanup);
    const { engine, productId } = shop;
    const events: AppEvent[] = [];
    cleanups.push(engine.events.subscribe((e) => events.push(e)));
    let scheduler: ReconcileScheduler | null = null;
    const errors: unknown[] = [];
    scheduler = startReconcileScheduler(engine, 25, { onError: (e) => errors.push(e) });
    cleanups.push(() => scheduler.stop());
    // A clean shop: the first run finds nothing and says nothing.
    expect(await scheduler.runNow()).toEqual({ open: 0, new: 0 });
    expect(events.filter((e) => e.type === 'findings')).toEqual([]);

    engine.db.prepare('UPDATE products SET sold = sold + 1 WHERE id = ?').run(productId);
    const mark = events.length;
    expect(await nextFindings(events, mark)).toEqual({ type: 'findings', open: 1, new: 1 });
    // Several more ticks with the same finding: no second event.
    for (let i = 0; i < 3; i++) await scheduler.runNow();
    expect(events.filter((e) => e.type === 'findings')).toHaveLength(1);

    engine.db.prepare('UPDATE products SET sold = sold - 1 WHERE id = ?').run(productId);
    await scheduler.runNow();
    expect(events.filter((e) => e.type === 'findings').at(-1)).toEqual({ type: 'findings', open: 0, new: 0 });
    expect(errors).toEqual([]);
  });

  it('refuses a nonsensical interval', async () => {
    const shop = await openShop({ keys: 0 });
    cleanups.push(shop.cleanup);
    expect(() => startReconcileScheduler(shop.engine, 0)).toThrow(RangeError);
  });
});
