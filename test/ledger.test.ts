/**
 * The hash-chained ledger against a tamperer who has the SQLite file: edited entries, deleted entries,
 * key and order rows changed behind the application's back (with the schema's triggers dropped where
 * they would stop the change). `verifyLedger` must notice each one and name the first entry that does not
 * fit; `oncekey ledger verify` must say so in one clear line and exit 3. A clean shop verifies.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ledgerCommand } from '../src-main/cli/commands/ledger';
import type { ReadableDB } from '../src-main/db/types';
import { DB_FILE, Engine } from '../src-main/engine/engine';
import { decodeKeyIds, encodeKeyIds, entryHash, KeyIdRuns, type LedgerRow } from '../src-main/engine/ledger';
import { checkChain, GENESIS_HEX } from '../src-main/engine/ledger-chain';
import { replayLedger, replayState } from '../src-main/engine/ledger-replay';
import { verifyLedger } from '../src-main/engine/ledger-verify';
import { startLedgerWorker } from '../src-main/engine/ledger-worker';
import { seedKeys, tempDir } from './helpers/shop';
import { runCli, type CliResult } from './helpers/cli';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface History {
  readonly dir: string;
  readonly productId: string;
  /** a: delivered; b: holding a key; c: released (expired); d: delivered then refunded (key returned); e: delivered last. */
  readonly orders: Record<'a' | 'b' | 'c' | 'd' | 'e', string>;
}

/** A shop with a little of every kind of history, closed again so the file can be tampered with. */
async function historyShop(): Promise<History> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const engine = Engine.open({ dataDir: dir });
  try {
    const product = await engine.createProduct({ name: 'Gift card', price: { amount: 1000, currency: 'CNY' } });
    const productId = product.id;
    seedKeys(engine.db, engine.vault, productId, ['K-1', 'K-2', 'K-3', 'K-4', 'K-5', 'K-6']);
    let events = 0;
    const order = async (email: string): Promise<string> => {
      const { result } = await engine.reserve({ productId, quantity: 1, email });
      if (!result.ok) throw new Error(result.error.message);
      return result.value.id;
    };
    const pay = async (orderId: string): Promise<void> => {
      const paid = await engine.pay({ orderId, amount: 1000, currency: 'CNY', eventId: `evt-${++events}`, source: 'webhook' });
      expect(paid.effect).toBe('delivered');
    };
    const a = await order('a@example.com');
    await pay(a);
    const b = await order('b@example.com');
    const c = await order('c@example.com');
    await engine.releaseOrder(c, 'support');
    const d = await order('d@example.com');
    await pay(d);
    await engine.refund({ orderId: d, keys: 'return', reason: 'test', actor: 'support' });
    const e = await order('e@example.com');
    await pay(e);
    expect(engine.verifyLedger()).toMatchObject({ ok: true, problems: [] });
    return { dir, productId, orders: { a, b, c, d, e } };
  } finally {
    await engine.close();
  }
}

