/**
 * PostgreSQL benchmark (issue 20, item 6): the shop on PostgreSQL (pg/shop.ts) against the bare SQL of a
 * claim in the same run, the ledger's share of a claim's cost, and orders over HTTP through two
 * `serve --database` processes sharing one database, checked afterwards.
 *
 * A "claim" is one `reserve` of one key with an idempotency key: the order, the key held, the
 * idempotency record, the product's counters and a ledger entry, committed before it is answered.
 *
 * - `pg_engine_claims_per_s`: PgShop.reserve, 64 concurrent buyers, one product with plenty of keys.
 *   Reservations arriving together run in one transaction (pg/reserve-batch.ts); `pg_batch_avg` is how
 *   many per transaction on average (PgShop.reservations.stats) over the measured rounds.
 * - `pg_raw_claims_per_s`: the bare loop the issue names: 64 async workers, each claim its own
 *   transaction on a pool of the shop's size: `SELECT ... FOR UPDATE SKIP LOCKED` of the first free key, the order, the key's hold, the
 *   idempotency record, the product's counters, then the ledger's advisory lock, its head and the entry.
 *   No crypto (hashes, ids and sealed tokens are fixed stand-ins of their real sizes), no JavaScript
 *   beyond the `pg` calls. `pg_engine_vs_raw` = engine / raw (target >= 0.8).
 * - `pg_raw_batched_claims_per_s`: the same claims 64 to a transaction (the biggest batch 64 buyers can
 *   form), one statement per table as the engine sends them (unnest; the ledger's multi-row insert),
 *   one transaction after another as the shop's batches run: the ceiling for an engine of this design,
 *   and `pg_engine_vs_raw_batched`.
 * - The ledger's cost: both bare loops again without the advisory lock, the head read and the ledger
 *   insert: `pg_raw_no_ledger_claims_per_s` / `pg_raw_batched_no_ledger_claims_per_s`, and
 *   `pg_raw_ledger_vs_no_ledger` / `pg_raw_batched_ledger_vs_no_ledger` (with / without; 1 = free). The
 *   product's counter row, updated just before the append, already lines the commits up one behind
 *   another with or without the ledger (its lock is held to the COMMIT, as the ledger's is): what the
 *   ratios show is the append's own statements (lock, head, insert) inside that line, per claim and
 *   per batch of 64.
 * - `pg_http_orders_per_s` (`_p99_ms`, `_errors`): `POST /api/v1/orders` with distinct Idempotency-Keys over
 *   two `oncekey serve --database` processes, 32 keep-alive connections each from the HTTP benchmark's
 *   load-generator child (bench/http-clients.ts), both loads at once, in rounds. Afterwards the database
 *   is audited: no live delivery of a key twice, every reserved order holding exactly its quantity,
 *   counters equal to the key rows, per load the orders recorded between its 201s and its 201s plus the
 *   requests the end of the load cut off, orders equal to 201 records, and the ledger verified
 *   (verifyLedgerPg). `pg_http_oversold` is the sum of what it found (target 0).
 * - `pg_durable`: 1 if the measured server flushes its commits (fsync, synchronous_commit and
 *   full_page_writes on, read from the server with SHOW), else 0.
 *
 * The server: `ONCEKEY_BENCH_POSTGRES_URL` if set (fresh schemas `oncekey_bench_<random>_*` in its
 * database, dropped afterwards; the ledger's advisory lock is per database, so not one a shop runs in),
 * else a throw-away one from the tests' helper (test/helpers/postgres.ts) with durability turned back on
 * (its defaults are fsync and synchronous_commit off); with neither (no binaries, or the URL does not
 * connect), one line says why and the benchmark is skipped.
 *
 * The engine and each bare loop claim from a schema of their own, made by the same migration and seeded
 * the same way (the same count of codes through PgShop.addCodes), so none walks past keys another one
 * claimed. They run in turns, in rounds (the order reversed every other round: the machine's speed
 * drifts), each round after a VACUUM (ANALYZE) of every schema (see `settle`); each ratio is the median
 * of the rounds' ratios with the lowest and highest beside it. Every measurement runs a fixed count of
 * claims and stops early at a time cap.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { LEDGER_COLUMNS } from '../src-main/engine/ledger';
import { CREATED_ORDER, IDEMPOTENCY_SCOPE } from '../src-main/engine/order-idempotency';
import { isPostgresUrl, openPool, redactUrl } from '../src-main/pg/connect';
import { valuesList, verifyLedgerPg } from '../src-main/pg/ledger';
import { LOCKS } from '../src-main/pg/migrate';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { startPostgres } from '../test/helpers/postgres';
import { startServerProcess, waitUntil, type ServerProcess } from '../test/helpers/server-process';
import { ClientProcess, type ClientTask, type LoadResult } from './http-clients';
import { median, spread } from './rounds';

export interface PgBenchOptions {
  readonly quick?: boolean;
}

interface Sizes {
  readonly rounds: number;
  /** Claims per round of each measurement (each also stops at `capMs`). */
  readonly engine: number;
  readonly raw: number;
  readonly batched: number;
  readonly capMs: number;
  /** Claims of each kind before the rounds (JIT, ticket worker, pools, caches). */
  readonly warm: number;
  readonly http: { readonly keys: number; readonly rounds: number; readonly seconds: number; readonly warmup: number };
}

