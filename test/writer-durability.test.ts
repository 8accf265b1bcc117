/**
 * The writer's pipelined durability (engine/writer.ts, db/wal-flush.ts): a batch commits under
 * synchronous=NORMAL and its writes settle only when the WAL flush that covers it returns. The flush
 * here is a real `fs.fdatasync` that the test holds back until it lets it go, so each claim is about
 * ordering, never about time.
 */
import { fdatasync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, openReadOnly } from '../src-main/db/open';
import type { SyncFn } from '../src-main/db/wal-flush';
import { WalFlusher } from '../src-main/db/wal-flush';
import { GroupCommitWriter, PROBE_EVERY, SLOW_FLUSH_MS } from '../src-main/engine/writer';
import { openShop, tempDir } from './helpers/shop';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real fdatasync that starts only when the test releases it, or fails when told to. */
class HeldSync {
  readonly calls: (() => void)[] = [];
  failWith: Error | null = null;
  /** False: flushes run at once (setting a shop up). */
  holding = true;
  readonly sync: SyncFn = (fd, done) => {
    const run = () => {
      if (this.failWith) done(this.failWith);
      else fdatasync(fd, done);
    };
    if (this.holding) this.calls.push(run);
    else run();
  };
  /** Lets the oldest held flush run. */
  release(): void {
    const next = this.calls.shift();
    if (!next) throw new Error('no flush is waiting');
    next();
  }
}

/** Lets the event loop run a few turns (batches run on setImmediate, flushes return on the thread pool). */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

function track<T>(promise: Promise<T>): { readonly settled: () => boolean; readonly promise: Promise<T> } {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  tracked.catch(() => undefined);
  return { settled: () => settled, promise: tracked };
}

