/**
 * The code import pipeline: read a source (import-source.ts), fingerprint and seal the codes in chunks
 * (import-crypto.ts), stage them in the shop's database and commit all of them in one transaction, or
 * discard them. Which database is an `ImportSession`'s business: the SQLite file (import-sqlite.ts, through
 * the engine's group-commit writer, with the engine's bookkeeping passed in by engine/stock-import.ts) or
 * PostgreSQL (pg/import.ts). Reading, checking, the crypto and the report are the same code for both, so
 * the same file gives the same report on either. A preview (`dryRun`) runs the same path with unsealed
 * placeholder rows and always discards, so its duplicate counts are exactly what a commit would find.
 *
 * Memory stays bounded for any file size: the source is streamed, chunks are processed as they come,
 * and duplicates are found by the database (the vault's UNIQUE index, and the staged rows read in
 * fingerprint order), not by a set of every code.
 */
import type { AppEvent } from '../../shared/rpc';
import { EngineError } from '../lib/errors';
import type { VaultKeys } from './crypto';
import { CryptoStage, type Prepared } from './import-crypto';
import { checkEncodingName, MAX_LINE_CHARS, type ImportEncoding } from './import-decode';
import { newStats, readCodes, totalLines, type CodeSource, type ImportFormat, type ReadOptions } from './import-source';
import type { CommitCounts, Committed, ImportOrigin, StagedDuplicates } from './import-store';

export type { CommitCounts, Committed, Duplicates, ImportOrigin, StagedDuplicates } from './import-store';
export type { CodeSource } from './import-source';

export interface ImportProgress {
  /** Lines read so far. */
  readonly done: number;
  /** Lines in the source, when known. */
  readonly total: number | null;
}

export interface ImportOptions extends ReadOptions {
  /** Preview only: count everything, store nothing. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ImportProgress) => void;
  /** Codes per staging transaction. */
  readonly chunkSize?: number;
}

export interface ImportReport {
  readonly productId: string;
  /** The committed import's id (null for a preview). */
  readonly importId: number | null;
  readonly dryRun: boolean;
  readonly source: string;
  readonly format: ImportFormat;
  readonly encoding: ImportEncoding | null;
  readonly bom: boolean;
  readonly column: { readonly index: number; readonly name: string | null } | null;
  readonly lines: number;
  /** Codes accepted: stored by a commit, or that a commit would store. */
  readonly accepted: number;
  /** Codes stored (0 for a preview). */
  readonly imported: number;
  readonly duplicatesInBatch: number;
  readonly duplicatesInVault: number;
  readonly blank: number;
  readonly overLong: number;
  readonly invalid: number;
  /** The first line numbers of each kind. */
  readonly samples: {
    readonly duplicatesInBatch: readonly number[];
    readonly duplicatesInVault: readonly number[];
    readonly blank: readonly number[];
    readonly overLong: readonly number[];
    readonly invalid: readonly number[];
  };
  /** Over-long and invalid lines, first ones first. */
  readonly rejected: readonly { readonly line: number; readonly reason: string }[];
}

/** What the pipeline needs from the shop, whichever database holds it. */
export interface ImportContext {
  readonly vault: VaultKeys;
  emit(event: AppEvent): void;
}

/**
 * One import's staging and storing, on the database that holds the shop: the SQLite file
 * (vault/import-sqlite.ts) or PostgreSQL (pg/import.ts). The pipeline calls `begin` once, `stage` per
 * chunk, then `classify` (a preview) or `commit`; `discard` after a failure, a cancel or a preview; and
 * `end` always, last.
 */
export interface ImportSession {
  /** Opens the import for a product that must exist; returns its id. */
  begin(origin: ImportOrigin): Promise<number>;
  /** Stages one chunk (`fingerprints[i]`, `sealed[i]` and `lines[i]` are one code); returns how many were staged. */
  stage(fingerprints: readonly Uint8Array[], sealed: readonly Uint8Array[], lines: readonly number[]): Promise<number>;
  /** What a commit would find: repeats inside the file and codes the vault already holds. */
  classify(keep: number): Promise<StagedDuplicates>;
  /**
   * Stores the staged codes as available keys with the shop's bookkeeping (the stock counter, one ledger
   * entry), every one or none; with nothing new (`imported` 0) it stores nothing and `discard` follows.
   */
  commit(counts: CommitCounts): Promise<Committed>;
  /** Drops what was staged. Never throws: what it cannot drop is never sold, and is removed later. */
  discard(): Promise<void>;
  /** Lets go of what the session holds (a lock, a connection). */
  end(): Promise<void>;
}

const DEFAULT_CHUNK = 8192;

