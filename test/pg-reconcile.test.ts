/**
 * Reconciliation on PostgreSQL reports what SQLite reports: one scenario (sales, payments, a refund, a
 * release, a wrong amount) runs on both backends, reconciles clean on both, then the same disagreements
 * are planted on both with raw SQL behind the shop's back (dropping the index or trigger that would
 * refuse them, as test/reconcile-detectors.test.ts does on SQLite), and the two reports must be the same
 * finding for finding once each shop's own ids (orders, products, code fingerprints) are named alike.
 * PostgreSQL is a real server (test/helpers/postgres.ts), never a mock; the CLI runs as a real process.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ReconcileFinding, ReconcileReport } from '../shared/reconcile';
import { sqliteBackend, type ShopBackend } from '../src-main/engine/backend';
import { Engine } from '../src-main/engine/engine';
import { PgShop } from '../src-main/pg/shop';
import { reconcilePostgres } from '../src-main/reconcile/postgres';
import { reconcile } from '../src-main/reconcile/run';
import { importStatement, importStatementPg } from '../src-main/reconcile/service';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';
import { runCli, type CliResult } from './helpers/cli';

let pgShops: PgShops;
beforeAll(async () => {
  pgShops = await startPgShops();
}, 120_000);
afterAll(async () => pgShops?.stop(), 60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const NOW = Date.UTC(2026, 11, 7, 12);

/** A shop on one backend, with raw SQL on its database (`?` placeholders on both) and its reconciliation. */
interface Side {
  readonly name: 'sqlite' | 'postgres';
  readonly shop: ShopBackend;
  sql(text: string, params?: unknown[]): Promise<void>;
  /** Lets an order leave `reserved` while it still holds keys. */
  dropHoldTrigger(): Promise<void>;
  /** With `bill`: compared against that payment statement (generic CSV) too. */
  reconcile(bill?: string): Promise<ReconcileReport>;
}

const statement = (bill: string) => ({ bytes: new TextEncoder().encode(bill), fileName: 'bill.csv', format: 'generic' as const });

async function sqliteSide(): Promise<Side> {
  const { dir, cleanup } = tempDir();
  const engine = Engine.open({ dataDir: dir, clock: () => NOW, holdSeconds: 600 });
  cleanups.push(cleanup, () => engine.close());
  return {
    name: 'sqlite',
    shop: sqliteBackend(engine),
    sql: async (text, params = []) => void engine.db.prepare(text).run(...params),
    dropHoldTrigger: async () => void engine.db.exec('DROP TRIGGER orders_release_holds_first'),
    reconcile: async (bill) => {
      if (bill === undefined) return reconcile(engine.db, { now: NOW });
      const { existingIds } = await importStatement(engine, { ...statement(bill), actor: 'test' });
      return reconcile(engine.db, { now: NOW, statementIds: existingIds });
    },
  };
}

async function postgresSide(url?: string, dir?: string): Promise<Side & { url: string; dir: string }> {
  const shopUrl = url ?? (await pgShops.freshUrl());
  const folder = dir ?? tempDir().dir;
  const shop = await PgShop.open({
    url: shopUrl,
    secretStore: new KeyFileStore(join(folder, 'vault.key')),
    clock: () => NOW,
    holdSeconds: 600,
  });
  const client = new pg.Client({ connectionString: shopUrl });
  client.on('error', () => undefined);
  await client.connect();
  cleanups.push(
    () => shop.close(),
    () => client.end(),
  );
  let n = 0;
  return {
    name: 'postgres',
    url: shopUrl,
    dir: folder,
    shop,
    sql: async (text, params = []) => {
      n = 0;
      await client.query(
        text.replace(/\?/g, () => `$${++n}`),
        params,
      );
    },
    dropHoldTrigger: async () => void (await client.query('DROP TRIGGER orders_release_holds_first ON orders')),
    reconcile: async (bill) => {
      if (bill === undefined) return (await reconcilePostgres(shop.pool, { now: NOW })).report;
      const { existingIds } = await importStatementPg(shop, { ...statement(bill), actor: 'test' });
      return (await reconcilePostgres(shop.pool, { now: NOW, statementIds: existingIds })).report;
    },
  };
}

/** Buys one code (paying unless `pay` is false); the order's id. */
async function buy(shop: ShopBackend, productId: string, email: string, pay: number | false = 5000): Promise<string> {
  const { result } = await shop.reserve({ productId, quantity: 1, email });
  if (!result.ok) throw new Error(result.error.message);
  if (pay !== false) {
    await shop.pay({ orderId: result.value.id, amount: pay, currency: 'CNY', eventId: `evt_${email}`, source: 'webhook' });
  }
  return result.value.id;
}

