/**
 * The HTTP contract (shared/spec/http-api.md), endpoint by endpoint and error code by error code, over
 * real sockets. Every response is also checked against the OpenAPI document the server serves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../shared/errors';
import { stmt } from '../src-main/db/statements';
import {
  ADMIN_TOKEN,
  freshKey,
  OpenApiChecker,
  startShop,
  type HttpResponse,
  type HttpShop,
  type SendOptions,
} from './helpers/http';

let shop: HttpShop;
let checker: OpenApiChecker;
const seenCodes = new Set<string>();

beforeAll(async () => {
  shop = await startShop({ keys: 5 });
  checker = await OpenApiChecker.load(shop.url);
});
afterAll(async () => {
  await shop.close();
});

/** Sends, then checks the response against the OpenAPI document and the problem+json rules. */
async function call(target: HttpShop, method: string, path: string, options: SendOptions = {}): Promise<HttpResponse> {
  const res = await target.send(path, { ...options, method });
  expect(checker.check(method, path, res)).toEqual([]);
  if (res.status >= 400) {
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json as { type: string; title: string; status: number; detail: string; code: keyof typeof ERROR_CODES };
    expect(problem).toMatchObject({
      type: expect.any(String),
      title: expect.any(String),
      status: res.status,
      detail: expect.any(String),
    });
    expect(ERROR_CODES[problem.code]).toBe(res.status);
    seenCodes.add(problem.code);
  }
  return res;
}

const admin = (options: SendOptions = {}): SendOptions => ({
  ...options,
  headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(options.headers as Record<string, string> | undefined) },
});
const orderBody = (extra: Record<string, unknown> = {}) => ({
  productId: shop.productId,
  quantity: 1,
  email: 'buyer@example.com',
  ...extra,
});
const createOrder = (extra: Record<string, unknown> = {}, key = freshKey()) =>
  call(shop, 'POST', '/api/v1/orders', { headers: { 'idempotency-key': key }, body: orderBody(extra) });

describe('the OpenAPI document', () => {
  it('is served as OpenAPI 3.1 and documents every endpoint of the contract', async () => {
    const res = await shop.send('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.json as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        'GET /api/v1/health',
        'GET /api/v1/products',
        'POST /api/v1/orders',
        'GET /api/v1/orders/{id}',
        'POST /api/v1/payments/webhook',
        'POST /api/v1/admin/products',
        'POST /api/v1/admin/products/{id}/keys',
        'GET /api/v1/admin/products/{id}/stock',
        'POST /api/v1/admin/orders/{id}/mark-paid',
        'GET /api/v1/admin/reconciliation',
        'GET /api/v1/admin/ledger/verify',
        'GET /api/v1/payment-channels',
        'POST /api/v1/orders/{id}/checkout',
        'GET /api/v1/orders/{id}/checkout/{channel}/qr.svg',
        'POST /api/v1/orders/{id}/refresh',
        'GET /api/v1/payments/{channel}/notify',
        'POST /api/v1/payments/{channel}/notify',
        'GET /api/v1/payments/{channel}/return/{id}',
        'GET /api/v1/admin/payment-channels',
        'PUT /api/v1/admin/payment-channels/{channel}',
        'DELETE /api/v1/admin/payment-channels/{channel}',
        'POST /api/v1/admin/payment-channels/{channel}/test',
        'POST /api/v1/admin/orders/{id}/requery',
      ].sort(),
    );
  });

  it('is strict enough to catch a response that breaks it', () => {
    const json = { 'content-type': 'application/json' };
    expect(
      checker.check('POST', '/api/v1/orders', { status: 201, headers: json, text: '', json: { order: { id: 'x' } } }),
    ).not.toEqual([]);
    expect(
      checker.check('GET', '/api/v1/products', {
        status: 200,
        headers: { 'content-type': 'text/html' },
        text: '',
        json: undefined,
      }),
    ).not.toEqual([]);
    expect(
      checker.check('GET', '/api/v1/orders/abc', { status: 200, headers: json, text: '', json: { order: null } }),
    ).not.toEqual([]);
  });
});

