/**
 * What a shop front calls: the products on sale, order creation (idempotent, rate limited, optionally
 * limited per buyer e-mail) and the order lookup by access token.
 */
import type { FastifyContextConfig } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  API_PREFIX,
  CreatedOrderResponse,
  CreateOrderBody,
  CreateOrderHeaders,
  HEADERS,
  Health,
  IdParams,
  OrderResponse,
  ProductList,
} from '../../shared/api';
import type { ShopBackend } from '../engine/backend';
import { HttpProblem } from './problems';
import { BODY_ERRORS, responses } from './route-docs';
import { bearerToken, readIdempotencyKey } from './security';
import { toCreatedOrder, toPublicOrder, toPublicProduct } from './views';

declare module 'fastify' {
  interface FastifyRequest {
    /** The parsed Idempotency-Key of an order creation (set before validation). */
    idempotencyKey: string;
  }
  interface FastifyContextConfig {
    /** Name of the rate-limit policy, for the RateLimit / RateLimit-Policy headers. */
    ratePolicy?: { name: string; max: number; window: number };
  }
}

export interface PublicRouteOptions {
  readonly engine: ShopBackend;
  readonly rateLimitPerMinute: number;
  readonly maxOrdersPerEmail: number;
}

/** Window of the per-e-mail purchase limit. */
export const PURCHASE_LIMIT_WINDOW_MS = 24 * 60 * 60 * 1000;

export function rateLimited(name: string, perMinute: number): FastifyContextConfig {
  if (perMinute <= 0) return {};
  return { rateLimit: { max: perMinute, timeWindow: 60_000 }, ratePolicy: { name, max: perMinute, window: 60 } };
}

export const publicRoutes: FastifyPluginAsyncZod<PublicRouteOptions> = async (
  app,
  { engine, rateLimitPerMinute, maxOrdersPerEmail },
) => {
  app.decorateRequest('idempotencyKey', '');

  app.get(
    `${API_PREFIX}/health`,
    {
      schema: {
        summary: 'Liveness check',
        operationId: 'getHealth',
        tags: ['public'],
        security: [],
        response: responses({ 200: { schema: Health, description: 'up' } }, []),
      },
    },
    () => ({ ok: true as const }),
  );

  app.get(
    `${API_PREFIX}/products`,
    {
      schema: {
        summary: 'Products on sale, with the keys available now',
        operationId: 'listProducts',
        tags: ['public'],
        security: [],
        response: responses({ 200: { schema: ProductList, description: 'products on sale' } }, []),
      },
    },
    async () => ({ products: (await engine.listProducts({ onSaleOnly: true })).map(toPublicProduct) }),
  );

  app.post(
    `${API_PREFIX}/orders`,
    {
      schema: {
        summary: 'Reserve keys for a new order (idempotent)',
        operationId: 'createOrder',
        security: [],
        description:
          'Holds `quantity` keys until `expiresAt`, all or nothing. Requires Idempotency-Key; the same key and body replay the ' +
          'stored status and body with `Idempotent-Replayed: true` (results are kept at least 24 hours).',
        tags: ['public'],
        headers: CreateOrderHeaders,
        body: CreateOrderBody,
        response: responses({ 201: { schema: CreatedOrderResponse, description: 'keys held for the new order' } }, [
          ...BODY_ERRORS,
          'idempotency_key_missing',
          'idempotency_key_reused',
          'idempotency_key_in_flight',
          'sold_out',
          'purchase_limit',
          'product_not_found',
          'rate_limited',
          'busy',
        ]),
      },
      config: rateLimited('orders', rateLimitPerMinute),
      preValidation: (request, _reply, done) => {
        try {
          request.idempotencyKey = readIdempotencyKey(request);
          done();
        } catch (error) {
          done(error as Error);
        }
      },
    },
    async (request, reply) => {
      const { productId, quantity, email } = request.body;
      const idempotencyKey = request.idempotencyKey;
      const { replayed, result } = await engine.reserve({
        productId,
        quantity,
        email,
        idempotencyKey,
        // Checked by the engine under the write lock, after a replay has been answered from its record.
        purchaseLimit: maxOrdersPerEmail > 0 ? { maxOrders: maxOrdersPerEmail, windowMs: PURCHASE_LIMIT_WINDOW_MS } : undefined,
      });
      if (replayed) reply.header(HEADERS.idempotentReplayed, 'true');
      if (!result.ok) throw new HttpProblem(result.error.code, result.error.message);
      return reply.code(201).send({ order: toCreatedOrder(result.value) });
    },
  );

  app.get(
    `${API_PREFIX}/orders/:id`,
    {
      schema: {
        summary: 'An order, for its buyer (the access token from creation)',
        operationId: 'getOrder',
        description: 'An unknown id and a wrong token get the same 404. `codes` is present only when the order is delivered.',
        tags: ['public'],
        security: [{ orderToken: [] }],
        params: IdParams,
        response: responses({ 200: { schema: OrderResponse, description: 'the order' } }, ['order_not_found', 'rate_limited']),
      },
      config: rateLimited('lookup', rateLimitPerMinute),
    },
    async (request) => {
      const token = bearerToken(request.headers.authorization) ?? '';
      const order = await engine.getOrderWithToken(request.params.id, token);
      if (!order) throw new HttpProblem('order_not_found', 'no such order, or the token does not open it');
      const codes = order.status === 'delivered' ? await engine.deliveredCodes(order.id) : undefined;
      return { order: toPublicOrder(order, codes) };
    },
  );
};
