/**
 * `naive` on PostgreSQL (and on the redis engine, where its stock check reads Redis's stock cache): the
 * article's code. Read the stock and the code to sell, think, write `stock = <what I read> - 1`, record
 * the order with the code I read; each statement commits on its own, no lock, no transaction around them.
 */
import { SOLD_OUT } from '../../program';
import { createOrder, idempotencyLookup, readItem, readStockThroughCache, writeStock } from '../blocks';
import { think, type ServerStrategy } from '../program';

export const naive: ServerStrategy = {
  summary: 'read stock, think, write stock = read - 1, record the order: no lock, no transaction around both',
  *program(ctx) {
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    const item = ctx.scenario.cacheTtlMs > 0 ? yield* readStockThroughCache(ctx.scenario.cacheTtlMs) : yield* readItem();
    if (item.stock <= 0) return SOLD_OUT;
    yield* think();
    yield* writeStock(item.stock);
    const order = yield* createOrder(ctx, item.keyId);
    return { ok: true, ...order };
  },
};
