/**
 * The overselling incident, replayed with real OS processes: every buyer process opens its own Engine
 * (its own SQLite connection and group-commit writer) on the same shop folder, waits for `go`, and only
 * then buys. Afterwards the database itself is audited: keys, orders, deliveries, stored counters and the
 * ledger must all tell the same story, including after a process is SIGKILLed in the middle of a storm.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stmt } from '../src-main/db/statements';
import type { ReadableDB } from '../src-main/db/types';
import { Engine } from '../src-main/engine/engine';
import { countStock } from '../src-main/engine/products';
import {
  deal,
  killAllBuyers,
  spawnBuyer,
  spawnBuyers,
  type BuyerOutcome,
  type BuyerProcess,
  type BuyerRequest,
  type StormProgress,
  type StormSummary,
} from './helpers/buyer-process';
import { seedKeys, tempDir } from './helpers/shop';

const cleanups: (() => void)[] = [];
afterEach(async () => {
  await killAllBuyers();
  for (const cleanup of cleanups.splice(0)) cleanup();
});
afterAll(killAllBuyers);

/** A shop folder with one product and `keys` available keys; the parent's engine is closed again. */
async function seededShop(keys: number): Promise<{ dir: string; productId: string }> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const engine = Engine.open({ dataDir: dir });
  try {
    const product = await engine.createProduct({ name: 'Steam 50', price: { amount: 5000, currency: 'CNY' } });
    seedKeys(
      engine.db,
      engine.vault,
      product.id,
      Array.from({ length: keys }, (_, i) => `RACE-${String(i).padStart(6, '0')}`),
    );
    return { dir, productId: product.id };
  } finally {
    await engine.close();
  }
}

