/**
 * The shops the HTTP benchmark (bench/http-bench.ts) loads, and what is checked of them afterwards: a shop
 * (its engine, its HTTP server, a product of keys seeded straight into the vault), the bare `node:http`
 * server it is compared with, and the audit of a shop's database after its runs (`http_oversold`).
 */
import { createServer, type Server } from 'node:http';
import { stmt } from '../src-main/db/statements';
import type { WritableDB } from '../src-main/db/types';
import { Engine } from '../src-main/engine/engine';
import type { WriterOptions } from '../src-main/engine/writer';
import { appendLedger } from '../src-main/engine/ledger';
import { countStock, moveStock } from '../src-main/engine/products';
import { startHttpServer } from '../src-main/http/server';
import { fingerprint, keyAad, seal, type VaultKeys } from '../src-main/vault/crypto';
import type { LoadResult } from './http-clients';

/** Seeds `count` sealed keys straight into the vault (as an import would leave them), in chunks. */
export function seedKeys(db: WritableDB, vault: VaultKeys, productId: string, count: number): void {
  const chunk = 20_000;
  const insert = stmt(
    db,
    `INSERT INTO keys (product_no, fingerprint, sealed, status, updated_at) VALUES ((SELECT no FROM products WHERE id = ?), ?, ?, 'available', ?)`,
  );
  for (let start = 0; start < count; start += chunk) {
    db.transaction(() => {
      const now = Date.now();
      const ids: number[] = [];
      for (let i = start; i < Math.min(count, start + chunk); i++) {
        const code = `BENCH-${String(i).padStart(8, '0')}`;
        const fp = fingerprint(vault.fingerprintKey, code);
        ids.push(Number(insert.run(productId, fp, seal(vault.sealKey, code, keyAad(productId, fp)), now).lastInsertRowid));
      }
      moveStock(db, productId, { available: ids.length });
      appendLedger(db, { kind: 'import', at: now, productId, keyIds: ids, keysTo: 'available', detail: { seeded: ids.length } });
    }).immediate();
  }
}

export function bareServer(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const payload = JSON.stringify({ order: { id: 'ord_bare', status: 'reserved' } });
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * What must be 0 after a run: keys delivered twice, reserved orders not holding exactly their quantity,
 * stock counters that differ from the key rows, and 201 answers without an order (or orders beyond the
 * 201s plus the requests the end of a run cut off before their answer arrived).
 */
export function oversold(engine: Engine, runs: readonly { prefix: string; result: LoadResult }[]): number {
  const db = engine.db;
  const heldTwice = stmt(
    db,
    `SELECT count(*) FROM (SELECT key_id FROM deliveries WHERE returned_at IS NULL GROUP BY key_id HAVING count(*) > 1)`,
  )
    .pluck()
    .get() as number;
  const wrongQuantity = stmt(
    db,
    `SELECT count(*) FROM orders o WHERE o.status = 'reserved'
       AND (SELECT count(*) FROM keys k WHERE k.order_id = o.id AND k.status = 'reserved') <> o.quantity`,
  )
    .pluck()
    .get() as number;
  let drift = 0;
  for (const product of engine.listProducts()) {
    const actual = countStock(db, product.id);
    drift +=
      Math.abs(product.stock.available - actual.available) +
      Math.abs(product.stock.reserved - actual.reserved) +
      Math.abs(product.stock.sold - actual.sold);
  }
  let accounting = 0;
  for (const { prefix, result } of runs) {
    const inDb = stmt(
      db,
      `SELECT count(*) FROM idempotency WHERE scope = 'orders.create' AND status = 201 AND substr(key, 1, ?) = ?`,
    )
      .pluck()
      .get(prefix.length + 1, `${prefix}-`) as number;
    const cutOff = result.started - result.answered;
    if (inDb < result.created) accounting += result.created - inDb;
    if (inDb > result.created + cutOff) accounting += inDb - result.created - cutOff;
  }
  const orders = stmt(db, 'SELECT count(*) FROM orders').pluck().get() as number;
  const recorded = stmt(db, `SELECT count(*) FROM idempotency WHERE scope = 'orders.create' AND status = 201`)
    .pluck()
    .get() as number;
  return heldTwice + wrongQuantity + drift + accounting + Math.abs(orders - recorded);
}

/** A shop under test: its engine, its server, its bench product, and every load run against it. */
export interface Shop {
  readonly engine: Engine;
  readonly url: string;
  readonly productId: string;
  readonly runs: { prefix: string; result: LoadResult }[];
  close(): Promise<void>;
}

export async function openShop(dir: string, keys: number, writer: WriterOptions | undefined): Promise<Shop> {
  const engine = Engine.open({ dataDir: dir, ...(writer ? { writer } : {}) });
  try {
    const product = await engine.createProduct({ name: 'Bench', price: { amount: 100, currency: 'CNY' } });
    seedKeys(engine.db, engine.vault, product.id, keys);
    const server = await startHttpServer(engine, {
      host: '127.0.0.1',
      port: 0,
      adminToken: 'bench',
      webhookSecret: 'bench',
      rateLimitPerMinute: 0,
    });
    return {
      engine,
      url: server.url,
      productId: product.id,
      runs: [],
      close: async () => {
        await server.close();
        await engine.close();
      },
    };
  } catch (error) {
    await engine.close();
    throw error;
  }
}