function describeNothing(report: ImportReport): string {
  const parts = [
    report.duplicatesInVault > 0 ? `${report.duplicatesInVault} already in the vault` : null,
    report.duplicatesInBatch > 0 ? `${report.duplicatesInBatch} repeated in the file` : null,
    report.blank > 0 ? `${report.blank} blank` : null,
    report.overLong > 0 ? `${report.overLong} longer than ${MAX_LINE_CHARS} characters` : null,
    report.invalid > 0 ? `${report.invalid} unreadable` : null,
  ].filter((p): p is string => p !== null);
  return `nothing to import from ${report.source}: no new codes${parts.length > 0 ? ` (${parts.join(', ')})` : ''}; nothing was stored`;
}

/**
 * Reads, checks and (unless `dryRun`) stores codes for a product through `session`: every accepted code,
 * or none.
 */
export async function runImportSession(
  context: ImportContext,
  session: ImportSession,
  productId: string,
  source: CodeSource,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const dryRun = options.dryRun === true;
  const signal = options.signal;
  try {
    signal?.throwIfAborted();
    // A bad encoding name fails before anything is read.
    if (options.encoding !== undefined && options.encoding !== 'auto') checkEncodingName(options.encoding);
  } catch (error) {
    await session.end();
    throw error;
  }
  const stats = newStats(source, options);
  const keep = options.sampleLines ?? 20;
  const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK);
  const crypto = new CryptoStage(context.vault, productId, { seal: !dryRun });
  let importId: number | null = null;
  let staged = 0;
  let accepted = 0;
  let inBatch = 0;
  let inVault = 0;
  let inBatchLines: number[] = [];
  let inVaultLines: number[] = [];

  const report = (): ImportReport => ({
    productId,
    importId: dryRun ? null : importId,
    dryRun,
    source: stats.name,
    format: stats.format,
    encoding: stats.encoding,
    bom: stats.bom,
    column: stats.column,
    lines: stats.lines,
    accepted,
    imported: 0,
    duplicatesInBatch: inBatch,
    duplicatesInVault: inVault,
    blank: stats.blank,
    overLong: stats.overLong,
    invalid: stats.invalid,
    samples: {
      duplicatesInBatch: inBatchLines,
      duplicatesInVault: inVaultLines,
      blank: stats.blankLines,
      overLong: stats.overLongLines,
      invalid: stats.invalidLines,
    },
    rejected: [
      ...stats.overLongLines.map((line) => ({ line, reason: `longer than ${MAX_LINE_CHARS} characters` })),
      ...stats.invalidLines.map((line) => ({ line, reason: 'control characters or an unreadable CSV record' })),
    ].sort((a, b) => a.line - b.line),
  });

  try {
    const total = await totalLines(source);
    signal?.throwIfAborted();
    const origin = { name: stats.name, pid: process.pid, ...(dryRun ? { preview: true } : {}) };
    importId = await session.begin(origin);

    const stage = async (prepared: Promise<Prepared>, lines: number[]): Promise<void> => {
      const { fingerprints, sealed } = await prepared;
      signal?.throwIfAborted();
      staged += await session.stage(fingerprints, sealed, lines);
    };

    // The next chunk is fingerprinted and sealed (in worker threads for big imports) while the
    // previous one is staged; at most two chunks are in flight.
    let previous: Promise<void> = Promise.resolve();
    for await (const batch of readCodes(source, options, stats)) {
      signal?.throwIfAborted();
      for (let at = 0; at < batch.codes.length; at += chunkSize) {
        const lines = batch.lines.slice(at, at + chunkSize);
        const prepared = crypto.process(batch.codes.slice(at, at + chunkSize));
        prepared.catch(() => undefined); // surfaced through `next`
        const next = previous.then(() => stage(prepared, lines));
        next.catch(() => undefined); // surfaced by the await below or after the loop
        await previous;
        previous = next;
      }
      const progress = { done: batch.linesRead, total };
      options.onProgress?.(progress);
      context.emit({ type: 'import', productId, ...progress });
    }
    await previous;
    signal?.throwIfAborted();

    const take = (found: StagedDuplicates): void => {
      inBatch = found.inBatch.count;
      inBatchLines = found.inBatch.lines;
      inVault = found.inVault.count;
      inVaultLines = found.inVault.lines;
      accepted = staged - inBatch - inVault;
    };
    if (dryRun) {
      // What a commit would find (the commit itself sorts this out only if a code clashed).
      take(await session.classify(keep));
      const counts = report();
      await session.discard();
      return counts;
    }
    if (staged === 0) throw new EngineError('import_rejected', describeNothing(report()), { lines: stats.lines });
    const committed = await session.commit({ rejected: stats.overLong + stats.invalid, source: stats.name, keep });
    take(committed);
    if (committed.imported === 0) throw new EngineError('import_rejected', describeNothing(report()), { lines: stats.lines });
    context.emit({ type: 'stock', productId });
    return { ...report(), imported: committed.imported };
  } catch (error) {
    await session.discard();
    throw error;
  } finally {
    crypto.close();
    await session.end();
  }
}
