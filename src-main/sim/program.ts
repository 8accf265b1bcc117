/**
 * How a strategy is written: a generator that yields one request at a time (begin, read, think, write,
 * commit, ...) and gets the result back, so the live runner (real threads, real think time) and the
 * deterministic scheduler (one step at a time, in a seeded order) drive the same code. Each read or
 * write runs synchronously on the connection the runner hands it; the runner records the history.
 *
 * Also the building blocks several strategies share: the stock check (through the stock cache when the
 * scenario has one), the idempotency lookup, and creating the order and claiming its key.
 */
import type { EventDetail, Scenario } from '../../shared/sim';
import type { WritableDB } from '../db/types';
import { ITEM_ID } from './schema';

/** What a strategy may ask for. `now()` is milliseconds (live) or the logical step (deterministic). */
export interface Env {
  now(): number;
}

export type DbFn<T> = (db: WritableDB, env: Env) => T;

export type Request =
  | { readonly op: 'begin'; readonly mode: 'deferred' | 'immediate' }
  | { readonly op: 'commit' }
  | { readonly op: 'rollback' }
  | { readonly op: 'think' }
  | {
      readonly op: 'read' | 'write';
      readonly label: string;
      readonly run: DbFn<unknown>;
      readonly describe: (result: unknown) => EventDetail;
    }
  /** Try to take something (a lease); `false` means "held by someone else": the runner waits and asks again. */
  | { readonly op: 'acquire'; readonly label: string; readonly run: DbFn<boolean> }
  /** Answer the client now while the program goes on (the split-transaction mistake). */
  | { readonly op: 'respond'; readonly outcome: Outcome };

export type Outcome =
  | { readonly ok: true; readonly orderId: number | null; readonly keyId: number | null; readonly replayed?: boolean }
  | { readonly ok: false; readonly reason: 'sold_out' | 'busy' | 'conflict' | 'lease_lost' | 'key_taken' | 'error' };

export type Gen<T> = Generator<Request, T, unknown>;
export type Program = Gen<Outcome>;

export interface BuyerContext {
  readonly buyer: number;
  readonly attempt: number;
  /** The idempotency key every attempt of this purchase sends, or null. */
  readonly token: string | null;
  readonly scenario: Scenario;
}

export interface Strategy {
  readonly name: string;
  /** One line for people. */
  readonly summary: string;
  readonly program: (ctx: BuyerContext) => Program;
}

export const SOLD_OUT: Outcome = { ok: false, reason: 'sold_out' };

export function* read<T>(label: string, run: DbFn<T>, describe: (result: T) => EventDetail = () => ({})): Gen<T> {
  return (yield { op: 'read', label, run, describe: describe as (r: unknown) => EventDetail }) as T;
}

export function* write<T>(label: string, run: DbFn<T>, describe: (result: T) => EventDetail = () => ({})): Gen<T> {
  return (yield { op: 'write', label, run, describe: describe as (r: unknown) => EventDetail }) as T;
}

export function* begin(mode: 'deferred' | 'immediate'): Gen<void> {
  yield { op: 'begin', mode };
}

export function* commit(): Gen<void> {
  yield { op: 'commit' };
}

export function* rollback(): Gen<void> {
  yield { op: 'rollback' };
}

export function* think(): Gen<void> {
  yield { op: 'think' };
}

export function* acquire(label: string, run: DbFn<boolean>): Gen<void> {
  yield { op: 'acquire', label, run };
}

export function* respond(outcome: Outcome): Gen<void> {
  yield { op: 'respond', outcome };
}

// ---------------------------------------------------------------------------------------------------
// Shared building blocks

interface ItemRow {
  readonly stock: number;
  readonly version: number;
  readonly keyId: number | null;
}

/** `SELECT stock, version` and the first available key: what the article's `get_item_from_db` returns. */
export function readItem(db: WritableDB): ItemRow {
  return db
    .prepare(
      "SELECT stock, version, (SELECT min(id) FROM keys WHERE item_id = items.id AND status = 'available') AS keyId FROM items WHERE id = ?",
    )
    .get(ITEM_ID) as ItemRow;
}

/**
 * Reads the stock through the stock cache: a fresh cache row answers; a missing or expired one is
 * refilled from the database. Nothing updates the cache when the stock changes (the article's lesson).
 */
export function* readStockThroughCache(ttl: number): Gen<{ stock: number; keyId: number | null; source: 'cache' | 'db' }> {
  return yield* read(
    'stock',
    (db, env) => {
      const now = env.now();
      const cached = db.prepare('SELECT stock, refreshed_at AS at FROM stock_cache WHERE item_id = ?').get(ITEM_ID) as
        { stock: number; at: number } | undefined;
      const item = readItem(db);
      if (cached && now - cached.at < ttl) return { stock: cached.stock, keyId: item.keyId, source: 'cache' as const };
      db.prepare(
        'INSERT INTO stock_cache (item_id, stock, refreshed_at) VALUES (?, ?, ?) ON CONFLICT(item_id) DO UPDATE SET stock = excluded.stock, refreshed_at = excluded.refreshed_at',
      ).run(ITEM_ID, item.stock, now);
      return { stock: item.stock, keyId: item.keyId, source: 'db' as const };
    },
    (r) => ({ source: r.source, stock: r.stock }),
  );
}