const FULL: Sizes = {
  rounds: 5,
  engine: 8_000,
  raw: 800,
  batched: 8_000,
  capMs: 3_000,
  warm: 200,
  http: { keys: 50_000, rounds: 3, seconds: 3, warmup: 1 },
};
const QUICK: Sizes = {
  rounds: 2,
  engine: 300,
  raw: 100,
  batched: 300,
  capMs: 1_000,
  warm: 64,
  http: { keys: 5_000, rounds: 2, seconds: 1, warmup: 0.5 },
};

/** Buyers at once, as in the engine benchmark; the bare loops' workers too. */
const BUYERS = 64;
/** Connections per pool: the shop's default, used for the shop and the bare loops alike. */
const POOL_SIZE = 10;
/** Claims per transaction of the batched bare loop: the biggest batch 64 buyers can form. */
const BATCH = 64;
/** Keys added per `addCodes` call while seeding. */
const SEED_CHUNK = 5_000;
const EMAIL = 'bench@example.com';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** A throw-away server's settings: the tests' speed settings undone (test/helpers/postgres.ts). */
const DURABLE_SETTINGS = {
  fsync: 'on',
  synchronous_commit: 'on',
  full_page_writes: 'on',
  shared_buffers: '128MB',
  max_connections: '100',
};

interface Run {
  claims: number;
  seconds: number;
}

const perSecond = (run: Run): number => run.claims / run.seconds;
const round = (n: number): number => Math.round(n);

function add(total: Run, run: Run): void {
  total.claims += run.claims;
  total.seconds += run.seconds;
}

/** `count` calls of `claim` by `concurrency` workers, stopping at `capMs`. */
async function concurrent(
  count: number,
  concurrency: number,
  capMs: number,
  claim: (i: number) => Promise<unknown>,
): Promise<Run> {
  let next = 0;
  let done = 0;
  const start = performance.now();
  const end = start + capMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && performance.now() < end) {
        await claim(next++);
        done++;
      }
    }),
  );
  return { claims: done, seconds: (performance.now() - start) / 1000 };
}

// ---------------------------------------------------------------------------------------------------
// The server and its schemas

interface Database {
  /** The server's own URL (schemas are made in its database). */
  readonly url: string;
  readonly source: string;
  stop(): Promise<void>;
}

/** The server to measure, or why there is none. */
async function database(): Promise<Database | { skip: string }> {
  const given = process.env.ONCEKEY_BENCH_POSTGRES_URL;
  if (given !== undefined && given !== '') {
    if (!isPostgresUrl(given)) return { skip: 'ONCEKEY_BENCH_POSTGRES_URL is not a postgres:// URL' };
    return { url: given, source: 'ONCEKEY_BENCH_POSTGRES_URL', stop: async () => undefined };
  }
  try {
    const server = await startPostgres({ settings: DURABLE_SETTINGS });
    return { url: server.url, source: `throw-away server (${server.source})`, stop: () => server.stop() };
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, '; ');
    return { skip: `no PostgreSQL (set ONCEKEY_BENCH_POSTGRES_URL, or install the binaries): ${reason}` };
  }
}