function scratch(options: ConstructorParameters<typeof GroupCommitWriter>[1] = {}) {
  const { dir, cleanup } = tempDir();
  const file = join(dir, 'shop.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
  const writer = new GroupCommitWriter(db, { backgroundCheckpointAfter: 0, durability: 'pipelined', ...options });
  const reader = openReadOnly(file);
  cleanups.push(
    cleanup,
    () => db.close(),
    () => writer.close(),
    () => reader.close(),
  );
  const insert = (n: number) => writer.run((w) => w.prepare('INSERT INTO t (n) VALUES (?)').run(n).changes);
  const visible = () => (reader.prepare('SELECT count(*) AS c FROM t').get() as { c: number }).c;
  return { db, writer, insert, visible };
}

describe('pipelined durability', () => {
  it('answers no write before the flush of its batch returns, though its commit is already visible', async () => {
    const held = new HeldSync();
    const { writer, insert, visible } = scratch({ sync: held.sync });
    expect(writer.durability).toBe('pipelined');
    const write = track(insert(1));
    await turns();
    expect(visible()).toBe(1);
    expect(held.calls).toHaveLength(1);
    expect(write.settled()).toBe(false);
    held.release();
    await expect(write.promise).resolves.toBe(1);
  });

  it('gathers the next batch while a flush is in flight, runs a full one meanwhile, and answers in commit order', async () => {
    const held = new HeldSync();
    const { writer, insert, visible } = scratch({ sync: held.sync, maxBatch: 2 });
    const first = track(insert(1));
    await turns();
    const later = [track(insert(2)), track(insert(3)), track(insert(4))];
    await turns();
    // A full batch (2 and 3) committed while the first flush was held; 4 gathers until a flush returns.
    expect(visible()).toBe(3);
    expect(writer.stats.batches).toBe(2);
    expect(held.calls).toHaveLength(1);
    held.release();
    await first.promise;
    await turns();
    // The flush that covers the second batch starts only after the first returned, and 4 still waits.
    expect(later.map((w) => w.settled())).toEqual([false, false, false]);
    expect(held.calls).toHaveLength(1);
    expect(visible()).toBe(3);
    held.release();
    await Promise.all([later[0]!.promise, later[1]!.promise]);
    await turns();
    expect(visible()).toBe(4);
    expect(later[2]!.settled()).toBe(false);
    held.release();
    await expect(later[2]!.promise).resolves.toBe(1);
    expect(writer.stats.batches).toBe(3);
  });

  it('commits under NORMAL only: the connection is FULL between batches for the writes that bypass the writer', async () => {
    const seen: number[] = [];
    const { db, writer } = scratch();
    await writer.run((w) => seen.push(w.pragma('synchronous', { simple: true }) as number));
    expect(seen).toEqual([1]);
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(writer.stats.walFlushes).toBe(1);
  });

  it('fails the writes of a failed flush and goes back to FULL for good', async () => {
    const held = new HeldSync();
    const { db, writer, insert, visible } = scratch({ sync: held.sync });
    held.failWith = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const write = insert(1);
    await turns();
    held.release();
    await expect(write).rejects.toThrow(/EIO/);
    expect(writer.durability).toBe('full');
    // SQLite flushes the next commit itself; the held flush is not asked for again.
    await expect(insert(2)).resolves.toBe(1);
    expect(held.calls).toHaveLength(0);
    expect(visible()).toBe(2);
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('keeps the FULL commit on the loop when asked to', async () => {
    const held = new HeldSync();
    const { writer, insert } = scratch({ sync: held.sync, durability: 'full' });
    expect(writer.durability).toBe('full');
    await expect(insert(1)).resolves.toBe(1);
    expect(held.calls).toHaveLength(0);
  });

  it("'auto' pipelines while the disk's flushes are slow, commits FULL while they are fast, and keeps timing them", async () => {
    // Each flush lasts what the fake timer says (3x or a hundredth of the threshold), whatever the machine's load.
    const timer = (step: number) => {
      let now = 0;
      return () => (now += step);
    };
    const onSlowDisk = scratch({ durability: 'auto', flushTimer: timer(SLOW_FLUSH_MS * 3) });
    for (let n = 0; n < 5; n++) await onSlowDisk.insert(n);
    expect(onSlowDisk.writer.stats.pipelinedBatches).toBe(5);
    expect(onSlowDisk.writer.stats.flushMs).toBeGreaterThanOrEqual(SLOW_FLUSH_MS);

    const onFastDisk = scratch({ durability: 'auto', flushTimer: timer(SLOW_FLUSH_MS / 100) });
    expect(onFastDisk.writer.durability).toBe('auto');
    const writes = PROBE_EVERY + 10;
    for (let n = 0; n < writes; n++) await onFastDisk.insert(n);
    // The first batch times the flush; then one in PROBE_EVERY is pipelined to time it again.
    expect(onFastDisk.writer.stats.batches).toBe(writes);
    expect(onFastDisk.writer.stats.pipelinedBatches).toBe(2);
    expect(onFastDisk.writer.stats.flushMs).toBeLessThan(SLOW_FLUSH_MS);
    expect(onFastDisk.visible()).toBe(writes);
  });

  it('waits for the flushes in flight before it closes', async () => {
    const held = new HeldSync();
    const { writer, insert } = scratch({ sync: held.sync });
    const write = track(insert(1));
    await turns();
    const closed = track(writer.close());
    await turns();
    expect(closed.settled()).toBe(false);
    held.release();
    await write.promise;
    await closed.promise;
  });

  it('has nothing to flush where there is no WAL, and reports any other failure to open it', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    await expect(new WalFlusher(join(dir, 'none.db')).flush()).resolves.toBeTypeOf('number');
    await expect(new WalFlusher(join(dir, 'missing-folder', 'x.db')).flush()).resolves.toBeTypeOf('number');
    // The WAL's path names a folder: it cannot be opened for writing.
    mkdirSync(join(dir, 'odd.db-wal'));
    await expect(new WalFlusher(join(dir, 'odd.db')).flush()).rejects.toThrow(/EISDIR/);
  });

  it('coalesces: any number of requests during a flush cost one more flush', async () => {
    const held = new HeldSync();
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const db = openDatabase(join(dir, 'shop.db'));
    cleanups.push(() => db.close());
    const flusher = new WalFlusher(db.name, held.sync);
    const first = flusher.flush();
    const later = [flusher.flush(), flusher.flush(), flusher.flush()];
    expect(held.calls).toHaveLength(1);
    held.release();
    await first;
    expect(held.calls).toHaveLength(1);
    held.release();
    await Promise.all(later);
    expect(flusher.flushes).toBe(2);
    flusher.close();
    await expect(flusher.flush()).rejects.toThrow(/closed/);
  });
});

describe('codes shown to a buyer', () => {
  it('are read only once everything the connection sees is on the disk', async () => {
    const held = new HeldSync();
    held.holding = false;
    const s = await openShop({ keys: 1, writer: { sync: held.sync, backgroundCheckpointAfter: 0, durability: 'pipelined' } });
    cleanups.push(s.cleanup);
    held.holding = true;
    const reserve = s.engine.reserve({ productId: s.productId, quantity: 1, email: 'a@example.com' });
    await turns();
    held.release();
    const { result } = await reserve;
    if (!result.ok) throw new Error(result.error.message);
    const pay = s.engine.pay({ orderId: result.value.id, amount: 5000, currency: 'CNY', eventId: 'evt_1', source: 'webhook' });
    await turns();
    held.release();
    await pay;
    const codes = track(s.engine.deliveredCodes(result.value.id));
    await turns();
    expect(codes.settled()).toBe(false);
    held.release();
    await expect(codes.promise).resolves.toEqual(['CODE-000000']);
  });
});
