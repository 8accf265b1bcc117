/**
 * Group commit. Every write goes through one queue per connection; the writes that wait together run in
 * ONE `BEGIN IMMEDIATE` transaction; when one of them throws, the batch re-runs with each write inside
 * its own savepoint (a nested better-sqlite3 transaction), so one failing write rolls back alone and never
 * fails its neighbours, and a storm of purchases pays one
 * disk flush per batch instead of one per purchase. Neighbouring writes of one `WriteGroup` (the
 * purchase's reservations) run as one `runMany` call, which writes each table's rows for all of them in a
 * few multi-row statements. Callers get a promise that settles only after the batch has committed, never
 * before.
 *
 * No `await` ever happens inside a transaction: a batch is one synchronous call. When another process
 * holds the write lock, the batch is retried after a short, jittered pause (without blocking the event
 * loop) until each write's deadline, and only then fails with `busy`: a buyer never sees raw SQLITE_BUSY.
 *
 * Checkpoints run off the event loop, in a worker thread (checkpoint-worker.ts).
 *
 * Durability. No write's promise settles before the WAL frames of its batch are on the disk, in either
 * of two ways. FULL: SQLite's synchronous=FULL commit, which flushes the WAL inline, holding the event
 * loop for the flush. Pipelined: the batch commits under synchronous=NORMAL (SQLite writes its WAL
 * frames to the OS and returns), the `-wal` file is flushed with fdatasync in libuv's thread pool
 * (db/wal-flush.ts), and the batch's writes settle when that flush returns. Meanwhile the loop parses,
 * validates and answers other requests, and the writes they make gather into the next batch, which
 * commits when the flush returns (at once if it is full: then two batches are in the pipe, and the
 * later flush covers both; starting it at once made batches smaller, 20 orders a batch at 64
 * connections against 32). A power cut loses at most the batches whose flush had not returned: writes
 * nobody was told about (README, "Durability"). The connection is FULL between batches, so the one-off
 * transactions that run on it directly (imports, settings, migrations) keep SQLite's own flush. Which
 * of the two a batch takes, and why, is durability.ts's.
 */
import type { Transaction } from 'better-sqlite3';
import { WalFlusher, type SyncFn } from '../db/wal-flush';
import type { WritableDB } from '../db/types';
import { isBusyError } from '../db/types';
import { BackgroundCheckpointer } from './checkpoint-worker';
import { DurabilityChoice, type Durability } from './durability';
import { EngineError } from './errors';

export { PROBE_EVERY, SLOW_FLUSH_MS, type Durability } from './durability';

export type WriteFn<T> = (db: WritableDB, now: number) => T;

export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/**
 * A kind of write that can run many at once (one object per kind, e.g. the purchase's reservation):
 * `runMany` must give each input the outcome that running the writes one after another would, a write's
 * own refusal as its outcome, and throw only when the whole attempt must roll back.
 */
export interface WriteGroup<I> {
  runMany(db: WritableDB, now: number, inputs: readonly I[]): Outcome[];
}

/** A write that may join the neighbours of its group in one `runMany`; `fn` still runs it alone. */
export interface Grouped<I> {
  readonly group: WriteGroup<I>;
  readonly input: I;
}

interface Pending {
  readonly fn: WriteFn<unknown>;
  readonly grouped: Grouped<unknown> | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly deadline: number;
}

export interface WriterOptions {
  /** Most writes in one transaction. */
  readonly maxBatch?: number;
  /** How long a write may wait for the lock held by another process before it fails with `busy`. */
  readonly busyDeadlineMs?: number;
  readonly clock?: () => number;
  /** Checkpoint in a worker thread once this many writes have committed (0: never, SQLite's automatic checkpoint only). */
  readonly backgroundCheckpointAfter?: number;
  /** 'auto' (default): pipelined when the disk's flush is slow; 'pipelined': NORMAL commit and an off-loop flush; 'full': SQLite's. */
  readonly durability?: Durability;
  /** How the WAL is flushed (tests hold or fail a flush with it); defaults to `fs.fdatasync`. */
  readonly sync?: SyncFn;
  /** How a flush's duration is read (ms; default `performance.now`): what 'auto' decides by. Tests fake it. */
  readonly flushTimer?: () => number;
}

export interface WriterStats {
  batches: number;
  writes: number;
  busyRetries: number;
  /** Batches re-run with a savepoint per write because one write threw. */
  isolatedRetries: number;
  /** Writes that ran through their group's `runMany` together with neighbours. */
  grouped: number;
  /** Checkpoints run by the background worker. */
  checkpoints: number;
  /** WAL flushes run for pipelined batches and `durable()` calls (one can cover several batches). */
  walFlushes: number;
  /** Batches committed pipelined (the rest committed FULL). */
  pipelinedBatches: number;
  /** The pipelined flushes' moving average (ms), what 'auto' decides by; null before the first. */
  flushMs: number | null;
}

