/**
 * `immediate`: `BEGIN IMMEDIATE` takes SQLite's write lock first, then reads, thinks and writes; the
 * next buyer waits for the lock and reads the new stock. (With `splitTransaction`, the order is made in
 * a second transaction after the buyer was already told "success".)
 */
import {
  begin,
  cachePrecheck,
  commit,
  createOrder,
  finishSplit,
  idempotencyLookup,
  read,
  readItem,
  respond,
  SOLD_OUT,
  think,
  write,
  type Strategy,
} from '../program';
import { ITEM_ID } from '../schema';

export const immediate: Strategy = {
  name: 'immediate',
  summary: 'BEGIN IMMEDIATE (write lock first); read stock; think; decrement; create the order; COMMIT',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    yield* begin('immediate');
    const item = yield* read('item', readItem, (r) => ({ source: 'db', stock: r.stock, keyId: r.keyId }));
    if (item.stock <= 0) {
      yield* commit();
      return SOLD_OUT;
    }
    yield* think();
    const to = item.stock - 1;
    yield* write(
      'stock',
      (db) => db.prepare('UPDATE items SET stock = ?, version = version + 1 WHERE id = ?').run(to, ITEM_ID),
      () => ({ field: 'stock', from: item.stock, to }),
    );
    if (ctx.scenario.splitTransaction) {
      yield* commit();
      yield* respond({ ok: true, orderId: null, keyId: null });
      return yield* finishSplit(ctx);
    }
    const order = yield* createOrder(ctx, 'first');
    yield* commit();
    return { ok: true, ...order };
  },
};
