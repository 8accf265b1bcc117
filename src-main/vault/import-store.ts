/**
 * The import's database side. Codes are appended chunk by chunk, in short write transactions, to
 * `temp.import_staging_<import id>`: a temporary table of the importing connection, one per import, with
 * no index and no lookup (an append costs about a microsecond). SQLite never syncs it and drops it with
 * the connection, so staged codes never reach the shop's file or its WAL, and an import that dies with
 * its process leaves no rows behind; `imports.staged` counts them for everyone else. One final
 * transaction (engine/stock-import.ts, which adds the bookkeeping: the product's stock counter and ONE
 * ledger `import` entry) copies the rows into `keys` as `available` (`storeStaged`), in fingerprint order
 * so the UNIQUE (product_no, fingerprint) index is filled (and read, for the codes it already holds) in
 * order, and drops the table: the vault gets every accepted code or none. The vault knows no product
 * beyond its id, no stock and no ledger. That index, not a set in memory, decides what is a duplicate;
 * `classifyStaged` reads the staged rows in fingerprint order to tell repeats inside the file from codes
 * already in the vault. A failed, cancelled or crashed import is discarded: its table dropped, its state
 * `discarded`.
 */
import { PRODUCT_NO } from '../db/product-no';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';

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
  /** Codes staged so far (by the importing connection). */
  readonly staged: number;
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
  staged: number;
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
    staged: row.staged,
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

/** Opens a staging import for a product (engine/stock-import.ts checks that it exists); returns its id. */
export function openImport(db: WritableDB, productId: string, origin: ImportOrigin, now: number): number {
  const result = stmt(
    db,
    `INSERT INTO imports (product_id, state, source, created_at, updated_at) VALUES (?, 'staging', ?, ?, ?)`,
  ).run(productId, JSON.stringify(origin), now, now);
  return Number(result.lastInsertRowid);
}

/** The name of an import's temporary staging table. */
function stagingTable(importId: number): string {
  if (!Number.isSafeInteger(importId)) throw new TypeError(`not an import id: ${importId}`);
  return `temp.import_staging_${importId}`;
}

/**
 * Makes an import's temporary staging table on this connection, if it is not there yet (a temporary
 * table is the connection's own); returns its name. A table per import, rather than one shared by every
 * import, is dropped in one step when the import ends: deleting a million rows by import id took 0.4 s
 * of the commit, dropping the table 0.08 s. Its statements are prepared per use, not cached: the name
 * is new for every import.
 */
