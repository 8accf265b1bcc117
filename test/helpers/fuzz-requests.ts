/**
 * Request recipes for the HTTP fuzz test: mostly well-formed requests for every endpoint with at most
 * one part swapped for a random one, plus fully random ones (methods, paths, headers, bodies with
 * invalid JSON, wrong types, huge numbers, unicode, unknown and duplicated fields). A recipe refers to
 * real orders and products symbolically; `materialize` fills them in when the request is sent.
 */
import fc from 'fast-check';
import { ADMIN_TOKEN, signature, WEBHOOK_SECRET } from './http';

/** What the fuzz run knows so far: its shop, and the orders and keys it has created. */
export interface FuzzContext {
  readonly url: string;
  readonly productId: string;
  readonly offSaleId: string;
  readonly orders: { id: string; token: string; amount: number }[];
  readonly usedKeys: string[];
  /** Requests materialized so far. */
  sent: number;
}

/** A request ready for node:http: raw header list (headers may repeat). */
export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: Buffer | undefined;
}

type Ref = { ref: 'order' | 'product' | 'offsale'; i: number } | { lit: string };
export type BodySpec =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; value: string }
  | { kind: 'order'; value: Record<string, unknown>; product: Ref }
  | { kind: 'webhook'; value: Record<string, unknown>; order: Ref; exactAmount: boolean }
  | { kind: 'huge' };

export interface Recipe {
  method: string;
  template: string;
  id: Ref;
  query: string;
  contentType: string | null;
  idempotency: { kind: 'fresh' | 'reuse' | 'dup' | 'literal'; value: string } | null;
  auth: 'admin' | 'order' | 'garbage' | 'basic' | 'empty' | null;
  origin: string | null;
  host: 'own' | 'evil' | 'own-other-port';
  signature: 'valid' | 'expired' | 'garbage' | 'multi' | null;
  extra: [string, string] | null;
  body: BodySpec;
}

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const anyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const ref = (kind: 'order' | 'product'): fc.Arbitrary<Ref> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.nat(1000).map((i) => ({ ref: kind, i })) },
    { weight: 1, arbitrary: fc.constant<Ref>({ ref: 'offsale', i: 0 }) },
    { weight: 2, arbitrary: anyText.map((lit) => ({ lit })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Ref>(
        { lit: '%00' },
        { lit: '..' },
        { lit: '%ZZ' },
        { lit: 'a'.repeat(500) },
        { lit: '%E2%82%AC' },
        { lit: '__proto__' },
      ),
    },
  );

const weirdNumber = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.double(),
  fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 1000, 1001, 0.5, -0),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map((b) => ({ big: b.toString() })),
  anyText,
  fc.constant(null),
  fc.array(fc.nat(), { maxLength: 2 }),
);
const extraFields = fc.dictionary(
  fc.oneof(printable, fc.constantFrom('__proto__', 'constructor', 'prototype')),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 2 },
);

const orderBody: fc.Arbitrary<BodySpec> = fc
  .record({
    product: ref('product'),
    quantity: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 1, 2) }, { weight: 2, arbitrary: weirdNumber }),
    email: fc.oneof(
      { weight: 4, arbitrary: fc.nat(20).map((n) => `fuzz${n}@example.com`) },
      { weight: 1, arbitrary: anyText },
      { weight: 1, arbitrary: weirdNumber },
    ),
    extra: fc.option(extraFields, { freq: 4 }),
    drop: fc.option(fc.constantFrom('productId', 'quantity', 'email'), { freq: 6 }),
  })
  .map(({ product, quantity, email, extra, drop }): BodySpec => {
    const value: Record<string, unknown> = { quantity, email, ...(extra ?? {}) };
    if (drop) delete value[drop];
    return { kind: 'order', value, product: drop === 'productId' ? { lit: '' } : product };
  });

const webhookBody: fc.Arbitrary<BodySpec> = fc
  .record({
    id: fc.oneof(
      fc.nat(30).map((n) => `evt_fuzz_${n}`),
      anyText,
    ),
    order: ref('order'),
    exactAmount: fc.boolean(),
    amount: weirdNumber,
    currency: fc.oneof(fc.constantFrom('CNY', 'cny', 'USD'), anyText),
    status: fc.oneof(fc.constant('succeeded'), anyText),
    extra: fc.option(extraFields, { freq: 3 }),
  })
  .map(({ order, exactAmount, extra, ...rest }): BodySpec => ({
    kind: 'webhook',
    value: { ...rest, ...(extra ?? {}) },
    order,
    exactAmount,
  }));

