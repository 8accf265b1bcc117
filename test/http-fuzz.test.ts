/**
 * Property-based fuzzing of the whole endpoint over real keep-alive sockets: 10,000 random and
 * malformed requests (methods, paths, headers, bodies: invalid JSON, wrong types, huge numbers,
 * unicode, unknown fields, missing and duplicated headers, valid and broken signatures, real and
 * made-up ids), sent 25 at a time. Never a 5xx, never a crash, every error is problem+json that
 * matches the OpenAPI document, and afterwards the database invariants hold. A few hundred requests
 * of broken HTTP at the socket level complete the picture. The same run goes against the SQLite engine
 * and against a shop on a real PostgreSQL (pg/shop.ts; it serves the public routes, the webhook and the
 * admin API, reconciling as `serve --database` does).
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../shared/errors';
import { countStock } from '../src-main/engine/products';
import { startHttpServer } from '../src-main/http/server';
import { PgShop } from '../src-main/pg/shop';
import { reconcilePgShop } from '../src-main/reconcile/postgres';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { Agent, request } from 'node:http';
import { materialize, recipeArb, type FuzzContext, type RawRequest, type Recipe } from './helpers/fuzz-requests';
import { ADMIN_TOKEN, OpenApiChecker, send, startShop, WEBHOOK_SECRET, type HttpResponse } from './helpers/http';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';

const BATCH = 25;
const RUNS = 400; // 400 x 25 = 10,000 requests

/** A shop under fuzz: its address, its products, and the checks of its database afterwards. */
interface Target {
  readonly url: string;
  readonly productId: string;
  readonly offSaleId: string;
  /** Every invariant of the rows; `created` is the number of orders the run was told about. */
  invariants(created: number): Promise<void>;
  delivered(): Promise<number>;
  close(): Promise<void>;
}

const HTTP = { maxOrdersPerEmail: 5 };

async function sqliteTarget(): Promise<Target> {
  const shop = await startShop({ keys: 250, http: HTTP });
  const off = await shop.admin('/api/v1/admin/products', {
    method: 'POST',
    body: { name: 'Off sale', price: { amount: 100, currency: 'USD' }, onSale: false },
  });
  const db = shop.engine.db;
  return {
    url: shop.url,
    productId: shop.productId,
    offSaleId: (off.json as { product: { id: string } }).product.id,
    invariants: async (created) => {
      for (const product of shop.engine.listProducts()) expect(countStock(db, product.id), product.id).toEqual(product.stock);
      expect(shop.engine.verifyLedger()).toMatchObject({ ok: true });
      expect(db.prepare(WRONG_HOLDS).all()).toEqual([]);
      expect(db.prepare(DOUBLE_DELIVERED).all()).toEqual([]);
      expect(db.prepare('SELECT count(*) FROM orders').pluck().get()).toBe(created);
    },
    delivered: async () => db.prepare(`SELECT count(*) FROM orders WHERE status = 'delivered'`).pluck().get() as number,
    close: () => shop.close(),
  };
}

let pgShops: PgShops | undefined;

