/**
 * Brings a PostgreSQL database to the shop's current schema. One list of migrations serves both backends
 * (db/migrations/index.ts): PostgreSQL starts at POSTGRES_BASELINE_VERSION with the schema of that
 * version (baseline.ts) and then runs the `postgres` part of every later migration. The version lives in
 * `oncekey_schema`. The whole run is one transaction under an advisory lock, so several servers starting
 * at once against one database migrate it once, and a failed migration leaves it as it was.
 */
import type pg from 'pg';
import { LATEST_VERSION, MIGRATIONS, POSTGRES_BASELINE_VERSION } from '../db/migrations/index';
import { EngineError } from '../lib/errors';
import { BASELINE_SQL } from './baseline';
import { inTransaction, type Queryable } from './connect';

/** Advisory lock keys of this application (pg_advisory_xact_lock takes a bigint). */
export const LOCKS = {
  migrate: 0x6f6e63656b6579n, // "oncekey"
  ledger: 0x6f6e63656b6c67n,
} as const;

export async function schemaVersion(client: Queryable): Promise<number> {
  const exists = await client.query<{ found: boolean }>(`SELECT to_regclass('oncekey_schema') IS NOT NULL AS found`);
  if (!exists.rows[0]?.found) return 0;
  const row = await client.query<{ version: number }>('SELECT version FROM oncekey_schema');
  return row.rows[0]?.version ?? 0;
}

/** Migrates the database the pool reaches; returns the version it is at afterwards. */
export async function migratePostgres(pool: pg.Pool): Promise<number> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.migrate]);
    let version = await schemaVersion(client);
    if (version > LATEST_VERSION) {
      throw new EngineError(
        'internal_error',
        `this PostgreSQL database is at schema ${version}, newer than this OnceKey (${LATEST_VERSION}): update OnceKey`,
      );
    }
    if (version === 0) {
      await client.query('CREATE TABLE oncekey_schema (version BIGINT NOT NULL)');
      await client.query(BASELINE_SQL);
      await client.query('INSERT INTO oncekey_schema (version) VALUES ($1)', [POSTGRES_BASELINE_VERSION]);
      version = POSTGRES_BASELINE_VERSION;
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= version) continue;
      if (migration.postgres === undefined) throw new Error(`migration ${migration.version} has no PostgreSQL part`);
      await client.query(migration.postgres);
      await client.query('UPDATE oncekey_schema SET version = $1', [migration.version]);
      version = migration.version;
    }
    return version;
  });
}
