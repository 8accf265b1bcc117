/**
 * `reserveMany` (a batch's reservations in one statement per table) against the plain definition:
 * `reserve` run on each request in turn, each in a savepoint of its own. For random requests over
 * products with little stock, one product off sale and one missing, repeated and reused idempotency
 * keys, purchase limits and quantities above the stock, both must give the same outcomes and leave the
 * same orders, keys, stock counters, ledger and idempotency records. The engine's group-commit path is
 * this function; a mutation (a key handed out twice, a sold-out request that consumes stock, a limit
 * that ignores the batch's own orders) fails it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WritableDB } from '../src-main/db/types';
import { Engine } from '../src-main/engine/engine';
import { prepareReserve, reserve, reserveMany, type ReserveArgs, type ReserveRequest } from '../src-main/engine/orders';
import { verifyLedger } from '../src-main/engine/ledger-verify';
import { idempotencyRuns } from '../src-main/engine/order-reserve';
import { seedKeys, tempDir } from './helpers/shop';

const NOW = Date.UTC(2026, 11, 3, 12);
let engine: Engine;
let cleanup: () => void;
let onSale: string[];
let offSale: string;

beforeAll(async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  engine = Engine.open({ dataDir: dir.dir, clock: () => NOW });
  const a = await engine.createProduct({ name: 'A', price: { amount: 500, currency: 'CNY' } });
  const b = await engine.createProduct({ name: 'B', price: { amount: 1200, currency: 'USD' } });
  const c = await engine.createProduct({ name: 'C', price: { amount: 100, currency: 'CNY' }, onSale: false });
  seedKeys(engine.db, engine.vault, a.id, ['A-1', 'A-2', 'A-3', 'A-4', 'A-5'], NOW);
  seedKeys(engine.db, engine.vault, b.id, ['B-1', 'B-2'], NOW);
  seedKeys(engine.db, engine.vault, c.id, ['C-1'], NOW);
  onSale = [a.id, b.id];
  offSale = c.id;
});
afterAll(async () => {
  await engine.close();
  cleanup();
});

interface Spec {
  readonly product: number;
  readonly quantity: number;
  readonly email: number;
  readonly key: number | null;
  readonly limit: number | null;
}

const spec = fc.record({
  product: fc.integer({ min: 0, max: 3 }),
  quantity: fc.integer({ min: 1, max: 3 }),
  email: fc.integer({ min: 0, max: 1 }),
  key: fc.option(fc.integer({ min: 0, max: 4 })),
  limit: fc.option(fc.integer({ min: 1, max: 2 })),
});

/** A request and its ticket (made once: both runs of a property case use the same order ids and tokens). */
function request(s: Spec): ReserveRequest {
  const productId = [onSale[0]!, onSale[1]!, offSale, 'prd_missing'][s.product]!;
  const args: ReserveArgs = {
    productId,
    quantity: s.quantity,
    email: `buyer${s.email}@example.com`,
    idempotencyKey: s.key === null ? undefined : `key-${s.key}`,
    holdSeconds: 900,
    purchaseLimit: s.limit === null ? undefined : { maxOrders: s.limit, windowMs: 60_000 },
  };
  // The engine's own ticket: the same request gets the same fingerprint, a different one another.
  const ticket = prepareReserve(engine.vault, args);
  return { args, ticket };
}

type Seen = { ok: true; value: unknown } | { ok: false; error: { code?: unknown; message: unknown } };

const seen = (outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): Seen =>
  outcome.ok
    ? outcome
    : { ok: false, error: { code: (outcome.error as { code?: unknown }).code, message: (outcome.error as Error).message } };

function state(db: WritableDB): unknown {
  const all = (sql: string): unknown[] => db.prepare(sql).all();
  return {
    orders: all('SELECT * FROM orders ORDER BY id'),
    keys: all('SELECT id, product_no, status, order_id, updated_at FROM keys ORDER BY id'),
    products: all('SELECT id, available, reserved, sold FROM products ORDER BY id'),
    ledger: all('SELECT * FROM ledger ORDER BY seq'),
    idempotency: all('SELECT * FROM idempotency ORDER BY scope, key'),
  };
}

/** Runs `body` in a transaction and rolls it back; returns what it returned and the state it left. */
function tryOut<T>(db: WritableDB, body: () => T): { value: T; after: unknown; verified: boolean } {
  let out: { value: T; after: unknown; verified: boolean } | undefined;
  try {
    db.transaction(() => {
      const value = body();
      out = { value, after: state(db), verified: verifyLedger(db).ok };
      throw new Error('roll back');
    }).immediate();
  } catch (error) {
    if (!out) throw error;
  }
  return out!;
}

describe('reserveMany', () => {
  it('gives the outcomes and rows of reserve run on each request in turn', () => {
    const db = engine.db;
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 6 }), fc.array(spec, { minLength: 1, maxLength: 24 }), (earlier, batch) => {
        const ctx = { now: NOW };
        const before = earlier.map(request);
        const requests = batch.map(request);
        const serial = tryOut(db, () => {
          reserveMany(db, ctx, before);
          return requests.map((r) => {
            try {
              return seen({ ok: true, value: db.transaction(() => reserve(db, ctx, r.args, r.ticket))() });
            } catch (error) {
              return seen({ ok: false, error });
            }
          });
        });
        const many = tryOut(db, () => {
          reserveMany(db, ctx, before);
          return reserveMany(db, ctx, requests).map(seen);
        });
        expect(many.value).toEqual(serial.value);
        expect(many.after).toEqual(serial.after);
        expect(many.verified).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('sells a product with fewer keys than the batch wants to the first buyers only', () => {
    const db = engine.db;
    const requests = Array.from({ length: 8 }, () => request({ product: 1, quantity: 1, email: 0, key: null, limit: null }));
    const { value } = tryOut(db, () => reserveMany(db, { now: NOW }, requests));
    const results = value.map((o) =>
      o.ok && !o.value.replayed ? (o.value.result.ok ? 'order' : o.value.result.error.code) : 'other',
    );
    expect(results).toEqual(['order', 'order', 'sold_out', 'sold_out', 'sold_out', 'sold_out', 'sold_out', 'sold_out']);
  });
});

describe('idempotencyRuns', () => {
  const keyed = (key: number | null): ReserveRequest => request({ product: 0, quantity: 1, email: 0, key, limit: null });

  it('starts a new run at each repeated idempotency key, keeping requests without a key where they are', () => {
    const [a, none, b, a2, none2, b2, a3] = [keyed(0), keyed(null), keyed(1), keyed(0), keyed(null), keyed(1), keyed(0)];
    const runs = idempotencyRuns([a, none, b, a2, none2, b2, a3]);
    expect(runs).toEqual([[a, none, b], [a2, none2, b2], [a3]]);
  });

  it('hands back the batch itself when it is one run, and no run for no request', () => {
    const batch = [keyed(0), keyed(null), keyed(null), keyed(1)];
    const runs = idempotencyRuns(batch);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toBe(batch);
    expect(idempotencyRuns([])).toEqual([]);
  });
});