export class GroupCommitWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  readonly stats: WriterStats = {
    batches: 0,
    writes: 0,
    busyRetries: 0,
    isolatedRetries: 0,
    grouped: 0,
    checkpoints: 0,
    walFlushes: 0,
    pipelinedBatches: 0,
    flushMs: null,
  };
  private readonly checkpointer: BackgroundCheckpointer | null;
  /** The WAL's flusher: every shop file has one (`durable()`); pipelined batches use it. */
  private readonly flusher: WalFlusher | null;
  private readonly choice: DurabilityChoice;
  /** Batches committed whose flush has not returned yet. */
  private flushing = 0;
  /** Writes the current plain attempt ran through a `runMany` (counted once it commits). */
  private groupedInAttempt = 0;
  private readonly maxBatch: number;
  private readonly busyDeadlineMs: number;
  private readonly clock: () => number;
  /** The optimistic path: the whole batch in one transaction, no savepoints; throws if any write throws. */
  private readonly runPlain: Transaction<(batch: readonly Pending[], now: number) => Outcome[]>;
  /** The careful path, taken only after a write threw: a savepoint each, so a failing write rolls back alone. */
  private readonly runIsolated: Transaction<(batch: readonly Pending[], now: number) => Outcome[]>;

  constructor(
    private readonly db: WritableDB,
    options: WriterOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 256;
    // A batch of zero writes would leave every write queued forever.
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1)
      throw new RangeError(`maxBatch must be a positive integer, not ${this.maxBatch}`);
    this.busyDeadlineMs = options.busyDeadlineMs ?? 10_000;
    this.clock = options.clock ?? Date.now;
    const after = options.backgroundCheckpointAfter ?? 2000;
    const onDisk = !db.memory && db.name !== '';
    this.checkpointer = after > 0 && onDisk ? new BackgroundCheckpointer(db, after, this.stats) : null;
    this.flusher = onDisk ? new WalFlusher(db.name, options.sync, options.flushTimer) : null;
    this.choice = new DurabilityChoice(this.flusher ? (options.durability ?? 'auto') : 'full');
    // Savepoints cost two statements per write; a storm of purchases almost never throws (sold out is
    // an outcome, not an exception), so a batch first runs without them, and neighbouring writes of one
    // group run as one `runMany` (a storm's reservations: one statement per table for the lot). If a
    // write throws, that whole attempt rolls back and the batch runs again, each write alone in a
    // savepoint: the neighbours of a failing write still commit, and the failure is the same one it
    // would have had alone.
    this.runPlain = db.transaction((batch: readonly Pending[], now: number): Outcome[] => {
      this.groupedInAttempt = 0;
      const outcomes: Outcome[] = [];
      for (let i = 0; i < batch.length;) {
        const group = batch[i]!.grouped?.group;
        let end = i + 1;
        if (group) while (end < batch.length && batch[end]!.grouped?.group === group) end++;
        if (group && end - i > 1) {
          const inputs = batch.slice(i, end).map((item) => item.grouped!.input);
          const many = group.runMany(db, now, inputs);
          if (many.length !== inputs.length) throw new Error(`runMany gave ${many.length} outcomes for ${inputs.length} writes`);
          for (const outcome of many) outcomes.push(outcome);
          this.groupedInAttempt += inputs.length;
        } else {
          outcomes.push({ ok: true, value: batch[i]!.fn(db, now) });
        }
        i = end;
      }
      return outcomes;
    });
    const savepoint = db.transaction((fn: WriteFn<unknown>, now: number): unknown => fn(db, now));
    this.runIsolated = db.transaction((batch: readonly Pending[], now: number): Outcome[] =>
      batch.map((item): Outcome => {
        try {
          return { ok: true, value: savepoint(item.fn, now) };
        } catch (error) {
          if (isBusyError(error)) throw error;
          return { ok: false, error };
        }
      }),
    );
  }

  /**
   * Queues a write; resolves with its value once the transaction holding it has committed. A `grouped`
   * write runs through its group's `runMany` when it waits next to others of its group.
   */
  run<T>(fn: WriteFn<T>, grouped?: Grouped<unknown>): Promise<T> {
    if (this.closed) return Promise.reject(new EngineError('busy', 'the engine is shutting down'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        fn,
        grouped,
        resolve: resolve as (value: unknown) => void,
        reject,
        deadline: this.clock() + this.busyDeadlineMs,
      });
      this.schedule();
    });
  }

  /**
   * Resolves once every commit visible to this connection, this process's or another's, is on the
   * disk. Before a read shows what only a durable commit may show (a delivered code), because another
   * process's pipelined commit is visible before its flush.
   */
  async durable(): Promise<void> {
    if (!this.flusher) return;
    this.stats.walFlushes++;
    await this.flusher.flush();
  }

  /** Which durability the writer runs with now ('full' after a failed flush). */
  get durability(): Durability {
    return this.choice.mode;
  }

  /** Resolves when every queued write has settled. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking writes; resolves once the queue has drained. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    this.flusher?.close();
    await this.checkpointer?.close();
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && !this.scheduled && !this.retryTimer && this.flushing === 0;
  }

  private schedule(): void {
    if (this.scheduled || this.retryTimer) return;
    // While a batch's flush runs, the next batch gathers (unless it is full already): the loop parses
    // and validates the requests that arrive meanwhile, and they commit together once it returns.
    if (this.flushing > 0 && this.queue.length < this.maxBatch) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every request that arrived in this turn of the event loop
    // (and all the I/O that came in while the last batch was committing) joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return this.settleIdle();
    const now = this.clock();
    const pipelined = this.flusher !== null && this.choice.pipelineNext(this.stats.flushMs);
    let outcomes: Outcome[];
    try {
      outcomes = this.runOnce(batch, now, pipelined);
    } catch (error) {
      if (isBusyError(error)) return this.retryLater(batch, now);
      // The transaction itself failed (disk full, I/O error): nothing in it committed.
      for (const item of batch) item.reject(error);
      return this.afterBatch();
    }
    this.stats.batches++;
    this.stats.writes += batch.length;
    this.checkpointer?.committed(batch.length);
    if (pipelined && this.flusher) this.settleWhenFlushed(this.flusher, batch, outcomes);
    else settle(batch, outcomes);
    this.afterBatch();
  }

  /** Settles a pipelined batch once the WAL flush that covers it returns. */
  private settleWhenFlushed(flusher: WalFlusher, batch: readonly Pending[], outcomes: readonly Outcome[]): void {
    this.flushing++;
    this.stats.walFlushes++;
    this.stats.pipelinedBatches++;
    flusher
      .flush()
      .then(
        (ms) => {
          const average = this.stats.flushMs;
          this.stats.flushMs = average === null ? ms : 0.8 * average + 0.2 * ms;
          settle(batch, outcomes);
        },
        (error: unknown) => {
          // Whether these writes reached the disk is unknown: nobody may be told they did. SQLite's own
          // flush takes over (and reports its errors as the transaction's).
          this.choice.mode = 'full';
          for (const item of batch) item.reject(error);
        },
      )
      .finally(() => {
        this.flushing--;
        if (this.queue.length > 0) this.schedule();
        else this.settleIdle();
      });
  }

  /** Runs a batch; a pipelined one with synchronous=NORMAL for its commit only. */
  private runOnce(batch: readonly Pending[], now: number, pipelined: boolean): Outcome[] {
    if (!pipelined) return this.runBatch(batch, now);
    // exec, not a prepared statement: SQLite applies this pragma when it compiles it.
    this.db.exec('PRAGMA synchronous = NORMAL');
    try {
      return this.runBatch(batch, now);
    } finally {
      this.db.exec('PRAGMA synchronous = FULL');
    }
  }

  /** Runs a batch; a single write's own error is its outcome, a busy or I/O error is thrown. */
  private runBatch(batch: readonly Pending[], now: number): Outcome[] {
    try {
      const outcomes = this.runPlain.immediate(batch, now);
      this.stats.grouped += this.groupedInAttempt;
      return outcomes;
    } catch (error) {
      if (isBusyError(error)) throw error;
      if (batch.length === 1) return [{ ok: false, error }];
      this.stats.isolatedRetries++;
    }
    return this.runIsolated.immediate(batch, now);
  }

  private retryLater(batch: Pending[], now: number): void {
    this.stats.busyRetries++;
    const alive = batch.filter((item) => {
      if (item.deadline > now) return true;
      item.reject(new EngineError('busy', 'the shop database stayed locked by another process; try again'));
      return false;
    });
    this.queue.unshift(...alive);
    if (this.queue.length === 0) return this.settleIdle();
    const pause = 2 + Math.random() * 18;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, pause);
  }

  private afterBatch(): void {
    if (this.queue.length > 0) this.schedule();
    else this.settleIdle();
  }

  private settleIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function settle(batch: readonly Pending[], outcomes: readonly Outcome[]): void {
  outcomes.forEach((outcome, i) => {
    const item = batch[i]!;
    if (outcome.ok) item.resolve(outcome.value);
    else item.reject(outcome.error);
  });
}
