/**
 * `deferred`: the same read-then-write, inside a plain (deferred) transaction. SQLite in WAL mode
 * refuses to turn a stale read snapshot into a write (SQLITE_BUSY_SNAPSHOT), so this never oversells,
 * but buyers who lose the race get an error instead of an answer.
 */
import {
  begin,
  commit,
  createOrder,
  idempotencyLookup,
  read,
  readItem,
  SOLD_OUT,
  think,
  write,
  type Strategy,
  cachePrecheck,
} from '../program';
import { ITEM_ID } from '../schema';

export const deferred: Strategy = {
  name: 'deferred',
  summary: 'BEGIN; read stock; think; write stock = read - 1; create the order; COMMIT',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    yield* begin('deferred');
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
    const order = yield* createOrder(ctx, item.keyId);
    yield* commit();
    return { ok: true, ...order };
  },
};
