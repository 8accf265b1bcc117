/**
 * The code import pipeline: read a source (import-source.ts), fingerprint and seal the codes in chunks
 * (import-crypto.ts), stage them through the engine's group-commit writer (import-store.ts), and commit
 * all of them in one transaction, or discard them. Opening and committing an import are the engine's
 * bookkeeping (the product, its stock counter, the ledger entry), passed in as `ImportBooks` by
 * engine/stock-import.ts. A preview (`dryRun`) runs the same path with unsealed placeholder rows and
 * always discards, so its duplicate counts are exactly what a commit would find.
 *
 * Memory stays bounded for any file size: the source is streamed, chunks are processed as they come,
 * and duplicates are found by the database (the vault's UNIQUE index, and the staged rows read in
 * fingerprint order), not by a set of every code.
 */
import type { AppEvent } from '../../shared/rpc';
import type { WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import type { VaultKeys } from './crypto';
import { CryptoStage, type Prepared } from './import-crypto';
import { checkEncodingName, MAX_LINE_CHARS, type ImportEncoding } from './import-decode';
import { newStats, readCodes, totalLines, type CodeSource, type ImportFormat, type ReadOptions } from './import-source';
import {
  classifyStaged,
  discardChunk,
  markLive,
  stageChunk,
  type CommitCounts,
  type Committed,
  type ImportOrigin,
  type StagedDuplicates,
} from './import-store';

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

/** Runs a write in a short transaction of its own (the engine's group-commit writer). */
export interface ImportWriter {
  run<T>(write: (db: WritableDB, now: number) => T): Promise<T>;
}

/** What the pipeline needs from the engine. */
export interface ImportHost {
  readonly db: WritableDB;
  readonly vault: VaultKeys;
  readonly writer: ImportWriter;
  readonly clock: () => number;
  emit(event: AppEvent): void;
}

/** The import's bookkeeping (engine/stock-import.ts), each step run in a writer transaction. */
export interface ImportBooks {
  /** Opens a staging import for a product that must exist; returns its id. */
  begin(db: WritableDB, productId: string, origin: ImportOrigin, now: number): number;
  /** Stores the staged codes as available keys, with their stock and ledger entry: every one, or none. */
  commit(db: WritableDB, importId: number, counts: CommitCounts, now: number): Committed;
}

const DEFAULT_CHUNK = 8192;
/** Key rows an older OnceKey left `staged`, deleted per transaction when an import is discarded. */
const DISCARD_CHUNK = 20_000;

/**
 * Imports and previews into one product run one after another in a process (two at once would see
 * each other's staged rows): each waits for the one before it, so a second import arriving over HTTP
 * while the first is still sealing codes queues instead of failing. An abort while waiting gives up.
 */
const queues = new WeakMap<WritableDB, Map<string, Promise<void>>>();

async function lock(db: WritableDB, productId: string, signal: AbortSignal | undefined): Promise<() => void> {
  let byProduct = queues.get(db);
  if (!byProduct) {
    byProduct = new Map();
    queues.set(db, byProduct);
  }
  const queue = byProduct;
  const before = queue.get(productId) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = before.then(() => mine);
  queue.set(productId, tail);
  const done = (): void => {
    release();
    void tail.then(() => {
      if (queue.get(productId) === tail) queue.delete(productId);
    });
  };
  if (signal) {
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = (): void => reject(signal.reason as Error);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        void before.then(() => signal.removeEventListener('abort', onAbort));
      }
    });
    aborted.catch(() => undefined); // an abort just after our turn came is no one's error
    try {
      await Promise.race([before, aborted]);
    } catch (error) {
      done();
      throw error;
    }
  } else {
    await before;
  }
  return done;
}

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

/** Deletes an import's staged rows in short transactions; leaves it for the next start if that fails. */
async function discard(host: ImportHost, importId: number, forget: boolean): Promise<void> {
  try {
    while (!(await host.writer.run((db, now) => discardChunk(db, importId, now, DISCARD_CHUNK, forget)))) {
      // next chunk
    }
  } catch {
    // The rows stay `staged` (never sold, never counted) and discardStaleImports removes them at the next start.
  }
}

/** Reads, checks and (unless `dryRun`) stores codes for a product: every accepted code, or none. */
export async function runImportPipeline(
  host: ImportHost,
  books: ImportBooks,
  productId: string,
  source: CodeSource,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const dryRun = options.dryRun === true;
  const signal = options.signal;
  signal?.throwIfAborted();
  // A bad encoding name fails before anything is read.
  if (options.encoding !== undefined && options.encoding !== 'auto') checkEncodingName(options.encoding);
  const unlock = await lock(host.db, productId, signal);
  const stats = newStats(source, options);
  const keep = options.sampleLines ?? 20;
  const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK);
  const crypto = new CryptoStage(host.vault, productId, { seal: !dryRun });
  let importId: number | null = null;
  let unmark = (): void => undefined;
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
    importId = await host.writer.run((db, now) => books.begin(db, productId, origin, now));
    // This process runs it: an engine opened on the same file meanwhile must not take it for stale.
    unmark = markLive(host.db, importId);
    const id = importId;

    const stage = async (prepared: Promise<Prepared>, lines: number[]): Promise<void> => {
      const { fingerprints, sealed } = await prepared;
      signal?.throwIfAborted();
      const result = await host.writer.run((db, now) => stageChunk(db, id, fingerprints, sealed, lines, now));
      staged += result.staged;
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
      host.emit({ type: 'import', productId, ...progress });
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
      take(classifyStaged(host.db, id, productId, keep));
      const counts = report();
      await discard(host, id, true);
      return counts;
    }
    if (staged === 0) throw new EngineError('import_rejected', describeNothing(report()), { lines: stats.lines });
    const committed = await host.writer.run((db, now) =>
      books.commit(db, id, { rejected: stats.overLong + stats.invalid, source: stats.name, keep }, now),
    );
    take(committed);
    if (committed.imported === 0) throw new EngineError('import_rejected', describeNothing(report()), { lines: stats.lines });
    host.emit({ type: 'stock', productId });
    return { ...report(), imported: committed.imported };
  } catch (error) {
    if (importId !== null) await discard(host, importId, dryRun);
    throw error;
  } finally {
    unmark();
    crypto.close();
    unlock();
  }
}
