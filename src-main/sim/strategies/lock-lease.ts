/**
 * `lock-lease`: a distributed lock in the style of a Redis `SET NX PX`: a lease row per item with a
 * holder and an expiry. Take the lease (wait while someone else holds it), read, think, then write in
 * one transaction that checks the lease is still ours (a fencing check), and release it.
 */
import type { BuyerContext, Gen } from '../program';
import {
  acquire,
  begin,
  cachePrecheck,
  commit,
  conditionalDecrement,
  createOrder,
  idempotencyLookup,
  read,
  readItem,
  rollback,
  SOLD_OUT,
  think,
  write,
  type Strategy,
} from '../program';
import { ITEM_ID } from '../schema';

export function holderOf(ctx: BuyerContext): string {
  return `b${ctx.buyer}a${ctx.attempt}`;
}

export function* takeLease(ctx: BuyerContext): Gen<void> {
  const me = holderOf(ctx);
  const ttl = ctx.scenario.leaseTtlMs;
  yield* acquire('lease', (db, env) => {
    const now = env.now();
    const row = db
      .prepare(
        'INSERT INTO lease (item_id, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT(item_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at WHERE lease.expires_at <= ? RETURNING holder',
      )
      .get(ITEM_ID, me, now + ttl, now) as { holder: string } | undefined;
    return row?.holder === me;
  });
}

export function* releaseLease(ctx: BuyerContext): Gen<void> {
  const me = holderOf(ctx);
  yield* write(
    'lease',
    (db) => db.prepare('DELETE FROM lease WHERE item_id = ? AND holder = ?').run(ITEM_ID, me).changes,
    (n) => ({ released: n }),
  );
}

/** The fence: the decrement only happens while the lease is still ours and unexpired. */
export function* fencedDecrement(ctx: BuyerContext): Gen<boolean> {
  const me = holderOf(ctx);
  return yield* conditionalDecrement(
    'AND EXISTS (SELECT 1 FROM lease WHERE item_id = items.id AND holder = ? AND expires_at > ?)',
    (env) => [me, env.now()],
  );
}

export const lockLease: Strategy = {
  name: 'lock-lease',
  summary:
    'take a lease (holder + expiry); read; think; BEGIN IMMEDIATE; decrement if the lease is still ours; order; COMMIT; release',
  *program(ctx) {
    if (!(yield* cachePrecheck(ctx))) return SOLD_OUT;
    const replay = yield* idempotencyLookup(ctx);
    if (replay) return replay;
    yield* takeLease(ctx);
    const item = yield* read('item', readItem, (r) => ({ source: 'db', stock: r.stock }));
    if (item.stock <= 0) {
      yield* releaseLease(ctx);
      return SOLD_OUT;
    }
    yield* think();
    yield* begin('immediate');
    if (!(yield* fencedDecrement(ctx))) {
      yield* rollback();
      yield* releaseLease(ctx);
      return { ok: false, reason: 'lease_lost' };
    }
    const order = yield* createOrder(ctx, 'first');
    yield* commit();
    yield* releaseLease(ctx);
    return { ok: true, ...order };
  },
};
