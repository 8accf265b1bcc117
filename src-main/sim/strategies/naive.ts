/**
 * `naive`: the article's code, check-then-act with no lock and no transaction. Read the stock (and the
 * key to sell), think, write `stock = <what I read> - 1`, create the order with the key I read.
 */
import {
  createOrder,
  idempotencyLookup,
  read,
  readItem,
  readStockThroughCache,
  SOLD_OUT,
  think,
  write,
  type Strategy,
} from '../program';
import { ITEM_ID } from '../schema';

export const naive: Strategy = {
  name: 'naive',
  summary: 'read stock, think, write stock = read - 1, create the order: no lock, no transaction',
  *program(ctx) {
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    const item =
      ctx.scenario.cacheTtlMs > 0
        ? yield* readStockThroughCache(ctx.scenario.cacheTtlMs)
        : yield* read('item', readItem, (r) => ({ source: 'db', stock: r.stock, keyId: r.keyId }));
    if (item.stock <= 0) return SOLD_OUT;
    yield* think();
    const to = item.stock - 1;
    yield* write(
      'stock',
      (db) => db.prepare('UPDATE items SET stock = ?, version = version + 1 WHERE id = ?').run(to, ITEM_ID),
      () => ({ field: 'stock', from: item.stock, to }),
    );
    const order = yield* createOrder(ctx, item.keyId);
    return { ok: true, ...order };
  },
};
