/**
 * The group-commit writer's checkpoints (writer.ts), run off the event loop. SQLite's automatic checkpoint
 * runs inside the commit that crosses 1000 WAL pages: it copies every page into the database file and
 * flushes it twice, and every purchase waiting on that batch pays for it (the slowest answers of a
 * purchase storm). Once a writer has done some work (so short-lived processes never pay for a thread), a
 * worker thread with its own connection takes over: the writer asks it for a PASSIVE checkpoint (which
 * never blocks writers) every ~1000 pages and turns the connection's automatic checkpoint off. If the
 * worker cannot start or dies, the automatic checkpoint comes back on.
 */
import { Worker } from 'node:worker_threads';
import { workerDriver } from '../db/open';
import type { WritableDB } from '../db/types';

/** The worker's code: one connection that runs a PASSIVE checkpoint when asked. */
const CHECKPOINT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, ...(workerData.nativeBinding ? { nativeBinding: workerData.nativeBinding } : {}) });
db.pragma('synchronous = FULL');
parentPort.postMessage({ ready: true });
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  let result = null;
  try {
    result = db.pragma('wal_checkpoint(PASSIVE)')[0];
  } catch (error) {
    // Another connection is checkpointing, or the file is busy: the next request tries again.
  }
  parentPort.postMessage({ done: true, result });
});
`;

/** About one WAL page per purchase: ask for a checkpoint every this many committed writes. */
const CHECKPOINT_EVERY_WRITES = 1000;
/** WAL length (frames) past which this connection finishes a nearly complete checkpoint itself. */
const CATCH_UP_FRAMES = 4000;
/** SQLite's default automatic checkpoint, restored when the worker is not there. */
const AUTO_CHECKPOINT_PAGES = 1000;

export class BackgroundCheckpointer {
  private worker: Worker | null = null;
  private ready = false;
  private busy = false;
  private failed = false;
  private sinceCheckpoint = 0;
  private total = 0;
  private catchUp = false;

  constructor(
    private readonly db: WritableDB,
    private readonly startAfter: number,
    /** The writer's stats (WriterStats): the checkpoints run are counted in it. */
    private readonly stats: { checkpoints: number },
  ) {}

  /** Called after each committed batch. */
  committed(writes: number): void {
    if (this.failed) return;
    this.total += writes;
    this.sinceCheckpoint += writes;
    if (!this.worker) {
      if (this.total >= this.startAfter) this.start();
      return;
    }
    if (this.catchUp) {
      this.catchUp = false;
      try {
        this.db.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // Busy: the worker's next checkpoint tries again.
      }
    }
    if (this.ready && !this.busy && this.sinceCheckpoint >= CHECKPOINT_EVERY_WRITES) {
      this.busy = true;
      this.sinceCheckpoint = 0;
      this.worker.postMessage('checkpoint');
    }
  }

  private start(): void {
    try {
      const worker = new Worker(CHECKPOINT_WORKER, { eval: true, workerData: { ...workerDriver(), file: this.db.name } });
      worker.on(
        'message',
        (message: { ready?: boolean; done?: boolean; result?: { log: number; checkpointed: number } | null }) => {
          if (this.failed) return;
          if (message.ready) {
            this.ready = true;
            this.db.pragma('wal_autocheckpoint = 0');
          } else if (message.done) {
            this.busy = false;
            this.stats.checkpoints++;
            // A busy writer keeps appending while the worker copies, so the WAL can only start over
            // once a checkpoint has caught up completely: when the worker has copied nearly all of a
            // long WAL, this connection copies the last few pages itself, and the next commit
            // rewrites the WAL from its start instead of growing it.
            const { log, checkpointed } = message.result ?? { log: 0, checkpointed: 0 };
            this.catchUp = log >= CATCH_UP_FRAMES && log - checkpointed <= CATCH_UP_FRAMES / 4;
          }
        },
      );
      worker.on('error', () => this.fallBack());
      worker.on('exit', () => this.fallBack());
      // After the listeners: adding a 'message' listener refs the worker again. An unfinished PASSIVE
      // checkpoint never keeps a process alive (the WAL stays valid; the next one starts over).
      worker.unref();
      this.worker = worker;
    } catch {
      this.fallBack();
    }
  }

  /** Back to SQLite's automatic checkpoint, for good. */
  private fallBack(): void {
    if (this.failed) return;
    this.failed = true;
    this.ready = false;
    this.worker = null;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.fallBack();
    if (!worker) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 2000);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.postMessage('close');
    });
  }
}
