/**
 * The building blocks the server strategies share, in SQL on the run's scratch schema and in Redis
 * commands on its key prefix: the item read (stock and the code to sell), the stock check through the
 * stock cache, the idempotency lookup, the stock writes, the order, the article's Lua gate and the
 * expiring lock. Each returns what the history records, in the same words as SQLite's (program.ts).
 */
import type { EventDetail } from '../../../shared/sim';
import type { BuyerContext, Outcome } from '../program';
import { ITEM_ID } from '../schema';
import { itemStockKey, LAYER2_LUA, LOCK_RELEASE_LUA } from './article';
import { acquire, read, write, type Conns, type RedisClient, type ServerGen } from './program';

interface ItemRow {
  readonly stock: number;
  readonly version: number;
  readonly keyId: number | null;
}

export const stockCacheKey = (prefix: string): string => `${prefix}stock_cache:${ITEM_ID}`;
export const lockKey = (prefix: string): string => `${prefix}lock:item:${ITEM_ID}`;

function redisOf(c: Conns): RedisClient {
  if (c.redis === null) throw new Error('this step needs Redis (the redis engine)');
  return c.redis;
}

function int(reply: unknown): number {
  const n = typeof reply === 'number' ? reply : Number(reply);
  if (!Number.isInteger(n)) throw new Error(`expected an integer reply, got ${String(reply)}`);
  return n;
}

/** What the article's `get_item_from_db` returns: the stock, and the first code still available. */
export async function readItemRow(c: Conns): Promise<ItemRow> {
  const { rows } = await c.pg.query<ItemRow>(
    `SELECT stock, version, (SELECT min(id) FROM codes WHERE item_id = virtual_items.item_id AND status = 'available') AS "keyId"
       FROM virtual_items WHERE item_id = $1`,
    [ITEM_ID],
  );
  const row = rows[0];
  if (!row) throw new Error('the scratch item is missing');
  return row;
}

export async function stockOf(c: Conns): Promise<number> {
  return (await readItemRow(c)).stock;
}

export function* readItem(extra: EventDetail = {}): ServerGen<ItemRow> {
  return yield* read('item', readItemRow, (r) => ({ source: 'db', stock: r.stock, keyId: r.keyId, ...extra }));
}

/**
 * The stock check through the stock cache: Redis (a key set with PX ttl) on the redis engine, a table on
 * postgres. A fresh entry answers; a missing or expired one is refilled from the database. Nothing
 * updates the cache when the stock changes (the article's first lesson). The code to sell comes from
 * the database either way, as on SQLite.
 */
export function* readStockThroughCache(ttl: number): ServerGen<{ stock: number; keyId: number | null; source: 'cache' | 'db' }> {
  return yield* read(
    'stock',
    async (c, env) => {
      const item = await readItemRow(c);
      if (c.redis !== null) {
        const key = stockCacheKey(c.names.keyPrefix);
        const cached = await c.redis.get(key);
        if (cached !== null) return { stock: Number(cached), keyId: item.keyId, source: 'cache' as const };
        await c.redis.set(key, String(item.stock), { expiration: { type: 'PX', value: Math.max(1, Math.round(ttl)) } });
        return { stock: item.stock, keyId: item.keyId, source: 'db' as const };
      }
      const now = env.now();
      const { rows } = await c.pg.query<{ stock: number }>(
        'SELECT stock FROM stock_cache WHERE item_id = $1 AND refreshed_at > $2',
        [ITEM_ID, now - ttl],
      );
      const cached = rows[0];
      if (cached) return { stock: cached.stock, keyId: item.keyId, source: 'cache' as const };
      await c.pg.query(
        'INSERT INTO stock_cache (item_id, stock, refreshed_at) VALUES ($1, $2, $3) ON CONFLICT (item_id) DO UPDATE SET stock = excluded.stock, refreshed_at = excluded.refreshed_at',
        [ITEM_ID, item.stock, now],
      );
      return { stock: item.stock, keyId: item.keyId, source: 'db' as const };
    },
    (r) => ({ source: r.source, stock: r.stock }),
  );
}

/** Strategies other than naive use the cache only to turn buyers away early when it says "sold out". */
export function* cachePrecheck(ctx: BuyerContext): ServerGen<boolean> {
  if (ctx.scenario.cacheTtlMs <= 0) return true;
  return (yield* readStockThroughCache(ctx.scenario.cacheTtlMs)).stock > 0;
}

/** With an idempotency key: the order an earlier attempt of this purchase already made, if any. */
export function* idempotencyLookup(ctx: BuyerContext): ServerGen<Outcome | null> {
  const token = ctx.token;
  if (token === null) return null;
  const found = yield* read(
    'idempotency',
    async (c) =>
      (
        await c.pg.query<{ orderId: number; keyId: number | null }>(
          'SELECT i.order_id AS "orderId", o.key_id AS "keyId" FROM idempotency i JOIN orders o ON o.id = i.order_id WHERE i.token = $1',
          [token],
        )
      ).rows[0] ?? null,
    (r) => ({ token, found: r !== null }),
  );
  return found ? { ok: true, orderId: found.orderId, keyId: found.keyId, replayed: true } : null;
}