async function postgresTarget(): Promise<Target> {
  pgShops ??= await startPgShops();
  const { dir, cleanup } = tempDir();
  const shop = await PgShop.open({
    url: await pgShops.freshUrl(),
    secretStore: new KeyFileStore(join(dir, 'vault.key')),
    reconcile: reconcilePgShop,
  });
  const product = await shop.createProduct({ name: 'Steam 50', price: { amount: 5000, currency: 'CNY' } });
  await shop.addCodes(
    product.id,
    Array.from({ length: 250 }, (_, i) => `CODE-${String(i).padStart(6, '0')}`),
  );
  const off = await shop.createProduct({ name: 'Off sale', price: { amount: 100, currency: 'USD' }, onSale: false });
  const server = await startHttpServer(shop, {
    host: '127.0.0.1',
    port: 0,
    adminToken: ADMIN_TOKEN,
    webhookSecret: WEBHOOK_SECRET,
    rateLimitPerMinute: 0,
    ...HTTP,
  });
  const count = async (sql: string) => (await shop.pool.query<{ n: number }>(sql)).rows.length;
  return {
    url: server.url,
    productId: product.id,
    offSaleId: off.id,
    invariants: async (created) => {
      for (const p of await shop.listProducts()) {
        const rows = await shop.pool.query<{ status: string; n: number }>(
          `SELECT status, count(*) AS n FROM keys WHERE product_no = (SELECT no FROM products WHERE id = $1) GROUP BY status`,
          [p.id],
        );
        const by = Object.fromEntries(rows.rows.map((r) => [r.status, r.n]));
        expect({ available: by.available ?? 0, reserved: by.reserved ?? 0, sold: by.sold ?? 0 }, p.id).toEqual(p.stock);
      }
      expect(await shop.verifyLedger()).toMatchObject({ ok: true });
      expect(await count(WRONG_HOLDS)).toBe(0);
      expect(await count(DOUBLE_DELIVERED)).toBe(0);
      expect((await shop.pool.query<{ n: number }>('SELECT count(*) AS n FROM orders')).rows[0]?.n).toBe(created);
    },
    delivered: async () =>
      (await shop.pool.query<{ n: number }>(`SELECT count(*) AS n FROM orders WHERE status = 'delivered'`)).rows[0]?.n ?? 0,
    close: async () => {
      await server.close();
      await shop.close();
      cleanup();
    },
  };
}

const WRONG_HOLDS = `SELECT o.id FROM orders o WHERE
     (o.status = 'reserved' AND (SELECT count(*) FROM keys k WHERE k.order_id = o.id AND k.status = 'reserved') <> o.quantity)
  OR (o.status = 'delivered' AND (SELECT count(*) FROM deliveries d WHERE d.order_id = o.id AND d.returned_at IS NULL) <> o.quantity)`;
const DOUBLE_DELIVERED = 'SELECT key_id FROM deliveries WHERE returned_at IS NULL GROUP BY key_id HAVING count(*) > 1';

afterAll(async () => pgShops?.stop(), 60_000);

/** What each backend must have answered at least once: the run reached deep into the endpoint. */
const REACHED = {
  sqlite: [
    '201',
    '200',
    '404 order_not_found',
    '409 sold_out',
    '422 validation_failed',
    '401 invalid_signature',
    '401 unauthorized',
    '400 idempotency_key_missing',
  ],
  postgres: [
    '201',
    '200',
    '404 order_not_found',
    '409 sold_out',
    '422 validation_failed',
    '401 invalid_signature',
    '401 unauthorized',
    '400 idempotency_key_missing',
  ],
};

