/**
 * `four-layers`: the article's full scheme. (3) take the item's lease, (2) pass the atomic counter
 * gate, (1) one `BEGIN IMMEDIATE` transaction that decrements the stock only if it is positive and the
 * lease is still ours and creates the order, then release. (4) reconciliation runs after the run: the
 * final state compares orders, sold keys, stock and the counter (see checker.ts / reconcile()).
 */
import {
  begin,
  cachePrecheck,
  commit,
  createOrder,
  idempotencyLookup,
  rollback,
  SOLD_OUT,
  think,
  type Strategy,
} from '../program';
import { counterGate, counterGiveBack } from './counter-gate';
import { fencedDecrement, releaseLease, takeLease } from './lock-lease';

export const fourLayers: Strategy = {
  name: 'four-layers',
  summary: 'lease (distributed lock) + atomic counter gate + BEGIN IMMEDIATE conditional update + reconciliation',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    yield* takeLease(ctx);
    if (!(yield* counterGate())) {
      yield* releaseLease(ctx);
      return SOLD_OUT;
    }
    yield* think();
    yield* begin('immediate');
    if (!(yield* fencedDecrement(ctx))) {
      yield* rollback();
      yield* counterGiveBack();
      yield* releaseLease(ctx);
      return { ok: false, reason: 'lease_lost' };
    }
    const order = yield* createOrder(ctx, 'first');
    yield* commit();
    yield* releaseLease(ctx);
    return { ok: true, ...order };
  },
};
