/**
 * `--database <url>` (or `ONCEKEY_DATABASE_URL`): the PostgreSQL database a command works on instead of
 * the SQLite file in `--data`. The folder still holds what stays per host (the vault's key file, the
 * endpoint's secrets).
 */
import { isPostgresUrl } from '../../pg/connect';
import { UsageError } from '../context';

export const DATABASE_OPTION = { database: { type: 'string' } } as const;

/** The URL to use, or undefined for the SQLite file; `required` for commands that need one. */
export function databaseUrl(flag: string | undefined, required = false): string | undefined {
  const url = flag ?? process.env.ONCEKEY_DATABASE_URL;
  if (url === undefined) {
    if (required) throw new UsageError('--database <postgres://user:password@host:5432/database> is required');
    return undefined;
  }
  if (!isPostgresUrl(url)) throw new UsageError('--database takes a PostgreSQL URL: postgres://user:password@host:5432/database');
  return url;
}