export function staging(db: ReadableDB, importId: number): string {
  const table = stagingTable(importId);
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
    line INTEGER NOT NULL,
    fingerprint BLOB NOT NULL,
    sealed BLOB NOT NULL
  ) STRICT`);
  return table;
}

/** Drops an import's staging table, if this connection has one. */
export function dropStaging(db: WritableDB, importId: number): void {
  db.exec(`DROP TABLE IF EXISTS ${stagingTable(importId)}`);
}

export interface StagedChunk {
  /** Codes appended to the import's rows. */
  readonly staged: number;
}

/**
 * Stages one chunk. `fingerprints[i]`, `sealed[i]` and `lines[i]` belong to the same code. Nothing is
 * looked up here: what is a duplicate is decided at the end (`classifyStaged`, `storeStaged`). Pure
 * with respect to the caller's state: the writer may run it twice (a neighbour's failure re-runs the
 * batch with savepoints).
 */
export function stageChunk(
  db: WritableDB,
  importId: number,
  fingerprints: readonly Uint8Array[],
  sealed: readonly Uint8Array[],
  lines: readonly number[],
  now: number,
): StagedChunk {
  const state = stmt(db, 'SELECT state FROM imports WHERE id = ?').pluck().get(importId) as ImportState | undefined;
  if (state !== 'staging')
    throw new EngineError('import_not_found', `import ${importId} is not staging (it is ${state ?? 'gone'})`);
  const append = db.prepare(`INSERT INTO ${staging(db, importId)} (line, fingerprint, sealed) VALUES (?, ?, ?)`);
  for (let i = 0; i < fingerprints.length; i++) append.run(lines[i], fingerprints[i], sealed[i]);
  stmt(db, 'UPDATE imports SET staged = staged + ?, updated_at = ? WHERE id = ?').run(fingerprints.length, now, importId);
  return { staged: fingerprints.length };
}

export interface Duplicates {
  readonly count: number;
  /** The first `keep` of their line numbers, ascending. */
  readonly lines: number[];
}

export interface StagedDuplicates {
  /** Staged codes that repeat an earlier line of the same import. */
  readonly inBatch: Duplicates;
  /** Staged codes the vault already holds (stored by another import). */
  readonly inVault: Duplicates;
}

/** Collects line numbers, keeping only the `keep` smallest (they arrive in fingerprint order). */
class LineSample {
  count = 0;
  private lines: number[] = [];
  constructor(private readonly keep: number) {}

  add(line: number): void {
    this.count++;
    this.lines.push(line);
    if (this.lines.length > 4 * this.keep + 64) this.lines = this.smallest();
  }

  result(): Duplicates {
    return { count: this.count, lines: this.smallest() };
  }

  private smallest(): number[] {
    return this.lines.sort((a, b) => a - b).slice(0, this.keep);
  }
}

/**
 * Sorts an import's staged codes into repeats inside the file and codes already in the vault. Its rows
 * are read in fingerprint order, so each code's lines come side by side, and the vault's index is
 * probed in that order too (MATERIALIZED: flattened, SQLite probed in staging order and sorted after,
 * 9.5 s instead of 6 for a preview of a million codes the vault already held). A key of this same
 * import (after `storeStaged`'s copy) is not "in the vault": of its lines, the first is the one
 * stored and the others are repeats. SQLite sorts in bounded memory.
 */
export function classifyStaged(db: ReadableDB, importId: number, productId: string, keep: number): StagedDuplicates {
  const rows = db
    .prepare(
      `WITH r AS MATERIALIZED (SELECT line, fingerprint FROM ${staging(db, importId)} ORDER BY fingerprint, line)
       SELECT r.line, r.fingerprint, k.id IS NOT NULL AND k.import_id IS NOT ?
       FROM r LEFT JOIN keys k ON k.product_no = ${PRODUCT_NO} AND k.fingerprint = r.fingerprint ORDER BY r.fingerprint, r.line`,
    )
    .raw();
  const inBatch = new LineSample(keep);
  const inVault = new LineSample(keep);
  let previous = null as Buffer | null;
  for (const [line, fp, known] of rows.iterate(importId, productId) as IterableIterator<[number, Buffer, number]>) {
    if (known === 1) inVault.add(line);
    else if (previous?.equals(fp)) inBatch.add(line);
    previous = fp;
  }
  return { inBatch: inBatch.result(), inVault: inVault.result() };
}

export interface CommitCounts {
  readonly rejected: number;
  readonly source: string;
  /** How many line numbers of each kind of duplicate to return. */
  readonly keep: number;
}

export interface Committed extends StagedDuplicates {
  /** Keys made available; 0 when every staged code was a duplicate (then nothing was written). */
  readonly imported: number;
}

/** What `storeStaged` stored: the counts, and the new keys' ids for the ledger. */
export interface StoredCodes extends Committed {
  readonly productId: string;
  /** Calls `add` with each new key's id, ascending; an import's million ids need not all be in memory at once. */
  forEachKeyId(add: (id: number) => void): void;
}

const NONE: Duplicates = { count: 0, lines: [] };

/**
 * Copies the import's staged rows into `keys` as available, in the caller's transaction (in fingerprint
 * order: the vault's index is filled in order, and a code it already holds is skipped). The caller then
 * reads the new ids (`forEachKeyId`), drops the staging table and marks the import committed.
 */
export function storeStaged(db: WritableDB, importId: number, keep: number, now: number): StoredCodes {
  const row = getImport(db, importId);
  if (row?.state !== 'staging')
    throw new EngineError('import_not_found', `import ${importId} is not staging (it is ${row?.state ?? 'gone'})`);
  const table = staging(db, importId);
  const lastId = () => stmt(db, 'SELECT coalesce(max(id), 0) FROM keys').pluck().get() as number;
  const before = lastId();
  // The UPSERT needs its SELECT to have a WHERE clause: see SQLite's "parsing ambiguity".
  const imported = db
    .prepare(
      `INSERT INTO keys (product_no, import_id, fingerprint, sealed, status, updated_at)
       SELECT ${PRODUCT_NO}, ?, fingerprint, sealed, 'available', ? FROM ${table} WHERE true
       ORDER BY fingerprint, line
       ON CONFLICT (product_no, fingerprint) DO NOTHING`,
    )
    .run(row.productId, importId, now).changes;
  // Only when a code clashed is there anything to sort out.
  const duplicates = row.staged > imported ? classifyStaged(db, importId, row.productId, keep) : { inBatch: NONE, inVault: NONE };
  const forEachKeyId = (add: (id: number) => void): void => {
    // The new rows have the ids after `before`: one run, unless SQLite had to pick ids at random.
    if (lastId() === before + imported) {
      for (let id = before + 1; id <= before + imported; id++) add(id);
    } else {
      for (const id of stmt(db, 'SELECT id FROM keys WHERE import_id = ? ORDER BY id').pluck().iterate(importId))
        add(id as number);
    }
  };
  return { productId: row.productId, imported, ...duplicates, forEachKeyId };
}

/** Marks a stored import committed, with its final counts. */
export function markCommitted(
  db: WritableDB,
  importId: number,
  counts: { readonly accepted: number; readonly duplicates: number; readonly rejected: number },
  now: number,
): void {
  stmt(db, `UPDATE imports SET state = 'committed', accepted = ?, duplicates = ?, rejected = ?, updated_at = ? WHERE id = ?`).run(
    counts.accepted,
    counts.duplicates,
    counts.rejected,
    now,
    importId,
  );
}

/**
 * Discards an import: drops this connection's staging table for it (one step, however many rows) and
 * deletes up to `limit` of the `staged` key rows an older OnceKey left in `keys` (so a big discard never
 * holds the write lock long; -1: all). Once none are left, marks the import discarded (or deletes its
 * row when `forget`, for a preview). Returns true when it is fully discarded.
 */
export function discardChunk(db: WritableDB, importId: number, now: number, limit: number, forget = false): boolean {
  dropStaging(db, importId);
  const legacy = stmt(
    db,
    `DELETE FROM keys WHERE id IN (SELECT id FROM keys WHERE import_id = ? AND status = 'staged' LIMIT ?)`,
  ).run(importId, limit).changes;
  if (limit >= 0 && legacy === limit) return false;
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
