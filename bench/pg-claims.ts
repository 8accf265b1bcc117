/**
 * The claims the PostgreSQL benchmark measures (bench/pg-bench.ts), each a `reserve` of one key with an
 * idempotency key: the shop's (PgShop.reserve) and the bare SQL of the same claim, one a transaction or
 * `BATCH` a transaction, with or without the ledger's append; and the workers that run them at once.
 */
import type pg from 'pg';
import { LEDGER_COLUMNS } from '../src-main/engine/ledger';
import { CREATED_ORDER, IDEMPOTENCY_SCOPE } from '../src-main/engine/order-idempotency';
import { valuesList } from '../src-main/pg/ledger';
import { LOCKS } from '../src-main/pg/migrate';
import type { PgShop } from '../src-main/pg/shop';
import { concurrent, type Run } from './claims-run';

/** Buyers at once, as in the engine benchmark; the bare loops' workers too. */
export const BUYERS = 64;
/** Claims per transaction of the batched bare loop: the biggest batch 64 buyers can form. */
const BATCH = 64;
const EMAIL = 'bench@example.com';

export async function engineClaims(shop: PgShop, productId: string, count: number, capMs: number, prefix: string): Promise<Run> {
  return concurrent(count, BUYERS, capMs, async (i) => {
    const { result } = await shop.reserve({ productId, quantity: 1, email: EMAIL, idempotencyKey: `${prefix}-${i}` });
    if (!result.ok) throw new Error(`postgres bench: an engine claim failed (${result.error.code})`);
  });
}

/** The product the bare loops claim from. */
export interface RawTarget {
  readonly pool: pg.Pool;
  readonly productId: string;
  readonly productNo: number;
}

const BLOB32 = Buffer.alloc(32, 7);
/** The sealed access token at its real size (bench/engine-bench.ts). */
const SEALED_TOKEN = Buffer.alloc(72, 9);
const DETAIL = '{"quantity":1,"amount":100,"currency":"CNY","keysTo":"reserved","orderTo":"reserved"}';
const HOLD_MS = 15 * 60 * 1000;

