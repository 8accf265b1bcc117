/**
 * A PostgreSQL shop database for a test: one throw-away server per test file (startPostgres), and a fresh
 * schema per shop inside it, reached through a URL whose `options` set the search_path, the way an owner
 * would point two shops at one server. `dropAll()` removes the schemas; `stop()` ends the server.
 */
import pg from 'pg';
import { startPostgres, type PostgresServer } from './postgres';

export interface PgShops {
  readonly server: PostgresServer;
  /** A URL to a new, empty schema of its own. */
  freshUrl(): Promise<string>;
  /** Runs one query as the superuser on the server's database (test bookkeeping, never the shop's own path). */
  admin<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<T>>;
  stop(): Promise<void>;
}

let counter = 0;

export async function startPgShops(): Promise<PgShops> {
  const server = await startPostgres();
  const admin = new pg.Client({ connectionString: server.url });
  admin.on('error', () => undefined);
  await admin.connect();
  return {
    server,
    async freshUrl() {
      const schema = `shop_${process.pid}_${++counter}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      const url = new URL(server.url);
      url.searchParams.set('options', `-c search_path=${schema}`);
      return url.toString();
    },
    admin: (sql, params) => admin.query(sql, params),
    async stop() {
      await admin.end().catch(() => undefined);
      await server.stop();
    },
  };
}
