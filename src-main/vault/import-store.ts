/**
 * The import's database side. Codes are appended to `import_rows` (no index: an append costs about a
 * microsecond) chunk by chunk, in short write transactions; a code already in the vault is counted and
 * left out. One final transaction copies the rows into `keys` as `available`, in fingerprint order so
 * the UNIQUE (product_id, fingerprint) index is filled in order, moves the product's stock counter,
 * appends ONE ledger `import` entry and deletes the rows: the vault gets every accepted code or none.
 * That index, not a set in memory, decides what is a duplicate; a code repeated inside the file is
 * found by reading the import's rows in fingerprint order (`batchDuplicates`).
 * A failed, cancelled or crashed import is discarded: its rows deleted, its state `discarded`.
 */
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { EngineError } from '../engine/errors';
import { appendLedger, KeyIdRuns } from '../engine/ledger';
import { moveStock, requireProduct } from '../engine/products';

export type ImportState = 'staging' | 'committed' | 'discarded';

/** What the `imports.source` column records: where the codes came from and which process stages them. */
export interface ImportOrigin {
  readonly name: string;
  readonly pid: number;
  readonly preview?: boolean;
}

export interface ImportRow {
  readonly id: number;
  readonly productId: string;
  readonly state: ImportState;
  readonly origin: ImportOrigin | null;
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface RawImportRow {
  id: number;
  product_id: string;
  state: ImportState;
  source: string;
  accepted: number;
  duplicates: number;
  rejected: number;
  created_at: number;
  updated_at: number;
}

function parseOrigin(text: string): ImportOrigin | null {
  try {
    const value = JSON.parse(text) as Partial<ImportOrigin> | null;
    return value && typeof value.name === 'string' && typeof value.pid === 'number' ? (value as ImportOrigin) : null;
  } catch {
    return null;
  }
}

function toImportRow(row: RawImportRow): ImportRow {
  return {
    id: row.id,
    productId: row.product_id,
    state: row.state,
    origin: parseOrigin(row.source),
    accepted: row.accepted,
    duplicates: row.duplicates,
    rejected: row.rejected,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function getImport(db: ReadableDB, id: number): ImportRow | null {
  const row = stmt(db, 'SELECT * FROM imports WHERE id = ?').get(id) as RawImportRow | undefined;
  return row ? toImportRow(row) : null;
}

export function listImports(db: ReadableDB, productId?: string): ImportRow[] {
  const rows = (
    productId === undefined
      ? stmt(db, 'SELECT * FROM imports ORDER BY id').all()
      : stmt(db, 'SELECT * FROM imports WHERE product_id = ? ORDER BY id').all(productId)
  ) as RawImportRow[];
  return rows.map(toImportRow);
}

/** Opens a staging import for a product; returns its id. */
export function beginImport(db: WritableDB, productId: string, origin: ImportOrigin, now: number): number {
  requireProduct(db, productId);
  const result = stmt(
    db,
    `INSERT INTO imports (product_id, state, source, created_at, updated_at) VALUES (?, 'staging', ?, ?, ?)`,
  ).run(productId, JSON.stringify(origin), now, now);
  return Number(result.lastInsertRowid);
}

export interface StagedChunk {
  /** Codes appended to the import's rows. */
  readonly staged: number;
  /** Positions (in the chunk) of codes already in the vault; they are not staged. */
  readonly inVault: number[];
}

/**
 * Stages one chunk. `fingerprints[i]`, `sealed[i]` and `lines[i]` belong to the same code. Pure with
 * respect to the caller's state: the writer may run it twice (a neighbour's failure re-runs the batch
 * with savepoints).
 */
export function stageChunk(
  db: WritableDB,
  importId: number,
  productId: string,
  fingerprints: readonly Uint8Array[],
  sealed: readonly Uint8Array[],
  lines: readonly number[],
  now: number,
): StagedChunk {
  const state = stmt(db, 'SELECT state FROM imports WHERE id = ?').pluck().get(importId) as ImportState | undefined;
  if (state !== 'staging') throw new EngineError('import_not_found', `import ${importId} is not staging (it is ${state ?? 'gone'})`);
  const known = stmt(db, 'SELECT 1 FROM keys WHERE product_id = ? AND fingerprint = ?').pluck();
  const append = stmt(db, 'INSERT INTO import_rows (import_id, line, fingerprint, sealed) VALUES (?, ?, ?, ?)');
  let staged = 0;
  const inVault: number[] = [];
  for (let i = 0; i < fingerprints.length; i++) {
    if (known.get(productId, fingerprints[i]) !== undefined) {
      inVault.push(i);
    } else {
      append.run(importId, lines[i], fingerprints[i], sealed[i]);
      staged++;
    }
  }
  stmt(db, 'UPDATE imports SET updated_at = ? WHERE id = ?').run(now, importId);
  return { staged, inVault };
}

export interface BatchDuplicates {
  /** Staged codes that repeat an earlier line of the same import. */
  readonly count: number;
  /** The first `keep` of their line numbers, ascending. */
  readonly lines: number[];
}

/**
 * Finds the codes an import staged more than once: its rows read in fingerprint order put each code's
 * lines side by side; every line after a code's first is a duplicate. SQLite sorts in bounded memory.
 */
export function batchDuplicates(db: ReadableDB, importId: number, keep: number): BatchDuplicates {
  const rows = stmt(db, 'SELECT line, fingerprint FROM import_rows WHERE import_id = ? ORDER BY fingerprint, line').raw();
  let count = 0;
  let lines: number[] = [];
  let previous = null as Buffer | null;
  for (const [line, fp] of rows.iterate(importId) as IterableIterator<[number, Buffer]>) {
    if (previous?.equals(fp)) {
      count++;
      lines.push(line);
      if (lines.length > 4 * keep + 64) lines = lines.sort((a, b) => a - b).slice(0, keep);
    }
    previous = fp;
  }
  return { count, lines: lines.sort((a, b) => a - b).slice(0, keep) };
}

export interface CommitCounts {
  /** Codes found in the vault while staging. */
  readonly inVault: number;
  readonly rejected: number;
  readonly source: string;
  /** How many line numbers of each kind of duplicate to return. */
  readonly keep: number;
}

export interface Committed {
  /** Keys made available. */
  readonly imported: number;
  readonly inBatch: BatchDuplicates;
  /** Staged codes another import stored after they were staged (counted as already in the vault). */
  readonly lateInVault: number;
}

/**
 * Copies the import's staged rows into `keys` as available (in fingerprint order), moves the stock
 * counter, appends one ledger entry and deletes the staged rows, in the caller's transaction.
 */
export function commitImport(db: WritableDB, importId: number, counts: CommitCounts, now: number): Committed {
  const row = getImport(db, importId);
  if (row?.state !== 'staging') throw new EngineError('import_not_found', `import ${importId} is not staging (it is ${row?.state ?? 'gone'})`);
  const lastId = () => stmt(db, 'SELECT coalesce(max(id), 0) FROM keys').pluck().get() as number;
  const before = lastId();
  const staged = stmt(db, 'SELECT count(*) FROM import_rows WHERE import_id = ?').pluck().get(importId) as number;
  // The UPSERT needs its SELECT to have a WHERE clause (it has): see SQLite's "parsing ambiguity".
  const imported = stmt(
    db,
    `INSERT INTO keys (product_id, import_id, fingerprint, sealed, status, updated_at)
     SELECT ?, import_id, fingerprint, sealed, 'available', ? FROM import_rows WHERE import_id = ? ORDER BY fingerprint, line
     ON CONFLICT (product_id, fingerprint) DO NOTHING`,
  ).run(row.productId, now, importId).changes;
  if (imported === 0) {
    throw new EngineError('import_rejected', 'nothing to import: every new code was stored meanwhile by another import; nothing was stored');
  }
  // Rows a code clashed with are repeats inside the file, or codes another import stored meanwhile.
  const inBatch = staged > imported ? batchDuplicates(db, importId, counts.keep) : { count: 0, lines: [] };
  const lateInVault = staged - imported - inBatch.count;
  // The new rows have the ids after `before`: one run, unless SQLite had to pick ids at random.
  const ids = new KeyIdRuns();
  if (lastId() === before + imported) {
    for (let id = before + 1; id <= before + imported; id++) ids.add(id);
  } else {
    for (const id of stmt(db, 'SELECT id FROM keys WHERE import_id = ? ORDER BY id').pluck().iterate(importId)) ids.add(id as number);
  }
  stmt(db, 'DELETE FROM import_rows WHERE import_id = ?').run(importId);
  moveStock(db, row.productId, { available: imported });
  const duplicates = inBatch.count + counts.inVault + lateInVault;
  appendLedger(db, {
    kind: 'import',
    at: now,
    productId: row.productId,
    keyIds: ids,
    keysTo: 'available',
    detail: { importId, accepted: imported, duplicates, rejected: counts.rejected, source: counts.source },
  });
  stmt(
    db,
    `UPDATE imports SET state = 'committed', accepted = ?, duplicates = ?, rejected = ?, updated_at = ? WHERE id = ?`,
  ).run(imported, duplicates, counts.rejected, now, importId);
  return { imported, inBatch, lateInVault };
}

/**
 * Deletes up to `limit` staged rows of an import (so a big discard never holds the write lock long; -1:
 * all), including `staged` key rows an older OnceKey left; once none are left, marks the import
 * discarded (or deletes its row when `forget`, for a preview). Returns true when it is fully discarded.
 */
export function discardChunk(db: WritableDB, importId: number, now: number, limit: number, forget = false): boolean {
  const rows = stmt(db, `DELETE FROM import_rows WHERE rowid IN (SELECT rowid FROM import_rows WHERE import_id = ? LIMIT ?)`).run(importId, limit).changes;
  if (rows === limit) return false;
  const legacy = stmt(
    db,
    `DELETE FROM keys WHERE id IN (SELECT id FROM keys WHERE import_id = ? AND status = 'staged' LIMIT ?)`,
  ).run(importId, limit < 0 ? -1 : limit - rows).changes;
  if (limit >= 0 && rows + legacy === limit) return false;
  if (forget) stmt(db, `DELETE FROM imports WHERE id = ? AND state <> 'committed'`).run(importId);
  else stmt(db, `UPDATE imports SET state = 'discarded', updated_at = ? WHERE id = ? AND state = 'staging'`).run(now, importId);
  return true;
}

/** This process's running imports, as `<database file>#<import id>` (see liveKey). */
const liveImports = new Set<string>();

function liveKey(db: ReadableDB, importId: number): string {
  return `${db.name}#${importId}`;
}

/** Marks an import as running in this process until the returned function is called. */
export function markLive(db: ReadableDB, importId: number): () => void {
  const key = liveKey(db, importId);
  liveImports.add(key);
  return () => liveImports.delete(key);
}

/** How long a staging import may go without a chunk before it counts as abandoned, whoever owns it. */
export const STALE_IMPORT_MS = 10 * 60 * 1000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Discards imports left `staging` by a process that died (a crash, a kill), by this process without
 * still running (an engine closed mid-import), or silent for STALE_IMPORT_MS. WAL needs every
 * connection on one host, so the recorded pid tells a live importer in another process from a dead one.
 */
export function discardStaleImports(db: WritableDB, now: number, isAlive: (pid: number) => boolean = processAlive): number[] {
  const staging = (stmt(db, `SELECT * FROM imports WHERE state = 'staging'`).all() as RawImportRow[]).map(toImportRow);
  const stale = staging.filter((row) => {
    if (liveImports.has(liveKey(db, row.id))) return false;
    if (now - row.updatedAt > STALE_IMPORT_MS) return true;
    const pid = row.origin?.pid;
    if (pid === undefined || pid === process.pid) return true;
    return !isAlive(pid);
  });
  for (const row of stale) {
    // At startup nothing waits on this connection yet: one transaction, no LIMIT (-1).
    db.transaction(() => discardChunk(db, row.id, now, -1, row.origin?.preview === true)).immediate();
  }
  return stale.map((row) => row.id);
}
