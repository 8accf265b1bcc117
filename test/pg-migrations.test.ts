/**
 * One list of migrations for both backends: a fresh PostgreSQL database reaches the latest version with
 * the same tables and columns as a fresh SQLite file, several servers migrating at once migrate it once,
 * a second run changes nothing, and every migration after PostgreSQL's baseline carries its PostgreSQL part.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src-main/db/open';
import { LATEST_VERSION, MIGRATIONS, POSTGRES_BASELINE_VERSION } from '../src-main/db/migrations/index';
import { openPool } from '../src-main/pg/connect';
import { migratePostgres, schemaVersion } from '../src-main/pg/migrate';
import { CLAIM_KEYS } from '../src-main/pg/reserve';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';

let shops: PgShops;
beforeAll(async () => {
  shops = await startPgShops();
}, 120_000);
afterAll(async () => shops?.stop(), 60_000);

async function pgColumns(url: string): Promise<Map<string, string[]>> {
  const pool = openPool(url, 1);
  try {
    const rows = await pool.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name <> 'oncekey_schema' ORDER BY table_name, column_name`,
    );
    const out = new Map<string, string[]>();
    for (const row of rows.rows) out.set(row.table_name, [...(out.get(row.table_name) ?? []), row.column_name]);
    return out;
  } finally {
    await pool.end();
  }
}

function sqliteColumns(): Map<string, string[]> {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(`${dir}/shop.db`);
  try {
    const tables = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
      .pluck()
      .all() as string[];
    const out = new Map<string, string[]>();
    for (const table of tables) {
      const columns = (db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]).sort();
      out.set(table, columns);
    }
    return out;
  } finally {
    db.close();
    cleanup();
  }
}

describe('PostgreSQL migrations', () => {
  it('brings a fresh database to the latest version with the same tables and columns as SQLite', async () => {
    const url = await shops.freshUrl();
    const pool = openPool(url, 2);
    try {
      expect(await migratePostgres(pool)).toBe(LATEST_VERSION);
      expect(await schemaVersion(pool)).toBe(LATEST_VERSION);
    } finally {
      await pool.end();
    }
    const pgTables = await pgColumns(url);
    const sqliteTables = sqliteColumns();
    expect([...pgTables.keys()].sort()).toEqual([...sqliteTables.keys()].sort());
    for (const [table, columns] of sqliteTables) expect(pgTables.get(table), table).toEqual(columns);
  });

  it('migrates once when several servers start at once, and a second run changes nothing', async () => {
    const url = await shops.freshUrl();
    const pools = Array.from({ length: 4 }, () => openPool(url, 1));
    try {
      const versions = await Promise.all(pools.map((pool) => migratePostgres(pool)));
      expect(versions).toEqual(versions.map(() => LATEST_VERSION));
      const before = await pgColumns(url);
      expect(await migratePostgres(pools[0]!)).toBe(LATEST_VERSION);
      expect(await pgColumns(url)).toEqual(before);
      const rows = await pools[0]!.query('SELECT version FROM oncekey_schema');
      expect(rows.rowCount).toBe(1);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('refuses a database from a newer OnceKey and leaves it untouched', async () => {
    const url = await shops.freshUrl();
    const pool = openPool(url, 1);
    try {
      await migratePostgres(pool);
      await pool.query('UPDATE oncekey_schema SET version = $1', [LATEST_VERSION + 1]);
      await expect(migratePostgres(pool)).rejects.toThrow(/newer than this OnceKey/);
      expect((await pool.query('SELECT version FROM oncekey_schema')).rows[0]).toEqual({ version: LATEST_VERSION + 1 });
    } finally {
      await pool.end();
    }
  });

  it(
    'claims free keys through the index of free keys, not by walking the primary key past sold ones',
    { timeout: 120_000 },
    async () => {
      const { dir, cleanup } = tempDir();
      const shop = await PgShop.open({ url: await shops.freshUrl(), secretStore: new KeyFileStore(join(dir, 'vault.key')) });
      try {
        const product = await shop.createProduct({ name: 'Plan', price: { amount: 1, currency: 'CNY' } });
        await shop.addCodes(
          product.id,
          Array.from({ length: 5000 }, (_, i) => `PLAN-${i}`),
        );
        // What misled the planner: statistics taken while every key was free.
        await shop.pool.query('ANALYZE keys');
        await Promise.all(
          Array.from({ length: 1000 }, (_, i) =>
            shop.reserve({ productId: product.id, quantity: 1, email: 'p@example.com', idempotencyKey: `plan-${i}` }),
          ),
        );
        const no = (await shop.pool.query<{ no: number }>('SELECT no FROM products WHERE id = $1', [product.id])).rows[0]!.no;
        const plan = await shop.pool.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${CLAIM_KEYS}`, [no, 64]);
        expect(JSON.stringify(plan.rows[0]!['QUERY PLAN'])).toContain('"Index Name":"keys_claim"');
      } finally {
        await shop.close();
        cleanup();
      }
    },
  );

  it('has a PostgreSQL part for every migration after the baseline', () => {
    expect(POSTGRES_BASELINE_VERSION).toBeLessThanOrEqual(LATEST_VERSION);
    const missing = MIGRATIONS.filter((m) => m.version > POSTGRES_BASELINE_VERSION && m.postgres === undefined);
    expect(missing.map((m) => m.version)).toEqual([]);
  });
});
