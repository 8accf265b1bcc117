/**
 * `lock-lease` on the redis engine: the article's layer 3, a lock with an expiry. SET lock owner NX PX
 * ttl (held: wait and try again), read the stock, think, write `stock = <read> - 1` and the order in one
 * PostgreSQL transaction, release with compare-and-delete. The lock is the only protection, and nothing
 * fences the write: when the ttl is shorter than the think time the lock expires mid-purchase, a second
 * buyer takes it and reads the same stock (the anomaly the checker then names), and the first one's
 * release finds the lock no longer its own (`released: 0`).
 */
import type { ServerGen } from '../program';
import type { BuyerContext, Outcome } from '../../program';
import { SOLD_OUT } from '../../program';
import { cachePrecheck, createOrder, idempotencyLookup, readItem, releaseLock, takeLock, writeStock } from '../blocks';
import { begin, commit, think, type ServerStrategy } from '../program';

/** Runs `body` holding the lock; releases it (if still ours) however the body ends. */
export function* withLock(ctx: BuyerContext, body: () => ServerGen<Outcome>): ServerGen<Outcome> {
  yield* takeLock(ctx);
  try {
    return yield* body();
  } finally {
    yield* releaseLock(ctx);
  }
}

export const lockLease: ServerStrategy = {
  summary:
    'SET lock NX PX ttl (wait while held); read stock; think; BEGIN; stock = read - 1; the order; COMMIT; release if still ours (compare-and-delete)',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    return yield* withLock(ctx, function* () {
      const item = yield* readItem();
      if (item.stock <= 0) return SOLD_OUT;
      yield* think();
      yield* begin('BEGIN', 'read committed');
      yield* writeStock(item.stock);
      const order = yield* createOrder(ctx, item.keyId);
      yield* commit();
      return { ok: true, ...order };
    });
  },
};
