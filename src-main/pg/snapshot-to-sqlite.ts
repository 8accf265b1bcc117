/**
 * The reverse of `migrate-to-postgres` (copy-from-sqlite.ts): a consistent snapshot of a PostgreSQL shop
 * written into a private SQLite file, so that what reads a shop's SQLite file (reconciliation's
 * detectors, the ledger's replay) reads a PostgreSQL shop unchanged: one implementation of each, and a
 * file a support agent can keep as the offline view of the shop at one instant.
 *
 * - One `REPEATABLE READ` `READ ONLY` transaction reads every table, so a sale committing meanwhile on
 *   another server is either wholly in the snapshot or not at all, and nothing is written.
 * - Rows stream through a server-side cursor in batches of BATCH, in primary key order, one SQLite
 *   transaction per batch: a million keys never sit in memory at once. A failed snapshot is thrown away
 *   by its caller, never used.
 * - The file's schema is the engine's, made by the SQLite migrations, with the engine's guards relaxed:
 *   its triggers dropped, its UNIQUE indexes made plain (and built once the rows are in), CHECKs and
 *   foreign keys not enforced. A
 *   snapshot must hold what the PostgreSQL database holds even where someone broke the rules behind the
 *   shop's back (a key delivered twice once its unique index was dropped); finding that is the point.
 * - Columns are PostgreSQL's (tables.ts, as the copy the other way uses them); `blank` columns are
 *   written as empty blobs instead (the sealed codes: reconciliation never needs them, and they stay
 *   out of a temporary file).
 */
import Database from 'better-sqlite3';
import type pg from 'pg';
import { LATEST_VERSION } from '../db/migrations/index';
import { migrate } from '../db/open';
import type { WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { inTransaction, type Queryable } from './connect';
import { schemaVersion } from './migrate';
import { columnsOf, primaryKeyOf, type ShopTable } from './tables';

/** Rows per FETCH: a few MB at most, whatever the table. */
const BATCH = 5000;

export interface SnapshotOptions {
  /** The SQLite file to create (it must not exist yet); ':memory:' for one in memory. */
  readonly file: string;
  /** The tables to copy, parents first (a subset of TABLES_IN_ORDER); the others stay empty. */
  readonly tables: readonly ShopTable[];
  /** Columns written as empty blobs, per table. */
  readonly blank?: Readonly<Partial<Record<ShopTable, readonly string[]>>>;
}

export interface Snapshot {
  readonly db: WritableDB;
  /** Rows copied per table. */
  readonly rows: Readonly<Record<string, number>>;
}

/**
 * An empty SQLite database with the engine's schema and its guards relaxed (see the header), and the
 * statements that build its indexes once the rows are in (a sort each, cheaper than keeping five indexes
 * of the keys up to date row by row).
 */
function openRelaxed(file: string): { db: WritableDB; indexes: string[] } {
  const db = new Database(file) as WritableDB;
  try {
    // A throw-away copy: no WAL, no fsync; rollback still works (MEMORY journal).
    db.pragma('journal_mode = MEMORY');
    db.pragma('synchronous = OFF');
    migrate(db, LATEST_VERSION);
    db.pragma('foreign_keys = OFF');
    db.pragma('ignore_check_constraints = ON');
    const indexes: string[] = [];
    db.transaction(() => {
      const objects = db
        .prepare(`SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'index') AND sql IS NOT NULL`)
        .all() as { type: 'trigger' | 'index'; name: string; sql: string }[];
      for (const o of objects) {
        db.exec(`DROP ${o.type === 'trigger' ? 'TRIGGER' : 'INDEX'} "${o.name}"`);
        if (o.type === 'index') indexes.push(o.sql.replace(/^CREATE\s+UNIQUE\s+INDEX/i, 'CREATE INDEX'));
      }
    })();
    return { db, indexes };
  } catch (error) {
    db.close();
    throw error;
  }
}

async function copyTable(client: Queryable, db: WritableDB, table: ShopTable, blank: readonly string[]): Promise<number> {
  const columns = await columnsOf(client, table);
  if (columns.length === 0) throw new Error(`the PostgreSQL database has no table ${table}`);
  const known = new Set(db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]);
  const missing = columns.filter((c) => !known.has(c.name));
  if (missing.length > 0) throw new Error(`${table}: the SQLite schema has no column ${missing.map((c) => c.name).join(', ')}`);
  const names = columns.map((c) => c.name);
  const selected = columns.map((c) => (blank.includes(c.name) ? `''::bytea AS ${c.name}` : c.name)).join(', ');
  const key = await primaryKeyOf(client, table);
  const insert = db.prepare(`INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`);
  const cursor = `oncekey_snapshot_${table}`;
  await client.query(
    `DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${selected} FROM ${table}${key.length > 0 ? ` ORDER BY ${key.join(', ')}` : ''}`,
  );
  // One SQLite transaction per batch, never held across an await.
  const write = db.transaction((rows: unknown[][]) => {
    for (const row of rows) {
      try {
        insert.run(row);
      } catch (error) {
        throw new EngineError(
          'internal_error',
          `${table}: a row the snapshot cannot hold (${(error as Error).message}); was the PostgreSQL schema changed outside OnceKey?`,
        );
      }
    }
  });
  const fetch = () => client.query<unknown[]>({ text: `FETCH ${BATCH} FROM ${cursor}`, rowMode: 'array' });
  let copied = 0;
  try {
    // The next batch is asked for before this one is written: PostgreSQL reads it meanwhile.
    for (let pending = fetch(); ;) {
      const batch = await pending;
      if (batch.rows.length === 0) break;
      pending = fetch();
      // A FETCH failing while this batch is written is seen at the next await; none is left unhandled.
      pending.catch(() => undefined);
      write(batch.rows);
      copied += batch.rows.length;
    }
  } finally {
    await client.query(`CLOSE ${cursor}`).catch(() => undefined);
  }
  return copied;
}

/**
 * Refuses a database that holds no shop, or one at another schema version than this OnceKey's: what a
 * command that opens no PgShop (and so migrates nothing) checks before it reads or writes the tables.
 */
export async function checkShopSchema(client: Queryable): Promise<void> {
  const version = await schemaVersion(client);
  if (version === 0) throw new EngineError('validation_failed', 'the PostgreSQL database holds no OnceKey shop');
  if (version !== LATEST_VERSION) {
    throw new EngineError(
      'validation_failed',
      version > LATEST_VERSION
        ? `this PostgreSQL database is at schema ${version}, newer than this OnceKey (${LATEST_VERSION}): update OnceKey`
        : `this PostgreSQL database is at schema ${version}, this OnceKey reads ${LATEST_VERSION}: start \`oncekey serve --database\` once to migrate it`,
    );
  }
}

/** Copies `tables` of the PostgreSQL shop `pool` reaches, as of one instant, into a new SQLite database. */
export async function snapshotToSqlite(pool: pg.Pool, options: SnapshotOptions): Promise<Snapshot> {
  const { db, indexes } = openRelaxed(options.file);
  try {
    return await inTransaction(
      pool,
      async (client) => {
        await client.query('SET TRANSACTION READ ONLY');
        await checkShopSchema(client);
        const rows: Record<string, number> = {};
        for (const table of options.tables) rows[table] = await copyTable(client, db, table, options.blank?.[table] ?? []);
        db.transaction(() => {
          for (const sql of indexes) db.exec(sql);
        })();
        return { db, rows };
      },
      'REPEATABLE READ',
    );
  } catch (error) {
    db.close();
    throw error;
  }
}
