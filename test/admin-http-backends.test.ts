/**
 * The owner's admin HTTP API (http/admin-routes.ts) on both backends: one script of requests sent to a
 * shop started as `serve` starts it (app/start-shop.ts on SQLite, app/start-pg-shop.ts on a real
 * PostgreSQL) gets the same statuses and the same bodies from both (ids and times normalized), and every
 * answer matches the OpenAPI document that server serves. The script covers a bad token, products, an
 * unknown product, imports as text and JSON, imports refused whole (storing nothing), mark-paid pressed
 * twice at once and for an unknown order, reconciliation clean and then with a planted drift (in a
 * worker thread too), and the ledger's verification. The admin app's RPC answers on PostgreSQL too; the
 * OpenAPI document is the same on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReconcileReport } from '../shared/reconcile';
import { startPgShop } from '../src-main/app/start-pg-shop';
import { startShop as startSqliteShop } from '../src-main/app/start-shop';
import { runReconcile } from '../src-main/reconcile/service';
import { ADMIN_TOKEN, freshKey, OpenApiChecker, send, signature, WEBHOOK_SECRET, type HttpResponse } from './helpers/http';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';

let pgShops: PgShops;
beforeAll(async () => {
  pgShops = await startPgShops();
}, 120_000);
afterAll(async () => pgShops?.stop(), 60_000);

/** A running shop, whichever backend holds its rows, and what the script does to it behind HTTP's back. */
interface Target {
  readonly url: string;
  /** Edits the product's `sold` counter by `by` (a drift reconciliation must find). */
  shiftSold(productId: string, by: number): Promise<void>;
  reconcile(worker: 'always' | 'never'): Promise<ReconcileReport>;
  close(): Promise<void>;
}

const SHOP = {
  host: '127.0.0.1',
  port: 0,
  adminToken: ADMIN_TOKEN,
  webhookSecret: WEBHOOK_SECRET,
  rateLimitPerMinute: 0,
  holdSeconds: 600,
};

const BACKENDS: [string, () => Promise<Target>][] = [
  [
    'sqlite',
    async () => {
      const { dir, cleanup } = tempDir();
      const shop = await startSqliteShop({ ...SHOP, dataDir: dir });
      return {
        url: shop.url,
        shiftSold: async (id, by) => {
          shop.engine.db.prepare('UPDATE products SET sold = sold + ? WHERE id = ?').run(by, id);
        },
        reconcile: (worker) => runReconcile(shop.engine, { worker }),
        close: async () => {
          await shop.close();
          cleanup();
        },
      };
    },
  ],
  [
    'postgres',
    async () => {
      const { dir, cleanup } = tempDir();
      const shop = await startPgShop({ ...SHOP, dataDir: dir, database: await pgShops.freshUrl() });
      return {
        url: shop.url,
        shiftSold: async (id, by) => {
          await shop.shop.pool.query('UPDATE products SET sold = sold + $1 WHERE id = $2', [by, id]);
        },
        reconcile: (worker) => shop.shop.reconcile({ worker }),
        close: async () => {
          await shop.close();
          cleanup();
        },
      };
    },
  ],
];

/** One answer as the comparison sees it. */
interface Step {
  readonly step: string;
  readonly status: number;
  readonly type: string;
  readonly body: unknown;
}

/** Ids become `<prd1>`, `<ord2>`, … in order of first appearance; timestamps become `<time>`. */
function normalizer(): (value: unknown) => unknown {
  const ids = new Map<string, string>();
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') {
      if (/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(value)) return '<time>';
      return value.replace(/\b(prd|ord)_[\w-]+/g, (id: string, kind: string) => {
        if (!ids.has(id)) ids.set(id, `<${kind}${ids.size + 1}>`);
        return ids.get(id)!;
      });
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => [k, walk(v)]),
      );
    }
    return value;
  };
  return walk;
}

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
type Json = Record<string, unknown>;

