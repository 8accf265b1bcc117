/**
 * Engine benchmark, measured in one run on real SQLite files (WAL; every claim on the disk before it is
 * answered) in a temp folder.
 *
 * A "claim" here is one `reserve` of one key: the purchase's claim on a code (a new order holding the
 * key, the idempotency record with its access token sealed, a ledger entry, the stock counters moved),
 * durable before the promise resolves. It is what `POST /api/v1/orders` does; `pay` later sells the held key.
 *
 * - `engine_claims_per_s_1|_8` and `engine_claims_per_s` (64): through the Engine API, N concurrent buyers,
 *   with idempotency keys of the raw loop's shape (`<prefix>-<n>`).
 * - `engine_claims_per_s_uuid`: 64 buyers again, each request with a random UUID key as real clients
 *   send them (each record's index entry lands at a random place).
 * - `engine_pipelined_claims_per_s` and `engine_pipelined_vs_default`: a second engine whose writer always
 *   pipelines its flush (`durability: 'pipelined'`, engine/writer.ts), 64 buyers, in the same rounds (and
 *   first in every other one), against the default ('auto', which on a disk with fast flushes commits
 *   with SQLite's FULL); `engine_pipelined_claims_per_s_1` is that engine with one buyer.
 * - `engine_tx_only_claims_per_s` and `engine_tx_only_vs_raw_batched`: the engine's own write transactions
 *   (`reserveMany`, 64 a transaction) with the crypto made beforehand and no writer or promises around
 *   them, measured last (on the fullest file): what the engine's SQL and its JavaScript inside the write
 *   lock cost without anything around them.
 * - `raw_single_claims_per_s` / `raw_batched_claims_per_s`: the same SQL statements as a bare
 *   better-sqlite3 loop, one claim per transaction and 100 per transaction (no crypto, no promises).
 * - `raw_batched_64_claims_per_s` and `raw_64_vs_raw_batched`: the same loop at 64 per transaction,
 *   the biggest batch 64 buyers can form: the ceiling of `engine_vs_raw_batched` for an engine that ran
 *   this SQL, one statement per row, with no JavaScript of its own.
 * - `naive_claims_per_s` and `naive_oversold`: the article's faulty shop (read the stock, yield to the
 *   event loop, write it back minus one and record the order, no lock and no transaction around both)
 *   with 64 concurrent buyers; oversold = sales of a key that was already sold, counted from the rows.
 *
 * The 64-buyer engine run and the two batched raw loops are measured in turns, in rounds (see ROUNDS);
 * `engine_vs_raw_batched` (and `raw_64_vs_raw_batched`) is the median of the rounds' ratios, with the
 * lowest and highest round beside it (`_min`, `_max`).
 * Every measurement runs a fixed count of claims and stops early at a time cap.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { openDatabase } from '../src-main/db/open';
import { stmt } from '../src-main/db/statements';
import type { WritableDB } from '../src-main/db/types';
import { Engine } from '../src-main/engine/engine';
import * as orders from '../src-main/engine/orders';
import { add, concurrent, newRun, perSecond, type Run } from './claims-run';
import { seedKeys } from './http-shop';
import { spread } from './rounds';

export interface EngineBenchOptions {
  readonly quick?: boolean;
}

interface Sizes {
  readonly engine: Readonly<Record<1 | 8 | 64, number>>;
  readonly rawSingle: number;
  readonly rawBatched: number;
  readonly naive: number;
  readonly capMs: number;
}

const FULL: Sizes = {
  engine: { 1: 2_000, 8: 10_000, 64: 40_000 },
  rawSingle: 2_000,
  rawBatched: 40_000,
  naive: 4_000,
  capMs: 15_000,
};
const QUICK: Sizes = { engine: { 1: 100, 8: 400, 64: 1_000 }, rawSingle: 100, rawBatched: 1_000, naive: 500, capMs: 5_000 };

const EMAIL = 'bench@example.com';

/** `count` claims through the Engine API by `concurrency` buyers; keys `<prefix>-<i>` (or random UUIDs). */
async function engineClaims(
  engine: Engine,
  productId: string,
  count: number,
  capMs: number,
  concurrency: number,
  prefix: string,
  keys: 'sequential' | 'uuid' = 'sequential',
): Promise<Run> {
  const run = await concurrent(count, concurrency, capMs, async (i) => {
    const idempotencyKey = keys === 'uuid' ? randomUUID() : `${prefix}-${i}`;
    const { result } = await engine.reserve({ productId, quantity: 1, email: EMAIL, idempotencyKey });
    if (!result.ok) throw new Error(`engine bench: claim failed (${result.error.code})`);
  });
  await engine.writer.idle();
  return run;
}