describe('public endpoints', () => {
  it('answers the health check', async () => {
    const res = await call(shop, 'GET', '/api/v1/health');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ok: true });
  });

  it('lists only products on sale, with price in minor units and available stock', async () => {
    const hidden = await call(
      shop,
      'POST',
      '/api/v1/admin/products',
      admin({ body: { name: 'Hidden', price: { amount: 1, currency: 'USD' }, onSale: false } }),
    );
    expect(hidden.status).toBe(201);
    const res = await call(shop, 'GET', '/api/v1/products');
    expect(res.status).toBe(200);
    const { products } = res.json as { products: { id: string }[] };
    expect(products.map((p) => p.id)).not.toContain((hidden.json as { product: { id: string } }).product.id);
    expect(products.find((p) => p.id === shop.productId)).toEqual({
      id: shop.productId,
      name: 'Steam 50',
      price: { amount: 5000, currency: 'CNY' },
      stock: { available: expect.any(Number) },
    });
  });

  it('creates an order: 201 with the held order and its access token', async () => {
    const res = await createOrder();
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    const { order } = res.json as { order: Record<string, unknown> };
    expect(order).toMatchObject({
      id: expect.any(String),
      status: 'reserved',
      productId: shop.productId,
      quantity: 1,
      amount: 5000,
      currency: 'CNY',
      email: 'buyer@example.com',
      expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      accessToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
  });

  it('refuses an order without an Idempotency-Key: 400 idempotency_key_missing', async () => {
    const res = await call(shop, 'POST', '/api/v1/orders', { body: orderBody() });
    expect(res.status).toBe(400);
    expect((res.json as { code: string }).code).toBe('idempotency_key_missing');
  });

  it('answers 404 product_not_found for an unknown product', async () => {
    const res = await createOrder({ productId: 'prd_nope' });
    expect(res.status).toBe(404);
    expect((res.json as { code: string }).code).toBe('product_not_found');
  });

  it('answers 409 sold_out when fewer keys are free than asked, holding none', async () => {
    const before = shop.engine.getProduct(shop.productId)?.stock;
    const res = await createOrder({ quantity: 1000 });
    expect(res.status).toBe(409);
    expect((res.json as { code: string }).code).toBe('sold_out');
    expect(shop.engine.getProduct(shop.productId)?.stock).toEqual(before);
  });

  it('refuses unknown fields with 422 validation_failed naming them', async () => {
    const res = await createOrder({ coupon: 'FREE', admin: true });
    expect(res.status).toBe(422);
    const problem = res.json as { code: string; detail: string; errors: { path: string }[] };
    expect(problem.code).toBe('validation_failed');
    expect(problem.detail).toContain('coupon');
    expect(problem.detail).toContain('admin');
    expect(problem.errors.map((e) => e.path).sort()).toEqual(['admin', 'coupon']);
  });

  it.each([
    ['a fractional quantity', { quantity: 1.5 }, 'quantity'],
    ['a zero quantity', { quantity: 0 }, 'quantity'],
    ['a quantity as a string', { quantity: '1' }, 'quantity'],
    ['a huge quantity', { quantity: 1e300 }, 'quantity'],
    ['a missing e-mail', { email: undefined }, 'email'],
    ['a bad e-mail', { email: 'not an address' }, 'email'],
  ])('refuses %s with 422 validation_failed', async (_label, extra, field) => {
    const res = await createOrder(extra);
    expect(res.status).toBe(422);
    const problem = res.json as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors.map((e) => e.path)).toContain(field);
  });

  it('answers 400 bad_request for a body that is not JSON, 415 for another media type', async () => {
    const bad = await call(shop, 'POST', '/api/v1/orders', {
      headers: { 'idempotency-key': freshKey(), 'content-type': 'application/json' },
      body: '{"productId": ',
    });
    expect(bad.status).toBe(400);
    expect((bad.json as { code: string }).code).toBe('bad_request');
    const form = await call(shop, 'POST', '/api/v1/orders', {
      headers: { 'idempotency-key': freshKey(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'productId=x',
    });
    expect(form.status).toBe(415);
    expect((form.json as { code: string }).code).toBe('unsupported_media_type');
  });

  it('answers 413 payload_too_large above 1 MiB', async () => {
    const res = await call(shop, 'POST', '/api/v1/orders', {
      headers: { 'idempotency-key': freshKey(), 'content-type': 'application/json' },
      body: JSON.stringify({ ...orderBody(), pad: 'x'.repeat(1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect((res.json as { code: string }).code).toBe('payload_too_large');
  });

  it('shows an order to the holder of its token, with codes only once delivered', async () => {
    const created = (await createOrder()).json as { order: { id: string; accessToken: string } };
    const { id, accessToken } = created.order;
    const reserved = await call(shop, 'GET', `/api/v1/orders/${id}`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(reserved.status).toBe(200);
    const view = (reserved.json as { order: Record<string, unknown> }).order;
    expect(view).toMatchObject({ id, status: 'reserved' });
    expect(view).not.toHaveProperty('codes');
    expect(view).not.toHaveProperty('accessToken');

    const paid = await shop.webhook({ id: `evt_${id}`, orderId: id, amount: 5000, currency: 'CNY', status: 'succeeded' });
    expect(paid.status).toBe(200);
    const delivered = await call(shop, 'GET', `/api/v1/orders/${id}`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect((delivered.json as { order: Record<string, unknown> }).order).toMatchObject({
      status: 'delivered',
      codes: [expect.stringMatching(/^CODE-/)],
      paidAt: expect.any(String),
      deliveredAt: expect.any(String),
    });
  });

  it('answers an unknown order and a wrong token with the same 404 order_not_found', async () => {
    const created = (await createOrder()).json as { order: { id: string; accessToken: string } };
    const wrongToken = await call(shop, 'GET', `/api/v1/orders/${created.order.id}`, {
      headers: { authorization: 'Bearer nope' },
    });
    const noToken = await call(shop, 'GET', `/api/v1/orders/${created.order.id}`);
    const unknown = await call(shop, 'GET', '/api/v1/orders/ord_unknown', {
      headers: { authorization: `Bearer ${created.order.accessToken}` },
    });
    const long = await call(shop, 'GET', `/api/v1/orders/${'x'.repeat(300)}`, {
      headers: { authorization: `Bearer ${created.order.accessToken}` },
    });
    for (const res of [wrongToken, noToken, unknown, long]) {
      expect(res.status).toBe(404);
      expect((res.json as { code: string }).code).toBe('order_not_found');
    }
    expect(wrongToken.text).toBe(unknown.text);
    expect(noToken.text).toBe(unknown.text);
    expect(long.text).toBe(unknown.text);
  });

  it('answers unknown routes and methods with a problem+json 404', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/nothing'],
      ['DELETE', '/api/v1/orders'],
      ['GET', '/no/such/page'],
    ] as const) {
      const res = await call(shop, method, path);
      expect(res.status).toBe(404);
      expect((res.json as { code: string }).code).toBe('not_found');
    }
  });
});

describe('the payment webhook', () => {
  it('answers 200 {"received": true} to a signed event and 401 invalid_signature otherwise', async () => {
    const ok = await shop.webhook({
      id: 'evt_unknown_order',
      orderId: 'ord_nope',
      amount: 1,
      currency: 'CNY',
      status: 'succeeded',
    });
    expect(checker.check('POST', '/api/v1/payments/webhook', ok)).toEqual([]);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ received: true });
    const bad = await call(shop, 'POST', '/api/v1/payments/webhook', {
      headers: {
        'content-type': 'application/json',
        'oncekey-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`,
      },
      body: '{}',
    });
    expect(bad.status).toBe(401);
    expect((bad.json as { code: string }).code).toBe('invalid_signature');
  });
});

describe('admin endpoints', () => {
  it('refuses a missing or wrong admin token with 401 unauthorized and WWW-Authenticate: Bearer', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${ADMIN_TOKEN}` }]) {
      const res = await call(shop, 'GET', '/api/v1/admin/reconciliation', { headers });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((res.json as { code: string }).code).toBe('unauthorized');
    }
    const order = await call(shop, 'POST', '/api/v1/admin/products', {
      body: { name: 'x', price: { amount: 1, currency: 'USD' } },
    });
    expect(order.status).toBe(401);
  });

  it('creates a product: 201 with its id, price and empty stock', async () => {
    const res = await call(
      shop,
      'POST',
      '/api/v1/admin/products',
      admin({ body: { name: 'Gift card', price: { amount: 1999, currency: 'USD' } } }),
    );
    expect(res.status).toBe(201);
    expect((res.json as { product: unknown }).product).toMatchObject({
      id: expect.stringMatching(/^prd_/),
      name: 'Gift card',
      price: { amount: 1999, currency: 'USD' },
      stock: { available: 0, reserved: 0, sold: 0 },
    });
    const bad = await call(
      shop,
      'POST',
      '/api/v1/admin/products',
      admin({ body: { name: 'x', price: { amount: 1.5, currency: 'usd' }, colour: 'red' } }),
    );
    expect(bad.status).toBe(422);
    expect((bad.json as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual([
      'colour',
      'price.amount',
      'price.currency',
    ]);
  });

  it('reads stock, 404 product_not_found for an unknown product', async () => {
    const res = await call(shop, 'GET', `/api/v1/admin/products/${shop.productId}/stock`, admin());
    expect(res.status).toBe(200);
    expect(res.json).toEqual(shop.engine.getProduct(shop.productId)?.stock);
    const missing = await call(shop, 'GET', '/api/v1/admin/products/prd_nope/stock', admin());
    expect(missing.status).toBe(404);
    expect((missing.json as { code: string }).code).toBe('product_not_found');
  });

  it('imports keys from text/plain and from JSON, reporting duplicates and rejects', async () => {
    const product = (
      await call(
        shop,
        'POST',
        '/api/v1/admin/products',
        admin({ body: { name: 'Import', price: { amount: 100, currency: 'CNY' } } }),
      )
    ).json as { product: { id: string } };
    const path = `/api/v1/admin/products/${product.product.id}/keys`;
    const text = await call(
      shop,
      'POST',
      path,
      admin({ headers: { 'content-type': 'text/plain' }, body: 'AAAA-1111\nBBBB-2222\nAAAA-1111\n' }),
    );
    expect(text.status).toBe(200);
    expect(text.json).toMatchObject({ imported: 2, duplicates: 1, rejected: [] });
    const json = await call(shop, 'POST', path, admin({ body: { codes: ['CCCC-3333', 'BBBB-2222'] } }));
    expect(json.status).toBe(200);
    expect(json.json).toMatchObject({ imported: 1, duplicates: 1 });
    const stock = await call(shop, 'GET', `/api/v1/admin/products/${product.product.id}/stock`, admin());
    expect(stock.json).toEqual({ available: 3, reserved: 0, sold: 0 });
    const unknownField = await call(shop, 'POST', path, admin({ body: { codes: [], extra: 1 } }));
    expect(unknownField.status).toBe(422);
    const missing = await call(shop, 'POST', '/api/v1/admin/products/prd_nope/keys', admin({ body: { codes: ['X'] } }));
    expect(missing.status).toBe(404);
  });

  it('marks an order paid by hand once, however often it is pressed; 404 for an unknown order', async () => {
    const created = (await createOrder()).json as { order: { id: string } };
    const path = `/api/v1/admin/orders/${created.order.id}/mark-paid`;
    const [first, second] = await Promise.all([call(shop, 'POST', path, admin()), call(shop, 'POST', path, admin())]);
    const third = await call(shop, 'POST', path, admin({ body: {} }));
    for (const res of [first, second, third]) {
      expect(res.status).toBe(200);
      expect((res.json as { order: { status: string } }).order.status).toBe('delivered');
    }
    expect(await shop.engine.deliveredCodes(created.order.id)).toHaveLength(1);
    const missing = await call(shop, 'POST', '/api/v1/admin/orders/ord_nope/mark-paid', admin());
    expect(missing.status).toBe(404);
    expect((missing.json as { code: string }).code).toBe('order_not_found');
  });

  it('lists orders in review and stock counters that drifted from the key rows', async () => {
    const created = (await createOrder()).json as { order: { id: string } };
    await shop.webhook({
      id: `evt_wrong_${created.order.id}`,
      orderId: created.order.id,
      amount: 1,
      currency: 'CNY',
      status: 'succeeded',
    });
    stmt(shop.engine.db, 'UPDATE products SET sold = sold + 7 WHERE id = ?').run(shop.productId);
    try {
      const res = await call(shop, 'GET', '/api/v1/admin/reconciliation', admin());
      expect(res.status).toBe(200);
      const { findings } = res.json as { findings: Record<string, unknown>[] };
      expect(findings).toContainEqual({ kind: 'needs_review', orderId: created.order.id, reason: 'amount_mismatch' });
      const drift = findings.find((f) => f.kind === 'stock_drift' && f.productId === shop.productId) as {
        stored: { sold: number };
        actual: { sold: number };
      };
      expect(drift.stored.sold - drift.actual.sold).toBe(7);
    } finally {
      stmt(shop.engine.db, 'UPDATE products SET sold = sold - 7 WHERE id = ?').run(shop.productId);
    }
  });

  it('verifies the ledger: ok with the number of entries, or the first bad entry', async () => {
    const res = await call(shop, 'GET', '/api/v1/admin/ledger/verify', admin());
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, entries: expect.any(Number) });
    expect(res.json).not.toHaveProperty('firstBadEntry');
    const tamper = await startShop({ keys: 2 });
    try {
      await tamper.order();
      stmt(tamper.engine.db, `UPDATE ledger SET detail = '{"keysTo":"available"}' WHERE seq = 1`).run();
      const bad = await call(tamper, 'GET', '/api/v1/admin/ledger/verify', admin());
      expect(bad.json).toMatchObject({ ok: false, entries: 2, firstBadEntry: 1 });
    } finally {
      await tamper.close();
    }
  });
});

describe('limits', () => {
  it('rate-limits order creation and lookup per address: 429 rate_limited with Retry-After and RateLimit headers', async () => {
    const limited = await startShop({ keys: 10, http: { rateLimitPerMinute: 2 } });
    try {
      const first = await call(limited, 'POST', '/api/v1/orders', {
        headers: { 'idempotency-key': freshKey() },
        body: { productId: limited.productId, quantity: 1, email: 'a@example.com' },
      });
      expect(first.status).toBe(201);
      expect(first.headers['ratelimit-policy']).toBe('"orders";q=2;w=60');
      expect(first.headers.ratelimit).toMatch(/^"orders";r=1;t=\d+$/);
      await limited.order();
      const third = await call(limited, 'POST', '/api/v1/orders', {
        headers: { 'idempotency-key': freshKey() },
        body: { productId: limited.productId, quantity: 1, email: 'a@example.com' },
      });
      expect(third.status).toBe(429);
      expect((third.json as { code: string }).code).toBe('rate_limited');
      expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
      expect(third.headers.ratelimit).toMatch(/r=0/);
      // Lookups have their own budget.
      const lookups = [
        await call(limited, 'GET', '/api/v1/orders/x'),
        await call(limited, 'GET', '/api/v1/orders/x'),
        await call(limited, 'GET', '/api/v1/orders/x'),
      ];
      expect(lookups.map((r) => r.status)).toEqual([404, 404, 429]);
      // Other endpoints are not limited.
      expect((await call(limited, 'GET', '/api/v1/products')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('limits live orders per buyer e-mail and product: 409 purchase_limit, replays still answered', async () => {
    const capped = await startShop({ keys: 10, http: { maxOrdersPerEmail: 2 } });
    try {
      const body = { productId: capped.productId, quantity: 1, email: 'greedy@example.com' };
      const key = freshKey();
      const orders = [
        await call(capped, 'POST', '/api/v1/orders', { headers: { 'idempotency-key': key }, body }),
        await call(capped, 'POST', '/api/v1/orders', { headers: { 'idempotency-key': freshKey() }, body }),
      ];
      expect(orders.map((r) => r.status)).toEqual([201, 201]);
      const third = await call(capped, 'POST', '/api/v1/orders', { headers: { 'idempotency-key': freshKey() }, body });
      expect(third.status).toBe(409);
      expect((third.json as { code: string }).code).toBe('purchase_limit');
      const replay = await call(capped, 'POST', '/api/v1/orders', { headers: { 'idempotency-key': key }, body });
      expect(replay.status).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      const other = await call(capped, 'POST', '/api/v1/orders', {
        headers: { 'idempotency-key': freshKey() },
        body: { ...body, email: 'other@example.com' },
      });
      expect(other.status).toBe(201);
    } finally {
      await capped.close();
    }
  });
});

describe('coverage of the contract', () => {
  it('has seen every error code the contract names, each with its documented status', () => {
    for (const code of [
      'idempotency_key_missing',
      'product_not_found',
      'sold_out',
      'validation_failed',
      'order_not_found',
      'invalid_signature',
      'unauthorized',
      'not_found',
      'payload_too_large',
      'rate_limited',
      'purchase_limit',
      'bad_request',
      'unsupported_media_type',
    ]) {
      expect(seenCodes, code).toContain(code);
    }
  });
});
