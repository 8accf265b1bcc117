/**
 * The import's bookkeeping: the engine's side of putting codes on sale. An import opens only for a
 * product that exists, and the one transaction that commits it stores the staged codes as available keys
 * (vault/import-store.ts), moves the product's stock counter and appends one ledger `import` entry naming
 * every new key: all of it, or none. `runImport` is the vault's import pipeline (vault/import.ts, on
 * SQLite through vault/import-sqlite.ts) with these two steps plugged in; the vault itself knows nothing
 * of stock or the ledger.
 */
import type { WritableDB } from '../db/types';
import type { CodeSource, ImportOptions, ImportReport } from '../vault/import';
import { runImportPipeline, type ImportBooks, type ImportHost } from '../vault/import-sqlite';
import {
  dropStaging,
  markCommitted,
  openImport,
  storeStaged,
  type CommitCounts,
  type Committed,
  type ImportOrigin,
} from '../vault/import-store';
import { appendLedger, KeyIdRuns } from './ledger';
import { moveStock, requireProduct } from './products';

export type { CodeSource, ImportOptions, ImportProgress, ImportReport } from '../vault/import';

/** Opens a staging import for a product; returns its id. */
export function beginImport(db: WritableDB, productId: string, origin: ImportOrigin, now: number): number {
  requireProduct(db, productId);
  return openImport(db, productId, origin, now);
}

/**
 * Copies the import's staged rows into `keys` as available (in fingerprint order: the vault's index is
 * filled in order, and a code it already holds is skipped), moves the stock counter, appends one
 * ledger entry and deletes the staged rows, in the caller's transaction.
 */
export function commitImport(db: WritableDB, importId: number, counts: CommitCounts, now: number): Committed {
  const stored = storeStaged(db, importId, counts.keep, now);
  const { imported, inBatch, inVault } = stored;
  if (imported === 0) return { imported, inBatch, inVault };
  const ids = new KeyIdRuns();
  stored.forEachKeyId((id) => ids.add(id));
  dropStaging(db, importId);
  moveStock(db, stored.productId, { available: imported });
  const duplicateCount = inBatch.count + inVault.count;
  appendLedger(db, {
    kind: 'import',
    at: now,
    productId: stored.productId,
    keyIds: ids,
    keysTo: 'available',
    detail: { importId, accepted: imported, duplicates: duplicateCount, rejected: counts.rejected, source: counts.source },
  });
  markCommitted(db, importId, { accepted: imported, duplicates: duplicateCount, rejected: counts.rejected }, now);
  return { imported, inBatch, inVault };
}

const STOCK_BOOKS: ImportBooks = { begin: beginImport, commit: commitImport };

/** Reads, checks and (unless `dryRun`) stores codes for a product: every accepted code, or none. */
export function runImport(
  host: ImportHost,
  productId: string,
  source: CodeSource,
  options: ImportOptions = {},
): Promise<ImportReport> {
  return runImportPipeline(host, STOCK_BOOKS, productId, source, options);
}
