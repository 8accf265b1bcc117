/**
 * db/sql.ts's SqlReader on PostgreSQL: the shared SQL's `?` placeholders become `$1, $2, ...` (the
 * shared SQL never has a `?` inside a string literal). PostgreSQL's text holds no NUL, so a parameter
 * with one matches no row: answered as no rows without asking the server, as SQLite would answer.
 */
import type { SqlReader } from '../db/sql';
import type { Queryable } from './connect';

const numbered = new Map<string, string>();

/** The shared SQL's `?` placeholders as `$1, $2, ...`, remembered per SQL text (the texts are constants). */
export function toPostgres(sql: string): string {
  let text = numbered.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    numbered.set(sql, text);
  }
  return text;
}

const holdsNul = (params: readonly unknown[]): boolean => params.some((p) => typeof p === 'string' && p.includes('\0'));

/** Reads through `client`: the shop's pool, or one client inside a transaction (pg/snapshot-read.ts). */
export function pgReader(client: Queryable): SqlReader {
  const all = async <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> =>
    holdsNul(params) ? [] : ((await client.query(toPostgres(sql), params as unknown[])).rows as T[]);
  return { dialect: 'postgres', all, get: async <T>(sql: string, params?: readonly unknown[]) => (await all<T>(sql, params))[0] };
}