/**
 * The engine's write transactions alone: `reserveMany` of 64 requests per IMMEDIATE transaction on the
 * engine's own file, their tickets (the crypto) made before the clock starts, no writer and no promises.
 * What it leaves out of `engine_claims_per_s` is the per-purchase crypto, the promises and the writer.
 */
function transactionsOnly(engine: Engine, productId: string, sizes: Sizes): number {
  const count = sizes.engine[64];
  const requests = Array.from({ length: count }, (_, i): orders.ReserveRequest => {
    const args = { productId, quantity: 1, email: EMAIL, idempotencyKey: `tx-${i}`, holdSeconds: engine.holdSeconds };
    return { args, ticket: orders.prepareReserve(engine.vault, args) };
  });
  const db = engine.db;
  const batch = db.transaction((from: number) => {
    for (const outcome of orders.reserveMany(db, { now: Date.now() }, requests.slice(from, from + 64))) {
      if (!outcome.ok || outcome.value.replayed || !outcome.value.result.ok) throw new Error('engine bench: a claim failed');
    }
  });
  const start = performance.now();
  let done = 0;
  while (done < count && performance.now() - start < sizes.capMs) {
    batch.immediate(done);
    done = Math.min(count, done + 64);
  }
  return done / ((performance.now() - start) / 1000);
}

