/**
 * The import pipeline's session on the SQLite file: chunks are staged through the engine's group-commit
 * writer into the importing connection's temporary table (import-store.ts) and committed in one writer
 * transaction. Opening and committing an import are the engine's bookkeeping (the product, its stock
 * counter, the ledger entry), passed in as `ImportBooks` by engine/stock-import.ts. Imports into one
 * product run one after another in a process; a discarded import is deleted in short transactions.
 */
import type { AppEvent } from '../../shared/rpc';
import type { WritableDB } from '../db/types';
import type { VaultKeys } from './crypto';
import { runImportSession, type CodeSource, type ImportOptions, type ImportReport, type ImportSession } from './import';
import {
  classifyStaged,
  discardChunk,
  markLive,
  stageChunk,
  type CommitCounts,
  type Committed,
  type ImportOrigin,
} from './import-store';

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

/** An import into `productId` on the engine's SQLite file. */
export function sqliteImportSession(
  host: ImportHost,
  books: ImportBooks,
  productId: string,
  options: { readonly dryRun: boolean; readonly signal?: AbortSignal | undefined },
): ImportSession {
  let importId: number | null = null;
  let unlock = (): void => undefined;
  let unmark = (): void => undefined;
  const opened = (): number => {
    if (importId === null) throw new Error('the import is not open');
    return importId;
  };
  return {
    async begin(origin) {
      unlock = await lock(host.db, productId, options.signal);
      const id = await host.writer.run((db, now) => books.begin(db, productId, origin, now));
      importId = id;
      // This process runs it: an engine opened on the same file meanwhile must not take it for stale.
      unmark = markLive(host.db, id);
      return id;
    },
    async stage(fingerprints, sealed, lines) {
      const id = opened();
      return (await host.writer.run((db, now) => stageChunk(db, id, fingerprints, sealed, lines, now))).staged;
    },
    async classify(keep) {
      return classifyStaged(host.db, opened(), productId, keep);
    },
    commit(counts) {
      const id = opened();
      return host.writer.run((db, now) => books.commit(db, id, counts, now));
    },
    async discard() {
      if (importId !== null) await discard(host, importId, options.dryRun);
    },
    async end() {
      unmark();
      unlock();
    },
  };
}

/** Reads, checks and (unless `dryRun`) stores codes for a product: every accepted code, or none. */
export function runImportPipeline(
  host: ImportHost,
  books: ImportBooks,
  productId: string,
  source: CodeSource,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const session = sqliteImportSession(host, books, productId, { dryRun: options.dryRun === true, signal: options.signal });
  return runImportSession(host, session, productId, source, options);
}
