/**
 * Opens a shop's SQLite file with the settings every sale depends on, and brings its schema up to date.
 *
 * - WAL so readers never wait for the writer;
 * - synchronous=FULL, because better-sqlite3 builds WAL mode with NORMAL, which can lose the last
 *   commits on a power cut and so put a sold key back on sale;
 * - foreign keys on; a short busy timeout, because the engine retries busy writes itself without
 *   blocking the event loop for long (see engine/writer.ts);
 * - a helper thread for a big sort.
 */
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { LATEST_VERSION, MIGRATIONS } from './migrations';
import type { ReadableDB, WritableDB } from './types';

export interface OpenOptions {
  /** How long one statement may wait for the write lock before SQLITE_BUSY. */
  readonly busyTimeoutMs?: number;
  /** Stop migrating at this version (migration tests). */
  readonly migrateTo?: number;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/** How long an opener waits for the write lock while another process may be migrating the same file. */
export const MIGRATION_BUSY_TIMEOUT_MS = 120_000;

/**
 * The better-sqlite3 addon to load: the desktop shell points ONCEKEY_SQLITE_BINDING at a build for
 * Electron's ABI (bin/start.js prepares it), so node_modules keeps the plain Node build for the CLI
 * and the tests. An environment variable, not an option, so worker threads inherit it too.
 */
function nativeBinding(): { nativeBinding?: string } {
  const path = process.env.ONCEKEY_SQLITE_BINDING;
  return path ? { nativeBinding: path } : {};
}

/**
 * What a worker thread needs to open the shop's file itself: the driver's resolved path and the native
 * binding this process uses (Electron's ABI in the desktop shell).
 */
export function workerDriver(): { driver: string; nativeBinding?: string } {
  return { driver: createRequire(import.meta.url).resolve('better-sqlite3'), ...nativeBinding() };
}

export function openDatabase(file: string, options: OpenOptions = {}): WritableDB {
  const db = new Database(file, nativeBinding()) as WritableDB;
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // A big sort may use a helper thread: an import's final copy sorts a million staged codes by
    // fingerprint, and the import bench went from 94.7-97.7k to 97.7-99.2k codes/s (peak RSS 265-273 MB;
    // two threads gave 98-100k at 286-296 MB). A sort that fits in the page cache, as every sort on the
    // purchase path does, never starts one.
    db.pragma('threads = 1');
    migrate(db, options.migrateTo ?? LATEST_VERSION);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** A read-only handle: reconciliation, backups checks, the simulator's observers. */
export function openReadOnly(file: string): ReadableDB {
  const db = new Database(file, { readonly: true, fileMustExist: true, ...nativeBinding() }) as ReadableDB;
  db.pragma(`busy_timeout = ${DEFAULT_BUSY_TIMEOUT_MS}`);
  return db;
}

export function schemaVersion(db: ReadableDB): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies every migration above the file's `user_version`, each in its own IMMEDIATE transaction so two
 * processes opening a new file at once cannot both apply it.
 */
export function migrate(db: WritableDB, target: number = LATEST_VERSION): void {
  const from = schemaVersion(db);
  // Up to date already (the usual case): no need to take the write lock to find out.
  const pending = MIGRATIONS.filter((migration) => migration.version <= target && migration.version > from);
  if (pending.length > 0) {
    // Another process may be applying these same migrations, and one that rebuilds a big table takes
    // seconds (migration 8: about 9 s for a million idempotency records): wait for it rather than fail
    // after the usual busy timeout.
    const busy = db.pragma('busy_timeout', { simple: true }) as number;
    db.pragma(`busy_timeout = ${Math.max(busy, MIGRATION_BUSY_TIMEOUT_MS)}`);
    try {
      for (const migration of pending) {
        // Outside a transaction only: SQLite ignores this pragma inside one.
        const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
        if (migration.foreignKeysOff) db.pragma('foreign_keys = OFF');
        try {
          db.transaction(() => {
            if (schemaVersion(db) >= migration.version) return;
            migration.up(db);
            if (migration.foreignKeysOff) {
              const broken = db.pragma('foreign_key_check') as { table: string; parent: string }[];
              if (broken.length > 0) {
                const first = broken[0]!;
                throw new Error(
                  `migration ${migration.version} left ${broken.length} broken reference(s) (${first.table} -> ${first.parent})`,
                );
              }
            }
            db.pragma(`user_version = ${migration.version}`);
          }).immediate();
        } finally {
          if (migration.foreignKeysOff) db.pragma(`foreign_keys = ${foreignKeys}`);
        }
      }
    } finally {
      db.pragma(`busy_timeout = ${busy}`);
    }
  }
  const current = schemaVersion(db);
  if (current > LATEST_VERSION) {
    throw new Error(`this database was written by a newer OnceKey (schema ${current}, we know ${LATEST_VERSION})`);
  }
}
