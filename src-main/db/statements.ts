/**
 * Prepared statements cached per connection. Preparing costs more than running a short statement, and
 * the purchase path runs the same handful of statements thousands of times a second.
 */
import type { Statement } from 'better-sqlite3';
import type { ReadableDB } from './types';

const caches = new WeakMap<ReadableDB, Map<string, Statement>>();

export function stmt(db: ReadableDB, sql: string): Statement {
  let cache = caches.get(db);
  if (cache === undefined) {
    cache = new Map();
    caches.set(db, cache);
  }
  let statement = cache.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql);
    cache.set(sql, statement);
  }
  return statement;
}