/** The scenario's shop before anything is planted: each order of a kind, named for the comparison. */
async function trade(side: Side) {
  const { shop } = side;
  const product = await shop.createProduct({ name: 'Steam 50', price: { amount: 5000, currency: 'CNY' } });
  await shop.addCodes(
    product.id,
    Array.from({ length: 10 }, (_, i) => `RC-${i}`),
  );
  const orders = {
    returned: await buy(shop, product.id, 'a@example.com'),
    first: await buy(shop, product.id, 'b@example.com'),
    second: await buy(shop, product.id, 'c@example.com'),
    refunded: await buy(shop, product.id, 'd@example.com'),
    released: await buy(shop, product.id, 'e@example.com', false),
    unpaid: await buy(shop, product.id, 'f@example.com'),
    held: await buy(shop, product.id, 'g@example.com', false),
  };
  await shop.refund({ orderId: orders.refunded, keys: 'burn', reason: 'test', actor: 'support' });
  await shop.releaseOrder(orders.released, 'support');
  return { product, orders };
}

/** The same disagreements on either backend, with the SQL a tamperer would run. */
async function plant(
  side: Side,
  productId: string,
  orders: Awaited<ReturnType<typeof trade>>['orders'],
): Promise<Record<string, string>> {
  // paid_not_delivered: the delivery row marked returned outside the app.
  await side.sql('UPDATE deliveries SET returned_at = ? WHERE order_id = ?', [NOW, orders.returned]);
  // key_sold_twice: the first order's key delivered to the second too, once the unique index is gone.
  await side.sql('DROP INDEX deliveries_one_live_per_key');
  await side.sql(
    'INSERT INTO deliveries (key_id, order_id, delivered_at) SELECT key_id, ?, ? FROM deliveries WHERE order_id = ?',
    [orders.second, NOW, orders.first],
  );
  // delivered_not_paid: the payment deleted.
  await side.sql('DELETE FROM payments WHERE order_id = ?', [orders.unpaid]);
  // expired_hold (and the ledger disagreeing with the order): an order expired while it holds its key.
  await side.dropHoldTrigger();
  await side.sql(`UPDATE orders SET status = 'expired' WHERE id = ?`, [orders.held]);
  // ledger_state_mismatch: an available key burned; stock_drift: the counters edited.
  await side.sql(`UPDATE keys SET status = 'burned' WHERE id = (SELECT min(id) FROM keys WHERE status = 'available')`);
  await side.sql('UPDATE products SET sold = sold + 3 WHERE id = ?', [productId]);
  // A support agent's resolution of the drift, as the Reconcile page records it on SQLite (or the copy brings it).
  await side.sql(
    `INSERT INTO finding_resolutions (finding_id, kind, action, note, actor, finding, resolved_at) VALUES (?, 'stock_drift', 'resolve', 'counted by hand', 'support', '{}', ?)`,
    [`stock_drift:${productId}`, NOW],
  );
  // ledger_broken: an entry's detail edited.
  await side.sql(`UPDATE ledger SET detail = '{"forged":1}' WHERE seq = 3`);
  // key_sold_twice by code: one code in two products, sold in both (the engine allows it per product).
  const twins = [];
  for (const name of ['Twin A', 'Twin B']) {
    const twin = await side.shop.createProduct({ name, price: { amount: 5000, currency: 'CNY' } });
    await side.shop.addCodes(twin.id, ['TWIN-CODE']);
    twins.push(twin.id);
  }
  return {
    twinA: await buy(side.shop, twins[0]!, 'x@example.com'),
    twinB: await buy(side.shop, twins[1]!, 'y@example.com'),
    // needs_review: a payment of the wrong amount (the engine's own path).
    wrongAmount: await buy(side.shop, productId, 'h@example.com', 100),
  };
}

