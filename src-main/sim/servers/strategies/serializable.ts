/**
 * `serializable`: the naive read-then-write, inside `BEGIN ISOLATION LEVEL SERIALIZABLE`. PostgreSQL
 * lets only one of the buyers who read the same stock commit; the others fail with SQLSTATE 40001
 * (serialization_failure), roll back and start again from the read, which now shows the new stock.
 */
import { SOLD_OUT } from '../../program';
import { cachePrecheck, createOrder, idempotencyLookup, readItem, writeStock } from '../blocks';
import { begin, commit, rollback, sqlState, think, type ServerStrategy } from '../program';

/** Tries per purchase before the buyer is told "conflict" (bounded: a retry loop must end). */
export const MAX_SERIALIZABLE_TRIES = 10;

export const serializable: ServerStrategy = {
  summary:
    'BEGIN ISOLATION LEVEL SERIALIZABLE; read stock; think; write stock = read - 1; the order; COMMIT; on 40001 roll back and retry',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    for (let tries = 1; tries <= MAX_SERIALIZABLE_TRIES; tries++) {
      try {
        yield* begin('BEGIN ISOLATION LEVEL SERIALIZABLE', 'serializable');
        const item = yield* readItem({ try: tries });
        if (item.stock <= 0) {
          yield* commit();
          return SOLD_OUT;
        }
        yield* think();
        yield* writeStock(item.stock);
        const order = yield* createOrder(ctx, item.keyId);
        yield* commit();
        return { ok: true, ...order };
      } catch (error) {
        if (sqlState(error) !== '40001') throw error;
        yield* rollback();
      }
    }
    return { ok: false, reason: 'conflict' };
  },
};
