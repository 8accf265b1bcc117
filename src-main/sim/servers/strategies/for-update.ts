/**
 * `for-update`: the article's layer 1 word for word (article.ts): `BEGIN TRANSACTION`, `SELECT * FROM
 * virtual_items WHERE item_id = $1 AND stock > 0 FOR UPDATE` (no row: sold out), then the purchase's
 * processing under the row lock, the conditional `UPDATE`, the order, `COMMIT`. The next buyer's SELECT
 * waits for the lock and, once it has it, sees the new stock (READ COMMITTED re-checks `stock > 0`).
 */
import type { EventDetail } from '../../../../shared/sim';
import type { BuyerContext } from '../../program';
import { SOLD_OUT } from '../../program';
import { ITEM_ID } from '../../schema';
import { LAYER1 } from '../article';
import { cachePrecheck, createOrder, idempotencyLookup } from '../blocks';
import { begin, commit, read, rollback, think, write, type ServerGen, type ServerStrategy } from '../program';

/**
 * One layer-1 transaction. `thinkInLock`: the processing happens while the row is locked (this
 * strategy); four-layers has done its thinking before, under its Redis lock. Null: sold out.
 */
export function* layer1(ctx: BuyerContext, thinkInLock: boolean): ServerGen<{ orderId: number; keyId: number | null } | null> {
  yield* begin(LAYER1.begin, 'transaction');
  const row = yield* read(
    'item',
    async (c) => (await c.pg.query<{ stock: number }>(LAYER1.select, [ITEM_ID])).rows[0] ?? null,
    (r): EventDetail => (r === null ? { source: 'db', rows: 0 } : { source: 'db', stock: r.stock, locked: true }),
    true,
  );
  if (row === null) {
    // The article's COMMIT ends the transaction either way; nothing was changed.
    yield* commit();
    return null;
  }
  if (thinkInLock) yield* think();
  const changed = yield* write(
    'stock',
    async (c) => (await c.pg.query(LAYER1.update, [ITEM_ID])).rowCount ?? 0,
    (n): EventDetail =>
      n === 1 ? { field: 'stock', from: row.stock, to: row.stock - 1, changed: 1 } : { field: 'stock', changed: 0 },
    true,
  );
  if (changed !== 1) {
    yield* rollback();
    throw new Error('the locked row changed under its lock');
  }
  const order = yield* createOrder(ctx, 'first');
  yield* commit();
  return order;
}

export const forUpdate: ServerStrategy = {
  summary:
    "the article's layer 1: BEGIN TRANSACTION; SELECT * ... WHERE item_id = ? AND stock > 0 FOR UPDATE; think; UPDATE ... SET stock = stock - 1 WHERE ... AND stock > 0; the order; COMMIT",
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    const order = yield* layer1(ctx, true);
    return order === null ? SOLD_OUT : { ok: true, ...order };
  },
};
