/**
 * The import's database side. Codes are inserted as `staged` key rows of one `imports` row, chunk by
 * chunk, in short write transactions; one final transaction flips them all to `available`, moves the
 * product's stock counter and appends ONE ledger `import` entry, so the vault gets every accepted code
 * or none. Duplicates are found by the UNIQUE (product_id, fingerprint) index, not by a set in memory:
 * a clash with a row of this import is a duplicate inside the batch, any other is already in the vault.
 * A failed, cancelled or crashed import is discarded: its staged rows deleted, its state `discarded`.
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
  readonly inserted: number;
  /** Positions (in the chunk) of codes already staged by this import. */
  readonly inBatch: number[];
  /** Positions of codes already in the vault (or staged by another import). */
  readonly inVault: number[];
}

/**
 * Stages one chunk. `fingerprints[i]` and `sealed[i]` belong to the same code. Pure with respect to the
 * caller's state: the writer may run it twice (a neighbour's failure re-runs the batch with savepoints).
 */
export function stageChunk(
  db: WritableDB,
  importId: number,
  productId: string,
  fingerprints: readonly Uint8Array[],
  sealed: readonly Uint8Array[],
  now: number,
): StagedChunk {
  const state = stmt(db, 'SELECT state FROM imports WHERE id = ?').pluck().get(importId) as ImportState | undefined;
  if (state !== 'staging') throw new EngineError('import_not_found', `import ${importId} is not staging (it is ${state ?? 'gone'})`);
  const insert = stmt(
    db,
    `INSERT INTO keys (product_id, import_id, fingerprint, sealed, status, updated_at) VALUES (?, ?, ?, ?, 'staged', ?)
     ON CONFLICT (product_id, fingerprint) DO NOTHING`,
  );
  const owner = stmt(db, 'SELECT import_id FROM keys WHERE product_id = ? AND fingerprint = ?').pluck();
  let inserted = 0;
  const inBatch: number[] = [];
  const inVault: number[] = [];
  for (let i = 0; i < fingerprints.length; i++) {
    if (insert.run(productId, importId, fingerprints[i], sealed[i], now).changes === 1) {
      inserted++;
    } else if (owner.get(productId, fingerprints[i]) === importId) {
      inBatch.push(i);
    } else {
      inVault.push(i);
    }
  }
  stmt(db, 'UPDATE imports SET updated_at = ? WHERE id = ?').run(now, importId);
  return { inserted, inBatch, inVault };
}

export interface CommitCounts {
  readonly duplicates: number;
  readonly rejected: number;
  readonly source: string;
}

/**
 * Flips every staged key of the import to `available`, moves the stock counter and appends one ledger
 * entry, in the caller's transaction. Returns how many keys it made available.
 */
export function commitImport(db: WritableDB, importId: number, counts: CommitCounts, now: number): number {
  const row = getImport(db, importId);
  if (row?.state !== 'staging') throw new EngineError('import_not_found', `import ${importId} is not staging (it is ${row?.state ?? 'gone'})`);
  // The ids are read as runs, not as an array: a million-code import's entry is a few runs long.
  const ids = new KeyIdRuns();
  for (const id of stmt(db, `SELECT id FROM keys WHERE import_id = ? AND status = 'staged' ORDER BY id`).pluck().iterate(importId)) {
    ids.add(id as number);
  }
  if (ids.count === 0) throw new EngineError('import_rejected', 'the import holds no codes to store');
  stmt(db, `UPDATE keys SET status = 'available', updated_at = ? WHERE import_id = ? AND status = 'staged'`).run(now, importId);
  moveStock(db, row.productId, { available: ids.count });
  appendLedger(db, {
    kind: 'import',
    at: now,
    productId: row.productId,
    keyIds: ids,
    keysTo: 'available',
    detail: { importId, accepted: ids.count, duplicates: counts.duplicates, rejected: counts.rejected, source: counts.source },
  });
  stmt(
    db,
    `UPDATE imports SET state = 'committed', accepted = ?, duplicates = ?, rejected = ?, updated_at = ? WHERE id = ?`,
  ).run(ids.count, counts.duplicates, counts.rejected, now, importId);
  return ids.count;
}

/**
 * Deletes up to `limit` staged rows of an import (so a big discard never holds the write lock long);
 * once none are left, marks the import discarded (or deletes its row when `forget`, for a preview).
 * Returns true when the import is fully discarded.
 */
export function discardChunk(db: WritableDB, importId: number, now: number, limit: number, forget = false): boolean {
  const deleted = stmt(
    db,
    `DELETE FROM keys WHERE id IN (SELECT id FROM keys WHERE import_id = ? AND status = 'staged' LIMIT ?)`,
  ).run(importId, limit).changes;
  if (deleted === limit) return false;
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