const bodyArb: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 30, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
  { weight: 60, arbitrary: orderBody },
  { weight: 40, arbitrary: webhookBody },
  {
    weight: 20,
    arbitrary: fc
      .record({
        name: anyText,
        amount: weirdNumber,
        currency: fc.oneof(fc.constant('USD'), anyText),
        extra: fc.option(extraFields),
      })
      .map(({ name, amount, currency, extra }): BodySpec => ({
        kind: 'json',
        value: { name, price: { amount, currency }, ...(extra ?? {}) },
      })),
  },
  { weight: 10, arbitrary: fc.array(anyText, { maxLength: 5 }).map((codes): BodySpec => ({ kind: 'json', value: { codes } })) },
  { weight: 20, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value): BodySpec => ({ kind: 'json', value })) },
  { weight: 20, arbitrary: anyText.map((t): BodySpec => ({ kind: 'text', value: `{${t}` })) },
  {
    weight: 10,
    arbitrary: fc.array(anyText, { maxLength: 5 }).map((lines): BodySpec => ({ kind: 'text', value: lines.join('\n') })),
  },
  {
    weight: 10,
    arbitrary: fc.constantFrom<BodySpec>(
      { kind: 'text', value: '{"quantity": 1e999999}' },
      { kind: 'text', value: '[' + '['.repeat(5000) },
      { kind: 'text', value: '{"__proto__": {"polluted": 1}}' },
    ),
  },
  { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: 'huge' }) },
);

const TEMPLATES = [
  '/api/v1/health',
  '/api/v1/products',
  '/api/v1/orders',
  '/api/v1/orders/{id}',
  '/api/v1/payments/webhook',
  '/api/v1/admin/products',
  '/api/v1/admin/products/{id}/keys',
  '/api/v1/admin/products/{id}/stock',
  '/api/v1/admin/orders/{id}/mark-paid',
  '/api/v1/admin/reconciliation',
  '/api/v1/admin/ledger/verify',
  '/api/v1/openapi.json',
  '/',
  '/{id}',
  '/api/v1/{id}',
  '/api/v1/orders/{id}/{id}',
  '//api/v1/orders',
  '/api/v1/orders/',
  '/API/V1/ORDERS',
];

const randomRecipeArb: fc.Arbitrary<Recipe> = fc.record({
  method: fc.oneof(
    { weight: 60, arbitrary: fc.constant('POST') },
    { weight: 40, arbitrary: fc.constant('GET') },
    { weight: 20, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
    { weight: 3, arbitrary: fc.constantFrom('PROPFIND', 'FOO', 'TRACE', 'CONNECT') },
  ),
  template: fc.constantFrom(...TEMPLATES),
  id: fc.oneof(ref('order'), ref('product')),
  query: fc.oneof(
    { weight: 8, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.constantFrom('?a=1', '?__proto__[x]=1', '?a=%ZZ', `?${'q'.repeat(3000)}`) },
  ),
  contentType: fc.oneof(
    { weight: 6, arbitrary: fc.constant('application/json') },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'application/json; charset=utf-8',
        'text/plain',
        'text/plain; charset=gbk',
        'text/plain; charset=nonsense',
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/problem+json',
        '*/*',
        'garbage',
        '',
      ),
    },
    { weight: 2, arbitrary: fc.constant(null) },
  ),
  idempotency: fc.option(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant({ kind: 'fresh' as const, value: '' }) },
      { weight: 2, arbitrary: fc.constant({ kind: 'reuse' as const, value: '' }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'dup' as const, value: '' }) },
      {
        weight: 2,
        arbitrary: fc
          .oneof(printable, fc.constantFrom('""', '"a\\"b"', 'k'.repeat(256), '"unterminated'))
          .map((value) => ({ kind: 'literal' as const, value })),
      },
    ),
    { freq: 5 },
  ),
  auth: fc.option(fc.constantFrom('admin' as const, 'order' as const, 'garbage' as const, 'basic' as const, 'empty' as const), {
    freq: 2,
  }),
  origin: fc.option(fc.constantFrom('own', 'https://evil.example', 'null', 'garbage'), { freq: 6 }),
  host: fc.oneof(
    { weight: 30, arbitrary: fc.constant('own' as const) },
    { weight: 1, arbitrary: fc.constantFrom('evil' as const, 'own-other-port' as const) },
  ),
  signature: fc.option(fc.constantFrom('valid' as const, 'expired' as const, 'garbage' as const, 'multi' as const), { freq: 2 }),
  extra: fc.option(fc.tuple(fc.stringMatching(/^x-[a-z-]{1,12}$/), printable), { freq: 5 }),
  body: bodyArb,
});