/** `UPDATE ... SET stock = <what I read> - 1`: the read-then-write that loses updates unless something else protects it. */
export function* writeStock(from: number): ServerGen<void> {
  const to = from - 1;
  yield* write(
    'stock',
    async (c) => {
      await c.pg.query('UPDATE virtual_items SET stock = $2, version = version + 1 WHERE item_id = $1', [ITEM_ID, to]);
    },
    () => ({ field: 'stock', from, to }),
    true,
  );
}

/** `UPDATE ... SET stock = stock - 1 WHERE stock > 0 RETURNING stock`: the changed-rows check decides. */
export function* conditionalDecrement(): ServerGen<boolean> {
  const after = yield* write(
    'stock',
    async (c) =>
      (
        await c.pg.query<{ stock: number }>(
          'UPDATE virtual_items SET stock = stock - 1, version = version + 1 WHERE item_id = $1 AND stock > 0 RETURNING stock',
          [ITEM_ID],
        )
      ).rows[0]?.stock ?? null,
    (r): EventDetail => (r === null ? { field: 'stock', changed: 0 } : { field: 'stock', from: r + 1, to: r, changed: 1 }),
    true,
  );
  return after !== null;
}

/**
 * Creates the order, marks its code sold and records the idempotency key, in one statement. `keyId`
 * given: that code, whatever its status (what the naive code does with the code it read); `first`:
 * the first available code (callers hold the lock that makes "first" theirs).
 */
export function* createOrder(
  ctx: BuyerContext,
  keyId: number | null | 'first',
): ServerGen<{ orderId: number; keyId: number | null }> {
  return yield* write(
    'order',
    async (c) => {
      const key =
        keyId === 'first'
          ? ((
              await c.pg.query<{ id: number | null }>(
                "SELECT min(id) AS id FROM codes WHERE item_id = $1 AND status = 'available'",
                [ITEM_ID],
              )
            ).rows[0]?.id ?? null)
          : keyId;
      const { rows } = await c.pg.query<{ id: number }>(
        `WITH o AS (INSERT INTO orders (item_id, buyer, attempt, key_id, token) VALUES ($1, $2, $3, $4, $5) RETURNING id),
              k AS (UPDATE codes SET status = 'sold', order_id = (SELECT id FROM o) WHERE id = $4),
              i AS (INSERT INTO idempotency (token, order_id) SELECT $5, id FROM o WHERE $5::text IS NOT NULL)
         SELECT id FROM o`,
        [ITEM_ID, ctx.buyer, ctx.attempt, key, ctx.token],
      );
      const order = rows[0];
      if (!order) throw new Error('the order was not created');
      return { orderId: order.id, keyId: key };
    },
    (r) => ({ orderId: r.orderId, keyId: r.keyId }),
  );
}

/** Layer 2: the article's Lua script with EVAL. -1 is "no stock"; anything else is the units left. */
export function* luaGate(): ServerGen<boolean> {
  const left = yield* write(
    'counter',
    async (c) => int(await redisOf(c).eval(LAYER2_LUA, { keys: [itemStockKey(c.names.keyPrefix, ITEM_ID)] })),
    (n): EventDetail => (n < 0 ? { field: 'counter', changed: 0, eval: -1 } : { field: 'counter', to: n, changed: 1 }),
  );
  return left >= 0;
}

/** A buyer who passed the gate but could not sell gives its unit back. */
export function* counterGiveBack(): ServerGen<void> {
  yield* write(
    'counter',
    async (c) => int(await redisOf(c).incr(itemStockKey(c.names.keyPrefix, ITEM_ID))),
    (n) => ({ field: 'counter', to: n, compensation: true }),
  );
}

export function holderOf(ctx: BuyerContext): string {
  return `b${ctx.buyer}a${ctx.attempt}`;
}

/** Layer 3: SET lock owner NX PX ttl; held by someone else, the runner waits and tries again. */
export function* takeLock(ctx: BuyerContext): ServerGen<void> {
  const me = holderOf(ctx);
  const ttl = Math.max(1, Math.round(ctx.scenario.leaseTtlMs));
  yield* acquire(
    'lock',
    async (c) =>
      (await redisOf(c).set(lockKey(c.names.keyPrefix), me, { condition: 'NX', expiration: { type: 'PX', value: ttl } })) ===
      'OK',
  );
}

/** Releases the lock only if it is still ours (compare-and-delete): 0 means it had expired. */
export function* releaseLock(ctx: BuyerContext): ServerGen<void> {
  const me = holderOf(ctx);
  yield* write(
    'lock',
    async (c) => int(await redisOf(c).eval(LOCK_RELEASE_LUA, { keys: [lockKey(c.names.keyPrefix)], arguments: [me] })),
    (n) => ({ released: n }),
  );
}