async function withEngine<T>(dir: string, fn: (engine: Engine) => T | Promise<T>): Promise<T> {
  const engine = Engine.open({ dataDir: dir });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

const count = (db: ReadableDB, sql: string, ...params: unknown[]): number =>
  stmt(db, sql)
    .pluck()
    .get(...params) as number;
const ids = (db: ReadableDB, sql: string, ...params: unknown[]): unknown[] =>
  stmt(db, sql)
    .pluck()
    .all(...params);

/**
 * Everything that must hold in a shop where buyers only reserve and pay: each key is available (no order),
 * held by a live reservation, or sold to exactly one delivered order with exactly one live delivery;
 * every order holds or owns exactly its quantity; the stored counters match the rows; nothing is staged;
 * the ledger verifies. Returns the problems found (empty when the shop is sound).
 */
function auditShop(engine: Engine, productId: string): string[] {
  const db = engine.db;
  const problems: string[] = [];
  const expectNone = (label: string, sql: string): void => {
    const found = ids(db, sql);
    if (found.length > 0) problems.push(`${label}: ${found.slice(0, 10).join(', ')}${found.length > 10 ? ', ...' : ''}`);
  };
  expectNone('keys in an unexpected state', `SELECT id FROM keys WHERE status NOT IN ('available', 'reserved', 'sold')`);
  expectNone('available keys tied to an order', `SELECT id FROM keys WHERE status = 'available' AND order_id IS NOT NULL`);
  expectNone(
    'held keys whose order is not a live reservation',
    `SELECT k.id FROM keys k LEFT JOIN orders o ON o.id = k.order_id
     WHERE k.status = 'reserved' AND (o.status IS NULL OR o.status <> 'reserved' OR o.expires_at <= ${Date.now()})`,
  );
  expectNone(
    'sold keys without exactly one live delivery to their order',
    `SELECT k.id FROM keys k WHERE k.status = 'sold' AND
       (SELECT count(*) FROM deliveries d WHERE d.key_id = k.id AND d.returned_at IS NULL) <> 1
       OR k.status = 'sold' AND NOT EXISTS
       (SELECT 1 FROM deliveries d WHERE d.key_id = k.id AND d.returned_at IS NULL AND d.order_id = k.order_id)`,
  );
  expectNone(
    'sold keys whose order is not delivered',
    `SELECT k.id FROM keys k JOIN orders o ON o.id = k.order_id WHERE k.status = 'sold' AND o.status <> 'delivered'`,
  );
  expectNone(
    'live deliveries of keys not sold to that order',
    `SELECT d.id FROM deliveries d JOIN keys k ON k.id = d.key_id
     WHERE d.returned_at IS NULL AND (k.status <> 'sold' OR k.order_id IS NOT d.order_id)`,
  );
  expectNone('orders in an unexpected state', `SELECT id FROM orders WHERE status NOT IN ('reserved', 'delivered')`);
  expectNone(
    'reservations not holding exactly their quantity',
    `SELECT o.id FROM orders o WHERE o.status = 'reserved' AND
       ((SELECT count(*) FROM keys WHERE order_id = o.id AND status = 'reserved') <> o.quantity
        OR EXISTS (SELECT 1 FROM keys WHERE order_id = o.id AND status <> 'reserved'))`,
  );
  expectNone(
    'delivered orders not owning exactly their quantity',
    `SELECT o.id FROM orders o WHERE o.status = 'delivered' AND
       ((SELECT count(*) FROM keys WHERE order_id = o.id AND status = 'sold') <> o.quantity
        OR (SELECT count(*) FROM deliveries WHERE order_id = o.id AND returned_at IS NULL) <> o.quantity
        OR EXISTS (SELECT 1 FROM keys WHERE order_id = o.id AND status <> 'sold'))`,
  );
  expectNone(
    'delivered orders without exactly one delivering payment',
    `SELECT o.id FROM orders o WHERE o.status = 'delivered' AND
       (SELECT count(*) FROM payments p WHERE p.order_id = o.id AND p.outcome = 'delivered') <> 1`,
  );
  expectNone(
    'payments that delivered an order that is not delivered',
    `SELECT p.event_id FROM payments p LEFT JOIN orders o ON o.id = p.order_id
     WHERE p.outcome = 'delivered' AND (o.status IS NULL OR o.status <> 'delivered')`,
  );
  expectNone('staged keys left behind', `SELECT id FROM keys WHERE status = 'staged'`);
  expectNone('imports left staging', `SELECT id FROM imports WHERE state = 'staging'`);
  expectNone(
    'idempotency records pointing nowhere',
    `SELECT i.key FROM idempotency i LEFT JOIN orders o ON o.id = i.order_id WHERE i.order_id IS NOT NULL AND o.id IS NULL`,
  );
  const stored = engine.getProduct(productId)?.stock;
  const counted = countStock(db, productId);
  if (JSON.stringify(stored) !== JSON.stringify(counted)) {
    problems.push(`stored counters ${JSON.stringify(stored)} disagree with the rows ${JSON.stringify(counted)}`);
  }
  const fk = db.pragma('foreign_key_check') as unknown[];
  if (fk.length > 0) problems.push(`foreign key violations: ${JSON.stringify(fk.slice(0, 5))}`);
  const integrity = db.pragma('integrity_check', { simple: true });
  if (integrity !== 'ok') problems.push(`integrity_check: ${String(integrity)}`);
  const ledger = engine.verifyLedger();
  if (!ledger.ok)
    problems.push(`ledger: first bad entry ${ledger.firstBadEntry}: ${JSON.stringify(ledger.problems.slice(0, 5))}`);
  return problems;
}

/** Arms every process with its share of buyers, then sends `go` to all of them at once. */
async function race(procs: readonly BuyerProcess[], buyers: readonly BuyerRequest[]): Promise<BuyerOutcome[]> {
  const shares = deal(buyers, procs.length);
  await Promise.all(procs.map((p, i) => p.arm(shares[i]!)));
  const answers = procs.map((p) => p.go());
  return (await Promise.all(answers)).flat();
}

function tally(outcomes: readonly BuyerOutcome[]) {
  const ok = outcomes.filter((o): o is Extract<BuyerOutcome, { ok: true }> => o.ok);
  const failed = outcomes.filter((o): o is Extract<BuyerOutcome, { ok: false }> => !o.ok);
  const soldOut = failed.filter((o) => o.code === 'sold_out' && !o.thrown);
  const other = failed.filter((o) => !(o.code === 'sold_out' && !o.thrown));
  return { ok, soldOut, other };
}

const buyers = (productId: string, n: number, extra: Partial<BuyerRequest> = {}, tag = 'b'): BuyerRequest[] =>
  Array.from({ length: n }, (_, i) => ({ productId, email: `${tag}${i}@example.com`, idempotencyKey: `${tag}-${i}`, ...extra }));

async function closeAll(procs: readonly BuyerProcess[]): Promise<void> {
  const codes = await Promise.all(procs.map((p) => p.close()));
  expect(codes.every((c) => c === 0)).toBe(true);
}

describe('one key, a hundred buyers, many processes', () => {
  it('sells the last key once when 100 buyers in 8 processes press buy together', async () => {
    const { dir, productId } = await seededShop(1);
    const procs = await spawnBuyers(dir, 8);
    expect(new Set(procs.map((p) => p.pid)).size).toBe(8);

    const outcomes = await race(procs, buyers(productId, 100));
    const { ok, soldOut, other } = tally(outcomes);
    expect(other).toEqual([]);
    expect(ok).toHaveLength(1);
    expect(soldOut).toHaveLength(99);
    expect(ok[0]!.replayed).toBe(false);
    await closeAll(procs);

    await withEngine(dir, (engine) => {
      expect(count(engine.db, 'SELECT count(*) FROM orders')).toBe(1);
      expect(ids(engine.db, `SELECT order_id FROM keys WHERE status = 'reserved'`)).toEqual([ok[0]!.orderId]);
      expect(engine.getProduct(productId)?.stock).toEqual({ available: 0, reserved: 1, sold: 0 });
      // Every buyer's outcome was recorded with its idempotency key, sold out included.
      expect(count(engine.db, 'SELECT count(*) FROM idempotency')).toBe(100);
      expect(auditShop(engine, productId)).toEqual([]);
    });
  }, 90_000);

  it('sells the last key once when 100 buyers in 100 processes press buy together', async () => {
    const { dir, productId } = await seededShop(1);
    // Startup (tsx + opening the shop) is the slow part; all hundred start in parallel.
    const procs = await spawnBuyers(dir, 100, { readyTimeoutMs: 150_000 });
    expect(new Set(procs.map((p) => p.pid)).size).toBe(100);

    const outcomes = await race(procs, buyers(productId, 100));
    const { ok, soldOut, other } = tally(outcomes);
    expect(other).toEqual([]);
    expect(ok).toHaveLength(1);
    expect(soldOut).toHaveLength(99);
    await closeAll(procs);

    await withEngine(dir, (engine) => {
      expect(count(engine.db, 'SELECT count(*) FROM orders')).toBe(1);
      expect(ids(engine.db, `SELECT order_id FROM keys WHERE status = 'reserved'`)).toEqual([ok[0]!.orderId]);
      expect(engine.getProduct(productId)?.stock).toEqual({ available: 0, reserved: 1, sold: 0 });
      expect(auditShop(engine, productId)).toEqual([]);
    });
  }, 180_000);
});

describe('a storm of buyers', () => {
  it('sells 1,000 keys to exactly 1,000 of 10,000 buyers in 8 processes, each key once', async () => {
    const { dir, productId } = await seededShop(1000);
    const procs = await spawnBuyers(dir, 8);
    // Half of the buyers send an idempotency key; every winner pays at once, while the others still buy.
    const all = buyers(productId, 10_000, { pay: true }, 'storm').map((b, i) =>
      i % 2 === 0 ? b : { productId: b.productId, email: b.email, pay: true },
    );
    const outcomes = await race(procs, all);
    const { ok, soldOut, other } = tally(outcomes);
    expect(other).toEqual([]);
    expect(ok).toHaveLength(1000);
    expect(soldOut).toHaveLength(9000);
    expect(ok.every((o) => o.paid === 'delivered')).toBe(true);
    expect(new Set(ok.map((o) => o.orderId)).size).toBe(1000);
    await closeAll(procs);

    await withEngine(dir, (engine) => {
      const db = engine.db;
      expect(count(db, 'SELECT count(*) FROM orders')).toBe(1000);
      expect(new Set(ids(db, 'SELECT id FROM orders'))).toEqual(new Set(ok.map((o) => o.orderId)));
      expect(count(db, `SELECT count(*) FROM orders WHERE status = 'delivered'`)).toBe(1000);
      // Each key in exactly one order, each order exactly one key.
      expect(count(db, `SELECT count(*) FROM keys WHERE status = 'sold'`)).toBe(1000);
      expect(count(db, 'SELECT count(DISTINCT order_id) FROM keys')).toBe(1000);
      expect(ids(db, 'SELECT order_id FROM keys GROUP BY order_id HAVING count(*) <> 1')).toEqual([]);
      expect(count(db, 'SELECT count(*) FROM deliveries')).toBe(1000);
      expect(count(db, 'SELECT count(DISTINCT key_id) FROM deliveries')).toBe(1000);
      expect(count(db, 'SELECT count(DISTINCT order_id) FROM deliveries')).toBe(1000);
      expect(engine.getProduct(productId)?.stock).toEqual({ available: 0, reserved: 0, sold: 1000 });
      expect(countStock(db, productId)).toEqual({ available: 0, reserved: 0, sold: 1000 });
      const ledger = engine.verifyLedger();
      expect(ledger).toMatchObject({ ok: true, problems: [] });
      // One import, then a reserve and a sell per order.
      expect(ledger.entries).toBe(1 + 2 * 1000);
      expect(auditShop(engine, productId)).toEqual([]);
    });
  }, 180_000);
});

describe('idempotency across processes', () => {
  it('replays an order created by another process and refuses the key for a different request', async () => {
    const { dir, productId } = await seededShop(5);
    const [a, b] = await spawnBuyers(dir, 2);
    const request = { productId, email: 'retry@example.com', idempotencyKey: 'retry-1' };

    const [first] = await a!.buy([request]);
    expect(first).toMatchObject({ ok: true, replayed: false });
    const [again] = await b!.buy([request]);
    expect(again).toMatchObject({ ok: true, replayed: true });
    if (!first?.ok || !again?.ok) throw new Error('expected orders');
    expect(again.orderId).toBe(first.orderId);
    expect(again.accessToken).toBe(first.accessToken);

    const [reused] = await b!.buy([{ ...request, email: 'someone-else@example.com' }]);
    expect(reused).toMatchObject({ ok: false, thrown: true, code: 'idempotency_key_reused' });
    const [otherQuantity] = await a!.buy([{ ...request, quantity: 2 }]);
    expect(otherQuantity).toMatchObject({ ok: false, thrown: true, code: 'idempotency_key_reused' });

    // The same new request from both processes at the same moment: one order, one replay.
    const twin = { productId, email: 'twin@example.com', idempotencyKey: 'retry-2' };
    await Promise.all([a!.arm([twin]), b!.arm([twin])]);
    const both = (await Promise.all([a!.go(), b!.go()])).flat();
    expect(both.every((o) => o.ok)).toBe(true);
    const okBoth = both.filter((o): o is Extract<BuyerOutcome, { ok: true }> => o.ok);
    expect(okBoth.map((o) => o.replayed).sort()).toEqual([false, true]);
    expect(okBoth[0]!.orderId).toBe(okBoth[1]!.orderId);
    await closeAll([a!, b!]);

    await withEngine(dir, (engine) => {
      expect(count(engine.db, 'SELECT count(*) FROM orders')).toBe(2);
      expect(engine.getProduct(productId)?.stock).toEqual({ available: 3, reserved: 2, sold: 0 });
      expect(auditShop(engine, productId)).toEqual([]);
    });
  }, 90_000);
});

describe('a buyer process killed mid-storm', () => {
  it('leaves no half state, whatever the moment of the SIGKILL', async () => {
    const { dir, productId } = await seededShop(20000);
    const killPoints = [1, 3, 7, 15, 25, 40, 80, 160];
    const reported = new Map<string, StormProgress['event']>();
    const note = (p: StormProgress): void => {
      if (reported.get(p.orderId) !== 'delivered') reported.set(p.orderId, p.event);
    };

    for (const [round, killAfter] of killPoints.entries()) {
      const [victim, survivor] = await spawnBuyers(dir, 2);
      let victimEvents = 0;
      let survivorEvents = 0;
      let survivorEventsAtKill = Infinity;
      const kill: { exited?: Promise<number | string> } = {};
      let survivorWentOn: () => void = () => undefined;
      const survivorMoreAfterKill = new Promise<void>((resolve) => (survivorWentOn = resolve));

      const storm = { workers: 6, maxPerWorker: 150, payRatio: 0.6, productId };
      // Kill as soon as the victim has reported `killAfter` events: its other loops have writes queued or
      // committing, and the survivor is usually waiting for the write lock it holds. (Not always: one
      // process can keep the lock for a long stretch, so the kill does not wait for the survivor.)
      const maybeKill = (): void => {
        if (kill.exited || victimEvents < killAfter) return;
        survivorEventsAtKill = survivorEvents;
        kill.exited = victim!.kill('SIGKILL');
      };
      const victimStorm = victim!
        .storm({ ...storm, tag: `r${round}-victim` }, (p) => {
          note(p);
          victimEvents++;
          maybeKill();
        })
        .then(
          (summary): StormSummary | Error => summary,
          (error: unknown): StormSummary | Error => error as Error,
        );
      const survivorStorm = survivor!.storm({ ...storm, tag: `r${round}-survivor` }, (p) => {
        note(p);
        survivorEvents++;
        if (survivorEvents >= survivorEventsAtKill + 20) survivorWentOn();
      });

      const victimEnd = await victimStorm;
      // The victim died by the signal, before finishing its storm (its loops allow far more purchases).
      expect(victimEnd, JSON.stringify(victimEnd)).toBeInstanceOf(Error);
      expect(await kill.exited).toBe('SIGKILL');
      expect(victimEvents).toBeGreaterThanOrEqual(killAfter);

      // The survivor keeps buying after the victim died mid-transaction (its lock went with it).
      await Promise.race([survivorMoreAfterKill, survivorStorm]);
      await survivor!.stopStorm();
      const summary = await survivorStorm;
      expect(summary.errors).toEqual([]);
      expect(await survivor!.close()).toBe(0);

      await withEngine(dir, (engine) => {
        expect(auditShop(engine, productId)).toEqual([]);
        // Everything a process reported was committed before it was reported, so it survived the kill.
        for (const [orderId, event] of reported) {
          const status = engine.getOrder(orderId)?.status;
          expect(status === event || (event === 'reserved' && status === 'delivered'), `${orderId}: ${event} -> ${status}`).toBe(
            true,
          );
        }
      });
    }
    expect(reported.size).toBeGreaterThan(killPoints.reduce((a, b) => a + b, 0) / 2);
  }, 240_000);
});

describe('buyer process helper', () => {
  it('reports a child that cannot open the shop instead of hanging', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    // A file where the shop folder should be.
    writeFileSync(join(dir, 'not-a-dir'), 'x');
    const proc = spawnBuyer(join(dir, 'not-a-dir'));
    await expect(proc.ready).rejects.toThrow(/failed to open|exited/);
    await proc.kill();
  }, 60_000);
});
