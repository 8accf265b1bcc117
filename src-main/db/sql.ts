/**
 * Reads that run on either backend: the admin app's lists and pages (orders, keys, the ledger, the
 * dashboard, settings) are one SQL text each, written once with `?` placeholders in the SQL both SQLite
 * and PostgreSQL speak, and run through a SqlReader: the SQLite engine's connection (synchronous inside,
 * answered as a promise) or PostgreSQL's pool (pg/sql.ts, the placeholders numbered there).
 *
 * Writes do not go through here: each backend writes in its own transaction (the SQLite writer's
 * synchronous one, a PostgreSQL client's), deciding what to write with shared code.
 */
import { stmt } from './statements';
import type { ReadableDB } from './types';

export interface SqlReader {
  readonly dialect: 'sqlite' | 'postgres';
  /** Every row `sql` selects. */
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
}

/** Reads on the SQLite engine's connection (a cached prepared statement per SQL text). */
export function sqliteReader(db: ReadableDB): SqlReader {
  return {
    dialect: 'sqlite',
    all: async <T>(sql: string, params: readonly unknown[] = []) => stmt(db, sql).all(...params) as T[],
    get: async <T>(sql: string, params: readonly unknown[] = []) => stmt(db, sql).get(...params) as T | undefined,
  };
}

/**
 * `column` ordered byte by byte on both backends: SQLite compares text as bytes already, PostgreSQL by
 * its collation unless told `COLLATE "C"` (ids mix cases and punctuation).
 */
export function byBytes(sql: Pick<SqlReader, 'dialect'>, column: string): string {
  return sql.dialect === 'postgres' ? `${column} COLLATE "C"` : column;
}

/** The first column of a row (`SELECT count(*) ...`), as a number; 0 when there is no row or it is null. */
export function firstNumber(row: object | undefined): number {
  const value: unknown = row ? Object.values(row)[0] : undefined;
  return value === null || value === undefined ? 0 : Number(value);
}
