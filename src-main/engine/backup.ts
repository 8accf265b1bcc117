/**
 * Backup and restore of a SQLite shop: an online backup is a copy of the database file, checked by
 * reopening it; a restore is validated now and staged to replace the database at the next start
 * (swapping the file under a running engine, and under any other process serving the same folder, is
 * not safe). A PostgreSQL shop is backed up with pg_dump instead.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase, openReadOnly, schemaVersion } from '../db/open';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { keyAad, open } from '../vault/crypto';
import type { UnlockedVault } from '../vault/vault';
import { verifyLedger } from './ledger-verify';

export const RESTORE_FILE = 'restore-pending.db';
const RESTORE_NOTE = 'restore-pending.json';

export interface BackupSummary {
  readonly file: string;
  readonly schemaVersion: number;
  readonly keys: number;
  readonly orders: number;
  readonly ledgerOk: boolean;
  readonly ledgerEntries: number;
}

/** Checks a database file: integrity, ledger, and (given the vault) that its codes open with this shop's key. */
export function inspectDatabase(db: ReadableDB, file: string, vault?: UnlockedVault): BackupSummary {
  const integrity = db.pragma('integrity_check', { simple: true });
  if (integrity !== 'ok')
    throw new EngineError('validation_failed', `${file} fails SQLite's integrity check: ${String(integrity).slice(0, 200)}`);
  if (vault) {
    const sample = stmt(
      db,
      'SELECT p.id AS product_id, k.fingerprint, k.sealed FROM keys k JOIN products p ON p.no = k.product_no ORDER BY k.id LIMIT 1',
    ).get() as { product_id: string; fingerprint: Buffer; sealed: Buffer } | undefined;
    if (sample) {
      try {
        open(vault.sealKey, sample.sealed, keyAad(sample.product_id, sample.fingerprint));
      } catch {
        throw new EngineError(
          'validation_failed',
          `the codes in ${file} were sealed by another vault key; this shop could not open them`,
        );
      }
    }
  }
  const ledger = verifyLedger(db);
  return {
    file,
    schemaVersion: schemaVersion(db),
    keys: db.prepare('SELECT count(*) FROM keys').pluck().get() as number,
    orders: db.prepare('SELECT count(*) FROM orders').pluck().get() as number,
    ledgerOk: ledger.ok,
    ledgerEntries: ledger.entries,
  };
}

/** Opens a finished backup read-only and checks it. */
export function checkBackup(file: string): BackupSummary {
  const copy = openReadOnly(file);
  try {
    return inspectDatabase(copy, file);
  } finally {
    copy.close();
  }
}

export interface PendingRestore {
  readonly stagedAt: string;
  readonly source: string;
}

export function pendingRestore(dataDir: string): PendingRestore | null {
  if (!existsSync(join(dataDir, RESTORE_FILE))) return null;
  try {
    const note = JSON.parse(readFileSync(join(dataDir, RESTORE_NOTE), 'utf8')) as Partial<PendingRestore>;
    if (typeof note.stagedAt === 'string' && typeof note.source === 'string')
      return { stagedAt: note.stagedAt, source: note.source };
  } catch {
    // no note: still pending
  }
  return { stagedAt: new Date(0).toISOString(), source: RESTORE_FILE };
}

/**
 * Copies `source` into the data folder, brings it to this version's schema, and refuses it unless it
 * passes the integrity check, its ledger verifies and its codes open with this shop's vault key. On
 * success it waits in `restore-pending.db` until the next start (see applyStagedRestore).
 */
export function stageRestore(
  dataDir: string,
  source: string,
  vault: UnlockedVault,
  now: number,
): BackupSummary & { stagedAt: string } {
  if (!existsSync(source)) throw new EngineError('validation_failed', `${source} does not exist`);
  const staged = join(dataDir, RESTORE_FILE);
  const temp = `${staged}.${randomBytes(6).toString('hex')}.tmp`;
  const cleanup = (): void => {
    for (const f of [temp, `${temp}-wal`, `${temp}-shm`]) rmSync(f, { force: true });
  };
  try {
    try {
      copyFileSync(source, temp);
    } catch (error) {
      throw new EngineError('validation_failed', `cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    let db: WritableDB;
    try {
      db = openDatabase(temp, { busyTimeoutMs: 1000 });
    } catch (error) {
      throw new EngineError(
        'validation_failed',
        `${source} is not a OnceKey database this version can open: ${(error as Error).message.slice(0, 200)}`,
      );
    }
    let summary: BackupSummary;
    try {
      summary = inspectDatabase(db, source, vault);
      if (!summary.ledgerOk)
        throw new EngineError('validation_failed', `the ledger in ${source} does not verify; it will not replace this shop`);
      // Leave one self-contained file behind.
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.pragma('journal_mode = DELETE');
    } finally {
      db.close();
    }
    renameSync(temp, staged);
    const stagedAt = new Date(now).toISOString();
    writeFileSync(join(dataDir, RESTORE_NOTE), JSON.stringify({ stagedAt, source }), { mode: 0o600 });
    return { ...summary, stagedAt };
  } finally {
    cleanup();
  }
}

export function cancelRestore(dataDir: string): boolean {
  const had = existsSync(join(dataDir, RESTORE_FILE));
  rmSync(join(dataDir, RESTORE_FILE), { force: true });
  rmSync(join(dataDir, RESTORE_NOTE), { force: true });
  return had;
}

/**
 * At start, before the database is opened: puts a staged restore in place. The old database (with its
 * WAL, which may hold its last commits) is kept beside it as `shop.db.before-restore-<time>`.
 * Every process using the folder must be stopped first; the Settings page says so.
 */
export function applyStagedRestore(dataDir: string, dbFile: string, now = Date.now()): string | null {
  const staged = join(dataDir, RESTORE_FILE);
  if (!existsSync(staged)) return null;
  const live = join(dataDir, dbFile);
  const kept = `${live}.before-restore-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
  if (existsSync(live)) {
    renameSync(live, kept);
    for (const suffix of ['-wal', '-shm']) if (existsSync(live + suffix)) renameSync(live + suffix, kept + suffix);
  }
  renameSync(staged, live);
  rmSync(join(dataDir, RESTORE_NOTE), { force: true });
  return kept;
}