/** Runs the script against one shop; returns the normalized transcript. Checks what must hold on any backend. */
async function runScript(target: Target): Promise<Step[]> {
  const checker = await OpenApiChecker.load(target.url);
  const normalize = normalizer();
  const steps: Step[] = [];
  const call = async (
    step: string,
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: unknown; admin?: boolean } = {},
  ): Promise<HttpResponse> => {
    const headers = { ...(options.admin === false ? {} : auth), ...options.headers };
    const res = await send(target.url, path, { method, headers, body: options.body });
    expect(checker.check(method, path, res), step).toEqual([]);
    steps.push({
      step,
      status: res.status,
      type: String(res.headers['content-type']),
      body: normalize(res.json ?? res.text),
    });
    return res;
  };
  const json = (res: HttpResponse) => res.json as Json;
  const code = (res: HttpResponse) => json(res).code;

  // Without the admin token: 401 unauthorized, whatever the route.
  for (const [name, headers] of [
    ['no token', {}],
    ['wrong token', { authorization: 'Bearer wrong' }],
    ['basic', { authorization: `Basic ${ADMIN_TOKEN}` }],
  ] as const) {
    const res = await call(`reconciliation, ${name}`, 'GET', '/api/v1/admin/reconciliation', { headers, admin: false });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(code(res)).toBe('unauthorized');
  }
  const anonymous = await call('create, no token', 'POST', '/api/v1/admin/products', {
    admin: false,
    body: { name: 'x', price: { amount: 1, currency: 'USD' } },
  });
  expect(anonymous.status).toBe(401);

  // Products and stock.
  const created = await call('create', 'POST', '/api/v1/admin/products', {
    body: { name: 'Gift card', price: { amount: 1999, currency: 'USD' } },
  });
  expect(created.status).toBe(201);
  const productId = (json(created).product as { id: string }).id;
  const bad = await call('create, bad body', 'POST', '/api/v1/admin/products', {
    body: { name: 'x', price: { amount: 1.5, currency: 'usd' }, colour: 'red' },
  });
  expect(bad.status).toBe(422);
  const nul = await call('create, a NUL in the name', 'POST', '/api/v1/admin/products', {
    body: { name: 'Gift\u0000card', price: { amount: 1, currency: 'USD' } },
  });
  expect([nul.status, code(nul)]).toEqual([422, 'validation_failed']);
  const stock = (step: string) => call(step, 'GET', `/api/v1/admin/products/${productId}/stock`);
  expect((await stock('stock, empty')).json).toEqual({ available: 0, reserved: 0, sold: 0 });
  const unknownStock = await call('stock, unknown product', 'GET', '/api/v1/admin/products/prd_nope/stock');
  expect([unknownStock.status, code(unknownStock)]).toEqual([404, 'product_not_found']);
  const nulStock = await call('stock, a NUL in the id', 'GET', '/api/v1/admin/products/prd_%00/stock');
  expect([nulStock.status, code(nulStock)]).toEqual([404, 'product_not_found']);

  // Imports.
  const keys = `/api/v1/admin/products/${productId}/keys`;
  const unknownKeys = await call('import, unknown product', 'POST', '/api/v1/admin/products/prd_nope/keys', {
    body: { codes: ['X-1'] },
  });
  expect([unknownKeys.status, code(unknownKeys)]).toEqual([404, 'product_not_found']);
  const nulKeys = await call('import, a NUL in the id', 'POST', '/api/v1/admin/products/%00/keys', { body: { codes: ['X-1'] } });
  expect([nulKeys.status, code(nulKeys)]).toEqual([404, 'product_not_found']);
  const text = await call('import, text', 'POST', keys, {
    headers: { 'content-type': 'text/plain' },
    body: 'AAAA-1111\nBBBB-2222\nAAAA-1111\n',
  });
  expect(text.json).toMatchObject({ imported: 2, duplicates: 1, rejected: [] });
  const fromJson = await call('import, json', 'POST', keys, { body: { codes: ['CCCC-3333', 'BBBB-2222'] } });
  expect(fromJson.json).toMatchObject({ imported: 1, duplicates: 1 });
  const longLine = await call('import, a line too long', 'POST', keys, {
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: `DDDD-4444\n${'X'.repeat(5000)}\n`,
  });
  expect(longLine.json).toMatchObject({ imported: 1, rejected: [{ line: 2 }] });
  const entries = async (step: string) => json(await call(step, 'GET', '/api/v1/admin/ledger/verify')).entries;
  const before = await entries('ledger before refused imports');

  // Refused imports store nothing: not a code, not a ledger entry.
  const charset = await call('import, unknown charset', 'POST', keys, {
    headers: { 'content-type': 'text/plain; charset=klingon' },
    body: 'EEEE-5555\n',
  });
  expect([charset.status, code(charset)]).toEqual([415, 'unsupported_media_type']);
  const undecodable = await call('import, not its charset', 'POST', keys, {
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: Buffer.from([0x45, 0x45, 0x2d, 0xff, 0xfe, 0x0a]),
  });
  expect([undecodable.status, code(undecodable)]).toEqual([422, 'validation_failed']);
  const nothingNew = await call('import, nothing new', 'POST', keys, { body: { codes: ['AAAA-1111', 'CCCC-3333'] } });
  expect([nothingNew.status, code(nothingNew)]).toEqual([422, 'import_rejected']);
  const unknownField = await call('import, unknown field', 'POST', keys, { body: { codes: ['FFFF-6666'], extra: 1 } });
  expect([unknownField.status, code(unknownField)]).toEqual([422, 'validation_failed']);
  expect((await stock('stock after refused imports')).json).toEqual({ available: 4, reserved: 0, sold: 0 });
  expect(await entries('ledger after refused imports')).toBe(before);

  // A buyer's order (public route), paid by hand: pressed twice at once, then again; one delivery.
  const order = async (step: string) => {
    const res = await send(target.url, '/api/v1/orders', {
      method: 'POST',
      headers: { 'idempotency-key': freshKey() },
      body: { productId, quantity: 1, email: 'buyer@example.com' },
    });
    expect(res.status, step).toBe(201);
    return (json(res).order as { id: string }).id;
  };
  const paid = await order('order to mark paid');
  const markPaid = `/api/v1/admin/orders/${paid}/mark-paid`;
  const presses = await Promise.all([call('mark-paid, first', 'POST', markPaid), call('mark-paid, second', 'POST', markPaid)]);
  presses.push(await call('mark-paid, again', 'POST', markPaid, { body: {} }));
  for (const res of presses) expect([res.status, (json(res).order as Json).status]).toEqual([200, 'delivered']);
  const unknownOrder = await call('mark-paid, unknown order', 'POST', '/api/v1/admin/orders/ord_nope/mark-paid');
  expect([unknownOrder.status, code(unknownOrder)]).toEqual([404, 'order_not_found']);
  const nulOrder = await call('mark-paid, a NUL in the id', 'POST', '/api/v1/admin/orders/ord_%00/mark-paid');
  expect([nulOrder.status, code(nulOrder)]).toEqual([404, 'order_not_found']);
  expect((await stock('stock after mark-paid')).json).toEqual({ available: 3, reserved: 0, sold: 1 });

  // Reconciliation: clean; then an order in review and a drifted counter; then the drift undone.
  const clean = await call('reconciliation, clean', 'GET', '/api/v1/admin/reconciliation');
  expect(clean.json).toEqual({ findings: [] });
  const review = await order('order paid the wrong amount');
  const event = JSON.stringify({ id: `evt_${review}`, orderId: review, amount: 1, currency: 'USD', status: 'succeeded' });
  const hook = await send(target.url, '/api/v1/payments/webhook', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'oncekey-signature': signature(WEBHOOK_SECRET, event) },
    body: event,
  });
  expect(hook.status).toBe(200);
  await target.shiftSold(productId, 7);
  const drift = await call('reconciliation, drift', 'GET', '/api/v1/admin/reconciliation');
  const findings = json(drift).findings as Json[];
  expect(findings).toContainEqual({ kind: 'needs_review', orderId: review, reason: 'amount_mismatch' });
  expect(findings).toContainEqual({
    kind: 'stock_drift',
    productId,
    // The order in review still holds its key.
    stored: { available: 2, reserved: 1, sold: 8 },
    actual: { available: 2, reserved: 1, sold: 1 },
  });
  // The same run in a worker thread (a big shop's way, off the endpoint's event loop) finds the same.
  const inWorker = await target.reconcile('always');
  const inline = await target.reconcile('never');
  expect(inWorker.findings).toEqual(inline.findings);
  expect(inline.counts.stock_drift).toEqual({ open: 1, resolved: 0 });
  await target.shiftSold(productId, -7);
  const undone = await call('reconciliation, drift undone', 'GET', '/api/v1/admin/reconciliation');
  expect((json(undone).findings as Json[]).map((f) => f.kind)).toEqual(['needs_review']);

  const verified = await call('ledger verify', 'GET', '/api/v1/admin/ledger/verify');
  expect(verified.json).toMatchObject({ ok: true, entries: expect.any(Number), problems: [] });
  expect(verified.json).not.toHaveProperty('firstBadEntry');
  return steps;
}