/** Opens the shop's file the way a tamperer would: plain SQLite, no application in between. */
function tamper<T>(dir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(join(dir, DB_FILE));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

async function verify(dir: string) {
  const engine = Engine.open({ dataDir: dir });
  try {
    const report = engine.verifyLedger();
    // The same verdict when a worker thread replays and hashes the older part of the chain (as for a long ledger).
    expect(verifyLedger(engine.db, { parallel: 'always' })).toEqual(report);
    expect(verifyLedger(engine.db, { parallel: 'never' })).toEqual(report);
    expectWorkerAgrees(engine.db);
    return report;
  } finally {
    await engine.close();
  }
}

/** The worker thread really runs (verifyLedger would quietly do its work itself if it failed) and sees what this thread sees. */
function expectWorkerAgrees(db: ReadableDB): void {
  const last = db.prepare('SELECT coalesce(max(seq), 0) FROM ledger').pluck().get() as number;
  const maxKey = (db.prepare('SELECT coalesce(max(id), 0) FROM keys').pluck().get() as number) + 1;
  const maxOrder = (db.prepare('SELECT coalesce(max(rowid), 0) FROM orders').pluck().get() as number) + 1;
  const shared = replayState(maxKey, maxOrder, true);
  const local = replayState(maxKey, maxOrder, false);
  const done = startLedgerWorker(db.name, last, last, shared)?.wait();
  expect(done).toBeTruthy();
  expect(done!.chain).toEqual(checkChain(db, { seq: 0, hash: GENESIS_HEX }, last));
  expect(done!.replay).toEqual(replayLedger(db, local, last));
  for (const name of ['keyState', 'keyOrder', 'keySeq', 'orderState', 'orderSeq'] as const) {
    expect(Array.from(shared[name])).toEqual(Array.from(local[name]));
  }
}

const seqOf = (db: Database.Database, orderId: string, kind: string): number =>
  db
    .prepare('SELECT seq FROM ledger WHERE order_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1')
    .pluck()
    .get(orderId, kind) as number;

/** The last ledger entry that moved `key`. */
function lastSeqMoving(db: Database.Database, key: number): number {
  let last = 0;
  for (const row of db.prepare('SELECT seq, key_ids FROM ledger ORDER BY seq').all() as { seq: number; key_ids: string }[]) {
    if (decodeKeyIds(row.key_ids).includes(key)) last = row.seq;
  }
  return last;
}

const keyOf = (db: Database.Database, orderId: string): number =>
  db.prepare('SELECT id FROM keys WHERE order_id = ?').pluck().get(orderId) as number;

const cli = (args: readonly string[], timeoutMs = 30_000): Promise<CliResult> => runCli(args, { timeoutMs });

// Each case starts a worker thread that loads the engine's TypeScript while this thread waits for it;
// when the suite shares two cores with race.test.ts's hundred buyer processes, one case has taken 54 s
// (with either durability), over the suite's usual minute.
describe('ledger verification', { timeout: 180_000 }, () => {
  it('verifies a clean shop', async () => {
    const { dir } = await historyShop();
    const report = await verify(dir);
    expect(report).toEqual({ ok: true, entries: 11, problems: [] });
  });

  it('catches an edited entry and names it', async () => {
    const { dir, orders } = await historyShop();
    const seq = tamper(dir, (db) => {
      const seq = seqOf(db, orders.a, 'reserve');
      const changes = db
        .prepare(`UPDATE ledger SET detail = replace(detail, '"amount":1000', '"amount":1') WHERE seq = ?`)
        .run(seq).changes;
      expect(changes).toBe(1);
      return seq;
    });
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadEntry).toBe(seq);
    expect(report.problems[0]).toEqual({ seq, reason: expect.stringMatching(/do not match its hash/) });
  });

  it('catches an edited entry whose own hash was recomputed, at the entry after it', async () => {
    const { dir, orders } = await historyShop();
    const seq = tamper(dir, (db) => {
      const seq = seqOf(db, orders.d, 'refund');
      const row = db.prepare('SELECT * FROM ledger WHERE seq = ?').get(seq) as LedgerRow;
      const forged = { ...row, detail: row.detail.replace('"reason":"test"', '"reason":"forged"') };
      expect(forged.detail).not.toBe(row.detail);
      db.prepare('UPDATE ledger SET detail = ?, hash = ? WHERE seq = ?').run(forged.detail, entryHash(forged), seq);
      return seq;
    });
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadEntry).toBe(seq + 1);
    expect(report.problems[0]).toEqual({ seq: seq + 1, reason: expect.stringMatching(/previous-hash/) });
  });

  it('catches a sold key put back on sale outside the application, naming the sale', async () => {
    const { dir, orders } = await historyShop();
    const { seq, key } = tamper(dir, (db) => {
      const key = keyOf(db, orders.a);
      // The schema allows this row change (available with no order); only the ledger knows it is a lie.
      db.prepare(`UPDATE keys SET status = 'available', order_id = NULL WHERE id = ? AND status = 'sold'`).run(key);
      db.prepare('UPDATE products SET available = available + 1, sold = sold - 1').run();
      return { seq: seqOf(db, orders.a, 'sell'), key };
    });
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadEntry).toBe(seq);
    expect(report.problems).toContainEqual({ seq, reason: `key ${key} is available now, but the ledger left it sold` });
  });

  it('catches a key held for a dead order after the tamperer drops the trigger that forbids it', async () => {
    const { dir, orders } = await historyShop();
    const { seq, key } = tamper(dir, (db) => {
      const key = db.prepare(`SELECT id FROM keys WHERE status = 'available' ORDER BY id LIMIT 1`).pluck().get() as number;
      const hold = db.prepare(`UPDATE keys SET status = 'reserved', order_id = ? WHERE id = ?`);
      // The schema refuses a hold for an expired order...
      expect(() => hold.run(orders.c, key)).toThrow(/held key must reference a reserved order/);
      // ...so the tamperer removes the trigger first.
      db.exec('DROP TRIGGER keys_hold_needs_live_order');
      hold.run(orders.c, key);
      return { seq: lastSeqMoving(db, key), key };
    });
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadEntry).toBe(seq);
    expect(report.problems).toContainEqual({ seq, reason: `key ${key} is reserved now, but the ledger left it available` });
  });

  it('catches an order whose status was changed outside the application', async () => {
    const { dir, orders } = await historyShop();
    const seq = tamper(dir, (db) => {
      db.prepare(`UPDATE orders SET status = 'refunded' WHERE id = ?`).run(orders.a);
      return seqOf(db, orders.a, 'sell');
    });
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadEntry).toBe(seq);
    expect(report.problems).toContainEqual({
      seq,
      reason: `order ${orders.a} is refunded now, but the ledger left it delivered`,
    });
  });

  it('catches a deleted last entry: the rows no longer match the replay', async () => {
    const { dir, orders } = await historyShop();
    const { reserveSeq, key } = tamper(dir, (db) => {
      const last = db.prepare('SELECT max(seq) FROM ledger').pluck().get() as number;
      expect(last).toBe(seqOf(db, orders.e, 'sell'));
      db.prepare('DELETE FROM ledger WHERE seq = ?').run(last);
      return { reserveSeq: seqOf(db, orders.e, 'reserve'), key: keyOf(db, orders.e) };
    });
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.entries).toBe(10);
    expect(report.firstBadEntry).toBe(reserveSeq);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        { seq: reserveSeq, reason: `key ${key} is sold now, but the ledger left it reserved` },
        { seq: reserveSeq, reason: `order ${orders.e} is delivered now, but the ledger left it reserved` },
      ]),
    );
  });

  it('catches a deleted entry in the middle of the chain', async () => {
    const { dir, orders } = await historyShop();
    const seq = tamper(dir, (db) => {
      const seq = seqOf(db, orders.c, 'release');
      db.prepare('DELETE FROM ledger WHERE seq = ?').run(seq);
      return seq;
    });
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadEntry).toBe(seq + 1);
    expect(report.problems).toContainEqual({ seq: seq + 1, reason: `entry ${seq} is missing` });
  });

  it('hashes any text the way it was written: quotes, control characters, emoji, line separators', async () => {
    const { dir, orders } = await historyShop();
    const engine = Engine.open({ dataDir: dir });
    try {
      // SQLite's json_array (the fast path) and JSON.stringify (the hash as written) may spell these differently.
      const reason = 'a "quoted" \\ back\nslash\t\u0001 é 😀 \u2028 \u007f end';
      await engine.refund({ orderId: orders.e, keys: 'burn', reason, actor: 'support\u0000x' });
    } finally {
      await engine.close();
    }
    expect(await verify(dir)).toEqual({ ok: true, entries: 12, problems: [] });
  });

  it('names key ids damaged with separators or letters, and goes on replaying', async () => {
    const { dir, orders } = await historyShop();
    const seq = tamper(dir, (db) => {
      const seq = seqOf(db, orders.a, 'sell');
      db.prepare(`UPDATE ledger SET key_ids = '1;2,x' WHERE seq = ?`).run(seq);
      return seq;
    });
    const report = await verify(dir);
    expect(report.firstBadEntry).toBe(seq);
    expect(report.problems).toContainEqual({ seq, reason: expect.stringMatching(/do not match its hash/) });
    expect(report.problems).toContainEqual({ seq, reason: 'its key ids are damaged (bad key id range "1;2")' });
  });

  it('catches an order that never went through the ledger', async () => {
    const { dir, orders } = await historyShop();
    tamper(dir, (db) => {
      db.prepare(
        `INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash, created_at, expires_at, updated_at)
         SELECT 'ord_forged', product_id, 1, 0, currency, 'x@example.com', 'expired', access_token_hash, created_at, expires_at, updated_at
         FROM orders WHERE id = ?`,
      ).run(orders.c);
    });
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.firstBadEntry).toBeUndefined();
    expect(report.problems).toContainEqual({ seq: null, reason: 'order ord_forged is not in the ledger' });
  });
});