describe.each([
  ['sqlite', sqliteTarget],
  ['postgres', postgresTarget],
] as const)('fuzzing the endpoint on %s', (backend, makeTarget) => {
  let shop: Target;
  let checker: OpenApiChecker;
  let ctx: FuzzContext;
  let created = 0;
  const outcomes = new Map<string, number>();

  beforeAll(async () => {
    shop = await makeTarget();
    checker = await OpenApiChecker.load(shop.url);
    ctx = { url: shop.url, productId: shop.productId, offSaleId: shop.offSaleId, orders: [], usedKeys: [], sent: 0 };
  }, 120_000);
  afterAll(async () => {
    await shop.close();
  });

  // ------------------------------------------------------------------ sending and judging

  const agent = new Agent({ keepAlive: true, maxSockets: BATCH });

  function fire(req: RawRequest): Promise<HttpResponse | { error: string }> {
    const url = new URL(shop.url);
    return new Promise((resolvePromise) => {
      const r = request(
        { host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers, agent, timeout: 20_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => resolvePromise({ error: e.message }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = String(res.headers['content-type']).includes('json') && text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error('timeout')));
      r.on('error', (e) => resolvePromise({ error: e.message }));
      r.end(req.body);
    });
  }

  function judge(recipe: Recipe, req: RawRequest, res: HttpResponse | { error: string }): string[] {
    const where = `${req.method} ${req.path.slice(0, 120)}`;
    if ('error' in res) {
      // A server may hang up on a body it refuses before reading it all; nothing else is acceptable.
      return recipe.body.kind === 'huge' || ['FOO', 'CONNECT'].includes(req.method)
        ? []
        : [`${where}: client error ${res.error}`];
    }
    const problems: string[] = [];
    const outcome = `${res.status} ${(res.json as { code?: string } | undefined)?.code ?? ''}`.trim();
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (res.status >= 500) problems.push(`${where}: ${res.status} ${res.text.slice(0, 300)}`);
    if (res.status === 201 && req.path.startsWith('/api/v1/orders') && res.headers['idempotent-replayed'] === undefined) {
      const order = (res.json as { order: { id: string; accessToken: string; amount: number } }).order;
      ctx.orders.push({ id: order.id, token: order.accessToken, amount: order.amount });
      created++;
    }
    if (req.method === 'HEAD') return problems;
    if (res.status >= 400) {
      const p = res.json as { code?: keyof typeof ERROR_CODES; status?: number } | undefined;
      if (!String(res.headers['content-type']).startsWith('application/problem+json'))
        problems.push(`${where}: ${res.status} is not problem+json`);
      else if (!p?.code || ERROR_CODES[p.code] !== res.status || p.status !== res.status)
        problems.push(`${where}: bad problem ${res.text.slice(0, 200)}`);
    }
    if (req.path.startsWith('/api/')) problems.push(...checker.check(req.method, req.path, res));
    return problems;
  }

  it(`survives ${RUNS * BATCH} random and malformed requests with no 5xx and intact invariants`, async () => {
    const failures: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.array(recipeArb, { minLength: BATCH, maxLength: BATCH }), async (recipes) => {
        const requests = recipes.map((recipe) => materialize(recipe, ctx));
        const results = await Promise.all(requests.map(fire));
        const problems = results.flatMap((res, i) => judge(recipes[i]!, requests[i]!, res));
        failures.push(...problems);
        if (problems.length > 0) throw new Error(`FUZZ FAILURES:\n${problems.slice(0, 8).join('\n')}`);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(failures).toEqual([]);
    expect(ctx.sent).toBeGreaterThanOrEqual(RUNS * BATCH);
    expect((await send(shop.url, '/api/v1/health')).status).toBe(200);
    await shop.invariants(created);
    expect(created).toBeGreaterThan(20);
    // The run reached deep into the endpoint, not only its front door.
    for (const outcome of REACHED[backend]) expect(outcomes.get(outcome) ?? 0, outcome).toBeGreaterThan(0);
    expect(await shop.delivered()).toBeGreaterThan(0);
  }, 180_000);

  it.skipIf(!process.env.FUZZ_STATS)('prints what the run answered', () => {
    console.log([...outcomes.entries()].sort((a, b) => b[1] - a[1]));
  });

  it('answers broken HTTP at the socket level with a 400 problem or a closed socket, and keeps serving', async () => {
    const url = new URL(shop.url);
    const raw = [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/1.1\r\nHost\r\n\r\n',
      `GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
      `POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\nContent-Length: abc\r\n\r\n`,
      `POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello`,
      `POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      `POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `GET /api/v1/health HTTP/9.9\r\nHost: 127.0.0.1:${url.port}\r\n\r\n`,
      `GET /api/v1/\x00health HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\n\r\n`,
      `GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\nBad Header Name: x\r\n\r\n`,
    ];
    for (let round = 0; round < 20; round++) {
      for (const text of raw) {
        const answer = await new Promise<string>((resolvePromise) => {
          const socket = connect(Number(url.port), url.hostname);
          let got = '';
          socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
          socket.on('error', () => resolvePromise(got));
          socket.on('close', () => resolvePromise(got));
          socket.setTimeout(5_000, () => socket.destroy());
          socket.write(text, 'latin1');
          setTimeout(() => socket.end(), 100);
        });
        if (answer !== '') {
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
          expect(status, text.slice(0, 60)).toBeLessThan(500);
          if (status >= 400) expect(answer.toLowerCase(), text.slice(0, 60)).toContain('application/problem+json');
        }
      }
    }
    expect((await send(shop.url, '/api/v1/health')).status).toBe(200);
    await shop.invariants(created);
  }, 60_000);
});