/** Strategies other than naive only use the cache to turn buyers away early when it says "sold out". */
export function* cachePrecheck(ctx: BuyerContext): Gen<boolean> {
  if (ctx.scenario.cacheTtlMs <= 0) return true;
  const seen = yield* readStockThroughCache(ctx.scenario.cacheTtlMs);
  return seen.stock > 0;
}

/** With an idempotency key: the order an earlier attempt of this purchase already made, if any. */
export function* idempotencyLookup(ctx: BuyerContext): Gen<Outcome | null> {
  const token = ctx.token;
  if (token === null) return null;
  const found = yield* read(
    'idempotency',
    (db) =>
      (db
        .prepare(
          'SELECT i.order_id AS orderId, o.key_id AS keyId FROM idempotency i JOIN orders o ON o.id = i.order_id WHERE i.token = ?',
        )
        .get(token) as { orderId: number; keyId: number | null } | undefined) ?? null,
    (r) => ({ token, found: r !== null }),
  );
  return found ? { ok: true, orderId: found.orderId, keyId: found.keyId, replayed: true } : null;
}

/**
 * Creates the order and marks its key sold (and records the idempotency key). `keyId` given: that key,
 * whatever its status (what the naive code does with the key it read); null: the first available key.
 */
export function insertOrder(
  db: WritableDB,
  ctx: BuyerContext,
  keyId: number | null | 'first',
): { orderId: number; keyId: number | null } {
  const key =
    keyId === 'first'
      ? ((
          db.prepare("SELECT min(id) AS id FROM keys WHERE item_id = ? AND status = 'available'").get(ITEM_ID) as {
            id: number | null;
          }
        ).id ?? null)
      : keyId;
  const order = db
    .prepare('INSERT INTO orders (item_id, buyer, attempt, key_id, token) VALUES (?, ?, ?, ?, ?) RETURNING id')
    .get(ITEM_ID, ctx.buyer, ctx.attempt, key, ctx.token) as { id: number };
  if (key !== null) db.prepare("UPDATE keys SET status = 'sold', order_id = ? WHERE id = ?").run(order.id, key);
  if (ctx.token !== null) db.prepare('INSERT INTO idempotency (token, order_id) VALUES (?, ?)').run(ctx.token, order.id);
  return { orderId: order.id, keyId: key };
}

export function* createOrder(ctx: BuyerContext, keyId: number | null | 'first'): Gen<{ orderId: number; keyId: number | null }> {
  return yield* write(
    'order',
    (db) => insertOrder(db, ctx, keyId),
    (r) => ({ orderId: r.orderId, keyId: r.keyId }),
  );
}

/** `UPDATE items SET stock = stock - 1 WHERE stock > 0 RETURNING stock`: the changed-rows check. */
export function* conditionalDecrement(extraCondition = '', params: (env: Env) => unknown[] = () => []): Gen<boolean> {
  const after = yield* write(
    'stock',
    (db, env) =>
      (db
        .prepare(
          `UPDATE items SET stock = stock - 1, version = version + 1 WHERE id = ? AND stock > 0 ${extraCondition} RETURNING stock`,
        )
        .get(ITEM_ID, ...params(env)) as { stock: number } | undefined) ?? null,
    (r): EventDetail =>
      r === null ? { field: 'stock', changed: 0 } : { field: 'stock', from: r.stock + 1, to: r.stock, changed: 1 },
  );
  return after !== null;
}

/**
 * The second half of a split transaction: the stock was already decremented and committed, the client
 * already told "success"; now pick a key (a plain read), think, and claim it if it is still available.
 */
export function* finishSplit(ctx: BuyerContext): Program {
  const picked = yield* read(
    'key',
    (db) => readItem(db).keyId,
    (keyId) => ({ keyId }),
  );
  yield* think();
  const made = yield* write(
    'order',
    (db): { orderId: number; keyId: number | null } | null => {
      if (picked === null) return null;
      const claimed = db.prepare("UPDATE keys SET status = 'reserved' WHERE id = ? AND status = 'available'").run(picked).changes;
      return claimed === 1 ? insertOrder(db, ctx, picked) : null;
    },
    (r): EventDetail => (r === null ? { keyId: picked, claimed: false } : { orderId: r.orderId, keyId: r.keyId, claimed: true }),
  );
  return made ? { ok: true, orderId: made.orderId, keyId: made.keyId } : { ok: false, reason: 'key_taken' };
}
