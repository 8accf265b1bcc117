/**
 * `skip-locked`: each buyer locks a code of its own with `SELECT ... FOR UPDATE SKIP LOCKED` on the
 * table of codes (a code another buyer holds is skipped, not waited for; none left: sold out), thinks
 * while holding only that code, then decrements the stock if positive, records the order with its
 * code and commits. Buyers process in parallel and meet only at the short stock update.
 */
import type { EventDetail } from '../../../../shared/sim';
import { SOLD_OUT } from '../../program';
import { ITEM_ID } from '../../schema';
import { cachePrecheck, conditionalDecrement, createOrder, idempotencyLookup } from '../blocks';
import { begin, commit, read, rollback, think, type ServerStrategy } from '../program';

export const SKIP_LOCKED_SQL =
  "SELECT id FROM codes WHERE item_id = $1 AND status = 'available' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";

export const skipLocked: ServerStrategy = {
  summary:
    'BEGIN; SELECT a code ... FOR UPDATE SKIP LOCKED (none free: sold out); think; UPDATE stock = stock - 1 WHERE stock > 0; the order with that code; COMMIT',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    yield* begin('BEGIN', 'read committed');
    const code = yield* read(
      'code',
      async (c) => (await c.pg.query<{ id: number }>(SKIP_LOCKED_SQL, [ITEM_ID])).rows[0]?.id ?? null,
      (id): EventDetail => ({ source: 'db', keyId: id, skipLocked: true }),
    );
    if (code === null) {
      yield* rollback();
      return SOLD_OUT;
    }
    yield* think();
    if (!(yield* conditionalDecrement())) {
      // More codes than stock: the stock column is the one that says no.
      yield* rollback();
      return SOLD_OUT;
    }
    const order = yield* createOrder(ctx, code);
    yield* commit();
    return { ok: true, ...order };
  },
};