/** A URL to the schema `schema` of the server's database (its search_path set through libpq's options). */
function schemaUrl(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}

/** 1 if commits are flushed to disk before they are acknowledged. */
async function durable(admin: pg.Client): Promise<number> {
  const show = async (name: string): Promise<string> =>
    (await admin.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '';
  // synchronous_commit: every value but `off` waits for the local flush (others wait for standbys too).
  const flushed = (await show('fsync')) === 'on' && (await show('full_page_writes')) === 'on';
  return flushed && (await show('synchronous_commit')) !== 'off' ? 1 : 0;
}

/** A product of `count` codes, added as an import adds them (sealed, fingerprinted, one ledger entry a chunk). */
async function seededProduct(shop: PgShop, count: number): Promise<string> {
  const product = await shop.createProduct({ name: 'Bench', price: { amount: 100, currency: 'CNY' } });
  for (let from = 0; from < count; from += SEED_CHUNK) {
    const codes = Array.from(
      { length: Math.min(SEED_CHUNK, count - from) },
      (_, i) => `BENCH-${String(from + i).padStart(8, '0')}`,
    );
    await shop.addCodes(product.id, codes);
  }
  return product.id;
}

/** The tables a claim writes. */
const CLAIM_TABLES = 'keys, orders, idempotency, ledger, products';

/**
 * VACUUM (ANALYZE) of the tables a claim writes, in the schema `pool` reaches: what autovacuum does in a
 * running shop, here at the same moment for every schema so that the rounds compare like with like. In
 * trials on this machine, claims from a freshly imported table that was never vacuumed ran 2 to 16 times
 * slower than after a vacuum, and autovacuum reaches each schema at a time of its own; and the claim's
 * plan follows the statistics (while they say every key is available, the planner walks the primary key
 * past every key already claimed).
 */
async function settle(pool: pg.Pool): Promise<void> {
  await pool.query(`VACUUM (ANALYZE) ${CLAIM_TABLES}`);
}

// ---------------------------------------------------------------------------------------------------
// The engine and the bare loops

async function engineClaims(shop: PgShop, productId: string, count: number, capMs: number, prefix: string): Promise<Run> {
  return concurrent(count, BUYERS, capMs, async (i) => {
    const { result } = await shop.reserve({ productId, quantity: 1, email: EMAIL, idempotencyKey: `${prefix}-${i}` });
    if (!result.ok) throw new Error(`postgres bench: an engine claim failed (${result.error.code})`);
  });
}

/** The product the bare loops claim from. */
interface RawTarget {
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
function rawClaims(target: RawTarget, count: number, capMs: number, prefix: string, ledger: boolean): Promise<Run> {
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
async function rawBatched(target: RawTarget, count: number, capMs: number, prefix: string, ledger: boolean): Promise<Run> {
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

/** The measured loops, each on a schema of its own. */
const LOOPS = ['engine', 'raw', 'rawNoLedger', 'batched', 'batchedNoLedger'] as const;
type Loop = (typeof LOOPS)[number];

async function benchClaims(urls: Record<Loop, string>, dir: string, sizes: Sizes): Promise<Record<string, number>> {
  // Every schema seeded alike, with what the hungriest loop may take.
  const keys = sizes.warm + sizes.rounds * Math.max(sizes.engine, sizes.raw, sizes.batched) + 500;
  const shop = await PgShop.open({
    url: urls.engine,
    secretStore: new KeyFileStore(join(dir, 'engine.key')),
    poolSize: POOL_SIZE,
  });
  const pools: pg.Pool[] = [];
  try {
    const productId = await seededProduct(shop, keys);
    // The bare loops' schemas: made by the same migration and seeded the same way, then a pool of their own each.
    const targets = {} as Record<Exclude<Loop, 'engine'>, RawTarget>;
    for (const loop of LOOPS) {
      if (loop === 'engine') continue;
      const seeder = await PgShop.open({ url: urls[loop], secretStore: new KeyFileStore(join(dir, `${loop}.key`)), poolSize: 2 });
      let rawProduct: string;
      try {
        rawProduct = await seededProduct(seeder, keys);
      } finally {
        await seeder.close();
      }
      const pool = openPool(urls[loop], POOL_SIZE);
      pools.push(pool);
      const productNo = (await pool.query<{ no: number }>('SELECT no FROM products WHERE id = $1', [rawProduct])).rows[0]!.no;
      targets[loop] = { pool, productId: rawProduct, productNo };
    }
    const settleAll = () => Promise.all([shop.pool, ...pools].map(settle));
    await settleAll();

    const measure: Record<Loop, (count: number, prefix: string) => Promise<Run>> = {
      engine: (count, prefix) => engineClaims(shop, productId, count, sizes.capMs, prefix),
      raw: (count, prefix) => rawClaims(targets.raw, count, sizes.capMs, prefix, true),
      rawNoLedger: (count, prefix) => rawClaims(targets.rawNoLedger, count, sizes.capMs, prefix, false),
      batched: (count, prefix) => rawBatched(targets.batched, count, sizes.capMs, prefix, true),
      batchedNoLedger: (count, prefix) => rawBatched(targets.batchedNoLedger, count, sizes.capMs, prefix, false),
    };
    const counts: Record<Loop, number> = {
      engine: sizes.engine,
      raw: sizes.raw,
      rawNoLedger: sizes.raw,
      batched: sizes.batched,
      batchedNoLedger: sizes.batched,
    };
    // Warm the JIT, the ticket worker, the pools and the caches.
    for (const loop of LOOPS) await measure[loop](sizes.warm, 'warm');

    const totals = Object.fromEntries(LOOPS.map((loop) => [loop, newRun()])) as Record<Loop, Run>;
    const ratios = {
      engineVsRaw: [] as number[],
      engineVsBatched: [] as number[],
      ledger: [] as number[],
      batchedLedger: [] as number[],
    };
    let batches = 0;
    let requests = 0;
    for (let r = 0; r < sizes.rounds; r++) {
      await settleAll();
      const got = {} as Record<Loop, Run>;
      for (const loop of r % 2 === 1 ? [...LOOPS].reverse() : LOOPS) {
        const before = { ...shop.reservations.stats };
        got[loop] = await measure[loop](counts[loop], `r${r}`);
        if (loop === 'engine') {
          batches += shop.reservations.stats.batches - before.batches;
          requests += shop.reservations.stats.requests - before.requests;
        }
        add(totals[loop], got[loop]);
      }
      ratios.engineVsRaw.push(perSecond(got.engine) / perSecond(got.raw));
      ratios.engineVsBatched.push(perSecond(got.engine) / perSecond(got.batched));
      ratios.ledger.push(perSecond(got.raw) / perSecond(got.rawNoLedger));
      ratios.batchedLedger.push(perSecond(got.batched) / perSecond(got.batchedNoLedger));
    }
    return {
      pg_engine_claims_per_s: round(perSecond(totals.engine)),
      pg_raw_claims_per_s: round(perSecond(totals.raw)),
      ...spread('pg_engine_vs_raw', ratios.engineVsRaw),
      pg_raw_batched_claims_per_s: round(perSecond(totals.batched)),
      ...spread('pg_engine_vs_raw_batched', ratios.engineVsBatched),
      pg_batch_avg: Number((requests / Math.max(1, batches)).toFixed(1)),
      pg_raw_no_ledger_claims_per_s: round(perSecond(totals.rawNoLedger)),
      ...spread('pg_raw_ledger_vs_no_ledger', ratios.ledger),
      pg_raw_batched_no_ledger_claims_per_s: round(perSecond(totals.batchedNoLedger)),
      ...spread('pg_raw_batched_ledger_vs_no_ledger', ratios.batchedLedger),
    };
  } finally {
    for (const pool of pools) await pool.end();
    await shop.close();
  }
}

const newRun = (): Run => ({ claims: 0, seconds: 0 });

// ---------------------------------------------------------------------------------------------------
// HTTP over two serve processes

interface Serve {
  readonly process: ServerProcess;
  readonly url: string;
}

/** `oncekey serve --database` on a free port; resolves once it prints its `listening on` line. */
async function startServe(dataDir: string, url: string): Promise<Serve> {
  const args = [
    join(ROOT, 'bin', 'oncekey.js'),
    'serve',
    '--data',
    dataDir,
    '--port',
    '0',
    '--rate-limit',
    '0',
    '--admin-token',
    'x',
    '--webhook-secret',
    'y',
  ];
  // The database URL through the environment (`ONCEKEY_DATABASE_URL`, as --database): no password in `ps`.
  const previous = process.env.ONCEKEY_DATABASE_URL;
  process.env.ONCEKEY_DATABASE_URL = url;
  let server: ServerProcess;
  try {
    server = startServerProcess(process.execPath, args, { deathSignal: 'SIGKILL', cwd: ROOT });
  } finally {
    if (previous === undefined) delete process.env.ONCEKEY_DATABASE_URL;
    else process.env.ONCEKEY_DATABASE_URL = previous;
  }
  const listening = (): string | undefined => /listening on (http:\/\/\S+)/.exec(server.output())?.[1];
  try {
    await waitUntil(server, async () => listening() !== undefined, 'oncekey serve --database', 60_000);
  } catch (error) {
    await server.stop('SIGKILL', 5_000);
    throw error;
  }
  return { process: server, url: listening()! };
}

interface HttpRun {
  readonly prefix: string;
  readonly result: LoadResult;
}

/** What must be 0 after the HTTP runs (see the header); `problems` lists what was found. */
async function auditHttp(url: string, runs: readonly HttpRun[]): Promise<{ found: number; problems: string[] }> {
  const pool = openPool(url, 2);
  const problems: string[] = [];
  try {
    const count = async (what: string, sql: string, params: unknown[] = []): Promise<number> => {
      const n = Number((await pool.query<{ n: number }>(sql, params)).rows[0]?.n ?? 0);
      if (n !== 0) problems.push(`${what}: ${n}`);
      return n;
    };
    let found = await count(
      'keys delivered twice',
      `SELECT count(*) AS n FROM (SELECT key_id FROM deliveries WHERE returned_at IS NULL GROUP BY key_id HAVING count(*) > 1) t`,
    );
    found += await count(
      'reserved orders not holding their quantity',
      `SELECT count(*) AS n FROM orders o WHERE o.status = 'reserved'
         AND (SELECT count(*) FROM keys k WHERE k.order_id = o.id AND k.status = 'reserved') <> o.quantity`,
    );
    found += await count(
      'keys held for an order that is not live',
      `SELECT count(*) AS n FROM keys k JOIN orders o ON o.id = k.order_id
         WHERE k.status = 'reserved' AND o.status NOT IN ('reserved', 'needs_review')`,
    );
    found += await count(
      'stock counters off the key rows',
      `SELECT coalesce(sum(abs(p.available - (SELECT count(*) FROM keys k WHERE k.product_no = p.no AND k.status = 'available'))
         + abs(p.reserved - (SELECT count(*) FROM keys k WHERE k.product_no = p.no AND k.status = 'reserved'))
         + abs(p.sold - (SELECT count(*) FROM keys k WHERE k.product_no = p.no AND k.status = 'sold'))), 0) AS n FROM products p`,
    );
    found += await count(
      'orders without a 201 record, or records without an order',
      `SELECT abs((SELECT count(*) FROM orders) - (SELECT count(*) FROM idempotency WHERE scope = $1 AND status = 201)) AS n`,
      [IDEMPOTENCY_SCOPE],
    );
    for (const { prefix, result } of runs) {
      const recorded = Number(
        (
          await pool.query<{ n: number }>(
            `SELECT count(*) AS n FROM idempotency WHERE scope = $1 AND status = 201 AND left(key, $2) = $3`,
            [IDEMPOTENCY_SCOPE, prefix.length + 1, `${prefix}-`],
          )
        ).rows[0]?.n ?? 0,
      );
      const cutOff = result.started - result.answered;
      const off = Math.max(0, result.created - recorded) + Math.max(0, recorded - result.created - cutOff);
      if (off > 0) problems.push(`${prefix}: ${recorded} orders recorded for ${result.created} 201s (${cutOff} cut off)`);
      found += off;
    }
    const ledger = await verifyLedgerPg(pool);
    if (!ledger.ok) {
      problems.push(`ledger: ${ledger.problems.map((p) => p.reason).join('; ')}`);
      found += Math.max(1, ledger.problems.length);
    }
    return { found, problems };
  } finally {
    await pool.end();
  }
}

async function benchHttp(url: string, dir: string, sizes: Sizes['http']): Promise<Record<string, number>> {
  const dataDir = join(dir, 'serve');
  mkdirSync(dataDir, { mode: 0o700 });
  const seed = await PgShop.open({ url, secretStore: new KeyFileStore(join(dataDir, 'vault.key')), poolSize: 2 });
  let productId: string;
  try {
    productId = await seededProduct(seed, sizes.keys);
    await settle(seed.pool);
  } finally {
    await seed.close();
  }
  const servers: Serve[] = [];
  const clients = new ClientProcess();
  try {
    servers.push(...(await Promise.all([startServe(dataDir, url), startServe(dataDir, url)])));
    const runs: HttpRun[] = [];
    const closed = (server: Serve, prefix: string, seconds: number): Extract<ClientTask, { kind: 'closed' }> => ({
      kind: 'closed',
      url: server.url,
      connections: BUYERS / servers.length,
      seconds,
      productId,
      prefix,
    });
    /** One load per server, all at once; their answers per second summed. */
    const both = async (name: string, seconds: number): Promise<LoadResult[]> => {
      const results = await Promise.all(
        servers.map(async (server, s) => {
          const prefix = `${name}-s${s}`;
          const result = await clients.run(closed(server, prefix, seconds));
          runs.push({ prefix, result });
          return result;
        }),
      );
      return results;
    };
    await both('warm', sizes.warmup);
    const rates: number[] = [];
    const p99s: number[] = [];
    let errors = 0;
    for (let r = 0; r < sizes.rounds; r++) {
      const results = await both(`round${r}`, sizes.seconds);
      rates.push(results.reduce((sum, x) => sum + x.perSecond, 0));
      p99s.push(Math.max(...results.map((x) => x.p99)));
      errors += results.reduce((sum, x) => sum + x.errors + x.non2xx, 0);
    }
    clients.close();
    // Stop the servers (in-flight requests finish and commit) before the audit reads the rows.
    await Promise.all(servers.splice(0).map((s) => s.process.stop('SIGTERM', 20_000)));
    const audit = await auditHttp(url, runs);
    if (audit.found > 0) console.error(`postgres bench: the HTTP audit found ${audit.problems.join(', ')}`);
    return {
      ...spread('pg_http_orders_per_s', rates, 0),
      pg_http_orders_p99_ms: median(p99s),
      pg_http_errors: errors,
      pg_http_oversold: audit.found,
    };
  } finally {
    clients.close();
    await Promise.all(servers.map((s) => s.process.stop('SIGKILL', 5_000)));
  }
}

// ---------------------------------------------------------------------------------------------------

export async function benchPostgres(options: PgBenchOptions = {}): Promise<Record<string, number>> {
  const sizes = options.quick ? QUICK : FULL;
  const db = await database();
  if ('skip' in db) {
    console.error(`  postgres bench skipped: ${db.skip}`);
    return {};
  }
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-pg-bench-'));
  const admin = new pg.Client({ connectionString: db.url });
  admin.on('error', () => undefined);
  const base = `oncekey_bench_${randomBytes(4).toString('hex')}`;
  const loops = Object.fromEntries(LOOPS.map((loop) => [loop, `${base}_${loop.toLowerCase()}`])) as Record<Loop, string>;
  const schemas = [...Object.values(loops), `${base}_http`];
  let made = false;
  try {
    try {
      await admin.connect();
    } catch (error) {
      console.error(`  postgres bench skipped: cannot connect to ${redactUrl(db.url)} (${(error as Error).message})`);
      return {};
    }
    console.error(`  postgres: ${db.source}, ${redactUrl(db.url)}`);
    made = true;
    for (const schema of schemas) await admin.query(`CREATE SCHEMA ${schema}`);
    const results: Record<string, number> = { pg_durable: await durable(admin) };
    const urls = Object.fromEntries(LOOPS.map((loop) => [loop, schemaUrl(db.url, loops[loop])])) as Record<Loop, string>;
    Object.assign(results, await benchClaims(urls, dir, sizes));
    Object.assign(results, await benchHttp(schemaUrl(db.url, `${base}_http`), dir, sizes.http));
    return results;
  } finally {
    if (made) for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end().catch(() => undefined);
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchPostgres({ quick: process.argv.includes('--quick') }).then(
    (results) => console.log(JSON.stringify(results, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
