/**
 * Flushing a shop's write-ahead log to the disk off the event loop, for the writer's pipelined commit
 * (engine/writer.ts): `fdatasync` of the `-wal` file through libuv's thread pool.
 *
 * SQLite appends every transaction to the WAL in commit order, and a flush covers every byte written
 * to the file before it starts, by this process or any other. So flushes coalesce: a caller that asks
 * while one is running waits for the next one (which starts as soon as the running one returns and
 * covers everything up to then), never for a flush that began before its own commit. Any number of
 * callers cost at most one flush in flight and one waiting.
 *
 * The file is opened on the first flush (after the first commit, so it exists) and kept open: SQLite
 * removes the WAL only when the last connection closes, and the writer's own connection stays open as
 * long as this does. Its folder is flushed once too, so the WAL's directory entry survives a power cut.
 * On macOS libuv's fdatasync is `F_FULLFSYNC`, which also empties the drive's cache (SQLite's FULL uses
 * a plain fsync there).
 */
import { closeSync, fdatasync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** One flush of an open file: `fs.fdatasync` unless a test puts something else in. */
export type SyncFn = (fd: number, done: (error: Error | null) => void) => void;

interface Waiter {
  readonly resolve: (ms: number) => void;
  readonly reject: (error: unknown) => void;
}

export class WalFlusher {
  private fd: number | null = null;
  private running = false;
  private waiting: Waiter[] = [];
  private closed = false;
  /** Flushes started (not requests: one flush answers every request that waited for it). */
  flushes = 0;

  constructor(
    /** The database file; its WAL is `<file>-wal`. */
    private readonly dbFile: string,
    private readonly sync: SyncFn = fdatasync,
    /** Reads the time a flush took (ms); tests make it deterministic. */
    private readonly timer: () => number = () => performance.now(),
  ) {}

  /**
   * Resolves once everything written to the WAL before this call is on the disk, with how long the
   * flush that covered it took (ms).
   */
  flush(): Promise<number> {
    if (this.closed) return Promise.reject(new Error('the WAL flusher is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.running) this.start();
    });
  }

  /** True while a flush is running or requested. */
  get busy(): boolean {
    return this.running || this.waiting.length > 0;
  }

  private start(): void {
    const group = this.waiting;
    this.waiting = [];
    this.running = true;
    this.flushes++;
    const started = this.timer();
    const done = (error: Error | null): void => {
      this.running = false;
      const ms = this.timer() - started;
      for (const waiter of group) {
        if (error) waiter.reject(error);
        else waiter.resolve(ms);
      }
      if (this.waiting.length > 0) this.start();
      else if (this.closed) this.release();
    };
    let fd: number;
    try {
      fd = this.open();
    } catch (error) {
      // No WAL yet: every commit is in the database file, which SQLite flushed when it last checkpointed.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return done(null);
      return done(error as Error);
    }
    this.sync(fd, done);
  }

  private open(): number {
    if (this.fd !== null) return this.fd;
    // r+: Windows flushes only a handle opened for writing. Nothing is ever written through it.
    const fd = openSync(`${this.dbFile}-wal`, 'r+');
    if (process.platform !== 'win32') {
      // Once per process, before the first answer that depends on it (SQLite syncs the folder of a new
      // WAL on its first sync, which under NORMAL comes only with a checkpoint).
      try {
        const dir = openSync(dirname(this.dbFile), 'r');
        try {
          fsyncSync(dir);
        } finally {
          closeSync(dir);
        }
      } catch (error) {
        closeSync(fd);
        throw error;
      }
    }
    this.fd = fd;
    return fd;
  }

  /** Closes the file once the flushes already asked for have returned; later flushes fail. */
  close(): void {
    this.closed = true;
    if (!this.busy) this.release();
  }

  private release(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
