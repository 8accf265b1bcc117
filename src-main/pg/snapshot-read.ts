/**
 * Several reads that must agree with each other (an order's page: the order, its keys, payments, ledger
 * entries and audit rows) on PostgreSQL: one REPEATABLE READ transaction, so every statement sees the
 * same snapshot, as SQLite's reads of one page do (they run one after another with no write between).
 */
import type pg from 'pg';
import type { SqlReader } from '../db/sql';
import { inTransaction } from './connect';
import { pgReader } from './sql';

export function readInSnapshot<T>(pool: pg.Pool, read: (sql: SqlReader) => Promise<T>): Promise<T> {
  return inTransaction(pool, (client) => read(pgReader(client)), 'REPEATABLE READ');
}
