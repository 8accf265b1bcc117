/**
 * `oncekey migrate-to-postgres --data <dir> --database <url>`: copies a SQLite shop into an empty
 * PostgreSQL database (pg/copy-from-sqlite.ts): codes still sealed, every id kept, the ledger's chain
 * verified on both sides, all or nothing. Afterwards `serve --data <dir> --database <url>` runs the shop
 * there; other hosts need the same vault key file (or the passphrase).
 */
import { join, resolve } from 'node:path';
import { openDatabase } from '../../db/open';
import { DB_FILE, KEY_FILE } from '../../engine/engine';
import { openPool, redactUrl } from '../../pg/connect';
import { copySqliteToPostgres } from '../../pg/copy-from-sqlite';
import { DATA_OPTION, JSON_OPTION, parse, printJson, requireString, table, type Io } from '../context';
import { databaseUrl } from './database-option';

export async function migrateToPostgresCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, { ...DATA_OPTION, ...JSON_OPTION, database: { type: 'string' } });
  const dataDir = resolve(requireString(values.data, '--data <dir>'));
  const url = databaseUrl(values.database, true)!;
  const source = openDatabase(join(dataDir, DB_FILE));
  const pool = openPool(url, 2);
  try {
    const report = await copySqliteToPostgres(source, pool);
    if (values.json) {
      printJson(io, report);
    } else {
      io.out(table(['table', 'rows'], Object.entries(report.rows)));
      io.out(
        `copied to ${redactUrl(url)}: ledger verified (${report.ledgerEntries} entries, head ${report.ledgerHead?.slice(0, 16) ?? 'none'}…)`,
      );
      io.out(
        `next: oncekey serve --data ${dataDir} --database <url>   (other hosts need ${join(dataDir, KEY_FILE)} or the passphrase)`,
      );
    }
    return 0;
  } finally {
    source.close();
    await pool.end();
  }
}
