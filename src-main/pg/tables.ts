/**
 * The shop's tables as both copies between the backends see them: their columns as PostgreSQL declares
 * them (names, types, identity) and the key a table is read in order of. `migrate-to-postgres`
 * (copy-from-sqlite.ts) writes them into PostgreSQL; a reconciliation's snapshot (snapshot-to-sqlite.ts)
 * reads them back into SQLite. The tables themselves, parents first, are TABLES_IN_ORDER (baseline.ts).
 */
import { TABLES_IN_ORDER } from './baseline';
import type { Queryable } from './connect';

export { TABLES_IN_ORDER };
export type ShopTable = (typeof TABLES_IN_ORDER)[number];

export interface Column {
  readonly name: string;
  /** PostgreSQL's type name (information_schema's data_type): `bigint`, `text`, `bytea`, ... */
  readonly type: string;
  readonly identity: boolean;
}

/** A table's columns in the current schema, in their declared order. */
export async function columnsOf(client: Queryable, table: string): Promise<Column[]> {
  const rows = await client.query<{ column_name: string; data_type: string; is_identity: string }>(
    `SELECT column_name, data_type, is_identity FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return rows.rows.map((r) => ({ name: r.column_name, type: r.data_type, identity: r.is_identity === 'YES' }));
}

/** The columns of a table's primary key (empty for a table without one), in the key's order. */
export async function primaryKeyOf(client: Queryable, table: string): Promise<string[]> {
  const rows = await client.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_index i
       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) AND i.indisprimary
      ORDER BY k.n`,
    [table],
  );
  return rows.rows.map((r) => r.name);
}