/** Inserts `count` keys with random stand-in ciphertexts (the raw loop never opens them). */
export function seedRawKeys(db: WritableDB, productId: string, count: number): void {
  db.exec(
    `INSERT INTO products (id, name, price_amount, currency, available, created_at) VALUES ('prd_raw', 'Raw', 100, 'CNY', ${count}, 0)`,
  );
  stmt(
    db,
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO keys (product_no, fingerprint, sealed, status, updated_at) SELECT (SELECT no FROM products WHERE id = ?), randomblob(32), randomblob(50), 'available', 0 FROM n`,
  ).run(count, productId);
}

/**
 * The SQL of one engine claim (orders.reserve), bare: idempotency lookup, product, first free key,
 * the order, the hold, the counters, the ledger head and entry, the idempotency record. Values that
 * the engine computes with crypto (hashes, ids, the sealed token) are fixed stand-ins of the same size.
 */
export function rawClaimer(db: WritableDB): (i: number) => void {
  const productId = 'prd_raw';
  const blob32 = Buffer.alloc(32, 7);
  // The sealed access token at its real size; a created order's record stores no answer of its own ('').
  const sealedToken = Buffer.alloc(72, 9);
  const findIdem = db.prepare('SELECT fingerprint, sealed_response, response FROM idempotency WHERE scope = ? AND key = ?');
  const product = db.prepare('SELECT price_amount, currency, on_sale FROM products WHERE id = ?');
  const freeKey = db
    .prepare(
      `SELECT id FROM keys WHERE product_no = (SELECT no FROM products WHERE id = ?) AND status = 'available' ORDER BY id LIMIT 1`,
    )
    .pluck();
  const insertOrder = db.prepare(
    `INSERT INTO orders (id, product_id, quantity, amount, currency, email, status, access_token_hash, created_at, expires_at, updated_at)
     VALUES (?, ?, 1, ?, ?, ?, 'reserved', ?, ?, ?, ?)`,
  );
  const hold = db.prepare(
    `UPDATE keys SET status = 'reserved', order_id = ?, updated_at = ? WHERE id = ? AND status = 'available'`,
  );
  const move = db.prepare('UPDATE products SET available = available + ?, reserved = reserved + ?, sold = sold + ? WHERE id = ?');
  const head = db.prepare('SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1');
  const ledger = db.prepare(
    `INSERT INTO ledger (seq, at, kind, product_id, order_id, key_ids, detail, prev_hash, hash) VALUES (?, ?, 'reserve', ?, ?, ?, ?, ?, ?)`,
  );
  const idem = db.prepare(
    `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, response, created_at)
     VALUES ('orders.create', ?, ?, 201, ?, ?, ?, ?)`,
  );
  return (i) => {
    const now = Date.now();
    const key = `raw-${i}`;
    if (findIdem.get('orders.create', key)) throw new Error('raw bench: key reused');
    const p = product.get(productId) as { price_amount: number; currency: string };
    const [keyId] = freeKey.all(productId) as number[];
    if (keyId === undefined) throw new Error('raw bench: sold out');
    const orderId = `ord_raw_${String(i).padStart(16, '0')}`;
    insertOrder.run(orderId, productId, p.price_amount, p.currency, EMAIL, blob32, now, now + 900_000, now);
    hold.run(orderId, now, keyId);
    move.run(-1, 1, 0, productId);
    const h = head.get() as { seq: number } | undefined;
    const seq = (h?.seq ?? 0) + 1;
    ledger.run(
      seq,
      now,
      productId,
      orderId,
      String(keyId),
      '{"quantity":1,"amount":100,"currency":"CNY","keysTo":"reserved","orderTo":"reserved"}',
      blob32,
      blob32,
    );
    idem.run(key, blob32, orderId, sealedToken, '', now);
  };
}

function rawClaims(db: WritableDB, count: number, perTransaction: number, capMs: number, offset: number): Run {
  const claim = rawClaimer(db);
  const many = db.transaction((from: number, n: number) => {
    for (let i = from; i < from + n; i++) claim(i);
  });
  const start = performance.now();
  let done = 0;
  while (done < count && performance.now() - start < capMs) {
    const n = Math.min(perTransaction, count - done);
    many.immediate(offset + done, n);
    done += n;
  }
  return { claims: done, seconds: (performance.now() - start) / 1000 };
}

/**
 * The article's shop: read the stock, yield (its `time.sleep(0.1)`, here one turn of the event loop),
 * then write the stock it read minus one and record the order with the code it picked, each write
 * committing on its own. Returns claims/s and how many sales were of a code already sold.
 */
async function naive(
  db: WritableDB,
  count: number,
  concurrency: number,
  capMs: number,
): Promise<{ rate: number; oversold: number }> {
  db.exec(`
    CREATE TABLE naive_items (id INTEGER PRIMARY KEY, stock INTEGER NOT NULL, total INTEGER NOT NULL) STRICT;
    CREATE TABLE naive_orders (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, key_no INTEGER NOT NULL, email TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;
  `);
  stmt(db, 'INSERT INTO naive_items (id, stock, total) VALUES (1, ?, ?)').run(count, count);
  const read = db.prepare('SELECT stock, total FROM naive_items WHERE id = 1');
  const save = db.prepare('UPDATE naive_items SET stock = ? WHERE id = 1');
  const order = db.prepare('INSERT INTO naive_orders (item_id, key_no, email, created_at) VALUES (1, ?, ?, ?)');
  const run = await concurrent(count, concurrency, capMs, async () => {
    const item = read.get() as { stock: number; total: number };
    if (item.stock <= 0) return;
    await yieldToLoop();
    // The next unsold code, as the stock it read says.
    const keyNo = item.total - item.stock + 1;
    save.run(item.stock - 1);
    order.run(keyNo, EMAIL, Date.now());
  });
  const oversold = stmt(db, 'SELECT count(*) - count(DISTINCT key_no) FROM naive_orders').pluck().get() as number;
  return { rate: perSecond(run), oversold };
}

const round = (n: number): number => Math.round(n);
const ratio = (a: number, b: number): number => Number((a / b).toFixed(3));

/**
 * Rounds of the 64-buyer engine run and of the two batched raw loops, taken in turns: the machine's speed
 * drifts over seconds (other tenants of a shared host, the disk's own state), and a ratio of two figures
 * measured minutes apart carries that drift; in turns, both see the same machine.
 */
const ROUNDS = 5;

export async function benchEngine(options: EngineBenchOptions = {}): Promise<Record<string, number>> {
  const sizes = options.quick ? QUICK : FULL;
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-engine-bench-'));
  const results: Record<string, number> = {};
  const engine = Engine.open({ dataDir: join(dir, 'engine') });
  const alt = Engine.open({ dataDir: join(dir, 'pipelined'), writer: { durability: 'pipelined' } });
  const raw = openDatabase(join(dir, 'raw.db'));
  try {
    const product = await engine.createProduct({ name: 'Bench', price: { amount: 100, currency: 'CNY' } });
    const total = sizes.engine[1] + sizes.engine[8] + 3 * sizes.engine[64] + 500;
    seedKeys(engine.db, engine.vault, product.id, total);
    const altProduct = await alt.createProduct({ name: 'Bench', price: { amount: 100, currency: 'CNY' } });
    seedKeys(alt.db, alt.vault, altProduct.id, sizes.engine[1] + sizes.engine[64] + 500);
    await concurrent(200, 8, sizes.capMs, (i) =>
      alt.reserve({ productId: altProduct.id, quantity: 1, email: EMAIL, idempotencyKey: `warm-${i}` }),
    );
    seedRawKeys(raw, 'prd_raw', sizes.rawSingle + 2 * sizes.rawBatched + 200);
    // Warm the statement caches and the JIT.
    await concurrent(200, 8, sizes.capMs, (i) =>
      engine.reserve({ productId: product.id, quantity: 1, email: EMAIL, idempotencyKey: `warm-${i}` }),
    );
    rawClaims(raw, 200, 100, sizes.capMs, 0);
    results.engine_claims_per_s_1 = round(
      perSecond(await engineClaims(engine, product.id, sizes.engine[1], sizes.capMs, 1, 'c1')),
    );
    results.engine_pipelined_claims_per_s_1 = round(
      perSecond(await engineClaims(alt, altProduct.id, sizes.engine[1], sizes.capMs, 1, 'c1')),
    );
    results.engine_claims_per_s_8 = round(
      perSecond(await engineClaims(engine, product.id, sizes.engine[8], sizes.capMs, 8, 'c8')),
    );
    results.raw_single_claims_per_s = round(perSecond(rawClaims(raw, sizes.rawSingle, 1, sizes.capMs, 1_000_000)));

    const engine64 = newRun();
    const alt64 = newRun();
    const raw100 = newRun();
    const raw64 = newRun();
    const before64 = { ...engine.writer.stats };
    const engineVsRaw: number[] = [];
    const raw64VsRaw: number[] = [];
    const pipelinedVsDefault: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const claims64 = (target: Engine, id: string) =>
        engineClaims(target, id, sizes.engine[64] / ROUNDS, sizes.capMs / ROUNDS, 64, `c64-${r}`);
      const altFirst = r % 2 === 1 ? await claims64(alt, altProduct.id) : null;
      const e = await claims64(engine, product.id);
      const f = altFirst ?? (await claims64(alt, altProduct.id));
      const r100 = rawClaims(raw, sizes.rawBatched / ROUNDS, 100, sizes.capMs / ROUNDS, 2_000_000 + r * sizes.rawBatched);
      const r64 = rawClaims(raw, sizes.rawBatched / ROUNDS, 64, sizes.capMs / ROUNDS, 3_000_000 + r * sizes.rawBatched);
      engineVsRaw.push(perSecond(e) / perSecond(r100));
      raw64VsRaw.push(perSecond(r64) / perSecond(r100));
      pipelinedVsDefault.push(perSecond(f) / perSecond(e));
      add(engine64, e);
      add(alt64, f);
      add(raw100, r100);
      add(raw64, r64);
    }
    Object.assign(
      results,
      spread('engine_vs_raw_batched', engineVsRaw),
      spread('raw_64_vs_raw_batched', raw64VsRaw),
      spread('engine_pipelined_vs_default', pipelinedVsDefault),
    );
    results.engine_pipelined_claims_per_s = round(perSecond(alt64));
    const writes = engine.writer.stats.writes - before64.writes;
    results.engine_claims_per_s = round(perSecond(engine64));
    results.engine_batch_avg_64 = Number((writes / Math.max(1, engine.writer.stats.batches - before64.batches)).toFixed(1));
    results.raw_batched_claims_per_s = round(perSecond(raw100));
    results.raw_batched_64_claims_per_s = round(perSecond(raw64));

    results.engine_claims_per_s_uuid = round(
      perSecond(await engineClaims(engine, product.id, sizes.engine[64], sizes.capMs, 64, 'uuid', 'uuid')),
    );
    results.engine_tx_only_claims_per_s = round(transactionsOnly(engine, product.id, sizes));
  } finally {
    raw.close();
    await engine.close();
    await alt.close();
  }
  try {
    const naiveDb = openDatabase(join(dir, 'naive.db'));
    try {
      const run = await naive(naiveDb, sizes.naive, 64, sizes.capMs);
      results.naive_claims_per_s = round(run.rate);
      results.naive_oversold = run.oversold;
    } finally {
      naiveDb.close();
    }

    results.engine_tx_only_vs_raw_batched = ratio(results.engine_tx_only_claims_per_s, results.raw_batched_claims_per_s);
    results.safe_vs_naive = ratio(results.engine_claims_per_s, results.naive_claims_per_s);
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
