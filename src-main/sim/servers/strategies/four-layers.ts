/**
 * `four-layers` on the redis engine: the article's scheme with real parts. (3) the Redis lock on the
 * item (SET NX PX, compare-and-delete), (2) the article's Lua script with EVAL, (1) the article's
 * FOR UPDATE transaction in PostgreSQL with the order, then release; (4) reconciliation is the checker
 * reading the history and the final state (orders, sold codes, stock, the Redis counter) after the run.
 * Each layer holds on its own: with a lock ttl shorter than the think time the lower two still sell
 * every unit once.
 */
import { SOLD_OUT } from '../../program';
import { cachePrecheck, counterGiveBack, idempotencyLookup, luaGate } from '../blocks';
import { think, type ServerStrategy } from '../program';
import { layer1 } from './for-update';
import { withLock } from './lock-lease';

export const fourLayers: ServerStrategy = {
  summary: "Redis lock (SET NX PX) + the article's Lua script + its FOR UPDATE transaction + reconciliation",
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    return yield* withLock(ctx, function* () {
      if (!(yield* luaGate())) return SOLD_OUT;
      yield* think();
      let order;
      try {
        order = yield* layer1(ctx, false);
      } catch (error) {
        // The sale failed after the gate let it through: the unit goes back to the counter.
        yield* counterGiveBack();
        throw error;
      }
      // The gate said yes and the database no: the counter ran ahead of the stock; reconciliation shows it.
      return order === null ? SOLD_OUT : { ok: true, ...order };
    });
  },
};