const SQL = {
  claim: `SELECT id FROM keys WHERE product_no = $1 AND status = 'available' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`,
  claimMany: `SELECT id FROM keys WHERE product_no = $1 AND status = 'available' ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
  order: `INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash, created_at, expires_at, updated_at)
    VALUES ($1, $2, 1, 100, 'CNY', $3, 'reserved', $4, $5, $6, $5)`,
  orders: `INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash, created_at, expires_at, updated_at)
    SELECT id, $2, 1, 100, 'CNY', $3, 'reserved', $4, $5, $6, $5 FROM unnest($1::text[]) AS t(id)`,
  hold: `UPDATE keys SET status = 'reserved', order_id = $2, updated_at = $3 WHERE id = $1 AND status = 'available'`,
  holds: `UPDATE keys SET status = 'reserved', order_id = h.order_id, updated_at = $3
    FROM unnest($1::bigint[], $2::text[]) AS h(id, order_id) WHERE keys.id = h.id AND keys.status = 'available'`,
  record: `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, response, created_at)
    VALUES ('${IDEMPOTENCY_SCOPE}', $1, $2, 201, $3, $4, '${CREATED_ORDER}', $5)`,
  records: `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, response, created_at)
    SELECT '${IDEMPOTENCY_SCOPE}', key, $3, 201, order_id, $4, '${CREATED_ORDER}', $5 FROM unnest($1::text[], $2::text[]) AS t(key, order_id)`,
  move: 'UPDATE products SET available = available - $2, reserved = reserved + $2 WHERE id = $1',
  lock: 'SELECT pg_advisory_xact_lock($1)',
  head: 'SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1',
  entry: `INSERT INTO ledger (${LEDGER_COLUMNS.join(', ')}) VALUES ${valuesList(1, LEDGER_COLUMNS.length)}`,
  entries: (n: number) => `INSERT INTO ledger (${LEDGER_COLUMNS.join(', ')}) VALUES ${valuesList(n, LEDGER_COLUMNS.length)}`,
} as const;

const orderId = (prefix: string, i: number): string => `ord_${prefix}_${String(i).padStart(24 - prefix.length, '0')}`;

/** A ledger entry's nine values (stand-in hashes). */
function entryValues(seq: number, now: number, productId: string, order: string, keyId: number): unknown[] {
  return [seq, now, 'reserve', productId, order, String(keyId), DETAIL, BLOB32, BLOB32];
}

/** The ledger's append, bare: its advisory lock, the head, the entries after it. */
async function appendBare(
  client: pg.PoolClient,
  now: number,
  productId: string,
  orders: readonly string[],
  keyIds: readonly number[],
) {
  await client.query(SQL.lock, [LOCKS.ledger]);
  const head = (await client.query<{ seq: number }>(SQL.head)).rows[0]?.seq ?? 0;
  const values = orders.flatMap((order, i) => entryValues(head + 1 + i, now, productId, order, keyIds[i]!));
  await client.query(orders.length === 1 ? SQL.entry : SQL.entries(orders.length), values);
}

/** Runs `fn` in a transaction of its own on `pool` (BEGIN, COMMIT; ROLLBACK and rethrow on failure). */
async function transaction(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      await fn(client);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    client.release();
  }
}

/** One claim a transaction, `BUYERS` workers at once. */
export function rawClaims(target: RawTarget, count: number, capMs: number, prefix: string, ledger: boolean): Promise<Run> {
  const { pool, productId, productNo } = target;
  return concurrent(count, BUYERS, capMs, (i) =>
    transaction(pool, async (client) => {
      const now = Date.now();
      const keyId = (await client.query<{ id: number }>(SQL.claim, [productNo])).rows[0]?.id;
      if (keyId === undefined) throw new Error('postgres bench: the bare loop ran out of keys');
      const order = orderId(prefix, i);
      await client.query(SQL.order, [order, productId, EMAIL, BLOB32, now, now + HOLD_MS]);
      await client.query(SQL.hold, [keyId, order, now]);
      await client.query(SQL.record, [`${prefix}-${i}`, BLOB32, order, SEALED_TOKEN, now]);
      await client.query(SQL.move, [productId, 1]);
      if (ledger) await appendBare(client, now, productId, [order], [keyId]);
    }),
  );
}

/** `BATCH` claims a transaction, one transaction after another, one statement per table. */
export async function rawBatched(target: RawTarget, count: number, capMs: number, prefix: string, ledger: boolean): Promise<Run> {
  const { pool, productId, productNo } = target;
  const start = performance.now();
  let done = 0;
  while (done < count && performance.now() - start < capMs) {
    const n = Math.min(BATCH, count - done);
    const from = done;
    await transaction(pool, async (client) => {
      const now = Date.now();
      const keyIds = (await client.query<{ id: number }>(SQL.claimMany, [productNo, n])).rows.map((r) => r.id);
      if (keyIds.length < n) throw new Error('postgres bench: the batched loop ran out of keys');
      const orders = keyIds.map((_, k) => orderId(prefix, from + k));
      await client.query(SQL.orders, [orders, productId, EMAIL, BLOB32, now, now + HOLD_MS]);
      const held = await client.query(SQL.holds, [keyIds, orders, now]);
      if (held.rowCount !== n) throw new Error('postgres bench: a key changed under its row lock');
      const keys = keyIds.map((_, k) => `${prefix}-${from + k}`);
      await client.query(SQL.records, [keys, orders, BLOB32, SEALED_TOKEN, now]);
      await client.query(SQL.move, [productId, n]);
      if (ledger) await appendBare(client, now, productId, orders, keyIds);
    });
    done += n;
  }
  return { claims: done, seconds: (performance.now() - start) / 1000 };
}
