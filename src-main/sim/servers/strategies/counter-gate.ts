/**
 * `counter-gate` on the redis engine: the article's layer 2 for real. EVAL of its Lua script on
 * `item_stock:<item>` (GET; above zero: DECR, else -1) lets only as many buyers through as there are
 * units; they think, then decrement the stock in PostgreSQL if positive and record the order in one
 * transaction. A buyer the database still refuses gives its unit back (INCR).
 */
import { SOLD_OUT } from '../../program';
import { cachePrecheck, conditionalDecrement, counterGiveBack, createOrder, idempotencyLookup, luaGate } from '../blocks';
import { begin, commit, rollback, think, type ServerStrategy } from '../program';

export const counterGate: ServerStrategy = {
  summary:
    "the article's Lua script with EVAL (GET; > 0: DECR, else -1); think; BEGIN; UPDATE ... WHERE stock > 0; the order; COMMIT",
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    if (!(yield* luaGate())) return SOLD_OUT;
    yield* think();
    yield* begin('BEGIN', 'read committed');
    if (!(yield* conditionalDecrement())) {
      yield* rollback();
      yield* counterGiveBack();
      return { ok: false, reason: 'error' };
    }
    const order = yield* createOrder(ctx, 'first');
    yield* commit();
    return { ok: true, ...order };
  },
};
