/**
 * `optimistic`: read stock and version without a lock, think, then write only if the version is still
 * the one read (`WHERE version = ?`); if someone else got there first, read again (at most 5 tries).
 */
import type { EventDetail } from '../../../shared/sim';
import {
  begin,
  cachePrecheck,
  commit,
  createOrder,
  idempotencyLookup,
  read,
  readItem,
  rollback,
  SOLD_OUT,
  think,
  write,
  type Strategy,
} from '../program';
import { ITEM_ID } from '../schema';

export const MAX_OPTIMISTIC_TRIES = 5;

export const optimistic: Strategy = {
  name: 'optimistic',
  summary: 'read stock + version; think; UPDATE ... WHERE version = <read>; 0 rows = someone was first, retry',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    for (let tries = 1; tries <= MAX_OPTIMISTIC_TRIES; tries++) {
      const item = yield* read('item', readItem, (r) => ({ source: 'db', stock: r.stock, version: r.version, try: tries }));
      if (item.stock <= 0) return SOLD_OUT;
      yield* think();
      yield* begin('immediate');
      const changed = yield* write(
        'stock',
        (db) =>
          db
            .prepare('UPDATE items SET stock = stock - 1, version = version + 1 WHERE id = ? AND version = ? AND stock > 0')
            .run(ITEM_ID, item.version).changes,
        (n): EventDetail =>
          n === 1
            ? { field: 'stock', from: item.stock, to: item.stock - 1, changed: 1 }
            : { field: 'stock', changed: 0, version: item.version },
      );
      if (changed === 0) {
        yield* rollback();
        continue;
      }
      const order = yield* createOrder(ctx, 'first');
      yield* commit();
      return { ok: true, ...order };
    }
    return { ok: false, reason: 'conflict' };
  },
};