describe('the admin HTTP API on both backends', () => {
  const transcripts = new Map<string, Step[]>();

  it.each(BACKENDS)('answers the owner on %s', { timeout: 120_000 }, async (name, start) => {
    const target = await start();
    try {
      transcripts.set(name, await runScript(target));
    } finally {
      await target.close();
    }
  });

  it('gives the same answers on SQLite and PostgreSQL, request for request', () => {
    const sqlite = transcripts.get('sqlite');
    const postgres = transcripts.get('postgres');
    if (!sqlite || !postgres) throw new Error('a backend did not finish the script');
    expect(postgres.map((s) => s.step)).toEqual(sqlite.map((s) => s.step));
    for (const [i, step] of sqlite.entries()) expect(postgres[i], step.step).toEqual(step);
  });

  it('serves the admin app on PostgreSQL too, and documents the same API as SQLite', { timeout: 60_000 }, async () => {
    const pg = await BACKENDS[1]![1]();
    const lite = await BACKENDS[0]![1]();
    try {
      const rpc = async (method: string, input: unknown = {}) =>
        (await send(pg.url, `/api/v1/admin/rpc/${method}`, { method: 'POST', headers: auth, body: input })).json as Json;
      expect(await rpc('products.list')).toEqual({ ok: true, value: { products: [] } });
      // A SQLite file's backup is not PostgreSQL's: the method says what backs that up.
      const backup = await rpc('settings.backup', { path: '/tmp/never-written.db' });
      expect(backup).toMatchObject({ ok: false, error: { code: 'not_found' } });
      expect(JSON.stringify(backup)).toMatch(/this shop runs on PostgreSQL: back it up with pg_dump/);
      // The payment channels are there (payments-epay.test.ts takes payments through them).
      expect((await send(pg.url, '/api/v1/admin/payment-channels', { headers: auth })).json).toEqual({ channels: [] });
      expect((await send(pg.url, '/api/v1/payment-channels')).json).toEqual({ channels: [] });
      // One API, documented alike: the same paths, operations and schemas.
      const doc = async (url: string) => (await send(url, '/api/v1/openapi.json')).json;
      expect(await doc(pg.url)).toEqual(await doc(lite.url));
    } finally {
      await pg.close();
      await lite.close();
    }
  });
});
