/**
 * The compiled response serializer (src-main/http/serializer.ts) writes exactly what the generic zod
 * path wrote for every answer it compiles, and leaves to the generic path what it cannot compile.
 */
import fc from 'fast-check';
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import { z, type ZodType } from 'zod';
import { CreatedOrderResponse, OrderResponse, Problem, ProductList } from '../shared/api';
import { compileSerializer, serializerCompiler } from '../src-main/http/serializer';

const generic = (schema: ZodType) => zodSerializerCompiler({ schema, method: 'GET', url: '/test' });

const text = fc.string({ unit: 'binary', maxLength: 40 });
const timestamp = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const status = fc.constantFrom('reserved', 'paid', 'delivered', 'expired', 'refunded', 'needs_review');
const order = fc.record({
  id: text,
  status,
  productId: text,
  quantity: fc.integer({ min: 1, max: 1000 }),
  amount: fc.integer({ min: 0, max: 2 ** 40 }),
  currency: fc.constantFrom('CNY', 'USD', 'EUR'),
  email: text,
  createdAt: timestamp,
  expiresAt: timestamp,
  paidAt: fc.option(timestamp, { nil: null }),
  deliveredAt: fc.option(timestamp, { nil: null }),
});

describe('compiled response serializer', () => {
  it('writes a created order byte for byte as the zod path does, whatever its strings hold', () => {
    const compiled = compileSerializer(CreatedOrderResponse);
    expect(compiled).not.toBeNull();
    const zod = generic(CreatedOrderResponse);
    fc.assert(
      fc.property(order, text, (o, accessToken) => {
        const body = { order: { ...o, status: 'reserved' as const, accessToken } };
        expect(compiled!(body)).toBe(zod(body));
        expect(JSON.parse(compiled!(body))).toEqual(body);
      }),
      { numRuns: 300 },
    );
  });

  it('writes an order with and without codes as the zod path does', () => {
    const compiled = compileSerializer(OrderResponse)!;
    const zod = generic(OrderResponse);
    fc.assert(
      fc.property(order, fc.option(fc.array(text, { maxLength: 5 }), { nil: undefined }), (o, codes) => {
        const body = { order: codes === undefined ? o : { ...o, codes } };
        expect(compiled(body)).toBe(zod(body));
      }),
      { numRuns: 200 },
    );
  });

  it('drops fields the schema does not declare, as the zod path does', () => {
    const compiled = compileSerializer(ProductList)!;
    const body = {
      products: [
        { id: 'prd_1', name: '点卡 50', price: { amount: 5000, currency: 'CNY' }, stock: { available: 3 }, secret: 'x' },
      ],
    };
    expect(compiled(body)).toBe(generic(ProductList)(body));
    expect(compiled(body)).not.toContain('secret');
  });

  it('refuses an answer that lacks a required field instead of writing half of it', () => {
    const compiled = compileSerializer(CreatedOrderResponse)!;
    expect(() => compiled({ order: { id: 'ord_1' } })).toThrow();
  });

  it('follows the $ref of a registered schema (the problem body)', () => {
    const compiled = compileSerializer(Problem)!;
    const body = { type: 'about:blank', title: 'Conflict', status: 409, detail: 'sold out', code: 'sold_out' as const };
    expect(compiled(body)).toBe(generic(Problem)(body));
  });

  it('leaves unions of objects and records to the zod path', () => {
    const union = z.union([z.object({ a: z.string() }), z.object({ b: z.number() })]);
    const record = z.object({ counts: z.record(z.string(), z.number()) });
    expect(compileSerializer(union)).toBeNull();
    expect(compileSerializer(record)).toBeNull();
    // The compiler Fastify calls still serializes them, through zod.
    const serialize = serializerCompiler({ schema: record, method: 'GET', url: '/x' });
    expect(serialize({ counts: { a: 1 } })).toBe('{"counts":{"a":1}}');
    expect(() => serialize({ counts: { a: 'x' } })).toThrow();
  });
});