/** A well-formed request for one endpoint: what a real client sends. */
const base: Recipe = {
  method: 'GET',
  template: '/api/v1/health',
  id: { lit: '' },
  query: '',
  contentType: null,
  idempotency: null,
  auth: null,
  origin: null,
  host: 'own',
  signature: null,
  extra: null,
  body: { kind: 'none' },
};
const realOrder = fc.nat(1000).map((i): Ref => ({ ref: 'order', i }));
const realProduct = fc.oneof(
  { weight: 9, arbitrary: fc.constant<Ref>({ ref: 'product', i: 0 }) },
  { weight: 1, arbitrary: fc.constant<Ref>({ ref: 'offsale', i: 0 }) },
);
const wellFormedArb: fc.Arbitrary<Recipe> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc
      .record({ product: realProduct, quantity: fc.constantFrom(1, 1, 1, 2, 3), email: fc.nat(400), reuse: fc.nat(9) })
      .map(({ product, quantity, email, reuse }): Recipe => ({
        ...base,
        method: 'POST',
        template: '/api/v1/orders',
        contentType: 'application/json',
        idempotency: { kind: reuse === 0 ? ('reuse' as const) : ('fresh' as const), value: '' },
        body: { kind: 'order', value: { quantity, email: `fuzz${email}@example.com` }, product },
      })),
  },
  {
    weight: 15,
    arbitrary: realOrder.map((id): Recipe => ({ ...base, template: '/api/v1/orders/{id}', id, auth: 'order' as const })),
  },
  {
    weight: 20,
    arbitrary: fc
      .record({ order: realOrder, event: fc.nat(40), exact: fc.nat(9), status: fc.nat(9) })
      .map(({ order, event, exact, status }): Recipe => ({
        ...base,
        method: 'POST',
        template: '/api/v1/payments/webhook',
        contentType: 'application/json',
        signature: 'valid' as const,
        body: {
          kind: 'webhook',
          value: { id: `evt_fuzz_${event}`, amount: 1, currency: 'CNY', status: status === 0 ? 'pending' : 'succeeded' },
          order,
          exactAmount: exact !== 0,
        },
      })),
  },
  {
    weight: 8,
    arbitrary: fc
      .record({ order: realOrder, body: fc.constantFrom<BodySpec>({ kind: 'none' }, { kind: 'json', value: {} }) })
      .map(({ order, body }): Recipe => ({
        ...base,
        method: 'POST',
        template: '/api/v1/admin/orders/{id}/mark-paid',
        id: order,
        auth: 'admin' as const,
        contentType: body.kind === 'none' ? null : 'application/json',
        body,
      })),
  },
  {
    weight: 5,
    arbitrary: fc
      .constantFrom('/api/v1/admin/reconciliation', '/api/v1/admin/ledger/verify', '/api/v1/admin/products/{id}/stock')
      .map((template): Recipe => ({ ...base, template, id: { ref: 'product', i: 0 }, auth: 'admin' as const })),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({ name: anyText, amount: fc.nat(100_000), currency: fc.constantFrom('CNY', 'USD', 'JPY') })
      .map(({ name, amount, currency }): Recipe => ({
        ...base,
        method: 'POST',
        template: '/api/v1/admin/products',
        auth: 'admin' as const,
        contentType: 'application/json',
        body: { kind: 'json', value: { name: `p ${name}`, price: { amount, currency } } },
      })),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({
        codes: fc.array(fc.oneof(fc.stringMatching(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/), anyText), { maxLength: 6 }),
        asText: fc.boolean(),
      })
      .map(({ codes, asText }): Recipe => ({
        ...base,
        method: 'POST',
        template: '/api/v1/admin/products/{id}/keys',
        id: { ref: 'product', i: 0 },
        auth: 'admin' as const,
        contentType: asText ? 'text/plain' : 'application/json',
        body: asText
          ? { kind: 'text', value: codes.join('\n') }
          : { kind: 'json', value: { codes: codes.map((c) => c.replace(/[\r\n]/g, '')) } },
      })),
  },
  {
    weight: 5,
    arbitrary: fc
      .constantFrom('/api/v1/products', '/api/v1/health', '/api/v1/openapi.json', '/')
      .map((template): Recipe => ({ ...base, template })),
  },
);

const MUTABLE = [
  'method',
  'template',
  'id',
  'query',
  'contentType',
  'idempotency',
  'auth',
  'origin',
  'host',
  'signature',
  'extra',
  'body',
] as const;

/** Mostly well-formed requests with at most one part swapped for a random one, plus fully random ones. */
export const recipeArb: fc.Arbitrary<Recipe> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(wellFormedArb, randomRecipeArb, fc.option(fc.constantFrom(...MUTABLE), { freq: 2 }))
      .map(([good, random, field]) => (field === null ? good : { ...good, [field]: random[field] })),
  },
  { weight: 4, arbitrary: randomRecipeArb },
);

// ------------------------------------------------------------------ turning a recipe into bytes

