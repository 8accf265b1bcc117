/**
 * `counter-gate`: the article's Redis Lua script as one atomic statement on a counter row
 * (`UPDATE counter SET n = n - 1 WHERE n > 0 RETURNING n`): only as many buyers as there are keys pass
 * the gate; they then think and write the order. A buyer whose order fails gives its unit back.
 */
import type { EventDetail } from '../../../shared/sim';
import {
  begin,
  cachePrecheck,
  commit,
  conditionalDecrement,
  createOrder,
  idempotencyLookup,
  rollback,
  SOLD_OUT,
  think,
  write,
  type Strategy,
} from '../program';
import { ITEM_ID } from '../schema';

export function* counterGate() {
  const left = yield* write(
    'counter',
    (db) =>
      (
        db.prepare('UPDATE counter SET n = n - 1 WHERE item_id = ? AND n > 0 RETURNING n').get(ITEM_ID) as
          { n: number } | undefined
      )?.n ?? null,
    (n): EventDetail => (n === null ? { field: 'counter', changed: 0 } : { field: 'counter', to: n, changed: 1 }),
  );
  return left !== null;
}

export function* counterGiveBack() {
  yield* write(
    'counter',
    (db) => db.prepare('UPDATE counter SET n = n + 1 WHERE item_id = ?').run(ITEM_ID).changes,
    () => ({ field: 'counter', compensation: true }),
  );
}

export const counterGateStrategy: Strategy = {
  name: 'counter-gate',
  summary: 'atomic counter DECR if > 0 (the Lua script); think; BEGIN IMMEDIATE; decrement stock; order; COMMIT',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    if (!(yield* counterGate())) return SOLD_OUT;
    yield* think();
    yield* begin('immediate');
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
