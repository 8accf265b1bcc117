/**
 * Connections to a shop's PostgreSQL database: one `pg` pool per process, BIGINT read as a JavaScript
 * number (every BIGINT here is a millisecond time, an amount in minor units, an id or a count: all far
 * below 2^53), and one place that runs a function inside a transaction.
 *
 * A URL's password is never printed: `redactUrl` is what logs and errors show.
 */
import pg from 'pg';

export { redactUrl } from '../lib/urls';

const INT8_OID = 20;

type Parser = (value: string) => unknown;
const defaultParser = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => Parser;
const typeParser = (oid: number, format?: 'text' | 'binary'): Parser =>
  oid === INT8_OID ? (value: string) => Number(value) : defaultParser(oid, format);

/** The shop's connection pool. `max` bounds the connections one process opens. */
export function openPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // A connection that cannot be made in this time fails the request that needed it (503 busy), not the process.
    connectionTimeoutMillis: 10_000,
    types: { getTypeParser: typeParser as pg.CustomTypesConfig['getTypeParser'] },
  });
  // An idle client whose server went away (a restart, a kill) errors on the pool: the pool drops it and
  // the next query opens a fresh connection. Without a listener the error would end the process.
  pool.on('error', () => undefined);
  return pool;
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * Runs `fn` in one transaction on a client of its own: COMMIT when it returns, ROLLBACK when it throws
 * (then rethrows). `isolation` defaults to READ COMMITTED, PostgreSQL's own.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  isolation: 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE' = 'READ COMMITTED',
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The pool listens for errors only on idle clients. One checked out here that the server drops between
  // two queries (a restart's "terminating connection", 57P01) would emit an 'error' nobody handles, and
  // that ends the process. Noted instead: the next query fails as a lost connection (the caller may
  // retry), and the client must not go back to the pool.
  const onError = (error: Error): void => {
    broken ??= error;
  };
  client.on('error', onError);
  try {
    await client.query(isolation === 'READ COMMITTED' ? 'BEGIN' : `BEGIN ISOLATION LEVEL ${isolation}`);
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        // The connection itself failed: it must not go back to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** True for errors that mean the server or the connection is gone for now (a restart, a network cut). */
export function isConnectionError(error: unknown): boolean {
  const state = sqlState(error);
  if (state !== undefined) return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03';
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)
  );
}

/** True for a URL this backend takes (`postgres://` or `postgresql://`, a Unix-socket one `postgres://user@/db?host=/dir` too). */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}
