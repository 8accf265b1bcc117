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
 * - `pg_http_orders_per_s` (`_p99_ms`, `_errors`) and `pg_http_oversold` (target 0): orders over HTTP
 *   through two `serve --database` processes, then the database audited (bench/pg-http.ts).
 * - `pg_durable`: 1 if the measured server flushes its commits (fsync, synchronous_commit and
 *   full_page_writes on, read from the server with SHOW), else 0.
 *
 * The server (bench/pg-database.ts): `ONCEKEY_BENCH_POSTGRES_URL` if set, else a throw-away one; fresh
 * schemas `oncekey_bench_<random>_*` are made in its database and dropped afterwards. With neither, one
 * line says why and the benchmark is skipped.
 *
 * The engine and each bare loop claim from a schema of their own, made by the same migration and seeded
 * the same way (the same count of codes through PgShop.addCodes), so none walks past keys another one
 * claimed. They run in turns, in rounds (the order reversed every other round: the machine's speed
 * drifts), each round after a VACUUM (ANALYZE) of every schema (see `settle`); each ratio is the median
 * of the rounds' ratios with the lowest and highest beside it. Every measurement runs a fixed count of
 * claims and stops early at a time cap.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openPool, redactUrl } from '../src-main/pg/connect';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { add, newRun, perSecond, type Run } from './claims-run';
import { engineClaims, rawBatched, rawClaims, type RawTarget } from './pg-claims';
import { database, durable, schemaUrl, seededProduct, settle } from './pg-database';
import { benchHttp, type HttpSizes } from './pg-http';
import { spread } from './rounds';

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
  readonly http: HttpSizes;
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

/** Connections per pool: the shop's default, used for the shop and the bare loops alike. */
const POOL_SIZE = 10;

const round = (n: number): number => Math.round(n);

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
