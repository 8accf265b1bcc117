/**
 * Where the PostgreSQL benchmark's server comes from (bench/pg-bench.ts), and its schemas: the URL of one,
 * whether its commits are durable, a product seeded as an import seeds it, and the VACUUM (ANALYZE) before
 * each round.
 *
 * The server: `ONCEKEY_BENCH_POSTGRES_URL` if set (fresh schemas `oncekey_bench_<random>_*` in its
 * database, dropped afterwards; the ledger's advisory lock is per database, so not one a shop runs in),
 * else a throw-away one from the tests' helper (test/helpers/postgres.ts) with durability turned back on
 * (its defaults are fsync and synchronous_commit off); with neither (no binaries, or the URL does not
 * connect), one line says why and the benchmark is skipped.
 */
import type pg from 'pg';
import { isPostgresUrl } from '../src-main/pg/connect';
import type { PgShop } from '../src-main/pg/shop';
import { startPostgres } from '../test/helpers/postgres';

/** Keys added per `addCodes` call while seeding. */
const SEED_CHUNK = 5_000;
/** A throw-away server's settings: the tests' speed settings undone (test/helpers/postgres.ts). */
const DURABLE_SETTINGS = {
  fsync: 'on',
  synchronous_commit: 'on',
  full_page_writes: 'on',
  shared_buffers: '128MB',
  max_connections: '100',
};

export interface Database {
  /** The server's own URL (schemas are made in its database). */
  readonly url: string;
  readonly source: string;
  stop(): Promise<void>;
}

/** The server to measure, or why there is none. */
export async function database(): Promise<Database | { skip: string }> {
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
export function schemaUrl(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}

/** 1 if commits are flushed to disk before they are acknowledged. */
export async function durable(admin: pg.Client): Promise<number> {
  const show = async (name: string): Promise<string> =>
    (await admin.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '';
  // synchronous_commit: every value but `off` waits for the local flush (others wait for standbys too).
  const flushed = (await show('fsync')) === 'on' && (await show('full_page_writes')) === 'on';
  return flushed && (await show('synchronous_commit')) !== 'off' ? 1 : 0;
}

/** A product of `count` codes, added as an import adds them (sealed, fingerprinted, one ledger entry a chunk). */
export async function seededProduct(shop: PgShop, count: number): Promise<string> {
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
export async function settle(pool: pg.Pool): Promise<void> {
  await pool.query(`VACUUM (ANALYZE) ${CLAIM_TABLES}`);
}
