/**
 * `conditional-update`: no read at all before the write. `UPDATE items SET stock = stock - 1 WHERE
 * stock > 0 RETURNING stock` and the changed-rows check decide, in the same transaction as the order.
 */
import {
  begin,
  cachePrecheck,
  commit,
  conditionalDecrement,
  createOrder,
  finishSplit,
  idempotencyLookup,
  respond,
  rollback,
  SOLD_OUT,
  think,
  type Strategy,
} from '../program';

export const conditionalUpdate: Strategy = {
  name: 'conditional-update',
  summary: 'think; BEGIN IMMEDIATE; UPDATE ... SET stock = stock - 1 WHERE stock > 0 RETURNING; 0 rows = sold out; order; COMMIT',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    yield* think();
    if (ctx.scenario.splitTransaction) {
      // The decrement commits on its own; the buyer hears "success" before any order exists.
      if (!(yield* conditionalDecrement())) return SOLD_OUT;
      yield* respond({ ok: true, orderId: null, keyId: null });
      return yield* finishSplit(ctx);
    }
    yield* begin('immediate');
    if (!(yield* conditionalDecrement())) {
      yield* rollback();
      return SOLD_OUT;
    }
    const order = yield* createOrder(ctx, 'first');
    yield* commit();
    return { ok: true, ...order };
  },
};
