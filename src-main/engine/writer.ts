/**
 * Group commit. Every write goes through one queue per connection; the writes that wait together run in
 * ONE `BEGIN IMMEDIATE` transaction; when one of them throws, the batch re-runs with each write inside
 * its own savepoint (a nested better-sqlite3 transaction), so one failing write rolls back alone and never
 * fails its neighbours, and a storm of purchases pays one
 * disk flush per batch instead of one per purchase. Callers get a promise that settles only after the
 * batch has committed, never before.
 *
 * No `await` ever happens inside a transaction: a batch is one synchronous call. When another process
 * holds the write lock, the batch is retried after a short, jittered pause (without blocking the event
 * loop) until each write's deadline, and only then fails with `busy`: a buyer never sees raw SQLITE_BUSY.
 */
import type { Transaction } from 'better-sqlite3';
import type { WritableDB } from '../db/types';
import { isBusyError } from '../db/types';
import { EngineError } from './errors';

export type WriteFn<T> = (db: WritableDB, now: number) => T;

interface Pending {
  readonly fn: WriteFn<unknown>;
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
}

export interface WriterStats {
  batches: number;
  writes: number;
  busyRetries: number;
  /** Batches re-run with a savepoint per write because one write threw. */
  isolatedRetries: number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class GroupCommitWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  readonly stats: WriterStats = { batches: 0, writes: 0, busyRetries: 0, isolatedRetries: 0 };
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
    this.busyDeadlineMs = options.busyDeadlineMs ?? 10_000;
    this.clock = options.clock ?? Date.now;
    // Savepoints cost two statements per write; a storm of purchases almost never throws (sold out is
    // an outcome, not an exception), so a batch first runs without them. If one write throws, that
    // whole attempt rolls back and the batch runs again with a savepoint each: the neighbours of a
    // failing write still commit, and the failure is the same one it would have had alone.
    this.runPlain = db.transaction((batch: readonly Pending[], now: number): Outcome[] =>
      batch.map((item): Outcome => ({ ok: true, value: item.fn(db, now) })),
    );
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

  /** Queues a write; resolves with its value once the transaction holding it has committed. */
  run<T>(fn: WriteFn<T>): Promise<T> {
    if (this.closed) return Promise.reject(new EngineError('busy', 'the engine is shutting down'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject, deadline: this.clock() + this.busyDeadlineMs });
      this.schedule();
    });
  }

  /** Resolves when every queued write has settled. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled && !this.retryTimer) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking writes; resolves once the queue has drained. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  private schedule(): void {
    if (this.scheduled || this.retryTimer) return;
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
    let outcomes: Outcome[];
    try {
      outcomes = this.runOnce(batch, now);
    } catch (error) {
      if (isBusyError(error)) return this.retryLater(batch, now);
      // The transaction itself failed (disk full, I/O error): nothing in it committed.
      for (const item of batch) item.reject(error);
      return this.afterBatch();
    }
    this.stats.batches++;
    this.stats.writes += batch.length;
    outcomes.forEach((outcome, i) => {
      const item = batch[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
    this.afterBatch();
  }

  /** Runs a batch; a single write's own error is its outcome, a busy or I/O error is thrown. */
  private runOnce(batch: readonly Pending[], now: number): Outcome[] {
    try {
      return this.runPlain.immediate(batch, now);
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
    if (this.queue.length > 0 || this.scheduled || this.retryTimer) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