function resolve(ctx: FuzzContext, r: Ref, kind: 'order' | 'product'): string {
  const { orders } = ctx;
  if ('lit' in r) return r.lit;
  if (r.ref === 'offsale') return ctx.offSaleId;
  if (r.ref === 'product' || orders.length === 0) return kind === 'order' && orders.length === 0 ? 'ord_none' : ctx.productId;
  return (orders[r.i % orders.length] as { id: string }).id;
}

function jsonText(value: unknown): string {
  // bigints travel as bare digits: numbers too large for a double
  return JSON.stringify(value).replace(/\{"big":"(-?\d+)"\}/g, '$1');
}

/** Turns a recipe into a concrete request, filling in real ids, tokens and signatures from `ctx`. */
export function materialize(recipe: Recipe, ctx: FuzzContext): RawRequest {
  const { orders, usedKeys, sent } = ctx;
  ctx.sent++;
  const port = new URL(ctx.url).port;
  const path =
    recipe.template
      .split('/')
      .map((seg) =>
        seg === '{id}'
          ? encodeURIComponent(resolve(ctx, recipe.id, recipe.template.includes('orders') ? 'order' : 'product')).replace(
              /%25/g,
              '%',
            )
          : seg,
      )
      .join('/') + recipe.query;

  let body: Buffer | undefined;
  const b = recipe.body;
  if (b.kind === 'json') body = Buffer.from(jsonText(b.value));
  else if (b.kind === 'text') body = Buffer.from(b.value);
  else if (b.kind === 'order') body = Buffer.from(jsonText({ productId: resolve(ctx, b.product, 'product'), ...b.value }));
  else if (b.kind === 'webhook') {
    const orderId = resolve(ctx, b.order, 'order');
    const known = orders.find((o) => o.id === orderId);
    body = Buffer.from(
      jsonText({ orderId, ...b.value, ...(b.exactAmount && known ? { amount: known.amount, currency: 'CNY' } : {}) }),
    );
  } else if (b.kind === 'huge') body = Buffer.from(JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }));

  const headers: string[] = [];
  const host =
    recipe.host === 'own' ? `127.0.0.1:${port}` : recipe.host === 'evil' ? 'evil.example' : `127.0.0.1:${Number(port) + 1}`;
  headers.push('host', host);
  if (recipe.contentType !== null) headers.push('content-type', recipe.contentType);
  if (recipe.idempotency) {
    const i = recipe.idempotency;
    if (i.kind === 'fresh') {
      const key = `fuzz-${sent}-${Math.random().toString(36).slice(2)}`;
      usedKeys.push(key);
      headers.push('idempotency-key', key);
    } else if (i.kind === 'reuse') headers.push('idempotency-key', usedKeys[sent % Math.max(1, usedKeys.length)] ?? 'none');
    else if (i.kind === 'dup') headers.push('idempotency-key', 'one', 'idempotency-key', 'two');
    else headers.push('idempotency-key', i.value);
  }
  const pathOrder =
    'ref' in recipe.id && recipe.id.ref === 'order' && orders.length > 0 ? orders[recipe.id.i % orders.length] : undefined;
  const order = pathOrder ?? (orders.length > 0 ? orders[sent % orders.length] : undefined);
  if (recipe.auth === 'admin') headers.push('authorization', `Bearer ${ADMIN_TOKEN}`);
  else if (recipe.auth === 'order') headers.push('authorization', `Bearer ${order?.token ?? 'none'}`);
  else if (recipe.auth === 'garbage') headers.push('authorization', 'Bearer x y z');
  else if (recipe.auth === 'basic') headers.push('authorization', 'Basic YWRtaW46YWRtaW4=');
  else if (recipe.auth === 'empty') headers.push('authorization', '');
  if (recipe.origin !== null) headers.push('origin', recipe.origin === 'own' ? `http://localhost:${port}` : recipe.origin);
  if (recipe.signature !== null) {
    const now = Math.floor(Date.now() / 1000);
    const raw = body ?? Buffer.alloc(0);
    if (recipe.signature === 'valid') headers.push('oncekey-signature', signature(WEBHOOK_SECRET, raw, now));
    else if (recipe.signature === 'expired') headers.push('oncekey-signature', signature(WEBHOOK_SECRET, raw, now - 1000));
    else if (recipe.signature === 'multi')
      headers.push(
        'oncekey-signature',
        `t=${now},v1=${'0'.repeat(64)}`,
        'oncekey-signature',
        signature(WEBHOOK_SECRET, raw, now),
      );
    else headers.push('oncekey-signature', `t=${now},v1=zz`);
  }
  if (recipe.extra) headers.push(recipe.extra[0], recipe.extra[1]);
  if (body !== undefined) headers.push('content-length', String(body.length));
  return { method: recipe.method, path, headers, body };
}