/** A finding as JSON with this shop's own ids replaced by names both shops share. */
function normalize(findings: readonly ReconcileFinding[], names: ReadonlyMap<string, string>): unknown[] {
  return findings
    .map((f) => {
      let text = JSON.stringify(f);
      for (const [id, name] of names) text = text.split(id).join(name);
      return JSON.parse(text.replace(/\b[0-9a-f]{16}\b/g, '<fingerprint>')) as { id: string };
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

const openCounts = (report: ReconcileReport) =>
  Object.fromEntries(
    Object.entries(report.counts)
      .filter(([, c]) => c.open > 0)
      .map(([k, c]) => [k, c.open]),
  );

describe('reconciliation on PostgreSQL', () => {
  it(
    'finds nothing after clean trading, then the same findings as SQLite for the same planted disagreements',
    { timeout: 120_000 },
    async () => {
      const results: { side: Side; report: ReconcileReport; billed: ReconcileReport; names: Map<string, string> }[] = [];
      for (const side of [await sqliteSide(), await postgresSide()]) {
        const { product, orders } = await trade(side);
        const clean = await side.reconcile();
        expect(clean.findings, side.name).toEqual([]);
        expect(clean.truncated).toBe(false);

        const planted = await plant(side, product.id, orders);
        const names = new Map<string, string>([
          [product.id, '<product>'],
          ...Object.entries({ ...orders, ...planted }).map(([k, id]) => [id, `<${k}>`] as [string, string]),
        ]);
        for (const p of await side.shop.listProducts()) if (!names.has(p.id)) names.set(p.id, `<product ${p.name}>`);
        // A day's bill: one payment that matches, one for an order the shop never had, one short.
        const bill = [
          'payment_id,order_id,amount,currency,status,created_at',
          `pay-ok,${orders.first},5000,CNY,succeeded,2026-12-07T12:00:00Z`,
          'pay-ghost,ord_ghost,5000,CNY,succeeded,2026-12-07T12:00:00Z',
          `pay-short,${orders.second},4000,CNY,succeeded,2026-12-07T12:00:00Z`,
        ].join('\n');
        results.push({ side, report: await side.reconcile(), billed: await side.reconcile(bill), names });
      }
      const [sqlite, postgres] = results as [(typeof results)[0], (typeof results)[0]];
      expect(openCounts(postgres.report)).toEqual({
        key_sold_twice: 2,
        paid_not_delivered: 1,
        delivered_not_paid: 1,
        expired_hold: 1,
        ledger_broken: 1,
        ledger_state_mismatch: 4,
        needs_review: 1,
      });
      expect(postgres.report.counts.stock_drift).toEqual({ open: 0, resolved: 1 });
      expect(postgres.report.counts).toEqual(sqlite.report.counts);
      // Finding for finding: ids, kinds, keys, expected against actual, the evidence rows.
      expect(normalize(postgres.report.findings, postgres.names)).toEqual(normalize(sqlite.report.findings, sqlite.names));

      // Against the bill: the statement's findings too, the same on both.
      expect(openCounts(postgres.billed)).toMatchObject({
        statement_payment_unknown_order: 1,
        amount_mismatch: 1,
        order_paid_missing_in_statement: expect.any(Number),
      });
      expect(postgres.billed.statementIds).toEqual(sqlite.billed.statementIds);
      expect(normalize(postgres.billed.findings, postgres.names)).toEqual(normalize(sqlite.billed.findings, sqlite.names));
    },
  );
});

describe('the snapshot', () => {
  it(
    'is one instant: reconciliations during a storm of sales find nothing, and a table of more than one batch comes whole',
    { timeout: 120_000 },
    async () => {
      const dir = tempDir();
      cleanups.push(dir.cleanup);
      const shop = await PgShop.open({
        url: await pgShops.freshUrl(),
        secretStore: new KeyFileStore(join(dir.dir, 'vault.key')),
      });
      cleanups.push(() => shop.close());
      const product = await shop.createProduct({ name: 'Storm', price: { amount: 500, currency: 'CNY' } });
      // More keys than one FETCH (5000) carries.
      await shop.addCodes(
        product.id,
        Array.from({ length: 6000 }, (_, i) => `STORM-${i}`),
      );
      let selling = true;
      const buyers = Array.from({ length: 8 }, async (_, b) => {
        for (let i = 0; i < 15; i++) {
          const { result } = await shop.reserve({ productId: product.id, quantity: 1, email: `s${b}@example.com` });
          if (!result.ok) throw new Error(result.error.message);
          if (i % 3 !== 2) {
            await shop.pay({
              orderId: result.value.id,
              amount: 500,
              currency: 'CNY',
              eventId: `storm-${b}-${i}`,
              source: 'webhook',
            });
          }
        }
      });
      const storm = Promise.all(buyers).finally(() => (selling = false));
      const reports: { findings: number; keys: number; orders: number }[] = [];
      while (selling || reports.length === 0) {
        const { report, rows } = await reconcilePostgres(shop.pool);
        reports.push({ findings: report.findings.length, keys: rows.keys ?? 0, orders: rows.orders ?? 0 });
      }
      await storm;
      const { report, rows } = await reconcilePostgres(shop.pool);
      reports.push({ findings: report.findings.length, keys: rows.keys ?? 0, orders: rows.orders ?? 0 });
      // Some ran mid-storm (with READ COMMITTED those report drifted counters and holds: checked by hand).
      expect(reports.some((r) => r.orders > 0 && r.orders < 120)).toBe(true);
      expect(reports.every((r) => r.findings === 0 && r.keys === 6000)).toBe(true);
      expect(reports.at(-1)!.orders).toBe(120);
    },
  );
});

const cli = (args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliResult> => runCli(args, { env });

describe('oncekey reconcile --database', () => {
  it('reports a PostgreSQL shop as JSON and text, stores a bill once and compares against it', { timeout: 400_000 }, async () => {
    const side = await postgresSide();
    const { orders } = await trade(side);
    // The CLI reads the real clock, by which the scenario's hold (made at NOW) has expired long ago.
    await side.shop.releaseOrder(orders.held, 'support');
    const run = (args: string[], env?: Record<string, string>) =>
      cli(['reconcile', '--data', side.dir, '--database', side.url, ...args], env);

    const clean = await run(['--json']);
    expect(clean).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(clean.stdout) as ReconcileReport).toMatchObject({ findings: [], truncated: false, statementIds: [] });
    expect(await run([])).toEqual({
      code: 0,
      stderr: '',
      stdout: 'no disagreements: orders, keys, payments and the ledger agree\n',
    });

    await side.sql('UPDATE deliveries SET returned_at = ? WHERE order_id = ?', [NOW, orders.returned]);
    // ONCEKEY_DATABASE_URL stands for --database, and the folder is not needed: reconciliation opens no code.
    const broken = await cli(['reconcile', '--json'], { ONCEKEY_DATABASE_URL: side.url });
    expect(broken).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(broken.stdout) as ReconcileReport;
    expect(report.findings.map((f) => f.id)).toEqual([`paid_not_delivered:${orders.returned}`]);
    expect(report.counts.paid_not_delivered).toEqual({ open: 1, resolved: 0 });

    const bill = join(side.dir, 'bill.csv');
    writeFileSync(
      bill,
      `payment_id,order_id,amount,currency,status,created_at\npay-ghost,ord_ghost,5000,CNY,succeeded,2026-12-07T12:00:00Z\n`,
    );
    const billed = await run(['--statement', bill, '--format', 'generic']);
    expect(billed.code).toBe(0);
    // What the SQLite CLI prints (test/reconcile-cli.test.ts): the bill is stored in the shop.
    expect(billed.stderr).toMatch(/^imported 1 row\(s\) from bill\.csv \(generic\); 0 seen before, 0 skipped; period .*\)\n$/);
    expect(billed.stdout).toMatch(/^kind +open +resolved\n/);
    expect(billed.stdout).toContain('! statement_payment_unknown_order:pay-ghost  ');
    expect(billed.stdout).toContain(`! paid_not_delivered:${orders.returned}  `);
    // Again: nothing new is stored, the same bill is compared again.
    const again = await run(['--statement', bill, '--format', 'generic', '--json']);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect((JSON.parse(again.stdout) as ReconcileReport).statementIds).toEqual([1]);
    // A run without --statement compares every stored statement, as on SQLite.
    const later = JSON.parse((await run(['--json'])).stdout) as ReconcileReport;
    expect(later.statementIds).toEqual([1]);
    expect(later.findings.map((f) => f.id)).toContain('statement_payment_unknown_order:pay-ghost');
    const client = new pg.Client({ connectionString: side.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const stored = await client.query<{ statements: number; rows: number; audits: number }>(
        `SELECT (SELECT count(*) FROM statements)::int AS statements, (SELECT count(*) FROM statement_rows)::int AS rows,
                (SELECT count(*) FROM audit WHERE action = 'reconcile.import_statement' AND actor = 'cli')::int AS audits`,
      );
      expect(stored.rows[0]).toEqual({ statements: 1, rows: 1, audits: 1 });
    } finally {
      await client.end();
    }
  });

  it(
    'refuses a database that holds no shop in one line, with a bill too (and creates nothing)',
    { timeout: 300_000 },
    async () => {
      const url = await pgShops.freshUrl();
      const refused = {
        code: 1,
        stdout: '',
        stderr: 'oncekey reconcile: the PostgreSQL database holds no OnceKey shop (validation_failed)\n',
      };
      expect(await cli(['reconcile', '--database', url])).toEqual(refused);
      const dir = tempDir();
      cleanups.push(dir.cleanup);
      const bill = join(dir.dir, 'bill.csv');
      writeFileSync(
        bill,
        `payment_id,order_id,amount,currency,status,created_at\np1,o1,5000,CNY,succeeded,2026-12-07T12:00:00Z\n`,
      );
      expect(await cli(['reconcile', '--database', url, '--statement', bill, '--format', 'generic'])).toEqual(refused);
    },
  );
});