describe('oncekey ledger verify', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  };

  it('reports a clean shop and a broken one with exit codes 0 and 3 (in process)', async () => {
    const { dir, orders } = await historyShop();
    const clean = capture();
    expect(await ledgerCommand(['verify', '--data', dir], clean.io)).toBe(0);
    expect(clean.out).toEqual(['ledger ok: 11 entries, chain intact, every key and order matches its history']);

    const seq = tamper(dir, (db) => {
      const seq = seqOf(db, orders.b, 'reserve');
      db.prepare(`UPDATE ledger SET detail = '{}' WHERE seq = ?`).run(seq);
      return seq;
    });
    const broken = capture();
    expect(await ledgerCommand(['verify', '--data', dir], broken.io)).toBe(3);
    expect(broken.out[0]).toBe(`ledger BROKEN: 11 entries; first bad entry: ${seq}`);
    expect(broken.out).toContain(`  #${seq}: its contents do not match its hash (edited)`);

    const json = capture();
    expect(await ledgerCommand(['verify', '--data', dir, '--json'], json.io)).toBe(3);
    expect(JSON.parse(json.out[0]!)).toMatchObject({ ok: false, entries: 11, firstBadEntry: seq });
  });

  it('exits 3 with a clear line from the real command, and 0 for a clean shop', async () => {
    const { dir, orders } = await historyShop();
    const clean = await cli(['ledger', 'verify', '--data', dir]);
    expect(clean.stderr).toBe('');
    expect(clean).toMatchObject({
      code: 0,
      stdout: 'ledger ok: 11 entries, chain intact, every key and order matches its history\n',
    });

    const { seq, key } = tamper(dir, (db) => {
      const key = keyOf(db, orders.a);
      db.prepare(`UPDATE keys SET status = 'available', order_id = NULL WHERE id = ?`).run(key);
      return { seq: seqOf(db, orders.a, 'sell'), key };
    });
    const broken = await cli(['ledger', 'verify', '--data', dir]);
    expect(broken.code).toBe(3);
    const lines = broken.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`ledger BROKEN: 11 entries; first bad entry: ${seq}`);
    expect(lines).toContain(`  #${seq}: key ${key} is available now, but the ledger left it sold`);
  }, 60_000);
});

describe('key id lists', () => {
  it('encode runs compactly, decode back to the sorted ids, and read the same when built one id at a time', () => {
    expect(encodeKeyIds([10, 9, 7, 1, 2, 3])).toBe('1-3,7,9-10');
    expect(encodeKeyIds([])).toBe('');
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 300 }), { maxLength: 60 }), (ids) => {
        const sorted = [...ids].sort((a, b) => a - b);
        const text = encodeKeyIds(ids);
        expect(decodeKeyIds(text)).toEqual(sorted);
        const runs = new KeyIdRuns();
        for (const id of sorted) runs.add(id);
        expect(runs.count).toBe(ids.length);
        expect(runs.text()).toBe(text);
        expect(runs.text()).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});
